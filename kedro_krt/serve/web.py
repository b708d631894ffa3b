"""The web port: what KRE's web port served (the public proto) plus ``/info`` and ``/endpoints``.

A stdlib HTTP server on a daemon thread: it reads only data fixed at start (the prepared KRT)
and a readiness callback, so it never touches the event loop that serves gRPC.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.loader import PreparedKrt

_MAX_DEPTH = 6

# Well-known types have a JSON form of their own in proto3 JSON.
_WELL_KNOWN_EXAMPLES: dict[str, Any] = {
    "google.protobuf.Timestamp": "2024-01-01T00:00:00Z",
    "google.protobuf.Duration": "1.5s",
    "google.protobuf.Struct": {"key": "value"},
    "google.protobuf.Value": "any JSON value",
    "google.protobuf.ListValue": ["any JSON value"],
    "google.protobuf.Empty": {},
    "google.protobuf.FieldMask": "a.b,c",
    "google.protobuf.Any": {"@type": "type.googleapis.com/package.Message"},
    "google.protobuf.DoubleValue": 0.5,
    "google.protobuf.FloatValue": 0.5,
    "google.protobuf.Int64Value": "1",
    "google.protobuf.UInt64Value": "1",
    "google.protobuf.Int32Value": 1,
    "google.protobuf.UInt32Value": 1,
    "google.protobuf.BoolValue": True,
    "google.protobuf.StringValue": "text",
    "google.protobuf.BytesValue": "",
}

_SCALARS: dict[int, tuple[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: ("double", 0.5),
    FieldDescriptor.TYPE_FLOAT: ("float", 0.5),
    FieldDescriptor.TYPE_INT64: ("int64", "1"),  # proto3 JSON writes 64-bit ints as strings
    FieldDescriptor.TYPE_UINT64: ("uint64", "1"),
    FieldDescriptor.TYPE_SINT64: ("sint64", "1"),
    FieldDescriptor.TYPE_FIXED64: ("fixed64", "1"),
    FieldDescriptor.TYPE_SFIXED64: ("sfixed64", "1"),
    FieldDescriptor.TYPE_INT32: ("int32", 1),
    FieldDescriptor.TYPE_UINT32: ("uint32", 1),
    FieldDescriptor.TYPE_SINT32: ("sint32", 1),
    FieldDescriptor.TYPE_FIXED32: ("fixed32", 1),
    FieldDescriptor.TYPE_SFIXED32: ("sfixed32", 1),
    FieldDescriptor.TYPE_BOOL: ("bool", True),
    FieldDescriptor.TYPE_STRING: ("string", "text"),
    FieldDescriptor.TYPE_BYTES: ("bytes", ""),
}


def _enum_values(enum: EnumDescriptor) -> list[str]:
    return [v.name for v in enum.values]


def _message(fd: FieldDescriptor) -> Descriptor:
    assert fd.message_type is not None, fd.full_name
    return fd.message_type


def _enum(fd: FieldDescriptor) -> EnumDescriptor:
    assert fd.enum_type is not None, fd.full_name
    return fd.enum_type


def _is_map(fd: FieldDescriptor) -> bool:
    msg = fd.message_type
    return bool(msg is not None and msg.GetOptions().map_entry)


def _is_repeated(fd: FieldDescriptor) -> bool:
    # ``label`` is deprecated in recent protobuf in favour of ``is_repeated``.
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(getattr(fd, "label", None) == FieldDescriptor.LABEL_REPEATED)


def field_schema(fd: FieldDescriptor, depth: int = 0) -> dict[str, Any]:
    """The JSON description of one field: type, repeated/map/optional, nested fields."""
    out: dict[str, Any] = {"number": fd.number}
    if _is_map(fd):
        entry = _message(fd)
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        out.update(
            type="map",
            key=field_schema(key, depth + 1)["type"],
            value=field_schema(value, depth + 1),
        )
        return out
    if fd.type == FieldDescriptor.TYPE_ENUM:
        out.update(type="enum", enum=_enum(fd).full_name, values=_enum_values(_enum(fd)))
    elif fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        nested = _message(fd)
        out["type"] = nested.full_name
        if nested.full_name not in _WELL_KNOWN_EXAMPLES and depth < _MAX_DEPTH:
            out["fields"] = message_schema(nested, depth + 1)["fields"]
    else:
        out["type"] = _SCALARS[fd.type][0]
    if _is_repeated(fd):
        out["repeated"] = True
    elif fd.containing_oneof is not None:
        oneof = fd.containing_oneof
        # proto3 ``optional`` is a synthetic one-field oneof named ``_<field>``.
        if oneof.name == f"_{fd.name}" and len(oneof.fields) == 1:
            out["optional"] = True
        else:
            out["oneof"] = oneof.name
    return out


def message_schema(desc: Descriptor, depth: int = 0) -> dict[str, Any]:
    """The JSON description of a message: its full name and every field by name."""
    return {
        "type": desc.full_name,
        "fields": {fd.name: field_schema(fd, depth) for fd in desc.fields},
    }


def _example_single(fd: FieldDescriptor, depth: int) -> Any:
    if fd.type == FieldDescriptor.TYPE_ENUM:
        values = _enum_values(_enum(fd))
        return values[1] if len(values) > 1 else values[0]
    if fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        nested = _message(fd)
        if nested.full_name in _WELL_KNOWN_EXAMPLES:
            return _WELL_KNOWN_EXAMPLES[nested.full_name]
        return example_message(nested, depth + 1) if depth < _MAX_DEPTH else {}
    return _SCALARS[fd.type][1]


def example_message(desc: Descriptor, depth: int = 0) -> dict[str, Any]:
    """An example request in proto3 JSON (field names as in the proto): every field filled."""
    if desc.full_name in _WELL_KNOWN_EXAMPLES:
        value = _WELL_KNOWN_EXAMPLES[desc.full_name]
        return value if isinstance(value, dict) else {"value": value}
    out: dict[str, Any] = {}
    seen_oneofs: set[str] = set()
    for fd in desc.fields:
        oneof = fd.containing_oneof
        if oneof is not None and oneof.name != f"_{fd.name}":
            if oneof.name in seen_oneofs:
                continue  # one member of a oneof, or the request is invalid
            seen_oneofs.add(oneof.name)
        if _is_map(fd):
            out[fd.name] = {"key": _example_single(_message(fd).fields_by_name["value"], depth)}
        elif _is_repeated(fd):
            out[fd.name] = [_example_single(fd, depth)]
        else:
            out[fd.name] = _example_single(fd, depth)
    return out


def info(prepared: PreparedKrt, ready: bool) -> dict[str, Any]:
    """``/info``: version, description, workflows (rpc, nodes), readiness."""
    manifest = prepared.manifest
    return {
        "version": manifest.version,
        "description": manifest.description,
        "ready": ready,
        "service": prepared.service_name,
        "workflows": [
            {"name": w.name, "rpc": w.entrypoint, "nodes": list(w.sequential)}
            for w in manifest.workflows
        ],
    }


def endpoints(prepared: PreparedKrt) -> dict[str, Any]:
    """``/endpoints``: each rpc's full method, request/response schema and an example request."""
    out = []
    for wf in prepared.manifest.workflows:
        request, response = prepared.rpc_types(wf.entrypoint)
        out.append(
            {
                "rpc": wf.entrypoint,
                "method": f"/{prepared.service_name}/{wf.entrypoint}",
                "workflow": wf.name,
                "request": message_schema(request),
                "response": message_schema(response),
                "example_request": example_message(request),
            }
        )
    return {"service": prepared.service_name, "endpoints": out}


