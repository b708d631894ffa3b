"""`serve --nats` sends a request over the NATS limit as KRE's entrypoint of its format does
(``_prepare_nats_request``): gzipped at level 9, and RESOURCE_EXHAUSTED naming the limit when
even the gzipped message does not fit (issue 20, point 2)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import grpc
import pytest

from kedro_krt.node.runner.envelope_base import MESSAGE_THRESHOLD
from kedro_krt.serve.client import CallError, call
from kedro_krt.serve.errors import RequestTooLarge
from kedro_krt.serve.serving_v1 import V1NatsFront
from kedro_krt.serve.serving_v2 import V2NatsFront
from tests.serve.serve_helpers import ServerProcess, build_classificator_v2

#: gRPC's default receive limit is 4 MiB; these stay under it.
_CHANNEL = [("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)]


def _request(name: str) -> bytes:
    """An ``entrypoint.Request`` with ``name`` (field 1), serialized by hand."""
    data = name.encode()
    length = len(data)
    varint = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return b"\x0a" + bytes(varint) + data


def _greet(server: ServerProcess, request: bytes) -> bytes:
    with grpc.insecure_channel(server.address, options=_CHANNEL) as channel:
        method = channel.unary_unary("/entrypoint.Entrypoint/Greet")
        return bytes(method(request, timeout=60))


def _clear_pid(response: bytes) -> bytes:
    """The response with its ``pid`` (field 6, a process id: differs by design) removed."""
    message = _response_class().FromString(response)
    message.ClearField("pid")
    return bytes(message.SerializeToString())


def _response_class():  # type: ignore[no-untyped-def]
    """The fixture's ``entrypoint.Response``, declared here (its _pb2 lives in the KRT)."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    from google.protobuf.message_factory import GetMessageClass

    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="large_test_response.proto", package="largetest")
    message = file.message_type.add(name="Response")
    for number, name, kind in (
        (1, "greeting", f.TYPE_STRING), (2, "prep_utils", f.TYPE_STRING),
        (3, "model_utils", f.TYPE_STRING), (4, "count", f.TYPE_INT64),
        (5, "saved", f.TYPE_INT64), (6, "pid", f.TYPE_INT64),
    ):
        message.field.add(name=name, number=number, type=kind, label=f.LABEL_OPTIONAL)
    message.field.add(name="tags", number=7, type=f.TYPE_STRING, label=f.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return GetMessageClass(pool.FindMessageTypeByName("largetest.Response"))


def test_each_format_takes_its_entrypoint_s_limit() -> None:
    v1 = V1NatsFront.__new__(V1NatsFront)
    v2 = V2NatsFront.__new__(V2NatsFront)
    # kre-entrypoint 1.8.1: a constant 1 MiB.
    assert v1.request_limit(-1, 8 << 20) == MESSAGE_THRESHOLD
    assert v1.request_limit(512, 8 << 20) == MESSAGE_THRESHOLD
    # kre-entrypoint 3.3.6: the stream's max_msg_size when set, capped by the server's.
    assert v2.request_limit(-1, 8 << 20) == 8 << 20
    assert v2.request_limit(512, 8 << 20) == 512
    assert v2.request_limit(16 << 20, 8 << 20) == 8 << 20


def test_encode_gzips_over_the_limit_and_refuses_what_still_does_not_fit() -> None:
    front = V1NatsFront.__new__(V1NatsFront)
    workflow = type("Wf", (), {"rpc": "Greet"})()
    small = b"x" * 100
    assert front.encode(workflow, small, 1000) is small  # type: ignore[arg-type]
    assert front.encode(workflow, b"x" * 5000, 1000)[:2] == b"\x1f\x8b"  # type: ignore[arg-type]
    with pytest.raises(RequestTooLarge, match=r"over the 0\.98 KB NATS message limit"):
        front.encode(workflow, os.urandom(5000), 1000)  # type: ignore[arg-type]


@pytest.mark.e2e
def test_large_requests_under_nats(krt_dir: Path, tmp_path: Path) -> None:
    """A 2 MiB request that gzips well answers as in-process, byte for byte; an incompressible
    one over the limit is RESOURCE_EXHAUSTED naming the limit, without a traceback."""
    compressible = _request("a" * (2 << 20))
    # base64 of random bytes: gzip gets it down to about 3/4 only, far over 1 MiB.
    incompressible = _request(base64.b64encode(os.urandom(2_400_000)).decode())
    answers: dict[str, bytes] = {}
    for mode, args in (("in-process", ()), ("nats", ("--nats",))):
        folder = tmp_path / mode
        folder.mkdir()
        server = ServerProcess(krt_dir, folder, *args, env={"TMPDIR": str(folder)})
        try:
            server.wait_status("SERVING", timeout=90)
            answers[mode] = _clear_pid(_greet(server, compressible))
            if mode == "nats":
                with pytest.raises(grpc.RpcError) as info:
                    _greet(server, incompressible)
                assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "1024.00 KB NATS message limit" in str(info.value.details())
                # The server goes on serving.
                assert _clear_pid(_greet(server, compressible))
        finally:
            server.kill()
        assert "Traceback" not in server.stderr, server.stderr
    assert len(answers["nats"]) > 2 << 20
    assert answers["nats"] == answers["in-process"]


@pytest.mark.e2e
def test_large_requests_under_nats_v2(tmp_path: Path) -> None:
    """KRT v2 (kre-entrypoint 3.3.6's limit): the same, on the classificator."""
    krt = build_classificator_v2(tmp_path / "classificator")
    big = json.dumps({"title": "Invoice", "body": "the invoice for May is attached " * 70000})
    huge = json.dumps(
        {"title": "Invoice", "body": base64.b64encode(os.urandom(2_400_000)).decode()}
    )
    answers: dict[str, str] = {}
    for mode, args in (("in-process", ()), ("nats", ("--nats",))):
        folder = tmp_path / mode
        folder.mkdir()
        server = ServerProcess(krt, folder, *args, env={"TMPDIR": str(folder)})
        try:
            server.wait_status("SERVING", timeout=90)
            answers[mode] = call("Classificator", big, server.address, timeout=60)
            if mode == "nats":
                with pytest.raises(CallError) as info:
                    call("Classificator", huge, server.address, timeout=60)
                assert info.value.code == "RESOURCE_EXHAUSTED"
                assert "1024.00 KB NATS message limit" in info.value.details
        finally:
            server.kill()
        assert "Traceback" not in server.stderr, server.stderr
    assert answers["nats"] == answers["in-process"]
    assert json.loads(answers["nats"])["category"] == "CATEGORY_BILLING"
