"""Helpers for the end-to-end tests: a real `kedro-krt serve` process on a free loopback port, a
real gRPC client that learns the message types by server reflection (as any client of KRE's
entrypoint can), requests built from DataFrames, and the reference: the same Kedro pipeline run
by Kedro's own SequentialRunner.

Also imported by tests/runtime (its conftest puts this folder on sys.path) and by
latency_probe.py, which runs standalone.
"""

from __future__ import annotations

import importlib.util
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.helpers import free_port

BIN = Path(sys.executable).parent
REQUEST_COLUMNS = (
    "shuttle_id",
    "shuttle_type",
    "engine_type",
    "engines",
    "passenger_capacity",
    "crew",
    "d_check_complete",
    "moon_clearance_complete",
    "iata_approved",
    "company_rating",
    "launched_at",
)


def health_status(address: str, timeout: float = 0.5) -> str | None:
    """The server's overall gRPC health status name, None when nothing answers."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError:
            return None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


class ServedKrt:
    """`kedro-krt serve SOURCE --port P --web-port 0` as a subprocess; output kept in files.

    ``bin_dir``: the `kedro-krt` of another virtualenv; ``env``: variables added to the
    server's environment.
    """

    def __init__(
        self,
        source: Path,
        work: Path,
        *args: str,
        bin_dir: Path = BIN,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        work.mkdir(parents=True, exist_ok=True)
        self.out = work / f"serve-{self.port}.out"
        self.err = work / f"serve-{self.port}.err"
        env = {
            **os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore",
            # What a killed server leaves goes with the test's folder, not into /tmp.
            "TMPDIR": str(work),
            **(env or {}),
        }
        cmd = [
            str(bin_dir / "kedro-krt"), "serve", str(source), "--port", str(self.port),
            "--web-port", "0", "--state-dir", str(work / f"state-{self.port}"), *args,
        ]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)

    def logs(self) -> str:
        return f"--- stdout\n{self.out.read_text()}\n--- stderr\n{self.err.read_text()}"

    def wait_serving(self, timeout: float = 60.0) -> ServedKrt:
        """Return once the `Serving` line is printed and health says SERVING."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            if "Serving" in self.out.read_text() and health_status(self.address) == "SERVING":
                return self
            time.sleep(0.1)
        raise AssertionError(f"server not SERVING after {timeout} s:\n{self.logs()}")

    def stop(self) -> None:
        """SIGTERM (graceful, it removes its scratch folder), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)  # a --nats stop may take a runner's drain (5 s) each
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve_packaged(
    project: Path, pipeline: str, factory: Any, run_cli: Any
) -> Iterator[ServedKrt]:
    """`kedro krt package --pipeline P` of a test project, served until the generator ends.

    For module fixtures: ``yield from serve_packaged(root, "p", tmp_path_factory, run_cli)``.
    """
    out = factory.mktemp(f"{pipeline}-dist")
    run_cli(["kedro", "krt", "package", "--pipeline", pipeline, "--output", str(out)], cwd=project)
    (krt,) = out.glob("*.krt")
    server = ServedKrt(krt, factory.mktemp(f"{pipeline}-serve"))
    try:
        yield server.wait_serving()
    finally:
        server.stop()


class ReflectedRpc:
    """One rpc of `service Entrypoint`, its message classes found by server reflection.

    The classes live in a descriptor pool of their own, so they never clash with the `*_pb2`
    modules a test imports into the default pool.
    """

    def __init__(self, address: str, rpc: str, service: str = "entrypoint.Entrypoint") -> None:
        self.channel = grpc.insecure_channel(address)
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(self.channel))
        method = pool.FindServiceByName(service).methods_by_name[rpc]
        self.request_cls: type[Message] = message_factory.GetMessageClass(method.input_type)
        self.response_cls: type[Message] = message_factory.GetMessageClass(method.output_type)
        self._raw = self.channel.unary_unary(f"/{service}/{rpc}")

    def call_bytes(self, data: bytes, timeout: float = 30.0) -> bytes:
        """Send raw bytes (of any message type); raises grpc.RpcError on a gRPC error."""
        return bytes(self._raw(data, timeout=timeout))

    def call(self, request: Message | Mapping[str, Any], timeout: float = 30.0) -> Message:
        """Send a request message (or its proto3 JSON as a dict); the decoded reply."""
        if not isinstance(request, Message):
            request = json_format.ParseDict(request, self.request_cls())
        return self.response_cls.FromString(self.call_bytes(request.SerializeToString(), timeout))

    def close(self) -> None:
        self.channel.close()


def rpc_error(rpc: ReflectedRpc, data: bytes) -> grpc.RpcError:
    """The gRPC error the server answers to `data`; fails when it answers normally."""
    try:
        rpc.call_bytes(data)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the server answered normally; an error was expected")


# -- requests and the reference ------------------------------------------------------------------


def as_parsed(df: pd.DataFrame) -> pd.DataFrame:
    """`df` as the catalog's CSVDataset would load it (pandas' CSV parsing, parse_dates)."""
    buffer = io.StringIO()
    df.to_csv(buffer, index=False)
    buffer.seek(0)
    return pd.read_csv(buffer, parse_dates=["launched_at"])


def request_json(df: pd.DataFrame, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The proto3 JSON of an `Inference` request carrying the rows of `df`.

    A null cell is left out (the field is unset), as a JSON client would do.
    """
    rows = []
    for record in df.to_dict("records"):
        row: dict[str, Any] = {}
        for column in REQUEST_COLUMNS:
            value = record[column]
            if pd.isna(value):
                continue
            if column == "launched_at":
                value = pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
            elif hasattr(value, "item"):
                value = value.item()
            row[column] = value
        rows.append(row)
    body: dict[str, Any] = {"shuttles": rows}
    if parameters is not None:
        body["parameters"] = parameters
    return body


