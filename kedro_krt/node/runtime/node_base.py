"""What every KRT node runtime shares, whatever its format: the compiled plan, the generated
``*_pb2`` classes, the unknown-field check and the engine of the node's Kedro nodes.

One module per KRT format builds on it (:mod:`~kedro_krt.node.runtime.node_v1`'s
:class:`KrtNode`, :mod:`~kedro_krt.node.runtime.node_v2`'s ``KrtNodeV2``); the table of
:mod:`kedro_krt.node.runtime.formats` says which one a format's ``main.py`` imports.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, NoReturn

from kedro_krt.node.plan import NodeRuntimePlan, PlanFormatError
from kedro_krt.node.runtime.engine import CallList, boot_project
from kedro_krt.node.runtime.errors import InvalidRequest, RuntimeSetupError
from kedro_krt.node.schema.relay import is_repeated

_unknown_fields: Any
try:  # protobuf >= 4.21; older runtimes (kre-py's 3.x) skip the unknown-field check
    from google.protobuf import unknown_fields as _unknown_fields
except ImportError:  # pragma: no cover - exercised only with an old protobuf
    _unknown_fields = None


def unknown_fields_at(msg: Any, path: str, *, every: bool = False) -> str | None:
    """Where `msg` carries fields its class does not know, or None.

    A message serialised from another type parses without error in proto3: every field whose
    number or wire type does not match becomes an unknown field, and the known ones stay at
    their defaults, so the nodes would run on zeros. To stay cheap on the hot path this looks at
    the message and at the first element of each repeated message field (depth-first): bytes of
    another type show up there, a whole-message walk would cost more than decoding. ``every``
    walks every element (to say where, once something was found).

    A field the message defines, sent with another wire type, is described as such (a
    :class:`WrongType`): its name, what it is, how it came.
    """
    if _unknown_fields is None:
        return None
    unknown = _unknown_fields.UnknownFieldSet(msg)
    if len(unknown):
        where = path or "the message"
        defined = msg.DESCRIPTOR.fields_by_number
        for stray in unknown:
            fd = defined.get(stray.field_number)
            if fd is not None:
                # A field the message defines, sent with another wire type: protobuf keeps it
                # aside as unknown, and the field reads as unset.
                return WrongType(
                    f"{where}, field '{fd.name}' (number {fd.number}): {_expected_wire(fd)}, "
                    f"got {_WIRE_NAMES.get(stray.wire_type, 'a group')}"
                )
        numbers = sorted({f.field_number for f in unknown})
        return f"{where} (field number(s) {', '.join(map(str, numbers))})"
    for name, repeated in _message_fields(msg.DESCRIPTOR):
        if repeated:
            values = getattr(msg, name)
            for index in range(len(values) if every else min(1, len(values))):
                where = f"{path}{'.' if path else ''}{name}[{index}]"
                found = unknown_fields_at(values[index], where, every=every)
                if found:
                    return found
            continue
        if msg.HasField(name):
            where = f"{path}{'.' if path else ''}{name}"
            found = unknown_fields_at(getattr(msg, name), where, every=every)
            if found:
                return found
    return None


class WrongType(str):
    """Where :func:`unknown_fields_at` found a field the message defines, sent with another
    wire type (a plain ``str`` is fields it does not define)."""


#: Protobuf's wire types, as a sender's value of each reads.
_WIRE_NAMES = {
    0: "a varint",
    1: "a 64-bit value",
    2: "a length-delimited value (string, bytes, message or packed list)",
    5: "a 32-bit value",
}


def _expected_wire(fd: Any) -> str:
    """What field ``fd`` is and how it travels, e.g. ``an int64 (a varint)``."""
    kind = fd.message_type.full_name if fd.message_type is not None else _type_name(fd)
    if fd.message_type is not None or fd.type in (fd.TYPE_STRING, fd.TYPE_BYTES):
        wire = "a length-delimited value"
    elif fd.type in (fd.TYPE_DOUBLE, fd.TYPE_FIXED64, fd.TYPE_SFIXED64):
        wire = "a 64-bit value"
    elif fd.type in (fd.TYPE_FLOAT, fd.TYPE_FIXED32, fd.TYPE_SFIXED32):
        wire = "a 32-bit value"
    else:
        wire = "a varint"
    if is_repeated(fd) and fd.message_type is None and wire != "a length-delimited value":
        wire += " or a packed list"
    article = "an" if kind[:1] in ("a", "e", "i", "o", "u") else "a"
    return f"{'a list of' if is_repeated(fd) else article} {kind}, sent as {wire}"


def _type_name(fd: Any) -> str:
    names = {
        fd.TYPE_DOUBLE: "double", fd.TYPE_FLOAT: "float", fd.TYPE_INT64: "int64",
        fd.TYPE_UINT64: "uint64", fd.TYPE_INT32: "int32", fd.TYPE_FIXED64: "fixed64",
        fd.TYPE_FIXED32: "fixed32", fd.TYPE_BOOL: "bool", fd.TYPE_STRING: "string",
        fd.TYPE_BYTES: "bytes", fd.TYPE_UINT32: "uint32", fd.TYPE_ENUM: "enum",
        fd.TYPE_SFIXED32: "sfixed32", fd.TYPE_SFIXED64: "sfixed64", fd.TYPE_SINT32: "sint32",
        fd.TYPE_SINT64: "sint64",
    }
    return names.get(fd.type, "value")


def refuse_stray_fields(node: str, expected: str, where: str, origin: str = "") -> NoReturn:
    """Refuse a message whose bytes do not fit its type ``expected``, from what
    :func:`unknown_fields_in` found (``where``): a defined field sent with the wrong wire type,
    or fields the type does not define. ``origin``: ``from '<node>'`` for a message between
    nodes.

    Raises:
        InvalidRequest: always, saying which of the two and where.
    """
    sender = f" {origin}" if origin else ""
    if isinstance(where, WrongType):
        raise InvalidRequest(
            f"node '{node}': the {expected}{sender} has a field of the wrong type, at {where}: "
            f"send each field as its type in the proto says (the bytes may have been "
            f"serialised from another message type)"
        )
    raise InvalidRequest(
        f"node '{node}': the {expected}{sender} carries fields it does not define, at {where}: "
        f"the bytes were probably serialised from another message type; send a message of "
        f"type {expected}"
    )


#: Up to this size a message is checked whole, in protobuf's C code (its size with and without
#: unknown fields); above it, by :func:`unknown_fields_at`'s sampling walk, since a whole
#: check of a big table would cost about what decoding it costs.
_WHOLE_CHECK_BYTES = 1 << 16


def unknown_fields_in(msg: Any, payload: bytes) -> str | None:
    """Where ``msg``, parsed from ``payload``, carries fields its class does not know, or None.

    A message of at most 64 KiB (one-row requests, the messages between nodes) is checked
    whole: ``ByteSize`` counts unknown fields, so it changes when ``DiscardUnknownFields``
    drops any, anywhere in the message (three calls in C, cheaper than walking it in Python).
    Only when some are found is the message parsed again and walked to say where. A bigger one
    gets the sampling walk of :func:`unknown_fields_at`.
    """
    if _unknown_fields is None:
        return None
    if len(payload) > _WHOLE_CHECK_BYTES:
        return unknown_fields_at(msg, "")
    size = msg.ByteSize()
    msg.DiscardUnknownFields()
    if msg.ByteSize() == size:
        return None
    where = unknown_fields_at(type(msg).FromString(payload), "", every=True)
    return where or "an entry of a map field"  # maps are not walked


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


def import_pb2(folder: Path, module: str) -> Any:
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


class KrtNodeBase:
    """What a node of every format keeps: its folder, its compiled plan, the project's folder.

    `project` is the Kedro project's folder when it is not the KRT root (a KRT made by
    `kedro-krt build`, where projects live in folders of their own).
    """

    def __init__(self, folder: Path | str, project: Path | str | None = None) -> None:
        self.folder = Path(folder).resolve()
        self._project = Path(project).resolve() if project is not None else None
        self.plan = read_node_plan(self.folder)

    @property
    def project_path(self) -> Path:
        """The project's folder: `project` if given, else the KRT root (main.py lives at
        `<root>/src/<node>/main.py`)."""
        return self._project or self.folder.parents[1]

    def project_root(self, ctx: Any) -> Path:
        """Where ``init(ctx)`` boots the project: the KRT folder ``ctx.path("")`` when it holds
        the project (its pyproject.toml), else :attr:`project_path`."""
        root = Path(ctx.path("")) if ctx is not None and hasattr(ctx, "path") else None
        if self._project is not None or root is None or not (root / "pyproject.toml").is_file():
            root = self.project_path
        return root


class NodeSession:
    """The engine of one KRT node: artifacts in memory, Kedro nodes as a list of calls."""

    def __init__(
        self, root: Path, plan: NodeRuntimePlan, observed: tuple[str, ...] = ()
    ) -> None:
        self.plan = plan
        project = boot_project(root, plan.env, [plan.pipeline], plan.hooks)
        node = plan.node
        kedro_nodes = project.nodes(plan.pipeline, node.kedro_nodes)
        # Artifacts and parameters are loaded once, for every message: a node that changes one
        # in place gets a copy (Kedro's semantics, see node/runtime/copies.py). An artifact is
        # loaded between the dataset hooks (once, here); parameters are in memory already.
        self._shared = project.load(node.artifacts, readers=kedro_nodes)
        self._shared.update(
            project.load([*node.fixed_parameters, *(p.dataset for p in node.parameters)])
        )
        self._calls = CallList(
            kedro_nodes,
            observed=observed,
            shared=self._shared,
            modes={d.name: d.copy_mode for d in plan.datasets if d.copy_mode},  # type: ignore[misc]
            hooks=project.hooks,
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
