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

from kedro_krt.emit.examples import (
    MAX_DEPTH,
    SCALARS,
    WELL_KNOWN_EXAMPLES,
    example_message,
    field_enum,
    field_message,
    is_map,
    is_repeated,
)
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.formats import serving_for
from kedro_krt.serve.loader import PreparedKrt


def _enum_values(enum: EnumDescriptor) -> list[str]:
    return [v.name for v in enum.values]


def field_schema(fd: FieldDescriptor, depth: int = 0) -> dict[str, Any]:
    """The JSON description of one field: type, repeated/map/optional, nested fields."""
    out: dict[str, Any] = {"number": fd.number}
    if is_map(fd):
        entry = field_message(fd)
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        out.update(
            type="map",
            key=field_schema(key, depth + 1)["type"],
            value=field_schema(value, depth + 1),
        )
        return out
    if fd.type == FieldDescriptor.TYPE_ENUM:
        enum = field_enum(fd)
        out.update(type="enum", enum=enum.full_name, values=_enum_values(enum))
    elif fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        nested = field_message(fd)
        out["type"] = nested.full_name
        if nested.full_name not in WELL_KNOWN_EXAMPLES and depth < MAX_DEPTH:
            out["fields"] = message_schema(nested, depth + 1)["fields"]
    else:
        out["type"] = SCALARS[fd.type][0]
    if is_repeated(fd):
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


def info(prepared: PreparedKrt, ready: bool) -> dict[str, Any]:
    """``/info``: version, description, workflows (rpc, nodes), readiness."""
    manifest = prepared.manifest
    serving = serving_for(manifest)
    return {
        "version": manifest.version,
        "description": manifest.description,
        "ready": ready,
        "service": prepared.service_name,
        "workflows": [serving.workflow_info(w) for w in manifest.workflows],
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
