"""Call a served KRT with JSON, finding the message types through server reflection.

No local proto is needed: the server (ours, or KRE's entrypoint, which has reflection on)
describes its ``service Entrypoint``.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from kedro_krt.serve.errors import ServeError

_SKIPPED_SERVICES = ("grpc.health.", "grpc.reflection.")


class CallError(Exception):
    """The server answered with a gRPC error: ``code`` (e.g. ``"INTERNAL"``) and ``details``."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


class RequestDataError(ServeError):
    """The JSON given for a request does not fit the rpc's request message."""


# What protobuf's JSON parser says (google/protobuf/json_format.py): a chain of "Failed to
# parse <field> field: " before the cause, and for an unknown field the message type, the
# field and the path, then the known fields in their JSON (camelCase) names.
_PARSE_STEP = re.compile(r"^Failed to parse (\S+) field: ")
_UNKNOWN_FIELD = re.compile(
    r'^Message type "(?P<type>[^"]+)" has no field named "(?P<name>[^"]+)" at "(?P<at>[^"]+)"'
)
_LOAD_JSON = "Failed to load JSON: "


def request_data_problem(rpc: str, request: Descriptor, text: str) -> str:
    """protobuf's ParseError ``text`` for the request of ``rpc``, as one sentence a caller can
    act on: an unknown field with the fields of its message in their proto (snake_case) names
    and the closest one, and no doubled periods."""
    if text.startswith(_LOAD_JSON):
        return f"the data for {rpc} is not JSON: {text[len(_LOAD_JSON) :].rstrip('.')}"
    path: list[str] = []
    while (step := _PARSE_STEP.match(text)) is not None:
        path.append(step.group(1))
        text = text[step.end() :]
    where = ".".join(path)
    unknown = _UNKNOWN_FIELD.match(text)
    if unknown is not None:
        at = unknown.group("at").split(".", 1)
        where = at[1] if len(at) > 1 else ""
        name = unknown.group("name")
        owner = _message(request, unknown.group("type"))
        fields = [f.name for f in owner.fields] if owner is not None else []
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        inside = f" in {where}" if where else ""
        return (
            f"the data for {rpc} has no field '{name}'{inside}{hint} "
            f"({unknown.group('type')} has: {', '.join(fields) or 'no field'})"
        )
    cause = text.strip().rstrip(".")
    inside = f" at {where}" if where else ""
    return f"the data for {rpc} is not a valid {request.full_name}{inside}: {cause}"


def _message(root: Descriptor, full_name: str) -> Descriptor | None:
    """The message ``full_name`` among ``root`` and the messages its fields hold."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        desc = todo.pop()
        if desc.full_name == full_name:
            return desc
        seen.add(desc.full_name)
        todo += [
            f.message_type
            for f in desc.fields
            if f.message_type is not None and f.message_type.full_name not in seen
        ]
    return None


@dataclass(frozen=True)
class _Rpc:
    path: str
    method: MethodDescriptor


def _find_rpc(channel: grpc.Channel, rpc: str, timeout: float) -> _Rpc:
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)
    try:
        services = [s for s in database.get_services() if not s.startswith(_SKIPPED_SERVICES)]
    except grpc.RpcError as exc:
        raise CallError(exc.code().name, exc.details() or "") from None
    wanted = rpc.lstrip("/")
    service_part, _, method_part = wanted.rpartition("/")
    if not method_part:
        method_part = wanted
    found = []
    for name in services:
        if service_part and name != service_part:
            continue
        service = pool.FindServiceByName(name)
        method = service.methods_by_name.get(method_part)
        if method is not None:
            found.append(_Rpc(f"/{name}/{method.name}", method))
    if len(found) == 1:
        return found[0]
    known = []
    for name in services:
        known += [f"{m.name}" for m in pool.FindServiceByName(name).methods]
    if not found:
        raise ServeError(
            f"the server has no rpc '{rpc}'; it serves: {', '.join(sorted(known)) or 'nothing'}"
        )
    raise ServeError(
        f"rpc '{rpc}' is in several services ({', '.join(f.path for f in found)}): "
        "give the full method, e.g. entrypoint.Entrypoint/<Rpc>"
    )


def call(rpc: str, data: str, address: str = "127.0.0.1:9000", timeout: float = 30.0) -> str:
    """Call ``rpc`` (``Predict`` or ``entrypoint.Entrypoint/Predict``) with proto3 JSON ``data``.

    Returns:
        The reply as proto3 JSON (field names as in the proto).

    Raises:
        RequestDataError: when ``data`` is not JSON for the request message; names the field.
        CallError: when the server answers with a gRPC error (code and details).
        ServeError: when the server has no such rpc.
    """
    with grpc.insecure_channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=min(timeout, 10.0))
        except grpc.FutureTimeoutError:
            raise CallError(
                "UNAVAILABLE", f"no gRPC server answers on {address}; is it running?"
            ) from None
        target = _find_rpc(channel, rpc, timeout)
        request_cls = message_factory.GetMessageClass(target.method.input_type)
        response_cls = message_factory.GetMessageClass(target.method.output_type)
        try:
            parsed = json.loads(data or "{}")
        except ValueError:
            parsed = {}  # not JSON: the parser below says where
        if not isinstance(parsed, dict):
            raise RequestDataError(
                f"the data for {target.method.name} must be a JSON object, "
                '{"field": value, ...}, as proto3 JSON writes a message'
            )
        try:
            request = json_format.Parse(data or "{}", request_cls())
        except json_format.ParseError as exc:
            raise RequestDataError(
                request_data_problem(target.method.name, target.method.input_type, str(exc))
            ) from None
        stub = channel.unary_unary(
            target.path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_cls.FromString,
        )
        try:
            response = stub(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise CallError(exc.code().name, exc.details() or "") from None
        return json_format.MessageToJson(
            response, preserving_proto_field_name=True, indent=2, ensure_ascii=False
        )
