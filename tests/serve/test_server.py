"""The local server against the hand-written KRT, over real gRPC on loopback."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from kedro_krt.serve.client import CallError, RequestDataError, call
from kedro_krt.serve.errors import ServeError
from tests.serve.serve_helpers import ServerProcess

pytestmark = pytest.mark.slow


def greet(server: ServerProcess, name: str, rpc: str = "Greet", **extra: object) -> dict:
    return json.loads(call(rpc, json.dumps({"name": name, **extra}), server.address, timeout=10))


def test_reply_goes_through_both_nodes(server: ServerProcess) -> None:
    reply = greet(server, "Ann")
    # GREETING comes from config.variables, the suffix from ctx.path() read in init.
    assert reply["greeting"] == "Hello, Ann! Have a nice day"
    # Two nodes, each with its own utils.py: each got its own module.
    assert reply["prep_utils"] == "prep-utils"
    assert reply["model_utils"] == "model-utils"
    assert reply["saved"] == "1"  # db.save then db.find in the same request
    assert reply["tags"] == ["handwritten-v1"]  # KRT_VERSION is set for the nodes


def test_set_get_is_shared_across_requests(server: ServerProcess) -> None:
    first = int(greet(server, "Counter")["count"])
    second = int(greet(server, "Counter")["count"])
    assert second == first + 1


def test_state_is_written_to_local_stores(server: ServerProcess) -> None:
    greet(server, "Stored")
    db = server.state / "db"
    names = [json.loads(line)["name"] for line in (db / "greetings.jsonl").read_text().splitlines()]
    assert "Stored" in names
    predictions = (db / "classificationMetrics.jsonl").read_text().splitlines()
    doc = json.loads(predictions[-1])
    assert doc["predictedValue"] == "hello" and doc["versionName"] == "handwritten-v1"
    assert doc["date"].endswith("Z")
    # Under --nats the runner writes its points in batches, once a second (as kre-py's InfluxDB
    # writer does); in-process at once.
    store = server.state / "measurements.jsonl"
    wanted = {"name": "Stored", "version": "handwritten-v1"}
    deadline = time.monotonic() + 5
    points: list[dict[str, Any]] = []
    while not any(p["tags"] == wanted for p in points) and time.monotonic() < deadline:
        lines = store.read_text().splitlines() if store.is_file() else []
        points = [json.loads(x) for x in lines]
        time.sleep(0.05)
    assert any(p["tags"] == wanted for p in points)


def test_node_exception_is_internal_with_kre_message(server: ServerProcess) -> None:
    with pytest.raises(CallError) as info:
        greet(server, "boom")
    assert info.value.code == "INTERNAL"
    assert info.value.details == "error in 'prep': boom requested"
    # The server keeps serving.
    assert greet(server, "After")["greeting"].startswith("Hello, After")


def test_prediction_save_is_validated_as_kre_does(server: ServerProcess) -> None:
    with pytest.raises(CallError) as info:
        greet(server, "badpred")
    assert info.value.code == "INTERNAL"
    assert info.value.details == (
        "error in 'model': [ctx.prediction.save] invalid 'predicted_value'='', "
        "must be a nonempty string"
    )


def test_invalid_request_from_a_node_is_invalid_argument(server: ServerProcess) -> None:
    """In both modes. Under --nats our runner sends KRE's error (which KRE's entrypoint answers
    INTERNAL, kre-entrypoint 1.8.1, src/kre_entrypoint.py) followed by the refusal, which the
    front reads (docs/explanation/runner.md)."""
    with pytest.raises(CallError) as info:
        greet(server, "invalid")
    assert (info.value.code, info.value.details) == (
        "INVALID_ARGUMENT", "name 'invalid' is not allowed"
    )


def test_wrong_response_type_names_the_node(server: ServerProcess) -> None:
    with pytest.raises(CallError) as info:
        greet(server, "wrongtype")
    assert info.value.code == "INTERNAL"
    assert "error in 'model': returned entrypoint.Prepared, expected entrypoint.Response" in (
        info.value.details
    )


def test_undecodable_request_is_invalid_argument(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = channel.unary_unary("/entrypoint.Entrypoint/Greet")
        with pytest.raises(grpc.RpcError) as info:
            # Field 1, length-delimited, claims 127 bytes but has 1.
            stub(b"\x0a\x7fA", timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "entrypoint.Request" in info.value.details()
    assert greet(server, "Still")["greeting"].startswith("Hello, Still")


def test_early_reply_answers_before_the_workflow_ends(server: ServerProcess) -> None:
    started = time.monotonic()
    reply = greet(server, "Eve", rpc="EarlyGreet", sleep=1.0)
    assert reply == {"greeting": "early hello, Eve"}
    assert time.monotonic() - started < 0.9  # the tail node sleeps 1 s after the reply
    done = server.state / "db" / "tail_done.jsonl"
    deadline = time.monotonic() + 5
    while not (done.exists() and "Eve" in done.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Eve" in done.read_text()  # the rest of the workflow went on


def test_early_exit_stops_the_workflow(server: ServerProcess) -> None:
    assert greet(server, "exit", rpc="EarlyGreet") == {"greeting": "exited early"}


def test_reflection_lists_the_services(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
    names = {s.name for s in reply.list_services_response.service}
    assert names == {
        "entrypoint.Entrypoint",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_client_errors_name_the_problem(server: ServerProcess) -> None:
    with pytest.raises(RequestDataError, match="nickname"):
        call("Greet", '{"nickname": "x"}', server.address)
    with pytest.raises(RequestDataError, match=r"no field 'nmae'; did you mean 'name'\?"):
        call("Greet", '{"nmae": "x"}', server.address)
    with pytest.raises(RequestDataError, match="must be a JSON object"):
        call("Greet", '[{"name": "x"}]', server.address)
    with pytest.raises(ServeError, match=r"no rpc 'Nope'.*EarlyGreet, Greet"):
        call("Nope", "{}", server.address)
    # The full method name works too.
    reply = call("entrypoint.Entrypoint/Greet", '{"name": "Full"}', server.address)
    assert "Hello, Full" in reply


def test_web_port(server: ServerProcess) -> None:
    base = f"http://127.0.0.1:{server.web_port}"
    proto = urllib.request.urlopen(f"{base}/public_input.proto", timeout=5).read().decode()
    assert "service Entrypoint" in proto
    assert urllib.request.urlopen(f"{base}/", timeout=5).read().decode() == proto
    info = json.loads(urllib.request.urlopen(f"{base}/info", timeout=5).read())
    assert info["version"] == "handwritten-v1" and info["ready"] is True
    assert info["workflows"][0] == {"name": "greeting", "rpc": "Greet", "nodes": ["prep", "model"]}
    endpoints = json.loads(urllib.request.urlopen(f"{base}/endpoints", timeout=5).read())
    greet_ep = endpoints["endpoints"][0]
    assert greet_ep["method"] == "/entrypoint.Entrypoint/Greet"
    assert greet_ep["request"]["fields"]["sleep"]["type"] == "double"
    tags = greet_ep["response"]["fields"]["tags"]
    assert tags == {"number": 7, "type": "string", "repeated": True}
    assert greet_ep["example_request"] == {"name": "name", "sleep": 0.5}


def test_ready_line(server: ServerProcess) -> None:
    # Under --nats the runners' log lines share the server's stdout.
    lines = server.stdout.strip().splitlines()
    ready = (
        f"Serving handwritten-v1 on {server.address} "
        "(workflows: greeting (Greet), early-greeting (EarlyGreet))"
    )
    assert ready in lines
    # The line under it says where the web port answers, /endpoints first.
    assert lines[lines.index(ready) + 1] == (
        f"Web port: http://127.0.0.1:{server.web_port}/endpoints (fields, example requests)"
    )


def test_timeout_is_deadline_exceeded(krt_dir: Path, start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(krt_dir, "--timeout", "0.5")
    server.wait_status("SERVING")
    with pytest.raises(CallError) as info:
        greet(server, "Slow", sleep=3)
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert "node 'prep' was running" in info.value.details
    assert greet(server, "Quick")["greeting"].startswith("Hello, Quick")


def test_a_cpu_bound_node_does_not_block_the_server(krt_dir: Path, start_server) -> None:  # type: ignore[no-untyped-def]
    """The node spins for 2 s without yielding; --timeout 1. The nodes run on their workflow's
    thread, so the server's loop answers health and the timeout while it spins (on the loop,
    both would wait 2 s), and the next message waits for the node, as in a kre-py pod."""
    import threading

    from tests.serve.serve_helpers import health_status

    server = start_server(krt_dir, "--timeout", "1")
    server.wait_status("SERVING")
    outcome: dict[str, object] = {}

    def spin() -> None:
        started = time.monotonic()
        try:
            greet(server, "spin", sleep=2.0)
        except CallError as exc:
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.3)
    answers = [health_status(server.address, timeout=0.1) for _ in range(5)]
    thread.join(timeout=10)
    assert answers.count("SERVING") >= 3, answers  # 100 ms deadlines, during the spin
    error = outcome["error"]
    assert isinstance(error, CallError) and error.code == "DEADLINE_EXCEEDED"
    assert "node 'prep' was running" in error.details
    assert float(outcome["elapsed"]) < 1.9  # type: ignore[arg-type]  # the timeout, not the spin
    assert greet(server, "Next")["greeting"].startswith("Hello, Next")
