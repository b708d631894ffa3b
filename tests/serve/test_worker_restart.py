"""``--workers N``: a worker that dies (SIGKILL, as the OOM killer sends) is replaced while
the others serve on; too many deaths in a short time stop the server with a clear message.

Real processes: the supervisor, its workers, gRPC clients on loopback; each server gets the
test's folder as ``TMPDIR``, so what it leaves is its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from kedro_krt.serve.supervisor import MAX_RESTARTS, RESTART_WINDOW_S
from tests.serve.serve_helpers import ServerProcess
from tests.serve.worker_load import Load, listens, worker_pids

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _serving(server: ServerProcess) -> None:
    server.wait_status("SERVING", timeout=90)
    deadline = time.monotonic() + 60
    while "Serving" not in server.stdout:  # every worker ready
        assert server.proc.poll() is None and time.monotonic() < deadline, server.stderr
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text()  # a zombie is dead
    except OSError:
        return False


#: How long the slow KRT's init takes, as a model that takes a while to load.
INIT_S = 1.5


@pytest.fixture(scope="module")
def slow_krt(krt_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-written KRT whose first node's init takes :data:`INIT_S` seconds."""
    folder = tmp_path_factory.mktemp("slow") / "krt"
    shutil.copytree(krt_dir, folder)
    main = folder / "src" / "prep" / "main.py"
    text = main.read_text()
    assert "def init(ctx):\n" in text
    sleep = f"def init(ctx):\n    __import__('time').sleep({INIT_S})\n"
    main.write_text(text.replace("def init(ctx):\n", sleep))
    return folder


def test_a_killed_worker_is_replaced_while_the_other_serves(
    slow_krt: Path, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = ServerProcess(slow_krt, tmp_path, "--workers", "2", env={"TMPDIR": str(tmp)})
    try:
        _serving(server)
        first = worker_pids(server.proc.pid)
        assert len(first) == 2, server.stderr
        # A new connection per call: the kernel spreads them over every worker listening.
        load = Load(server.address, "Greet", json.dumps({"name": "Kill"}), 8, fresh=True)
        load.start()
        listening_at = None
        try:
            time.sleep(0.5)
            killed = time.monotonic()
            os.kill(first[0], signal.SIGKILL)
            deadline = killed + 60
            while "replaced the dead one" not in server.stderr:
                assert server.proc.poll() is None, server.stderr
                assert time.monotonic() < deadline, server.stderr
                new = re.search(r"replacing it \(pid (\d+)", server.stderr)
                if listening_at is None and new and listens(int(new.group(1)), server.port):
                    listening_at = time.monotonic()
                time.sleep(0.02)
            ready_at = time.monotonic()
            time.sleep(1.0)
        finally:
            load.stop()
        # The replacement listens once its nodes are loaded, not while its init runs: the
        # kernel would give it connections whose calls it can only refuse meanwhile.
        assert listening_at is None or ready_at - listening_at < INIT_S / 2, server.stderr
        # It used to stop the other worker and exit 1 within a second.
        assert server.proc.poll() is None, server.stderr
        assert f"(pid {first[0]}) killed by SIGKILL; replacing it" in server.stderr
        now = worker_pids(server.proc.pid)
        assert len(now) == 2 and first[1] in now and first[0] not in now, server.stderr
        # Only the calls in flight on the dead worker fail (UNAVAILABLE, at once); none is
        # sent to the replacement before it has loaded the nodes.
        assert set(load.codes) <= {"OK", "UNAVAILABLE"}, load.codes
        last_failure = load.last_failure_after(killed)
        assert last_failure is None or last_failure - killed < 1.0, load.calls
        assert sum(1 for _, start, _, code in load.calls if start > killed and code == "OK") > 10
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit(timeout=60) == 0, server.stderr
        assert server.stderr.count("replacing it") == 1, server.stderr  # none on the stop
        assert sorted(p.name for p in tmp.iterdir()) == [], server.stderr
    finally:
        server.kill()


def test_workers_dying_beyond_the_bound_stop_the_server(krt_dir: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = ServerProcess(krt_dir, tmp_path, "--workers", "2", env={"TMPDIR": str(tmp)})
    try:
        _serving(server)
        seen: set[int] = set()
        killed: set[int] = set()
        deadline = time.monotonic() + 60
        while server.proc.poll() is None:
            assert time.monotonic() < deadline, server.stderr
            with contextlib.suppress(OSError):  # the supervisor may have just exited
                seen.update(worker_pids(server.proc.pid))
            # A replacement killed while it starts counts as a death too.
            alive = sorted(seen - killed)
            if alive:
                killed.add(alive[-1])
                with contextlib.suppress(ProcessLookupError):
                    os.kill(alive[-1], signal.SIGKILL)
            time.sleep(0.05)
        assert server.wait_exit() == 1
        # (One more may be killed while the supervisor stops the others.)
        assert len(killed) >= MAX_RESTARTS + 1, server.stderr
        assert server.stderr.count("replacing it") == MAX_RESTARTS, server.stderr
        (message,) = [line for line in server.stderr.splitlines() if line.startswith("Error:")]
        assert re.fullmatch(
            rf"Error: {MAX_RESTARTS + 1} worker processes died within [\d.]+ s \(the last: "
            rf"worker \d, pid \d+, killed by SIGKILL\); not restarting more than {MAX_RESTARTS} in "
            rf"{RESTART_WINDOW_S:g} s\. See the workers' log above; .*OOM killer.*",
            message,
        ), message
        assert not [pid for pid in seen if _alive(pid)], server.stderr  # the other one too
        assert sorted(p.name for p in tmp.iterdir()) == [], server.stderr
    finally:
        server.kill()


def test_a_stop_while_a_replacement_loads_replaces_nothing(
    slow_krt: Path, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = ServerProcess(slow_krt, tmp_path, "--workers", "2", env={"TMPDIR": str(tmp)})
    try:
        _serving(server)
        first = worker_pids(server.proc.pid)
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while "replacing it" not in server.stderr:
            assert server.proc.poll() is None and time.monotonic() < deadline, server.stderr
            time.sleep(0.02)
        time.sleep(0.5)  # the replacement is in its init (INIT_S)
        assert "replaced the dead one" not in server.stderr
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit(timeout=60) == 0, server.stderr
        assert server.stderr.count("replacing it") == 1, server.stderr
        assert sorted(p.name for p in tmp.iterdir()) == [], server.stderr
    finally:
        server.kill()
