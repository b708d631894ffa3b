"""The compiled plan: plain, frozen data that generation and execution both read.

A plan is what `kedro krt compile` prints and what each KRT node loads at init (as JSON). Nothing
downstream re-derives what the compiler decided: the runtime reads which datasets to decode,
which Kedro nodes to call and which artifacts to load from here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kedro_krt import __version__
from kedro_krt.node.errors import KrtError
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.schema.types import Field, Message, TypeSpec

Role = Literal[
    "request",
    "response",
    "artifact",
    "parameter",
    "fixed-parameter",
    "carried",
    "intermediate",
]

ROLE_LABELS: dict[str, str] = {
    "request": "request input",
    "response": "response output",
    "artifact": "artifact",
    "parameter": "per-message parameter",
    "fixed-parameter": "fixed parameter",
    "carried": "carried between KRT nodes",
    "intermediate": "intermediate (in memory)",
}

#: The only proto name KRE's entrypoint reads (hard-coded in its image); krt/ checks it too.
PUBLIC_PROTO = "public_input.proto"
INTERNAL_PROTO = "internal_nodes.proto"
PARAMETERS_FIELD = "parameters"


#: The format of plan.json. Change it with any change a runtime of the previous format would
#: misread; the runtime vendored in a KRT always reads its own plans. Format 2 adds the columns
#: layout of tables (a type's ``"layout": "columns"``): a plan that uses it is written in
#: format 2, so a format-1 runtime refuses it instead of reading rows; any other plan is still
#: written in format 1, so the plans (and the .krt files) of projects that do not use it stay
#: the same bytes. Format 3 adds KRT v2 nodes (``upstreams``: one message per subscribed node,
#: joined by request id): only the plans of a v2 KRT are in format 3.
PLAN_FORMAT = 3
#: The formats this runtime reads.
PLAN_FORMATS = (1, 2, 3)

#: The subscription, and the upstream, of a KRT v2 node that reads the request.
ENTRYPOINT_SOURCE = "entrypoint"


class PlanFormatError(KrtError):
    """plan.json in a format this runtime does not read."""


def plan_format_direction(found: object) -> str | None:
    """Whether this runtime reads plan format ``found``: ``None`` when it does, else
    ``"newer"`` (a later kedro-krt wrote it: upgrade), ``"older"`` (an earlier one did, or no
    format at all, kedro-krt 0.1: package it again) or ``"unknown"`` (not a format number)."""
    if found in PLAN_FORMATS:
        return None
    if found is None:
        return "older"
    if isinstance(found, bool) or not isinstance(found, int):
        return "unknown"
    return "newer" if found > max(PLAN_FORMATS) else "older"


def plan_format_advice(found: object) -> str:
    """What to do about a plan.json of format ``found`` that this runtime does not read: the
    direction said right (a newer plan is not "older")."""
    shown = found if found is not None else "0 (kedro-krt 0.1)"
    reads = f"this kedro-krt ({__version__}) reads plan formats {', '.join(map(str, PLAN_FORMATS))}"
    direction = plan_format_direction(found)
    if direction == "newer":
        return (
            f"plan.json is in plan format {shown}, written by a newer kedro-krt, and {reads}: "
            "upgrade kedro-krt to serve it in process (pip install -U kedro-krt), or package "
            "the KRT again with this one"
        )
    if direction == "older":
        return (
            f"plan.json is in plan format {shown}, written by an older kedro-krt, and {reads}: "
            "package the KRT again with this kedro-krt"
        )
    return f"plan.json has format {shown!r}, which no kedro-krt writes: package the KRT again"


@dataclass(frozen=True)
class DatasetPlan:
    """What the compiler decided for one dataset of a workflow, and why."""

    name: str
    role: Role
    rule: str
    field: str | None = None
    type: TypeSpec | None = None
    type_source: str = ""
    producer: str | None = None
    consumers: tuple[str, ...] = ()
    #: How a reader gets the value when someone will see it again (runtime/copies.py):
    #: "assign", "copy", "deepcopy", or "" for the runtime to infer from the value's type.
    copy_mode: str = ""
    copy_rule: str = ""


@dataclass(frozen=True)
class ParameterPlan:
    """A `params:<ns>.<key>` dataset that a request may override."""

    dataset: str
    namespace: str
    key: str
    field: str


@dataclass(frozen=True)
class NodeInputPlan:
    """KRT v2: one message a node waits for, per request: from ``source`` (a KRT node of the
    workflow, or ``entrypoint`` for the request), of type ``message`` in ``proto``, of which
    the node reads ``datasets``."""

    source: str
    message: str
    proto: str
    datasets: tuple[str, ...] = ()
    parameters: bool = False


@dataclass(frozen=True)
class HooksPlan:
    """Which of the project's Kedro hooks a KRT node runs (krt.yml ``hooks:``).

    ``enabled`` false: none. ``keep`` (when not empty): only these, each a hook class name
    of the project's ``HOOKS`` or a plugin's distribution name (``kedro-mlflow``). Otherwise
    every hook ``kedro run`` would register, but the plugins that make no sense in a node
    (:data:`kedro_krt.node.runtime.hooks.OFF_IN_NODES`).
    """

    enabled: bool = True
    keep: tuple[str, ...] = ()


@dataclass(frozen=True)
class KrtNodePlan:
    """One KRT node: the Kedro nodes it calls, in order, and the messages around it.

    In a KRT v2 workflow, ``inputs`` holds one entry per subscription (``input_message`` is
    the first one's), ``subscriptions`` what krt.yml lists, ``replicas`` its pods; a node with
    no Kedro node is the generated exitpoint, which assembles the response.

    KRE's settings of the node's pods, from the workflow's config: ``gpu`` (one
    ``nvidia.com/gpu``, KRT v1 and v2), ``replicas`` and ``object_store`` /
    ``object_store_scope`` (a JetStream object store, KRT v2 only). They change what krt.yml
    says, never how the node runs.
    """

    name: str
    group: str
    kedro_nodes: tuple[str, ...]
    input_message: str
    input_proto: str
    output_message: str
    output_proto: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    artifacts: tuple[str, ...] = ()
    fixed_parameters: tuple[str, ...] = ()
    parameters: tuple[ParameterPlan, ...] = ()
    reads_parameters: bool = False
    writes_parameters: bool = False
    inputs: tuple[NodeInputPlan, ...] = ()
    subscriptions: tuple[str, ...] = ()
    replicas: int = 1
    gpu: bool = False
    object_store: str = ""
    object_store_scope: str = ""


@dataclass(frozen=True)
class WorkflowPlan:
    """One KRT workflow compiled from a Kedro pipeline (or one namespace of it)."""

    name: str
    rpc: str
    pipeline: str
    namespace: str | None
    grouping: str
    nodes: tuple[KrtNodePlan, ...]
    datasets: tuple[DatasetPlan, ...]
    request: Message
    response: Message
    internal: tuple[Message, ...] = ()
    parameters: tuple[ParameterPlan, ...] = ()
    warnings: tuple[str, ...] = ()
    #: KRT v2: the node whose output answers the caller (the generated exitpoint).
    exitpoint: str = ""
    #: The project's hooks its nodes run (krt.yml ``hooks:``, the workflow's over the version's).
    hooks: HooksPlan = HooksPlan()
    #: What the compile report says of them: each hook run with its specs, each left out and
    #: why (empty when none runs and krt.yml says nothing).
    hook_report: tuple[str, ...] = ()
    #: The example request as proto3 JSON text, made of sample rows the workflow answered in
    #: the trial run ("" without them: the emitter makes one from the types). Docs show it.
    example: str = ""

    def dataset(self, name: str) -> DatasetPlan:
        """The plan of dataset `name` in this workflow."""
        for ds in self.datasets:
            if ds.name == name:
                return ds
        raise KeyError(name)

    def message(self, name: str) -> Message:
        """A message of this workflow by name (request, response or internal)."""
        for msg in (self.request, self.response, *self.internal):
            if msg.name == name:
                return msg
        raise KeyError(name)


@dataclass(frozen=True)
class Plan:
    """A whole KRT version: what `kedro krt compile` reports and `package` writes."""

    version: str
    description: str
    env: str
    package_name: str
    project_name: str
    entrypoint_image: str
    runtime_image: str
    workflows: tuple[WorkflowPlan, ...]
    variables: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    #: The KRT format: v1 (``sequential`` workflows) or v2 (subscriptions, an exitpoint); the
    #: text ``"v1"``/``"v2"`` is read too, and the JSON holds that text.
    krt_version: KrtVersion = KrtVersion.V1

    def __post_init__(self) -> None:
        object.__setattr__(self, "krt_version", KrtVersion.parse(self.krt_version))

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-ready data (sorted, stable); a v1 plan has no v2 key."""
        return _drop_v2_defaults(_to_json(self))


