"""`serve --nats` of a KRT v2: KRE 8's topology on one machine, on a real nats-server.

The hand-written classificator of tests/fixtures (shaped like konstellation-io/kre @ v8.2.0:
``engine/admin-api/test_assets/classificator-v1.krt``) answers over gRPC exactly as it does
in-process (tests/serve/test_serve_v2.py), with one `python -m kedro_krt.node.runner` per replica of
each Python node, KRE 8.2's streams, subjects and stores, and the Go node left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.serve.serve_helpers import build_classificator_v2, check_classificator_answers, pack_krt

pytestmark = pytest.mark.slow


def runner_envs(pid: int) -> list[dict[str, str]]:
    """The environment of every runner process the server ``pid`` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != pid:
                continue
            raw = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        if "KRT_NODE_NAME" in env:
            found.append(env)
    return found


def test_served_with_nats(tmp_path: Path, start_nats_server: object) -> None:
    folder = build_classificator_v2(tmp_path / "classificator")
    krt = pack_krt(folder, tmp_path / "classificator-v2.krt")
    server = start_nats_server(krt)  # type: ignore[operator]
    check_classificator_answers(server.address)

    envs = runner_envs(server.proc.pid)
    nodes = sorted(env["KRT_NODE_NAME"] for env in envs)
    # stats-storer (Go) is left out; email-classificator has `replicas: 2`.
    assert nodes == [
        "email-classificator", "email-classificator", "etl", "exitpoint", "repairs-handler"
    ]
    by_node = {env["KRT_NODE_NAME"]: env for env in envs}
    # KRE 8.2: nats-manager's names, k8s-manager's variables.
    stream = "local_classificator-v2_Classificator"
    repairs = by_node["repairs-handler"]
    assert repairs["KRT_NATS_STREAM"] == stream
    assert repairs["KRT_NATS_INPUTS"] == f"{stream}.email-classificator.repairs"
    assert repairs["KRT_NATS_OUTPUT"] == f"{stream}.repairs-handler"
    assert repairs["KRT_NATS_OBJECT_STORE"] == "local_classificator-v2_classificator_repairs"
    assert repairs["KRT_NATS_KEY_VALUE_STORE_NODE"] == (
        "key-store_local_classificator-v2_classificator_repairs-handler"
    )
    assert by_node["exitpoint"]["KRT_IS_EXITPOINT"] == "true"
    assert by_node["exitpoint"]["KRT_NATS_INPUTS"].split(",") == [
        f"{stream}.{n}" for n in ("etl", "email-classificator", "repairs-handler", "stats-storer")
    ]
    # repairs-handler saved through KRE's mongo-writer, which the server answers.
    saved = (server.state / "db" / "repair_emails.jsonl").read_text().splitlines()
    assert json.loads(saved[0])["ticket"] == "R-5c168998"
    assert "node 'stats-storer'" in server.stderr and "is left out" in server.stderr
