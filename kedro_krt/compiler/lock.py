"""Stable field numbers for the public messages, and the changes that break old clients.

`kedro krt package` writes `krt.lock.json` beside the project's pyproject.toml; commit it. The
next compile keeps every field's number from the lock, gives new fields numbers never used
before (a removed field's number is retired, never reused), and reports each change: adding a
field is safe; removing a response field, or changing a field's type, breaks clients built
against the old `public_input.proto`. Messages between KRT nodes are not locked: they ship
together in one .krt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kedro_krt.node.analysis import CompileError
from kedro_krt.node.plan import Plan, WorkflowPlan
from kedro_krt.node.schema.types import Column, Field, Message, TypeSpec

LOCK_FILE = "krt.lock.json"
LOCK_VERSION = 1
_RESERVED = range(19000, 20000)


@dataclass(frozen=True)
class SchemaChange:
    """One difference between the lock and the compiled public messages."""

    where: str
    message: str
    breaking: bool

    def __str__(self) -> str:
        kind = "BREAKING" if self.breaking else "compatible"
        return f"{kind}: {self.where}: {self.message}"


def _signature(spec: TypeSpec) -> str:
    if spec.kind == "scalar":
        return str(spec.scalar)
    if spec.kind == "list":
        return f"repeated {spec.scalar}"
    if spec.kind == "table":
        return "repeated row"
    return spec.kind


class _Numbering:
    """Numbers one message (or row) path from its lock entry; records what changed."""

    def __init__(self, path: str, entry: Mapping[str, Any] | None, response: bool) -> None:
        self.path = path
        self.old: dict[str, dict[str, Any]] = dict((entry or {}).get("fields", {}))
        self.retired: set[int] = set((entry or {}).get("retired", []))
        self.response = response
        used = {int(v["number"]) for v in self.old.values()} | self.retired
        self.next = max([0, *used]) + 1
        self.seen: dict[str, dict[str, Any]] = {}
        self.changes: list[SchemaChange] = []

    def number(self, name: str, signature: str) -> int:
        old = self.old.get(name)
        if old is not None:
            if old["type"] != signature:
                self.changes.append(
                    SchemaChange(
                        f"{self.path}.{name}",
                        f"type changed from {old['type']} to {signature}: clients built on the "
                        "old proto misread it; give the new data a new field name instead",
                        True,
                    )
                )
            number = int(old["number"])
        else:
            number = self.next
            if number in _RESERVED:
                number = 20000
            self.next = number + 1
            if self.old:
                self.changes.append(
                    SchemaChange(f"{self.path}.{name}", f"new field number {number}", False)
                )
        self.seen[name] = {"number": number, "type": signature}
        return number

    def finish(self) -> dict[str, Any]:
        for name, old in sorted(self.old.items()):
            if name not in self.seen:
                self.retired.add(int(old["number"]))
                if self.response:
                    text = "removed: clients that read it get nothing; keep it or version the rpc"
                else:
                    text = "removed: old clients that still send it have it ignored"
                self.changes.append(SchemaChange(f"{self.path}.{name}", text, self.response))
        return {"fields": self.seen, "retired": sorted(self.retired)}


def _lock_fields(
    fields: tuple[Field, ...],
    path: str,
    lock: Mapping[str, Any],
    out: dict[str, Any],
    changes: list[SchemaChange],
    response: bool,
) -> tuple[Field, ...]:
    numbering = _Numbering(path, lock.get(path), response)
    new_fields = []
    for f in fields:
        number = numbering.number(f.name, _signature(f.type))
        spec = f.type
        if spec.kind == "table":
            spec = replace(
                spec,
                columns=_lock_columns(
                    spec.columns, f"{path}.{f.name}[]", lock, out, changes, response
                ),
            )
        elif spec.kind == "record":
            spec = replace(
                spec,
                fields=_lock_fields(spec.fields, f"{path}.{f.name}", lock, out, changes, response),
            )
        new_fields.append(Field(f.name, f.original, spec, number))
    out[path] = numbering.finish()
    changes.extend(numbering.changes)
    return tuple(new_fields)


def _lock_columns(
    columns: tuple[Column, ...],
    path: str,
    lock: Mapping[str, Any],
    out: dict[str, Any],
    changes: list[SchemaChange],
    response: bool,
) -> tuple[Column, ...]:
    numbering = _Numbering(path, lock.get(path), response)
    new = tuple(replace(c, number=numbering.number(c.name, c.kind)) for c in columns)
    out[path] = numbering.finish()
    changes.extend(numbering.changes)
    return new


def _lock_message(
    msg: Message,
    lock: Mapping[str, Any],
    out: dict[str, Any],
    changes: list[SchemaChange],
    response: bool,
) -> Message:
    fields = _lock_fields(msg.fields, msg.name, lock, out, changes, response)
    return Message(msg.name, fields, msg.doc)


def read_lock(path: Path) -> dict[str, Any]:
    """The lock's messages, or {} when there is none yet."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CompileError(
            f"{path.name} is not valid JSON ({exc}): restore it from git (it keeps field "
            "numbers stable for old clients), or delete it to number the fields afresh"
        ) from None
    messages = data.get("messages", {}) if isinstance(data, dict) else None
    if not isinstance(messages, dict):
        raise CompileError(
            f"{path.name} is not a kedro-krt lock (no 'messages' mapping): restore it from git, "
            "or delete it to number the fields afresh"
        )
    return dict(messages)


