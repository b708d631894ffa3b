"""A stand-in for KRE's admin API on 127.0.0.1, strict about the contract (imported by the
deploy tests as ``kre_admin_fake``).

KRE needs Kubernetes, MongoDB and NATS, so it cannot run here. This server answers what
kedro-krt's deploy uses, the way KRE does (konstellation-io/kre @ kre-7.0.0 and kre-8.0.0,
engine/admin-api):

* ``POST /api/v1/auth/token/signin`` {"apiToken"} -> {"access_token"}, 401 for a wrong token
  (delivery/http/controller/auth.go, httperrors/errors.go);
* ``/graphql`` behind ``Authorization: Bearer <JWT>`` (delivery/http/server.go), executed by
  graphql-core against KRE's **published schema.graphql** of the chosen tag (vendored in
  tests/fixtures/kre_admin_api/), with resolvers that keep KRE's rules (domain/usecase/
  version_interactor.go, version_config.go): a version is CREATING then CREATED or ERROR, a
  name is unique in a runtime, config values are filled from earlier versions, unknown config
  keys are refused, a version starts only with a complete config and from CREATED/STOPPED,
  publishes only when STARTED.

And it is a contract check. Every request that breaks the contract is recorded in
``violations`` (the tests' fixture fails on any): a GraphQL document that does not parse or
validate against the schema, variables that do not coerce to the operation's types, an
``operationName`` the document lacks, a multipart body that breaks the GraphQL multipart
request spec (github.com/jaydenseric/graphql-multipart-request-spec: ``operations`` then
``map`` then the file parts, each map path pointing at a null in ``operations``, every file
mapped), or the API token anywhere but in the sign-in request's body.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import socket
import struct
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    execute,
    parse,
    validate,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kre_admin_api"
TAGS = ("kre-7.0.0", "kre-8.0.0")


def load_schema(tag: str) -> GraphQLSchema:
    """KRE's admin API schema at ``tag``, as published in konstellation-io/kre."""
    return build_schema((FIXTURES / tag / "schema.graphql").read_text(encoding="utf-8"))


