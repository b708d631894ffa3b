"""``--start-timeout``: an init that never returns makes the server exit 1 with one line
naming the node, in-process and under ``--nats``, and the log names the node whose init runs
(issue 20, point 7)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kedro_krt.cli import main
from tests.serve.serve_helpers import ServerProcess


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["in-process", "nats"])
def test_an_init_that_never_returns_stops_the_start(
    krt_dir: Path, tmp_path: Path, mode: str
) -> None:
    args = ("--start-timeout", "2") + (("--nats",) if mode == "nats" else ())
    # The fixture's 'model' node sleeps this long in its init: for ever, for this test.
    started = time.monotonic()
    server = ServerProcess(
        krt_dir, tmp_path, *args, env={"HANDWRITTEN_INIT_DELAY": "3600", "TMPDIR": str(tmp_path)}
    )
    try:
        code = server.wait_exit(timeout=60)
    finally:
        server.kill()
    took = time.monotonic() - started
    err = server.stderr
    assert code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, err
    assert "'model' (workflow 'greeting')" in errors[0], err
    assert "within 2 s" in errors[0] and "--start-timeout" in errors[0], err
    assert "Traceback" not in err, err
    # Before it hung, the log said whose init was running.
    if mode == "in-process":
        assert "Executing handler init of node 'model' (workflow 'greeting')..." in err, err
    else:
        assert "node 'model' (workflow 'greeting'): runner started" in err, err
    # Python's start, the KRT's load (--nats: nats-server and four runners) and 2 s.
    assert took < (25 if mode == "nats" else 15), (took, err)
    assert not list(tmp_path.glob("kedro-krt-*")), "a scratch folder was left behind"


def test_the_start_timeout_must_be_positive(krt_dir: Path) -> None:
    from kedro_krt.serve import ServeError, run_server

    with pytest.raises(ServeError, match="start timeout must be a positive number"):
        run_server(krt_dir, start_timeout=0)


def test_the_cli_passes_the_start_timeout_on(krt_dir: Path) -> None:
    """``kedro-krt serve --start-timeout`` reaches run_server (refused before anything starts)."""
    result = CliRunner().invoke(main, ["serve", str(krt_dir), "--start-timeout", "-1"])
    assert result.exit_code == 1, result.output
    assert "start timeout must be a positive number of seconds, got -1.0" in result.output
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "--start-timeout" in help_text


@pytest.mark.e2e
@pytest.mark.parametrize("args", [(), ("--workers", "2")], ids=["single", "workers-2"])
def test_calls_while_the_inits_run_are_unavailable_never_run_early(
    krt_dir: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """The port opens before the inits finish (health says NOT_SERVING): a call then is
    UNAVAILABLE, "the server is starting", and never reaches a node whose init has not
    returned. Here the first node's init is slow: a call queued on the workflow's engine thread
    meanwhile would run the chain between that init and the next node's, whose handler then
    finds nothing in its ctx (INTERNAL). With ``--workers``, one worker may say SERVING while
    another still runs its inits."""
    import grpc

    server = ServerProcess(
        krt_dir, tmp_path, *args, env={"HANDWRITTEN_PREP_INIT_DELAY": "2", "TMPDIR": str(tmp_path)}
    )
    codes: list[str] = []
    try:
        # The port is open and an init runs (NOT_SERVING): call from then on, until 5 OKs.
        server.wait_status("NOT_SERVING", timeout=60)
        with grpc.insecure_channel(server.address) as channel:
            greet = channel.unary_unary("/entrypoint.Entrypoint/Greet")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    greet(b"\x0a\x04init", timeout=10)  # entrypoint.Request(name="init")
                    codes.append("OK")
                except grpc.RpcError as exc:
                    codes.append(f"{exc.code().name}: {exc.details()}")
                if codes.count("OK") >= 5:
                    break
                time.sleep(0.01)
    finally:
        server.kill()
    starting = [c for c in codes if c.startswith("UNAVAILABLE: the server is starting")]
    assert starting, sorted(set(c[:60] for c in codes))  # the window was hit
    assert all(c == "OK" or c in starting or c.startswith("UNAVAILABLE") for c in codes), [
        c for c in codes if c != "OK" and not c.startswith("UNAVAILABLE")
    ]