def quotes_frame(reply: Message) -> pd.DataFrame:
    """The `quotes` of an `InferenceResponse` as a DataFrame (unset strings read as "")."""
    rows = [
        {
            "shuttle_id": q.shuttle_id,  # type: ignore[attr-defined]
            "price": q.price,  # type: ignore[attr-defined]
            "price_band": q.price_band,  # type: ignore[attr-defined]
            "currency": q.currency,  # type: ignore[attr-defined]
        }
        for q in reply.quotes  # type: ignore[attr-defined]
    ]
    return pd.DataFrame(rows, columns=["shuttle_id", "price", "price_band", "currency"])


def generated_shuttles(project: Path, rows: int, seed: int) -> pd.DataFrame:
    """`rows` shuttles from the example's own data generator, without the price column."""
    spec = importlib.util.spec_from_file_location(
        "_shuttle_generator", project / "scripts" / "generate_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    df = module.generate_shuttles(rows, seed).drop(columns=["price"])
    return as_parsed(df)


def kedro_reference(
    project: Path, shuttles: pd.DataFrame, runtime_params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """`output.quotes` of the `inference` pipeline run by Kedro's SequentialRunner.

    The project's own catalog and parameters (through a KedroSession, `runtime_params` as
    `kedro run --params` would give them), with `etl.shuttles` replaced by `shuttles` and the
    output kept in memory instead of written to its CSV.
    """
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import MemoryDataset
    from kedro.runner import SequentialRunner

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=dict(runtime_params or {})) as s:
        catalog = s.load_context().catalog
        catalog["etl.shuttles"] = MemoryDataset(shuttles.copy(), copy_mode="assign")
        catalog["output.quotes"] = MemoryDataset(copy_mode="assign")
        SequentialRunner().run(pipelines["inference"], catalog)
        quotes: pd.DataFrame = catalog.load("output.quotes")
    return quotes.reset_index(drop=True)


def assert_same_quotes(served: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Same rows, same order, exactly the same prices, bands and currency."""
    assert list(served["shuttle_id"]) == list(reference["shuttle_id"])
    assert list(served["price"]) == [float(p) for p in reference["price"]]
    assert list(served["price_band"]) == list(reference["price_band"])
    assert list(served["currency"]) == list(reference["currency"])
