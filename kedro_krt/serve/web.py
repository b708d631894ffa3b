"""The web port: what KRE's web port served (the public proto) plus ``/info`` and ``/endpoints``.

A stdlib HTTP server on a daemon thread: it reads only data fixed at start (the prepared KRT)
and a readiness callback, so it never touches the event loop that serves gRPC.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from kedro_krt.emit.examples import (
    MAX_DEPTH,
    SCALARS,
    WELL_KNOWN_EXAMPLES,
    example_message,
    example_path,
    field_enum,
    field_message,
    given_example,
    is_map,
    is_repeated,
)
from kedro_krt.node.errors import KrtError
from kedro_krt.node.plan import NodeRuntimePlan
from kedro_krt.node.schema.types import Column
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.formats import serving_for
from kedro_krt.serve.loader import PreparedKrt


def _enum_values(enum: EnumDescriptor) -> list[str]:
    return [v.name for v in enum.values]


#: The columns the plan knows, by row message full name, then by field name.
Columns = Mapping[str, Mapping[str, Column]]


def field_schema(
    fd: FieldDescriptor, depth: int = 0, columns: Columns | None = None
) -> dict[str, Any]:
    """The JSON description of one field: type, repeated/map/optional/required, nested fields.

    A column the plan knows (``columns``) says what the runtime does: ``required`` when a row
    without it is refused, ``optional`` when it may be left out; the ``optional`` of its proto
    declaration only gives it presence, so that a forgotten cell is seen.
    """
    columns = columns or {}
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
            out["fields"] = message_schema(nested, depth + 1, columns)["fields"]
    else:
        out["type"] = SCALARS[fd.type][0]
    owner = fd.containing_type
    column = columns.get(owner.full_name, {}).get(fd.name) if owner is not None else None
    if column is not None and not is_repeated(fd):
        if column.must_send:
            out["required"] = True
        elif column.optional:
            out["optional"] = True
    elif is_repeated(fd):
        out["repeated"] = True
    elif fd.containing_oneof is not None:
        oneof = fd.containing_oneof
        # proto3 ``optional`` is a synthetic one-field oneof named ``_<field>``.
        if oneof.name == f"_{fd.name}" and len(oneof.fields) == 1:
            out["optional"] = True
        else:
            out["oneof"] = oneof.name
    return out


def message_schema(
    desc: Descriptor, depth: int = 0, columns: Columns | None = None
) -> dict[str, Any]:
    """The JSON description of a message: its full name and every field by name."""
    return {
        "type": desc.full_name,
        "fields": {fd.name: field_schema(fd, depth, columns) for fd in desc.fields},
    }


def _node_plans(root: Path) -> list[NodeRuntimePlan]:
    plans = []
    for path in sorted(root.glob("src/*/plan.json")):
        try:
            plans.append(NodeRuntimePlan.loads(path.read_text(encoding="utf-8")))
        except (KrtError, ValueError, KeyError, TypeError):
            continue  # a plan this kedro-krt cannot read: the proto alone describes the fields
    return plans


def request_columns(plans: Sequence[NodeRuntimePlan], request: Descriptor) -> Columns:
    """The columns of ``request``'s tables as the plan of a node that reads it has them (the
    plan the runtime checks requests with), by row message full name; empty for a KRT whose
    nodes have no plan (hand-written)."""
    for plan in plans:
        for message in (plan.input, *(u.message for u in plan.upstreams)):
            if message.name != request.name:
                continue
            out: dict[str, dict[str, Column]] = {}
            for f in message.fields:
                fd = request.fields_by_name.get(f.name)
                if f.type.kind == "table" and fd is not None and fd.message_type is not None:
                    out[fd.message_type.full_name] = {c.name: c for c in f.type.columns}
            return out
    return {}


def example_of(prepared: PreparedKrt, rpc: str) -> dict[str, Any]:
    """``rpc``'s example request: the KRT's ``docs/examples/<Rpc>.json`` when it fits the
    request (``package`` writes it from sample rows), else one made from the types."""
    request, _ = prepared.rpc_types(rpc)
    path = prepared.root / example_path(rpc)
    if path.is_file():
        example = given_example(request, path.read_bytes())
        if example is not None:
            return example
    return example_message(request)


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
    plans = _node_plans(prepared.root)
    for wf in prepared.manifest.workflows:
        request, response = prepared.rpc_types(wf.entrypoint)
        out.append(
            {
                "rpc": wf.entrypoint,
                "method": f"/{prepared.service_name}/{wf.entrypoint}",
                "workflow": wf.name,
                "request": message_schema(request, columns=request_columns(plans, request)),
                "response": message_schema(response),
                "example_request": example_of(prepared, wf.entrypoint),
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
