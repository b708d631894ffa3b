"""`kedro krt serve` in a project (compiled on the fly) and `kedro krt call`: a user's loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.e2e_helpers import BIN, free_port, health_status

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def project_server(
    trained_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("project-serve") / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "kedro"), "krt", "serve", "--port", str(port), "--web-port", "0"],
            cwd=trained_project,
            env={**ENV, "TMPDIR": str(log.parent)},  # what a kill leaves stays in the test's
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while health_status(address) != "SERVING":
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield address
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert code == 0, log.read_text()  # SIGTERM drains and exits cleanly


def _call(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kedro"), "krt", "call", *args],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_project_served_on_the_fly_answers_the_sample_request(
    trained_project: Path, project_server: str
) -> None:
    proc = _call(
        trained_project,
        "Inference",
        "--file",
        "requests/inference.json",
        "--address",
        project_server,
    )
    assert proc.returncode == 0, proc.stderr
    reply = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert [q["shuttle_id"] for q in reply["quotes"]] == ["SH-90001", "SH-90002"]
    assert all(q["currency"] == "EUR" and q["price"] > 0 for q in reply["quotes"])


def test_a_grpc_error_is_printed_as_status_and_message_with_exit_1(
    trained_project: Path, project_server: str
) -> None:
    # A row without its required columns: refused before any node runs, naming what is missing.
    proc = _call(
        trained_project,
        "Inference",
        "--data",
        '{"shuttles": [{"shuttle_id": "x"}]}',
        "--address",
        project_server,
    )
    assert proc.returncode == 1
    assert "INVALID_ARGUMENT" in proc.stderr and "row 0 has no" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unknown_rpc_names_the_ones_served(trained_project: Path, project_server: str) -> None:
    proc = _call(trained_project, "Inferense", "--data", "{}", "--address", project_server)
    assert proc.returncode == 1
    assert "Inference" in proc.stderr and "Traceback" not in proc.stderr
