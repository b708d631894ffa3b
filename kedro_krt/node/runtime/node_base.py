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
from typing import Any

from kedro_krt.node.plan import NodeRuntimePlan, PlanFormatError
from kedro_krt.node.runtime.engine import CallList, boot_project
from kedro_krt.node.runtime.errors import RuntimeSetupError
from kedro_krt.node.schema.relay import is_repeated

_unknown_fields: Any
try:  # protobuf >= 4.21; older runtimes (kre-py's 3.x) skip the unknown-field check
    from google.protobuf import unknown_fields as _unknown_fields
except ImportError:  # pragma: no cover - exercised only with an old protobuf
    _unknown_fields = None


def unknown_fields_at(msg: Any, path: str) -> str | None:
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
        found = unknown_fields_at(value, where)
        if found:
            return found
    return None


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
    where = unknown_fields_at(type(msg).FromString(payload), "")
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