@dataclass(frozen=True)
class UpstreamPlan:
    """KRT v2: what a node's runtime reads from the messages of one subscription."""

    source: str
    message: Message
    module: str
    datasets: tuple[str, ...] = ()
    parameters: bool = False


@dataclass(frozen=True)
class NodeRuntimePlan:
    """What one KRT node needs at run time: saved beside its main.py as plan.json."""

    version: str
    env: str
    package_name: str
    workflow: str
    pipeline: str
    node: KrtNodePlan
    input: Message
    output: Message
    input_module: str
    output_module: str
    datasets: tuple[DatasetPlan, ...]
    #: The plan's format; the runtime refuses one it does not know (see :data:`PLAN_FORMAT`).
    #: 0 (the default): the lowest format that can say what this plan says.
    format: int = 0
    #: KRT v2: one entry per subscription, joined by request id (format 3).
    upstreams: tuple[UpstreamPlan, ...] = ()
    #: The project's hooks the node runs; the default (all but OFF_IN_NODES) is not written.
    hooks: HooksPlan = HooksPlan()

    def needed_format(self) -> int:
        """1; 2 when a table of the node's messages travels in the columns layout; 3 for a
        KRT v2 node (it has ``upstreams``)."""
        if self.upstreams:
            return 3
        for msg in (self.input, self.output):
            for f in msg.fields:
                if f.type.layout != "rows":
                    return 2
        return 1

    def dumps(self) -> str:
        """Deterministic JSON text (a v1 node's has no v2 key: its bytes stay the same)."""
        data = _drop_v2_defaults(_to_json(self))
        data["format"] = self.format or self.needed_format()
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def loads(cls, text: str) -> NodeRuntimePlan:
        """Read a plan.json written by `dumps`.

        Raises:
            PlanFormatError: the plan is of another format than this runtime reads.
        """
        data = json.loads(text)
        found = data.get("format")
        if plan_format_direction(found) is not None:
            raise PlanFormatError(plan_format_advice(found))
        node = data["node"]
        node_plan = KrtNodePlan(
            **{
                **node,
                "kedro_nodes": tuple(node["kedro_nodes"]),
                "reads": tuple(node["reads"]),
                "writes": tuple(node["writes"]),
                "artifacts": tuple(node["artifacts"]),
                "fixed_parameters": tuple(node["fixed_parameters"]),
                "parameters": tuple(ParameterPlan(**p) for p in node["parameters"]),
                "inputs": tuple(
                    NodeInputPlan(**{**i, "datasets": tuple(i["datasets"])})
                    for i in node.get("inputs", ())
                ),
                "subscriptions": tuple(node.get("subscriptions", ())),
            }
        )
        return cls(
            version=data["version"],
            env=data["env"],
            package_name=data["package_name"],
            workflow=data["workflow"],
            pipeline=data["pipeline"],
            node=node_plan,
            input=_message_from_json(data["input"]),
            output=_message_from_json(data["output"]),
            input_module=data["input_module"],
            output_module=data["output_module"],
            datasets=tuple(_dataset_from_json(d) for d in data["datasets"]),
            format=found,
            upstreams=tuple(
                UpstreamPlan(
                    source=u["source"],
                    message=_message_from_json(u["message"]),
                    module=u["module"],
                    datasets=tuple(u["datasets"]),
                    parameters=u["parameters"],
                )
                for u in data.get("upstreams", ())
            ),
            hooks=hooks_from_json(data.get("hooks")),
        )


