"""The bench's processes: commands, servers started and stopped, ports, progress lines.

Shared by ``benchmarks.main`` and the rows that start their own servers
(``benchmarks.krt_versions``), so that neither imports the other.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent


def bench_env() -> dict[str, str]:
    """The environment of every command the bench runs: no telemetry, no bytecode files."""
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONDONTWRITEBYTECODE": "1"}


def run_command(cmd: list[str], *, cwd: Path | None = None, timeout: float = 300) -> str:
    """Run a command; its stdout, or a RuntimeError with its stderr."""
    result = subprocess.run(
        cmd, cwd=cwd, env=bench_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return result.stdout


def progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def unpack(krt: Path, dest: Path) -> Path:
    """Unpack a .krt the way the server does."""
    from kedro_krt.formats.archive import extract_krt

    return Path(extract_krt(krt, dest))


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process we started, and how long it took to be ready."""

    proc: subprocess.Popen[bytes]
    address: str
    ready_s: float
    log: Path

    def stop(self) -> None:
        """SIGTERM (a graceful stop), then kill after 20 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(cmd: list[str], port: int, work: Path, name: str) -> Server:
    """Start a server; wait (at most 120 s) for its ``Serving ...`` line on stdout."""
    log = work / f"{name}.log"
    started = time.perf_counter()
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env=bench_env(), stdout=sink, stderr=sink)
    deadline = started + 120
    # The line is printed once every node's init has run: that is SERVING.
    while not any(line.startswith("Serving") for line in log.read_text().splitlines()):
        if proc.poll() is not None or time.perf_counter() > deadline:
            proc.kill()
            raise RuntimeError(f"server {name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.01)
    return Server(proc, f"127.0.0.1:{port}", time.perf_counter() - started, log)


def start_krt(krt: Path, workers: int, work: Path, name: str, *, nats: bool = False) -> Server:
    """`kedro-krt serve` (a .krt or a folder) on a free port, no web port.

    With ``nats``: ``--nats`` (its own nats-server on 127.0.0.1, one runner process per node;
    ``--workers`` does not apply).
    """
    port = free_port()
    cmd = [
        str(BIN / "kedro-krt"), "serve", str(krt), "--host", "127.0.0.1", "--port", str(port),
        "--web-port", "0",
    ]
    cmd += ["--nats"] if nats else ["--workers", str(workers)]
    return start_server(cmd, port, work, name)