@dataclass
class Upload:
    """What gqlgen's ``graphql.Upload`` carries: the file part's name and bytes."""

    filename: str
    content: bytes
    content_type: str


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with ``status``, or drop the connection.

    ``action``: an HTTP status (int), ``"reset"`` (a TCP reset before KRE handles the
    request) or ``"reset-after"`` (KRE handles it, then the connection is reset).
    """

    path: str
    action: int | str
    operation: str | None = None
    times: int = 1


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    operation: str | None = None


@dataclass
class _Version:
    id: str
    name: str
    description: str
    order: int
    status: str = "CREATING"
    errors: list[str] = field(default_factory=list)
    vars: list[dict[str, str]] = field(default_factory=list)
    polls: int = 0

    @property
    def completed(self) -> bool:
        return all(v["value"] for v in self.vars)


_USER = {
    "id": "user-1",
    "email": "dev@example.test",
    "accessLevel": "ADMIN",
    "creationDate": "2022-08-09T00:00:00Z",
    "lastActivity": None,
    "activeSessions": 1,
    "apiTokens": [],
}


class FakeKre:
    """KRE's admin API for one test. ``start()``, use ``url``, ``stop()``.

    Args:
        tag: the KRE release whose schema.graphql the server executes (kre-7.0.0, kre-8.0.0).
        runtimes: the runtime ids that exist.
        base_domain: KRE's ``baseDomainName`` (``Runtime.entrypointAddress`` is
            ``entrypoint.<base_domain>``).
    """

    def __init__(
        self,
        tag: str = "kre-7.0.0",
        runtimes: tuple[str, ...] = ("demo",),
        base_domain: str = "kre.example.test",
    ) -> None:
        self.tag = tag
        self.schema = load_schema(tag)
        self.api_token = "kre-api-token-" + secrets.token_hex(12)
        self.jwt = "eyJhbGciOiJIUzI1NiJ9.fake." + secrets.token_hex(16)
        self.runtimes = {r: {} for r in runtimes}  # type: dict[str, dict[str, _Version]]
        self.base_domain = base_domain
        #: How many ``version`` queries see CREATING (or STARTING) before the next status.
        self.polls_to_finish = 1
        #: What creation ends in: ("CREATED", []) or ("ERROR", [KRE's messages]).
        self.create_outcome: tuple[str, list[str]] = ("CREATED", [])
        #: A GraphQL error that createVersion answers (message, extensions), e.g. KRE's
        #: krt_validation_error; None to create.
        self.create_refusal: tuple[str, dict[str, Any]] | None = None
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.documents: list[tuple[str, str]] = []
        self.uploads: list[Upload] = []
        self.violations: list[str] = []
        self._lock = threading.RLock()
        self._order = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._scheme = "http"
        _wire(self)

    # --- life -----------------------------------------------------------------------------

    def start(self, ssl_context: Any = None) -> FakeKre:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        if ssl_context is not None:
            server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._scheme = "https" if ssl_context is not None else "http"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def __enter__(self) -> FakeKre:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state for tests --------------------------------------------------------------------

    def add_version(
        self,
        name: str,
        status: str = "STARTED",
        runtime: str = "demo",
        config: dict[str, str] | None = None,
    ) -> None:
        """A version already in the runtime (created before the test)."""
        with self._lock:
            self._order += 1
            self.runtimes[runtime][name] = _Version(
                id=f"v{self._order}",
                name=name,
                description="earlier",
                order=self._order,
                status=status,
                vars=[
                    {"key": k, "value": v, "type": "VARIABLE"} for k, v in (config or {}).items()
                ],
            )

    def version(self, name: str, runtime: str = "demo") -> _Version:
        return self.runtimes[runtime][name]

    def config_values(self, name: str, runtime: str = "demo") -> dict[str, str]:
        return {v["key"]: v["value"] for v in self.version(name, runtime).vars}

    def operation_names(self) -> list[str]:
        return [op for op, _ in self.documents]

    def violate(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    # --- HTTP -------------------------------------------------------------------------------

    def fault_for(self, path: str, operation: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path == path and fault.operation in (None, operation):
                    fault.times -= 1
                    return fault
        return None

    def check_secrets(self, recorded: Recorded) -> None:
        token = self.api_token.encode()
        if token in json.dumps(recorded.headers).encode():
            self.violate(f"the API token was sent in a header to {recorded.path}")
        if token in recorded.body and recorded.path != "/api/v1/auth/token/signin":
            self.violate(f"the API token was sent to {recorded.path} (only the sign-in body)")
        if self.jwt.encode() in recorded.body:
            self.violate(f"the JWT was sent in a request body to {recorded.path}")

    def sign_in(self, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        if not content_type.startswith("application/json"):
            self.violate(f"sign-in sent as {content_type!r}, not application/json")
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"code": "invalid_json", "message": "Invalid JSON"}
        if not isinstance(data, dict) or set(data) != {"apiToken"}:
            self.violate(
                f"sign-in body has keys {sorted(data) if isinstance(data, dict) else data}"
            )
        token = data.get("apiToken") if isinstance(data, dict) else None
        if not token:
            return 400, {"code": "validation_error", "message": "apiToken is required"}
        if token != self.api_token:
            return 401, {"code": "unauthorized", "message": "Unauthorized"}
        return 200, {"access_token": self.jwt}

    def graphql(self, request: dict[str, Any], via: str) -> tuple[int, dict[str, Any]]:
        """Check one GraphQL request against the schema and execute it."""
        query = request.get("query")
        variables = request.get("variables") or {}
        operation = request.get("operationName")
        if not isinstance(query, str):
            self.violate(f"{via}: no query string")
            return 400, {"errors": [{"message": "no query"}]}
        self.documents.append((str(operation), query))
        try:
            document = parse(query)
        except GraphQLError as exc:
            self.violate(f"{operation}: does not parse: {exc.message}")
            return 422, {"errors": [exc.formatted], "data": None}
        problems = validate(self.schema, document)
        if problems:
            for p in problems:
                self.violate(f"{operation}: invalid against {self.tag}'s schema: {p.message}")
            return 422, {"errors": [p.formatted for p in problems], "data": None}
        names = [
            d.name.value
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name
        ]
        if operation not in names:
            self.violate(f"operationName {operation!r} is not in the document ({names})")
        with self._lock:
            result = execute(
                self.schema, document, variable_values=variables, operation_name=operation
            )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            for error in result.errors:
                if not error.path:  # coercion of variables, not a resolver's refusal
                    self.violate(f"{operation}: variables do not fit: {error.message}")
            body["errors"] = [e.formatted for e in result.errors]
        return 200, body

    # --- resolvers (KRE's rules) ------------------------------------------------------------

    def _runtime(self, runtime_id: str) -> dict[str, _Version]:
        if runtime_id not in self.runtimes:
            raise GraphQLError("error runtime not found")
        return self.runtimes[runtime_id]

    def _get(self, runtime_id: str, name: str) -> _Version:
        versions = self.runtimes.get(runtime_id, {})
        if name not in versions:
            raise GraphQLError("error version not found")
        return versions[name]

    def _as_graphql(self, v: _Version) -> dict[str, Any]:
        return {
            "id": v.id,
            "name": v.name,
            "description": v.description,
            "status": v.status,
            "creationDate": "2022-08-09T00:00:00Z",
            "creationAuthor": _USER,
            "publicationDate": None,
            "publicationAuthor": None,
            "workflows": [],
            "config": {"completed": v.completed, "vars": [dict(x) for x in v.vars]},
            "hasDoc": True,
            "errors": list(v.errors),
            "krtVersion": "v1",
        }

    def resolve_runtime(self, _root: Any, _info: Any, id: str) -> dict[str, Any]:
        self._runtime(id)
        return {
            "id": id,
            "name": f"Runtime {id}",
            "description": "",
            "creationDate": "2022-08-09T00:00:00Z",
            "measurementsUrl": "",
            "databaseUrl": "",
            "entrypointAddress": f"entrypoint.{self.base_domain}",
            "publishedVersion": None,
            "creationAuthor": _USER,
        }

    def resolve_versions(self, _root: Any, _info: Any, runtimeId: str) -> list[dict[str, Any]]:
        versions = self.runtimes.get(runtimeId, {})
        return [self._as_graphql(v) for v in sorted(versions.values(), key=lambda v: v.order)]

    def resolve_version(self, _root: Any, _info: Any, name: str, runtimeId: str) -> dict:
        v = self._get(runtimeId, name)
        if v.status in ("CREATING", "STARTING"):
            if v.polls < self.polls_to_finish:
                v.polls += 1
            elif v.status == "CREATING":
                v.status, v.errors = self.create_outcome[0], list(self.create_outcome[1])
            else:
                v.status = "STARTED"
        return self._as_graphql(v)

    def resolve_create(self, _root: Any, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        upload = input["file"]
        assert isinstance(upload, Upload), upload
        self.uploads.append(upload)
        versions = self._runtime(input["runtimeId"])
        if self.create_refusal is not None:
            message, extensions = self.create_refusal
            raise GraphQLError(message, extensions=extensions)
        manifest = _manifest(upload.content)
        name = manifest["version"]
        if name in versions:
            raise GraphQLError("error version duplicated")
        # KRE fills each variable with the latest value any version of the runtime had.
        earlier: dict[str, str] = {}
        for old in sorted(versions.values(), key=lambda v: v.order):
            earlier.update({x["key"]: x["value"] for x in old.vars if x["value"]})
        config = manifest.get("config") or {}
        keys = [(k, "FILE") for k in config.get("files") or ()]
        keys += [(k, "VARIABLE") for k in config.get("variables") or ()]
        self._order += 1
        v = _Version(
            id=f"v{self._order}",
            name=name,
            description=manifest.get("description", ""),
            order=self._order,
            vars=[{"key": k, "value": earlier.get(k, ""), "type": t} for k, t in keys],
        )
        versions[name] = v
        return self._as_graphql(v)

    def resolve_configure(self, _root: Any, _info: Any, input: dict[str, Any]) -> dict:
        v = self._get(input["runtimeId"], input["versionName"])
        known = {x["key"] for x in v.vars}
        given = {c["key"]: c["value"] for c in input["configurationVariables"]}
        if set(given) - known:
            raise GraphQLError("version config contains an unknown key")
        new = [{**x, "value": given.get(x["key"], x["value"])} for x in v.vars]
        if v.status in ("STARTED", "PUBLISHED") and not all(x["value"] for x in new):
            raise GraphQLError("config can't be incomplete for started version")
        v.vars = new
        return self._as_graphql(v)

    def resolve_start(self, _root: Any, _info: Any, input: dict[str, Any]) -> dict:
        v = self._get(input["runtimeId"], input["versionName"])
        if v.status not in ("CREATED", "STOPPED"):
            raise GraphQLError("the version must be stopped before starting")
        if not v.completed:
            raise GraphQLError("version config is incomplete")
        v.status, v.polls = "STARTING", 0
        return self._as_graphql(v)

    def resolve_publish(self, _root: Any, _info: Any, input: dict[str, Any]) -> dict:
        v = self._get(input["runtimeId"], input["versionName"])
        if v.status != "STARTED":
            raise GraphQLError("the version must be started before publishing")
        for other in self.runtimes[input["runtimeId"]].values():
            if other.status == "PUBLISHED":
                other.status = "STARTED"
        v.status = "PUBLISHED"
        return self._as_graphql(v)


def _wire(fake: FakeKre) -> None:
    query = fake.schema.query_type
    mutation = fake.schema.mutation_type
    assert query is not None and mutation is not None
    query.fields["runtime"].resolve = fake.resolve_runtime
    query.fields["versions"].resolve = fake.resolve_versions
    query.fields["version"].resolve = fake.resolve_version
    mutation.fields["createVersion"].resolve = fake.resolve_create
    mutation.fields["updateVersionConfiguration"].resolve = fake.resolve_configure
    mutation.fields["startVersion"].resolve = fake.resolve_start
    mutation.fields["publishVersion"].resolve = fake.resolve_publish


def _manifest(krt: bytes) -> dict[str, Any]:
    with tarfile.open(fileobj=io.BytesIO(krt), mode="r:gz") as tar:
        member = tar.getmember("krt.yml")
        handle = tar.extractfile(member)
        assert handle is not None
        return dict(yaml.safe_load(handle.read()))


# --- the GraphQL multipart request spec ---------------------------------------------------------


def parse_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/form-data body, in order: (headers, content)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError(f"no boundary in {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    if not body.startswith(delimiter):
        raise ValueError("the body does not start with the boundary")
    chunks = body.split(b"\r\n" + delimiter)
    first = chunks[0][len(delimiter) :]
    chunks[0] = first
    if not chunks[-1].startswith(b"--"):
        raise ValueError("the body does not end with the closing boundary")
    parts = []
    for chunk in chunks[:-1]:
        if not chunk.startswith(b"\r\n"):
            raise ValueError("a boundary is not followed by CRLF")
        head, sep, content = chunk[2:].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a part has no blank line after its headers")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        parts.append((headers, content))
    return parts


def _disposition(headers: dict[str, str]) -> tuple[str | None, str | None]:
    value = headers.get("content-disposition", "")
    if not value.startswith("form-data"):
        return None, None
    name = re.search(r'\bname="([^"]*)"', value)
    filename = re.search(r'\bfilename="([^"]*)"', value)
    return (name.group(1) if name else None, filename.group(1) if filename else None)


def multipart_operations(fake: FakeKre, body: bytes, content_type: str) -> dict[str, Any] | None:
    """The operations of a GraphQL multipart request, files in place; None if it breaks the
    spec (each breach recorded)."""
    try:
        parts = parse_multipart(body, content_type)
    except ValueError as exc:
        fake.violate(f"multipart body: {exc}")
        return None
    named = [(_disposition(h), h, c) for h, c in parts]
    if len(named) < 3 or named[0][0][0] != "operations" or named[1][0][0] != "map":
        fake.violate(
            "multipart spec: the parts must be operations, map, then the files; got "
            f"{[n[0][0] for n in named]}"
        )
        return None
    try:
        operations = json.loads(named[0][2])
        mapping = json.loads(named[1][2])
    except ValueError as exc:
        fake.violate(f"multipart spec: operations or map is not JSON: {exc}")
        return None
    if not isinstance(operations, dict):
        fake.violate("multipart spec: operations must be one operation object here")
        return None
    if not isinstance(mapping, dict) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in mapping.values()
    ):
        fake.violate(f"multipart spec: map must be {{key: [paths]}}, got {mapping!r}")
        return None
    files: dict[str, Upload] = {}
    for (name, filename), headers, content in named[2:]:
        if name is None or name not in mapping:
            fake.violate(f"multipart spec: file part {name!r} is not in map")
            continue
        if not filename:
            fake.violate(f"multipart spec: file part {name!r} has no filename")
        files[name] = Upload(filename or "", content, headers.get("content-type", ""))
    for key, paths in mapping.items():
        if key not in files:
            fake.violate(f"multipart spec: map key {key!r} has no file part")
            continue
        for path in paths:
            if not _put(operations, path.split("."), files[key]):
                fake.violate(f"multipart spec: map path {path!r} is not a null in operations")
    return operations


def _put(tree: Any, keys: list[str], value: Any) -> bool:
    for key in keys[:-1]:
        if isinstance(tree, dict) and key in tree:
            tree = tree[key]
        elif isinstance(tree, list) and key.isdigit() and int(key) < len(tree):
            tree = tree[int(key)]
        else:
            return False
    last = keys[-1]
    if isinstance(tree, dict) and last in tree and tree[last] is None:
        tree[last] = value
        return True
    if (
        isinstance(tree, list)
        and last.isdigit()
        and int(last) < len(tree)
        and tree[int(last)] is None
    ):
        tree[int(last)] = value
        return True
    return False


# --- the handler --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeKre:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: dict[str, Any] | str) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(body, str) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends a TCP RST, the client reads "connection reset by peer".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def do_GET(self) -> None:
        self._reply(405, {"code": "method_not_allowed", "message": "Method Not Allowed"})

    def do_POST(self) -> None:
        fake = self.fake
        body = self._body()
        content_type = self.headers.get("Content-Type", "")
        path = self.path
        recorded = Recorded(path, {k: v for k, v in self.headers.items()}, body)
        request: dict[str, Any] | None = None
        if path == "/graphql":
            if content_type.startswith("multipart/form-data"):
                request = multipart_operations(fake, body, content_type)
            elif content_type.startswith("application/json"):
                try:
                    request = json.loads(body)
                except ValueError:
                    fake.violate("/graphql: the JSON body does not parse")
            else:
                fake.violate(f"/graphql: content type {content_type!r}")
            recorded.operation = (request or {}).get("operationName")
        with fake._lock:
            fake.requests.append(recorded)
        fake.check_secrets(recorded)
        fault = fake.fault_for(path, recorded.operation)
        if fault is not None and fault.action == "reset":
            self._reset()
            return
        if fault is not None and isinstance(fault.action, int):
            self._reply(fault.action, f"{fault.action} Service Unavailable")
            return
        if path == "/api/v1/auth/token/signin":
            status, answer = fake.sign_in(body, content_type)
        elif path == "/graphql":
            if self.headers.get("Authorization") != f"Bearer {fake.jwt}":
                status, answer = 401, {"code": "unauthorized", "message": "Unauthorized"}
            elif request is None:
                status, answer = 400, {"errors": [{"message": "bad request"}]}
            else:
                status, answer = fake.graphql(request, content_type.split(";")[0])
        else:
            status, answer = 404, {"message": "Not Found"}
        if fault is not None and fault.action == "reset-after":
            self._reset()
            return
        self._reply(status, answer)