def hooks_from_json(data: dict[str, Any] | None) -> HooksPlan:
    """The ``hooks`` of a plan's JSON; absent: the default."""
    if not data:
        return HooksPlan()
    return HooksPlan(enabled=bool(data.get("enabled", True)), keep=tuple(data.get("keep", ())))


#: Keys that only a KRT v2 plan, or a node with KRE settings, needs, with their unset value:
#: left out of the JSON, so that a plan that does not use them keeps its bytes.
_V2_DEFAULTS: dict[str, Any] = {
    "krt_version": "v1",
    "exitpoint": "",
    "upstreams": [],
    "inputs": [],
    "subscriptions": [],
    "replicas": 1,
    # Not a v2 key: the default hook selection, left out so that plans (and .krt files) that
    # do not set `hooks:` in krt.yml keep their bytes.
    "hooks": {"enabled": True, "keep": []},
    "hook_report": [],
    "gpu": False,
    "object_store": "",
    "object_store_scope": "",
}


def _drop_v2_defaults(data: Any) -> Any:
    """``data`` without the v2-only keys that hold their v1 value, at any depth."""
    if isinstance(data, dict):
        return {
            k: _drop_v2_defaults(v)
            for k, v in data.items()
            if not (k in _V2_DEFAULTS and v == _V2_DEFAULTS[k])
        }
    if isinstance(data, list):
        return [_drop_v2_defaults(v) for v in data]
    return data


