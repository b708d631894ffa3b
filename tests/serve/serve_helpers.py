"""Helpers for the local server tests: build the hand-written KRT (real protoc), pack it as a
.krt, and run real server processes on free loopback ports."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kedro_krt.emit.protoc import compile_protos
from tests.helpers import free_port

FIXTURE = Path(__file__).parent.parent / "fixtures" / "handwritten_krt"
NODES = ("prep", "model", "early", "tail")
PROTOS = ("public_input.proto", "internal_nodes.proto")


def build_krt_dir(dest: Path) -> Path:
    """Copy the fixture and compile its protos into every node folder, as KRT authors do."""
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("__pycache__", "*_pb2.py"))
    sources = {name: (dest / name).read_text() for name in PROTOS}
    for node in NODES:
        compile_protos(sources, dest / "src" / node, pyi=False)
    return dest


def pack_krt(folder: Path, dest: Path) -> Path:
    """A .krt as KRE wants it: gzip tar, root-relative entries, each folder before its files."""
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if "__pycache__" in path.parts:
                continue
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return dest


def bad_krt(dest: Path, folder: Path, name: str, kind: str) -> Path:
    """The good KRT plus one malicious entry: ``kind`` is "file" or "symlink"."""
    pack_krt(folder, dest.with_suffix(".tmp"))
    with tarfile.open(dest.with_suffix(".tmp"), "r:gz") as src, tarfile.open(dest, "w:gz") as out:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(name)
        if kind == "symlink":
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            out.addfile(info)
        else:
            data = b"owned\n"
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest


def health_status(address: str, timeout: float = 1.0) -> str | None:
    """The overall health status name, or None when nothing answers."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


#: How long :meth:`ServerProcess.kill` waits after SIGTERM before SIGKILL: longer than a
#: ``--nats`` stop, whose runners may each take their NATS drain timeout (5 s) to exit.
STOP_WAIT_S = 30.0


class ServerProcess:
    """``python -m kedro_krt.serve`` in a subprocess, with its output in files.

    Its temporary folder (``TMPDIR``) is ``tmp`` unless ``env`` says otherwise: what a server
    that had to be killed leaves (``kedro-krt-serve-*``, ``kedro-krt-pb2-*``,
    ``kedro-krt-nats-*``) goes with the test's folder, not into the machine's /tmp.
    """

    def __init__(
        self, source: Path, tmp: Path, *args: str, env: dict[str, str] | None = None,
        web: bool = False,
    ) -> None:
        self.port = free_port()
        self.web_port = free_port() if web else 0
        self.address = f"127.0.0.1:{self.port}"
        self.state = tmp / f"state-{self.port}"
        self.out = tmp / f"out-{self.port}.txt"
        self.err = tmp / f"err-{self.port}.txt"
        full_env = {
            **os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "GREETING": "Hello",
            "TMPDIR": str(tmp), **(env or {}),
        }
        for name, value in list(full_env.items()):
            if value is None:
                del full_env[name]
        cmd = [
            sys.executable, "-m", "kedro_krt.serve", str(source), "--port", str(self.port),
            "--web-port", str(self.web_port), "--state-dir", str(self.state), *args,
        ]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=err)

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def wait_status(self, wanted: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode}:\n{self.stdout}\n{self.stderr}"
                )
            if health_status(self.address, 0.5) == wanted:
                return
            time.sleep(0.05)
        raise AssertionError(f"server never reported {wanted}:\n{self.stdout}\n{self.stderr}")

    def wait_exit(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout=timeout)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Stop it: SIGTERM first (so it cleans its scratch folder), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()




CLASSIFICATOR_V2 = Path(__file__).parent.parent / "fixtures" / "classificator_v2"
#: Its Python nodes (stats-storer is a Go node), each importing its protos from proto/ as KRE's
#: classificator example does.
CLASSIFICATOR_V2_NODES = ("etl", "email_classificator", "repairs_handler", "exitpoint")


def build_classificator_v2(dest: Path) -> Path:
    """Copy the KRT v2 fixture and compile its protos into each Python node's proto/ folder."""
    shutil.copytree(
        CLASSIFICATOR_V2, dest, ignore=shutil.ignore_patterns("__pycache__", "*_pb2.py")
    )
    sources = {name: (dest / name).read_text() for name in PROTOS}
    for node in CLASSIFICATOR_V2_NODES:
        compile_protos(sources, dest / "src" / node / "proto", pyi=False)
    return dest


# What the classificator answers, in either serving mode (tests/serve/test_serve_v2.py,
# tests/nats/test_serve_nats_v2.py).
REPAIR = {"title": "Broken heater", "body": "the heater is broken, please repair it"}
BILLING = {"title": "Invoice", "body": "the invoice for May is attached"}
EMPTY = {"title": "Nothing", "body": ""}
BOOM = {"title": "boom", "body": "unreadable"}

#: What the workflow answers, in either serving mode.
ANSWERS = [
    (REPAIR, {"message": "repair ticket opened", "category": "CATEGORY_REPARATIONS",
              "ticket": "R-5c168998"}),
    (BILLING, {"message": "classified as CATEGORY_BILLING", "category": "CATEGORY_BILLING"}),
    # etl's early reply, forwarded by the exitpoint's custom handler for etl
    (EMPTY, {"message": "empty email: nothing to classify"}),
]
#: The exitpoint's error, as KRE's entrypoint returns it (INTERNAL, the message's text).
BOOM_ERROR = "Error in node 'exitpoint' executing handler for node 'etl': node 'etl' failed"


def check_classificator_answers(address: str) -> None:
    """Every answer of ANSWERS, and the exitpoint's error as KRE's entrypoint returns it."""
    import json

    import pytest

    from kedro_krt.serve.client import CallError, call

    def ask(request: dict[str, str]) -> object:
        return json.loads(call("Classificator", json.dumps(request), address, timeout=30))

    for request, expected in ANSWERS:
        assert ask(request) == expected, request
    with pytest.raises(CallError) as caught:
        ask(BOOM)
    assert caught.value.code == "INTERNAL"
    assert caught.value.details.startswith(BOOM_ERROR)
