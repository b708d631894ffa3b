"""Starting and stopping: health transitions, graceful stop, start failures, workers, archives."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from kedro_krt.serve.client import call
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.loader_base import resolve_source
from kedro_krt.serve.server import run_server
from tests.serve.serve_helpers import ServerProcess, bad_krt, free_port, health_status

pytestmark = pytest.mark.slow


def test_health_then_graceful_stop_with_request_in_flight(krt_dir: Path, start_server) -> None:  # type: ignore[no-untyped-def]
    server: ServerProcess = start_server(krt_dir, env={"HANDWRITTEN_INIT_DELAY": "1.5"})
    # The port is open while the slow init runs: NOT_SERVING, then SERVING.
    server.wait_status("NOT_SERVING")
    assert "Serving" not in server.stdout
    server.wait_status("SERVING")
    assert "Serving handwritten-v1" in server.stdout

    replies: list[str] = []
    slow = threading.Thread(
        target=lambda: replies.append(
            call("Greet", '{"name": "Late", "sleep": 1.5}', server.address, timeout=10)
        )
    )
    slow.start()
    # Let the slow request reach the node, then ask the server to stop.
    threading.Event().wait(0.4)
    server.terminate()
    server.wait_status("NOT_SERVING", timeout=1.0)  # draining: still answers health
    slow.join(timeout=10)
    assert server.wait_exit() == 0
    assert replies and json.loads(replies[0])["greeting"].startswith("Hello, Late")


def test_missing_config_variable_stops_the_start(krt_dir: Path, start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(krt_dir, env={"GREETING": None})
    assert server.wait_exit() == 1
    assert "GREETING" in server.stderr and "--config GREETING=VALUE" in server.stderr
    assert "Traceback" not in server.stderr


def test_config_option_provides_the_variable(krt_dir: Path, start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(krt_dir, "--config", "GREETING=Hi", env={"GREETING": None})
    server.wait_status("SERVING")
    reply = json.loads(call("Greet", '{"name": "Cfg"}', server.address))
    assert reply["greeting"].startswith("Hi, Cfg")


def test_init_failure_exits_non_zero_naming_the_node(krt_dir: Path, start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(krt_dir, env={"HANDWRITTEN_INIT_FAIL": "1"})
    assert server.wait_exit() == 1
    assert "node 'model'" in server.stderr and "model file is corrupt" in server.stderr


@pytest.mark.parametrize(
    ("name", "kind"),
    [("/tmp/evil.txt", "file"), ("../evil.txt", "file"), ("src/link", "symlink")],
)
def test_malicious_archives_are_refused(
    krt_dir: Path, tmp_path: Path, name: str, kind: str
) -> None:
    archive = bad_krt(tmp_path / "bad.krt", krt_dir, name, kind)
    with pytest.raises(ServeError) as info:
        run_server(archive, port=free_port(), web_port=0)
    assert "not a valid KRT" in str(info.value) or "refused" in str(info.value)
    # Our extraction refuses it on its own too, whatever the validator says.
    with pytest.raises(ServeError, match="refused to unpack"):
        resolve_source(archive, tmp_path / "work")
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_port_in_use_is_a_clear_error(
    server: ServerProcess, krt_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        run_server(krt_dir, port=server.port, web_port=0, config={"GREETING": "x"})
    # Our message alone: not gRPC's C core's own line (`E1207 ... add_port.cc:83] Failed to add
    # port to server ...`) before it, which it writes to stderr when it tries the port itself.
    assert "add_port" not in capfd.readouterr().err


def test_two_workers_on_one_port_serving_a_krt_file(krt_file: Path, start_server) -> None:  # type: ignore[no-untyped-def]
    ready_file = krt_file.parent / "ready.txt"
    server: ServerProcess = start_server(
        krt_file, "--workers", "2", "--ready-file", str(ready_file), web=True
    )
    server.wait_status("SERVING")
    deadline = threading.Event()
    # The ready line (and file) follow the LAST worker's SERVING: wait for it before counting
    # pids, so a slow second worker on a loaded machine is not mistaken for a missing one.
    for _ in range(400):
        if ready_file.exists():
            break
        deadline.wait(0.05)
    assert ready_file.exists()
    pids = set()
    for _ in range(200):
        # A new channel per call: SO_REUSEPORT spreads connections over the workers.
        pids.add(json.loads(call("Greet", '{"name": "W"}', server.address))["pid"])
        if len(pids) == 2:
            break
        deadline.wait(0.01)
    assert len(pids) == 2
    assert server.stdout.count("Serving handwritten-v1") == 1
    assert ready_file.read_text().startswith(f"Serving handwritten-v1 on {server.address} ")
    server.terminate()
    assert server.wait_exit() == 0
    assert health_status(server.address) is None