def _dataset_from_json(d: dict[str, Any]) -> DatasetPlan:
    return DatasetPlan(
        **{
            **d,
            "type": TypeSpec.from_json(d["type"]) if d.get("type") else None,
            "consumers": tuple(d.get("consumers", ())),
        }
    )


def _message_from_json(d: dict[str, Any]) -> Message:
    return Message(
        name=d["name"],
        fields=tuple(
            Field(
                name=f["name"],
                original=f["original"],
                type=TypeSpec.from_json(f["type"]),
                number=f["number"],
            )
            for f in d["fields"]
        ),
        doc=d.get("doc", ""),
    )


def _to_json(obj: Any) -> Any:
    if isinstance(obj, KrtVersion):
        return obj.value
    if isinstance(obj, TypeSpec):
        return obj.to_json()
    if isinstance(obj, Field):
        return {
            "name": obj.name,
            "original": obj.original,
            "type": obj.type.to_json(),
            "number": obj.number,
        }
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _to_json(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, tuple | list):
        return [_to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _to_json(v) for k, v in obj.items()}
    return obj


__all__ = [
    "ENTRYPOINT_SOURCE",
    "INTERNAL_PROTO",
    "PARAMETERS_FIELD",
    "PLAN_FORMAT",
    "PLAN_FORMATS",
    "PUBLIC_PROTO",
    "ROLE_LABELS",
    "DatasetPlan",
    "HooksPlan",
    "KrtNodePlan",
    "NodeInputPlan",
    "NodeRuntimePlan",
    "ParameterPlan",
    "Plan",
    "PlanFormatError",
    "Role",
    "UpstreamPlan",
    "WorkflowPlan",
    "asdict",
    "hooks_from_json",
    "plan_format_advice",
    "plan_format_direction",
]