def start_web(
    prepared: PreparedKrt, host: str, port: int, ready: Callable[[], bool]
) -> ThreadingHTTPServer:
    """Start the web port on a daemon thread; call ``shutdown()`` on the result to stop it.

    Raises:
        ServeError: when the port is in use.
    """
    proto = prepared.proto_text.encode("utf-8")
    endpoints_body = json.dumps(endpoints(prepared), indent=2).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/public_input.proto"):
                self._send(200, proto, "text/plain; charset=utf-8", download=path != "/")
            elif path == "/info":
                body = json.dumps(info(prepared, ready()), indent=2).encode("utf-8")
                self._send(200, body, "application/json")
            elif path == "/endpoints":
                self._send(200, endpoints_body, "application/json")
            else:
                body = b"not found: try /, /public_input.proto, /info or /endpoints\n"
                self._send(404, body, "text/plain; charset=utf-8")

        def _send(self, code: int, body: bytes, ctype: str, download: bool = False) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if download:
                self.send_header("Content-Disposition", 'attachment; filename="public_input.proto"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per HTTP GET would drown the nodes' logs

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ServeError(
            f"cannot open the web port {host}:{port}: {exc.strerror}; choose another with "
            "--web-port, or 0 to turn it off"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="krt-web", daemon=True).start()
    return server
