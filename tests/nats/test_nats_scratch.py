"""`serve --nats` leaves nothing behind: no ``kedro-krt-nats-*`` scratch folder (JetStream's
store) in the temporary folder and no nats-server or runner process, however it stops:
SIGINT (Ctrl-C) or SIGTERM, while serving or while its runners start, or a start that fails.

Each server gets a temporary folder of its own (``TMPDIR``), so what it leaves is its own.
SIGKILL is the one exit that cannot clean (tests/nats/test_serve_nats.py checks that its
processes still die): the next server removes what it left.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.loader import prepare_krt
from kedro_krt.serve.nats import NatsEngine
from tests.serve.serve_helpers import ServerProcess, health_status

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _processes_of(tmp: Path, parent: int) -> dict[int, str]:
    """{pid: what} of the live processes a server left: a nats-server whose store is under
    ``tmp``, and the runners started by ``parent`` (``KEDRO_KRT_PARENT_PID``)."""
    found: dict[int, str] = {}
    runner_mark = f"KEDRO_KRT_PARENT_PID={parent}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if " Z " in (entry / "stat").read_text():
                continue
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if b"nats-server" in cmdline[0] and str(tmp).encode() in b" ".join(cmdline):
                found[int(entry.name)] = "nats-server"
            elif runner_mark in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = "runner"
        except (OSError, ValueError, IndexError):
            continue
    return found


def _left(tmp: Path, parent: int) -> tuple[list[str], dict[int, str]]:
    """The scratch folders and the processes still there (processes get 5 s to die)."""
    deadline = time.monotonic() + 5
    alive = _processes_of(tmp, parent)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = _processes_of(tmp, parent)
    return sorted(p.name for p in tmp.glob("kedro-krt-nats-*")), alive


def _serve(source: Path, tmp_path: Path) -> tuple[ServerProcess, Path]:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return ServerProcess(source, tmp_path, "--nats", env={"TMPDIR": str(tmp)}), tmp


@pytest.fixture
def broken_krt(krt_dir: Path, tmp_path: Path) -> Path:
    """The hand-written KRT with a node whose runner exits while it imports the node."""
    broken = tmp_path / "broken"
    shutil.copytree(krt_dir, broken)
    (broken / "src" / "prep" / "main.py").write_text("raise SystemExit(3)\n")
    return broken


@pytest.mark.parametrize(
    ("sig", "when"),
    [(signal.SIGINT, "serving"), (signal.SIGTERM, "serving"), (signal.SIGINT, "starting")],
    ids=["sigint-serving", "sigterm-serving", "sigint-starting"],
)
def test_a_signal_leaves_no_scratch_folder_and_no_process(
    krt_dir: Path, tmp_path: Path, sig: signal.Signals, when: str
) -> None:
    server, tmp = _serve(krt_dir, tmp_path)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.proc.poll() is None:
            if when == "serving" and health_status(server.address, 0.5) == "SERVING":
                break
            # Starting: nats-server is up and the runners are importing their nodes.
            if when == "starting" and "runner" in _processes_of(tmp, server.proc.pid).values():
                break
            time.sleep(0.02)
        assert list(tmp.glob("kedro-krt-nats-*")), server.stderr  # it made one
        server.proc.send_signal(sig)
        # A stop while starting is what the user asked for: exit 0, not a runner's error.
        assert server.wait_exit(timeout=60) == 0, server.stderr
        assert _left(tmp, server.proc.pid) == ([], {}), server.stderr
    finally:
        server.kill()


def test_a_failed_start_leaves_no_scratch_folder_and_no_process(
    broken_krt: Path, tmp_path: Path
) -> None:
    server, tmp = _serve(broken_krt, tmp_path)
    try:
        assert server.wait_exit(timeout=90) == 1
        assert "node 'prep' (workflow 'greeting') exited with code 3 while starting" in (
            server.stderr
        )
        assert _left(tmp, server.proc.pid) == ([], {}), server.stderr
    finally:
        server.kill()


def test_the_engine_cleans_up_a_failed_start_itself(
    broken_krt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The class alone, in this process (as an embedding program runs it): a start that raises
    has stopped nats-server and removed its folder already; the process that owns them lives
    on, so nothing would do it later."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    prepared = prepare_krt(broken_krt, work_dir=tmp_path / "work", config={"GREETING": "Hi"})
    state = tmp_path / "state"
    state.mkdir()
    engine = NatsEngine(prepared, state)
    with pytest.raises(ServeError, match="exited with code 3 while starting"):
        asyncio.run(engine.start())
    assert _left(tmp, os.getpid()) == ([], {})


def test_the_next_server_removes_what_a_killed_one_left(krt_dir: Path, tmp_path: Path) -> None:
    killed, tmp = _serve(krt_dir, tmp_path)
    try:
        killed.wait_status("SERVING", timeout=90)
        killed.proc.kill()  # SIGKILL: the OOM killer, kill -9, a CI job's timeout
        killed.proc.wait()
        left = sorted(p.name for p in tmp.iterdir())
        assert [name.rsplit("-", 1)[0] for name in left] == [
            "kedro-krt-nats", "kedro-krt-serve"
        ], left
    finally:
        killed.kill()
    _left(tmp, killed.proc.pid)  # its runners and nats-server die with it (PR_SET_PDEATHSIG)
    server = ServerProcess(krt_dir, tmp_path, "--nats", env={"TMPDIR": str(tmp)})
    try:
        server.wait_status("SERVING", timeout=90)
        now = sorted(p.name for p in tmp.iterdir())
        assert not set(left) & set(now), now
        assert [name.rsplit("-", 1)[0] for name in now] == [
            "kedro-krt-nats", "kedro-krt-serve"
        ], now
        assert "removed 1 scratch folder(s) left by killed processes" in server.stderr
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit(timeout=60) == 0, server.stderr
        assert list(tmp.iterdir()) == [], server.stderr
    finally:
        server.kill()