def apply_lock(
    plan: Plan, lock: Mapping[str, Any]
) -> tuple[Plan, dict[str, Any], list[SchemaChange]]:
    """Number the public messages of `plan` from `lock`; the new lock and the changes."""
    out: dict[str, Any] = {}
    changes: list[SchemaChange] = []
    workflows: list[WorkflowPlan] = []
    for w in plan.workflows:
        request = _lock_message(w.request, lock, out, changes, response=False)
        response = _lock_message(w.response, lock, out, changes, response=True)
        workflows.append(replace(w, request=request, response=response))
    # Messages of rpcs no longer in the version keep their entry: the rpc may come back.
    for path, entry in lock.items():
        out.setdefault(path, entry)
    new_plan = replace(
        plan,
        workflows=tuple(workflows),
        warnings=(*plan.warnings, *(str(c) for c in changes if c.breaking)),
    )
    return new_plan, out, changes


def write_lock(path: Path, messages: Mapping[str, Any]) -> None:
    """Write the lock deterministically (sorted keys), to be committed with the project."""
    body = {
        "_comment": "kedro-krt field numbers of public_input.proto: commit this file.",
        "lock_version": LOCK_VERSION,
        "messages": messages,
    }
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def compile_locked(
    project: Any,
    pipelines: Any = None,
    *,
    version: str | None = None,
    progress: Any = None,
    krt_version: str | None = None,
) -> tuple[Plan, dict[str, Any]]:
    """Compile a project and number its public messages from the project's lock.

    The KRT format is ``krt_version``, else ``krt_version:`` of krt.yml, else what
    ``deploy.kre_version`` accepts (:func:`kedro_krt.compiler.krt_formats.choose_krt_version`);
    the format's last step (:data:`~kedro_krt.compiler.krt_formats.COMPILE_FORMATS`) then gets
    the numbered plan (v2 rewires it, :func:`kedro_krt.compiler.krt_v2.to_v2`); the public
    messages, and so the lock, are the same in every format.
    """
    from kedro_krt.compiler.compile import compile_project
    from kedro_krt.compiler.krt_formats import COMPILE_FORMATS, choose_krt_version

    config = project.config
    chosen = choose_krt_version(krt_version, config.krt_version, config.deploy.kre_version)
    plan = compile_project(project, pipelines, version=version, progress=progress)
    plan, messages, _ = apply_lock(plan, read_lock(Path(project.path) / LOCK_FILE))
    return COMPILE_FORMATS[chosen].finish(plan, node_settings(config)), messages


def node_settings(config: Any) -> dict[str, dict[str, Any]]:
    """``{workflow: {KRT node: NodeSettings}}`` from the workflows of krt.yml: ``replicas``,
    ``gpu`` and ``object_store``, for the format's last step."""
    from kedro_krt.compiler.format_base import NodeSettings

    out: dict[str, dict[str, Any]] = {}
    for wf in config.workflows:
        names = [*wf.replicas, *wf.gpu, *wf.object_store]
        nodes: dict[str, Any] = {}
        for name in dict.fromkeys(names):
            store = wf.object_store.get(name)
            nodes[name] = NodeSettings(
                replicas=wf.replicas.get(name),
                gpu=name in wf.gpu,
                object_store=store.name if store else "",
                object_store_scope=store.scope if store else "workflow",
            )
        if nodes:
            out[wf.name] = nodes
    return out
