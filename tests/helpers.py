"""Helpers shared by every folder of the suite: the venv's console scripts, clean copies of the
example project, folders built once per run (across pytest-xdist workers), and KRE's upload
check on every .krt the suite builds.

Imported by name (``from tests.helpers import run_cli``): tests/ is a package.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_project"
BIN = Path(sys.executable).parent

# Commands of ours that write .krt archives: each archive they write is checked by run_cli.
_PACKAGING = {("kedro", "krt", "package"), ("kedro", "krt", "deploy"), ("kedro-krt", "build")}


def run_cli(
    args: list[str],
    cwd: Path,
    check: bool = True,
    timeout: float = 300,
    *,
    bin_dir: Path = BIN,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a console script of the venv (kedro, kedro-krt) and capture its output.

    ``bin_dir``: another virtualenv's scripts folder; ``env``: variables added to the
    environment.

    A packaging command that succeeds has every .krt it wrote replayed through KRE's two upload
    passes (:func:`assert_kre_accepts`): an archive KRE would refuse fails the test that built it.
    """
    environ = {
        **os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore", **(env or {})
    }
    started = time.time()
    proc = subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    if proc.returncode == 0 and _packages(args):
        for krt in _written_since(_output_folders(args, cwd), started):
            assert_kre_accepts(krt)
    return proc


def _packages(args: list[str]) -> bool:
    words = [a for a in args if not a.startswith("-")]
    return any(tuple(words[: len(command)]) == command for command in _PACKAGING)


def _output_folders(args: list[str], cwd: Path) -> list[Path]:
    """Where a packaging command writes: its --output/-o, else the project's dist/ (or cwd)."""
    folders = [cwd / "dist", cwd]
    for flag, value in itertools.pairwise(args):
        if flag in ("--output", "-o"):
            folders.insert(0, cwd / value)  # an absolute value replaces cwd
    return folders


def _written_since(folders: Iterable[Path], started: float) -> list[Path]:
    found: set[Path] = set()
    for folder in folders:
        if folder.is_file() and folder.suffix == ".krt":
            candidates: Iterable[Path] = [folder]
        elif folder.is_dir():
            candidates = folder.glob("*.krt")
        else:
            continue
        found.update(p for p in candidates if p.is_file() and p.stat().st_mtime >= started - 1)
    return sorted(found)


def kre_upload_errors(krt: Path, *, with_srcs: bool = False, kre: str = "7") -> list[str]:
    """What KRE's admin API answers when `krt` is uploaded: its two extraction passes, in order
    (konstellation-io/kre @ kre-7.0.0, engine/admin-api/domain/usecase/krt/parser.go, replayed
    by kedro_krt.formats.upload), stopping where KRE stops. ``with_srcs`` adds KRE's last check,
    that every node's ``src`` of the archive's krt.yml was extracted."""
    from kedro_krt.formats.archive import read_krt
    from kedro_krt.formats.upload import emulate_upload, read_headers

    srcs: tuple[tuple[str, str], ...] = ()
    if with_srcs:
        manifest = yaml.safe_load(read_krt(krt)["krt.yml"])
        nodes = list(manifest.get("nodes") or [])
        for workflow in manifest.get("workflows") or []:
            nodes += [n for n in workflow.get("nodes") or [] if isinstance(n, dict)]
        srcs = tuple((str(n["name"]), str(n["src"])) for n in nodes)
        assert srcs, f"{krt.name}: its krt.yml names no node src"
    outcome = emulate_upload(read_headers(krt), srcs, keep_going=False, kre=kre)
    return outcome.kre_errors()


def assert_kre_accepts(krt: Path) -> Path:
    """Fail the calling test when KRE's upload would refuse `krt`; return it."""
    errors = kre_upload_errors(krt)
    assert errors == [], f"KRE's upload would refuse {krt}: {errors[0]}"
    return krt


def copy_example(dest: Path) -> Path:
    """A clean copy of the example project (no generated data, no dist)."""
    ignore = shutil.ignore_patterns("dist", "__pycache__", "*.pyc", ".krt-state")
    shutil.copytree(EXAMPLE, dest, ignore=ignore)
    for generated in ("data/01_raw/shuttles.csv",):
        (dest / generated).unlink(missing_ok=True)
    for folder in ("data/06_models", "data/07_model_output"):
        shutil.rmtree(dest / folder, ignore_errors=True)
        (dest / folder).mkdir(parents=True, exist_ok=True)
    return dest


def copy_project(project: Path, dest: Path) -> Path:
    """A private copy of a shared project (the trained example), for a test that writes into it:
    the shared one is read by other tests, possibly at the same time on another worker."""
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return dest


def build_once(
    factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The folder `name`, filled by ``build(folder)`` once per test run.

    Without pytest-xdist it is a fresh temporary folder. Under xdist every worker has a base
    temporary folder of its own, all inside one folder of the run: the first worker to get here
    builds `name` there, holding a lock; the others wait for it and reuse the folder. One lock
    for every shared build: the builds of the example write into one project (packaging writes
    its krt.lock.json), so they never run at the same time. A build that failed is retried by
    the next worker that asks (and fails its tests the same way).
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = factory.mktemp(name)
        build(folder)
        return folder
    root = factory.getbasetemp().parent
    folder = root / name
    done = root / f"{name}.done"
    with FileLock(str(root / "shared-builds.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


#: Ports a test may hand to a server it starts: below the kernel's ephemeral range, where an
#: outgoing connection (a gRPC client, a runner's NATS connection) or another ``bind(0)`` cannot
#: take the port between the test's choice and the server's bind. Each xdist worker walks its
#: own share, so two workers never hand out the same port.
_EPHEMERAL_FLOOR = 32768
_TEST_PORTS_FROM = 20000


def _ephemeral_floor() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return _EPHEMERAL_FLOOR


def _worker_ports() -> Iterable[int]:
    floor = _ephemeral_floor()
    if floor - _TEST_PORTS_FROM < 1000:  # no room below the ephemeral range: the kernel's pick
        return iter(())
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    span = (floor - _TEST_PORTS_FROM) // count
    low = _TEST_PORTS_FROM + (index % count) * span
    start = random.randrange(span)
    return itertools.cycle([low + (start + i) % span for i in range(span)])


_ports = _worker_ports()


def free_port() -> int:
    """A loopback port nobody listens on now, that nothing else will take before the server
    the test starts binds it (see :data:`_TEST_PORTS_FROM`)."""
    for port in itertools.islice(_ports, 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
