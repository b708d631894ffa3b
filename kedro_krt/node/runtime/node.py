"""What `src/<node>/main.py` hands to KRE's Python runner: `init(ctx)` and `handler(ctx, data)`.

It keeps the kre-py contract: the file is imported as `worker` with its folder on `sys.path`
(so the generated `*_pb2` modules beside it import by name), `init` runs once, `handler` is async,
takes a `google.protobuf.any_pb2.Any` and returns a protobuf message for the next node.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from kedro_krt.node.plan import (
    PARAMETERS_FIELD,
    PUBLIC_PROTO,
    NodeRuntimePlan,
    PlanFormatError,
)
from kedro_krt.node.runtime.engine import CallList, boot_project
from kedro_krt.node.runtime.errors import InvalidRequest, RuntimeSetupError
from kedro_krt.node.schema.codec import CodecError, MessageCodec, PresenceCheck
from kedro_krt.node.schema.relay import FieldCopy, Relay, copyable, is_repeated

_unknown_fields: Any
try:  # protobuf >= 4.21; older runtimes (kre-py's 3.x) skip the unknown-field check
    from google.protobuf import unknown_fields as _unknown_fields
except ImportError:  # pragma: no cover - exercised only with an old protobuf
    _unknown_fields = None


def _unknown_fields_at(msg: Any, path: str) -> str | None:
    """Where `msg` carries fields its class does not know, or None.

    A message serialised from another type parses without error in proto3: every field whose
    number or wire type does not match becomes an unknown field, and the known ones stay at
    their defaults, so the nodes would run on zeros. To stay cheap on the hot path this looks at
    the message and at the first element of each repeated message field (depth-first): bytes of
    another type show up there, a whole-message walk would cost more than decoding.
    """
    if _unknown_fields is None:
        return None
    unknown = _unknown_fields.UnknownFieldSet(msg)
    if len(unknown):
        numbers = sorted({f.field_number for f in unknown})
        return f"{path or 'the message'} (field number(s) {', '.join(map(str, numbers))})"
    for name, repeated in _message_fields(msg.DESCRIPTOR):
        if repeated:
            value = getattr(msg, name)
            if not len(value):
                continue
            value, where = value[0], f"{path}{'.' if path else ''}{name}[0]"
        elif msg.HasField(name):
            value, where = getattr(msg, name), f"{path}{'.' if path else ''}{name}"
        else:
            continue
        found = _unknown_fields_at(value, where)
        if found:
            return found
    return None


#: Up to this size a message is checked whole, in protobuf's C code (its size with and without
#: unknown fields); above it, by :func:`_unknown_fields_at`'s sampling walk, since a whole
#: check of a big table would cost about what decoding it costs.
_WHOLE_CHECK_BYTES = 1 << 16


def unknown_fields_in(msg: Any, payload: bytes) -> str | None:
    """Where ``msg``, parsed from ``payload``, carries fields its class does not know, or None.

    A message of at most 64 KiB (one-row requests, the messages between nodes) is checked
    whole: ``ByteSize`` counts unknown fields, so it changes when ``DiscardUnknownFields``
    drops any, anywhere in the message (three calls in C, cheaper than walking it in Python).
    Only when some are found is the message parsed again and walked to say where. A bigger one
    gets the sampling walk of :func:`_unknown_fields_at`.
    """
    if _unknown_fields is None:
        return None
    if len(payload) > _WHOLE_CHECK_BYTES:
        return _unknown_fields_at(msg, "")
    size = msg.ByteSize()
    msg.DiscardUnknownFields()
    if msg.ByteSize() == size:
        return None
    where = _unknown_fields_at(type(msg).FromString(payload), "")
    return where or "an element after the first of a repeated field"


_MESSAGE_FIELDS: dict[Any, tuple[tuple[str, bool], ...]] = {}


def _message_fields(desc: Any) -> tuple[tuple[str, bool], ...]:
    """The message-typed fields of a message type (maps left out), in field-number order (the
    order ``ListFields`` gives), with whether each is repeated; worked out once per type."""
    fields = _MESSAGE_FIELDS.get(desc)
    if fields is None:
        fields = tuple(
            (fd.name, is_repeated(fd))
            for fd in sorted(desc.fields, key=lambda fd: fd.number)
            if fd.message_type is not None and not fd.message_type.GetOptions().map_entry
        )
        _MESSAGE_FIELDS[desc] = fields
    return fields


def _import_pb2(folder: Path, module: str) -> Any:
    """Import a generated module from the node's folder (the runner put it on sys.path).

    By name, not from the file (see :mod:`kedro_krt.node.runtime.imports`): the ``*_pb2`` modules
    import each other by bare name, and this must return those very modules.
    """
    added = str(folder) not in sys.path
    if added:
        sys.path.append(str(folder))
    try:
        return importlib.import_module(module)
    finally:
        if added:
            sys.path.remove(str(folder))


def read_node_plan(folder: Path) -> NodeRuntimePlan:
    """The compiled plan of the KRT node at `folder` (its plan.json), for v1 and v2 nodes."""
    plan_path = folder / "plan.json"
    if not plan_path.is_file():
        raise RuntimeSetupError(f"no compiled plan at {plan_path}: rebuild the KRT")
    try:
        return NodeRuntimePlan.loads(plan_path.read_text(encoding="utf-8"))
    except PlanFormatError as exc:
        raise RuntimeSetupError(f"KRT node at {folder}: {exc}") from None


class KrtNode:
    """One KRT node compiled from Kedro nodes; build it at import, start it in `init`.

    `project` is the Kedro project's folder when it is not the KRT root (a KRT made by
    `kedro-krt build`, where projects live in folders of their own).
    """

    def __init__(self, folder: Path | str, project: Path | str | None = None) -> None:
        self.folder = Path(folder).resolve()
        self._project = Path(project).resolve() if project is not None else None
        self.plan = read_node_plan(self.folder)
        # Import the generated classes now, while the runner has our folder on sys.path.
        in_mod = _import_pb2(self.folder, self.plan.input_module)
        out_mod = _import_pb2(self.folder, self.plan.output_module)
        self.input_cls = getattr(in_mod, self.plan.input.name)
        self.output_cls = getattr(out_mod, self.plan.output.name)
        self._setup_codecs()
        self._session: NodeSession | None = None

    def _setup_codecs(self) -> None:
        """Decode only what this node's Kedro nodes read; relay the rest as bytes.

        A field that arrives and leaves unchanged (request rows carried to a later node, the
        per-message parameters) is copied from the incoming message's bytes: no DataFrame is
        built for it and nothing is encoded again.
        """
        node = self.plan.node
        consumed = {d.name for d in self.plan.datasets if node.name in d.consumers}
        incoming = {f.original for f in self.plan.input.fields}
        relayed = [
            f
            for f in self.plan.output.fields
            if f.original in incoming and Relay.compatible(self.input_cls, self.output_cls, f.name)
        ]
        relayed_names = {f.original for f in relayed}
        decode = [
            f
            for f in self.plan.input.fields
            if f.original in consumed
            or (f.name == PARAMETERS_FIELD and node.parameters)
            or (f.original in node.writes and f.original not in relayed_names)
        ]
        encode = [f for f in self.plan.output.fields if f.original not in relayed_names]
        # A request table this node only passes on is not decoded here, and the messages
        # between nodes carry no presence: its required cells are checked where it enters.
        entry = self.input_cls.DESCRIPTOR.file.name == PUBLIC_PROTO
        decoded = {f.name for f in decode}
        passed_on = [f for f in self.plan.input.fields if f.name not in decoded]
        self._presence = PresenceCheck(self.input_cls, passed_on if entry else [])
        # Bytes of another message type are a client's (or a hand-written node's) mistake: in
        # a compiled KRT only the request can carry them. Between its nodes, the previous node
        # of this very KRT wrote the message (its type is checked by `Is` on every message), so
        # the unknown-field walk is not repeated there; a node of `kedro-krt build` (`project`
        # given) may follow a hand-written node, and keeps it.
        self._check_unknown = entry or self._project is not None
        self._decoder = MessageCodec(self.input_cls, decode)
        self._encoder = MessageCodec(self.output_cls, encode)
        self._relay = Relay(self.input_cls, self.output_cls, [f.name for f in relayed])
        self._outputs = tuple(f.original for f in encode if f.original != PARAMETERS_FIELD)
        self._encode_parameters = any(f.name == PARAMETERS_FIELD for f in encode)
        # A hand-written output message may have fields the plan does not fill: those the
        # input has too, with the same type, are passed on (a chain's context, the request).
        # A compiled KRT's messages hold only planned fields, so there is nothing to copy.
        planned = {f.name for f in self.plan.output.fields}
        carried = [
            fd.name
            for fd in self.output_cls.DESCRIPTOR.fields
            if fd.name not in planned and copyable(self.input_cls, self.output_cls, fd.name)
        ]
        self._carry = FieldCopy(self.input_cls, self.output_cls, carried)
        # A parameter read from a field of its own (kedro-krt build) keeps the project's value
        # when the field is unset (a field with presence: not set; else: decoded as None).
        fields = self.input_cls.DESCRIPTOR.fields_by_name
        self._field_parameters = tuple(
            (f.original, f.name, bool(fields[f.name].has_presence))
            for f in decode
            if f.original.startswith("params:")
        )

    @property
    def project_path(self) -> Path:
        """The project's folder: `project` if given, else the KRT root (main.py lives at
        `<root>/src/<node>/main.py`)."""
        return self._project or self.folder.parents[1]

    def init(self, ctx: Any = None) -> None:
        """Boot the project from the KRT folder, load artifacts and parameters once."""
        root = Path(ctx.path("")) if ctx is not None and hasattr(ctx, "path") else None
        if self._project is not None or root is None or not (root / "pyproject.toml").is_file():
            root = self.project_path
        self._session = NodeSession(root, self.plan, observed=self._outputs)
        if ctx is not None and hasattr(ctx, "logger"):
            ctx.logger.info(
                f"kedro-krt node '{self.plan.node.name}' ready: "
                f"{', '.join(self.plan.node.kedro_nodes)}"
            )

    async def handler(self, ctx: Any, data: Any) -> Any:
        """Decode the Any, run the Kedro nodes, encode what the next node or the caller needs."""
        return self.process(data)

    def process(self, data: Any) -> Any:
        """The synchronous body of `handler`."""
        session = self._session
        if session is None:
            self.init(None)
            session = self._session
            assert session is not None
        msg = self.input_cls()
        # Unpack checks the Any's type first and parses nothing of another type.
        if not data.Unpack(msg):
            raise InvalidRequest(
                f"node '{self.plan.node.name}' expects a "
                f"{self.input_cls.DESCRIPTOR.full_name}, got {data.TypeName() or 'an empty Any'}"
            )
        unknown = unknown_fields_in(msg, data.value) if self._check_unknown else None
        if unknown is not None:
            expected = self.input_cls.DESCRIPTOR
            raise InvalidRequest(
                f"node '{self.plan.node.name}': the {expected.full_name} carries fields it does "
                f"not define, at {unknown}: the bytes were probably serialised from another "
                f"message type; send a message of type {expected.full_name}"
            )
        try:
            if self._presence:
                self._presence(msg)
            decoded = self._decoder.decode(msg)
        except CodecError as exc:
            raise InvalidRequest(str(exc)) from exc
        params = decoded.pop(PARAMETERS_FIELD, None)
        for dataset, field, presence in self._field_parameters:
            if (presence and not msg.HasField(field)) or decoded.get(dataset) is None:
                decoded.pop(dataset, None)
        values = session.run(decoded, params, self._outputs)
        if self._encode_parameters and params is not None:
            values[PARAMETERS_FIELD] = params
        out = self._encoder.encode(values)
        self._relay.copy(msg, out)
        if self._carry:
            self._carry.copy(msg, out)
        return out


class NodeSession:
    """The engine of one KRT node: artifacts in memory, Kedro nodes as a list of calls."""

    def __init__(
        self, root: Path, plan: NodeRuntimePlan, observed: tuple[str, ...] = ()
    ) -> None:
        self.plan = plan
        project = boot_project(root, plan.env, [plan.pipeline])
        node = plan.node
        # Artifacts and parameters are loaded once, for every message: a node that changes one
        # in place gets a copy (Kedro's semantics, see node/runtime/copies.py).
        self._shared = project.load(
            [*node.artifacts, *node.fixed_parameters, *(p.dataset for p in node.parameters)]
        )
        self._calls = CallList(
            project.nodes(plan.pipeline, node.kedro_nodes),
            observed=observed,
            shared=self._shared,
            modes={d.name: d.copy_mode for d in plan.datasets if d.copy_mode},  # type: ignore[misc]
        )
        self._overrides = [(p.namespace, p.key, p.dataset) for p in node.parameters]

    def run(
        self, inputs: dict[str, Any], params: dict[str, Any] | None, outputs: tuple[str, ...]
    ) -> dict[str, Any]:
        """Run on decoded inputs with per-message parameter overrides; return `outputs`."""
        values = dict(self._shared)
        values.update(inputs)
        if params:
            for ns, key, dataset in self._overrides:
                scope = params.get(ns) if ns else params
                if scope is not None and key in scope:
                    values[dataset] = scope[key]
        self._calls.run(values)
        return {d: values[d] for d in outputs}
