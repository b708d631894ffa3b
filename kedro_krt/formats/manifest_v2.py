"""The KRT v2 format (KRE 8): the ``krt.yml`` model (``krtVersion: v2``), KRE 8.2's checks of it,
and its :class:`~kedro_krt.formats.format_base.ManifestFormat` (:data:`V2_FORMAT`).

KRT v2 is what KRE 8 reads (konstellation-io/kre @ v8.2.0:
``engine/admin-api/domain/usecase/krt/types.go``): the nodes live inside each workflow, each
node names what it **subscribes** to, and each workflow names its **exitpoint**, the node whose
output answers the caller::

    version: classificator-v1
    krtVersion: v2
    description: Demo email classificator
    entrypoint: {proto: public_input.proto, image: konstellation/kre-entrypoint:latest}
    workflows:
      - name: classificator
        entrypoint: Classificator          # the rpc of service Entrypoint
        exitpoint: exitpoint
        nodes:
          - name: etl
            image: konstellation/kre-py:latest
            src: src/etl/main.py
            subscriptions: [entrypoint]    # the request
          - name: repairs-handler
            ...
            subscriptions: [email-classificator.repairs]   # a node's subtopic
          - name: exitpoint
            replicas: 2                    # pods in one queue group
            objectStore: {name: emails, scope: workflow}
            subscriptions: [etl, stats-storer]

A subscription is ``entrypoint``, a node's name, or ``<node>.<subtopic>``: KRE's nats-manager
turns each into the subject ``<stream>.<subscription>`` (konstellation-io/kre @ v8.2.0:
``engine/nats-manager/internal/manager/nats.go``, ``getSubjectsToSubscribe``), and a node
publishes to ``<stream>.<node>`` or, with a channel, ``<stream>.<node>.<channel>``
(konstellation-io/kre-runners @ kre-py/v3.4.1: ``kre-py/src/main.py``).

Build a :class:`ManifestV2` and write it with :meth:`ManifestV2.to_yaml`; read one with
:func:`parse_manifest_v2` or :meth:`ManifestV2.from_dict`, which run every check first. Both
formats share :class:`Entrypoint` and :class:`ConfigSpec`
(:mod:`kedro_krt.formats.manifest_base`).

KRE's own rules come from konstellation-io/kre @ v8.2.0, ``engine/admin-api/domain/usecase/
krt/``: the struct tags of ``types.go`` as ``validator/fields_validator.go`` words them, then
``validator/validator.go`` (unique node names, at least one subscription, the exitpoint).
Every problem that KRE reports carries KRE's exact text in :attr:`Problem.kre`, and its
message starts with it; the checks run in KRE's order (the struct's field order, then the
workflows), so :func:`kre_answer` gives the lines of KRE's own answer. The struct tags are a
pydantic schema (``_ManifestSchema``, fields in types.go's order); its errors, and the checks
across fields, are worded from the catalogue :mod:`kedro_krt.formats.rules`.

KRE 8.2 checks no more than that. It does not check that a subscription names a node, that
the subscriptions make no cycle, that the exitpoint is reached from the entrypoint, unknown
keys (yaml.v2 drops them) or replicas; a KRT that breaks them is accepted and then never
answers. Those are ours (rules ``krt.*``), with what to change. This module knows nothing of
Kedro, nor of the other files of a KRT.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
)

from kedro_krt.formats import rules
from kedro_krt.formats.checks_base import (
    ParsedManifest,
    Report,
    fields_present,
    prepare,
    read_lenient,
    schema_problems,
    shape,
    short,
    type_name,
)
from kedro_krt.formats.format_base import ManifestFormat
from kedro_krt.formats.images import check_images
from kedro_krt.formats.manifest_base import (
    MAX_NAME_LENGTH,
    NAME_RE,
    RPC_RE,
    VARIABLE_RE,
    ConfigSpec,
    Entrypoint,
    ManifestError,
    krt_yaml,
    name_suggestion,
    variable_suggestion,
)
from kedro_krt.formats.problems import Problem
from kedro_krt.formats.rules import Rule
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import PUBLIC_PROTO

__all__ = [
    "ENTRYPOINT",
    "KRE_RESOURCE_NAME_TRAILER",
    "OBJECT_STORE_SCOPES",
    "V2_FORMAT",
    "ManifestV2",
    "NodeV2",
    "ObjectStore",
    "ParsedManifestV2",
    "Subscription",
    "V2Format",
    "WorkflowV2",
    "check_manifest_v2",
    "go_path",
    "kre_answer",
    "parse_manifest_v2",
    "parse_manifest_v2_lenient",
]

#: The subscription that receives the request from KRE's entrypoint.
ENTRYPOINT = "entrypoint"
#: ``objectStore.scope`` values KRE accepts (types.go: ``oneof=workflow project``).
OBJECT_STORE_SCOPES = ("workflow", "project")
#: KRE's default scope, applied only after validation (version_interactor.go); KRE 8.2's
#: validator refuses a missing scope first, so we always write it.
DEFAULT_OBJECT_STORE_SCOPE = "workflow"


#: The line KRE 8.2 adds once after the field errors when a resource name is invalid
#: (fields_validator.go, ``getErrorMessages``).
KRE_RESOURCE_NAME_TRAILER = (
    "the resource names must contain only lowercase alphanumeric characters or '-', "
    "e.g. my-resource-name"
)
#: version_interactor.go, ``Create``: a manifest without krtVersion that passes the checks.
KRE_KRT_VERSION_MISSING = rules.KRE_KRT_VERSION_MISSING
#: validator/errors.go, ``ErrRepeatedNodeName``.
KRE_REPEATED_NODE_NAME = rules.V2_NODE_NAME_REPEATED.kre


@dataclass(frozen=True)
class Subscription:
    """One ``subscriptions[]`` entry: ``entrypoint``, ``<node>`` or ``<node>.<subtopic>``."""

    node: str
    subtopic: str = ""

    @classmethod
    def parse(cls, text: str) -> Subscription:
        """Split at the first dot: ``"email-classificator.repairs"`` -> node and subtopic."""
        node, _, subtopic = text.partition(".")
        return cls(node, subtopic)

    @property
    def is_entrypoint(self) -> bool:
        """Whether this is the request from KRE's entrypoint."""
        return self.node == ENTRYPOINT and not self.subtopic

    def __str__(self) -> str:
        return f"{self.node}.{self.subtopic}" if self.subtopic else self.node


@dataclass(frozen=True)
class ObjectStore:
    """``objectStore:`` of a node: a JetStream object store named ``name``, shared per
    ``scope`` (``workflow`` or ``project``)."""

    name: str
    scope: str = DEFAULT_OBJECT_STORE_SCOPE


@dataclass(frozen=True)
class NodeV2:
    """One ``workflows[].nodes[]`` entry: a process running ``src`` in ``image``.

    ``replicas`` is the number of pods, which share one queue group per subscription (KRE
    reads 0 or a missing value as 1); ``subscriptions`` are kept as written.
    """

    name: str
    image: str
    src: str
    subscriptions: tuple[str, ...]
    gpu: bool = False
    replicas: int = 1
    object_store: ObjectStore | None = None

    @property
    def parsed_subscriptions(self) -> tuple[Subscription, ...]:
        """The subscriptions split into node and subtopic."""
        return tuple(Subscription.parse(s) for s in self.subscriptions)

    def to_dict(self) -> dict[str, Any]:
        """The node as plain data, in the order KRE's examples write it."""
        entry: dict[str, Any] = {"name": self.name, "image": self.image, "src": self.src}
        if self.gpu:
            entry["gpu"] = True
        if self.replicas != 1:
            entry["replicas"] = self.replicas
        if self.object_store is not None:
            entry["objectStore"] = {
                "name": self.object_store.name,
                "scope": self.object_store.scope,
            }
        entry["subscriptions"] = list(self.subscriptions)
        return entry


@dataclass(frozen=True)
class WorkflowV2:
    """One ``workflows[]`` entry: the rpc ``entrypoint``, its ``nodes`` and its ``exitpoint``."""

    name: str
    entrypoint: str
    exitpoint: str
    nodes: tuple[NodeV2, ...]

    def node(self, name: str) -> NodeV2:
        """The node called ``name``.

        Raises:
            KeyError: when the workflow has no such node.
        """
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def subscribers(self, name: str) -> tuple[NodeV2, ...]:
        """The nodes that subscribe to ``name`` (a node or ``entrypoint``), any subtopic."""
        return tuple(n for n in self.nodes if any(s.node == name for s in n.parsed_subscriptions))

    def topological_order(self) -> tuple[NodeV2, ...]:
        """The nodes with every node after those it subscribes to; ties keep file order.

        Subscriptions to ``entrypoint`` or to unknown nodes do not order anything; nodes on a
        cycle come last, in file order (the checks report the cycle).
        """
        names = {n.name for n in self.nodes}
        pending = {
            n.name: {s.node for s in n.parsed_subscriptions if s.node in names and s.node != n.name}
            for n in self.nodes
        }
        order: list[NodeV2] = []
        done: set[str] = set()
        progress = True
        while progress:
            progress = False
            for node in self.nodes:
                if node.name not in done and pending[node.name] <= done:
                    order.append(node)
                    done.add(node.name)
                    progress = True
        order += [n for n in self.nodes if n.name not in done]
        return tuple(order)

    def to_dict(self) -> dict[str, Any]:
        """The workflow as plain data: name, entrypoint, exitpoint, nodes."""
        return {
            "name": self.name,
            "entrypoint": self.entrypoint,
            "exitpoint": self.exitpoint,
            "nodes": [n.to_dict() for n in self.nodes],
        }


@dataclass(frozen=True)
class ManifestV2:
    """A KRT v2 ``krt.yml``.

    Build one directly (then :meth:`to_yaml`), or read one with
    :func:`parse_manifest_v2` or :meth:`from_dict`, which
    check it.
    """

    krt_version: ClassVar[KrtVersion] = KrtVersion.V2

    version: str
    description: str
    entrypoint: Entrypoint
    workflows: tuple[WorkflowV2, ...]
    config: ConfigSpec = field(default_factory=ConfigSpec)

    @property
    def nodes(self) -> tuple[NodeV2, ...]:
        """Every node of every workflow, in file order (names repeat across workflows)."""
        return tuple(n for w in self.workflows for n in w.nodes)

    def iter_nodes(self) -> Iterator[tuple[WorkflowV2, NodeV2]]:
        """(workflow, node) for every node of every workflow, in file order."""
        for workflow in self.workflows:
            for node in workflow.nodes:
                yield workflow, node

    def workflow(self, name: str) -> WorkflowV2:
        """The workflow called ``name``.

        Raises:
            KeyError: when there is no such workflow.
        """
        for workflow in self.workflows:
            if workflow.name == name:
                return workflow
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain data, keys in the order :meth:`to_yaml` writes them."""
        data: dict[str, Any] = {
            "version": self.version,
            "krtVersion": KrtVersion.V2.value,
            "description": self.description,
            "entrypoint": {"proto": self.entrypoint.proto, "image": self.entrypoint.image},
        }
        config = self.config.to_dict()
        if config:
            data["config"] = config
        data["workflows"] = [w.to_dict() for w in self.workflows]
        return data

    def to_yaml(self) -> str:
        """The ``krt.yml`` text: the same manifest always gives the same text.

        Key order as in KRE's classificator example: version, krtVersion, description,
        entrypoint, config (left out when empty), workflows (name, entrypoint, exitpoint,
        nodes); a node's ``gpu`` is written only when true, ``replicas`` only when not 1.
        """
        return krt_yaml(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManifestV2:
        """Check ``data`` (a parsed ``krt.yml``) and build the manifest.

        Raises:
            ManifestError: with every problem found, when there is at least one error.
        """
        parsed = check_manifest_v2(data, {})
        if parsed.manifest is None or not parsed.ok:
            raise ManifestError(parsed.problems)
        return parsed.manifest

    @classmethod
    def from_yaml(cls, text: str) -> ManifestV2:
        """Parse and check ``krt.yml`` text.

        Raises:
            ManifestError: with every problem found, when there is at least one error.
        """
        manifest, problems = parse_manifest_v2(text)
        if manifest is None:
            raise ManifestError(problems)
        return manifest


# The keys KRE 8.2's types.go reads, per mapping; yaml.v2 drops any other key silently.
_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": ("version", "krtVersion", "description", "entrypoint", "config", "workflows"),
    "entrypoint": ("proto", "image"),
    "config": ("variables", "files"),
    "workflows[]": ("name", "entrypoint", "exitpoint", "nodes"),
    "workflows[].nodes[]": (
        "name",
        "image",
        "src",
        "gpu",
        "subscriptions",
        "replicas",
        "objectStore",
    ),
    "workflows[].nodes[].objectStore": ("name", "scope"),
}

# Keys of KRT v1 that a v2 manifest may still carry: said plainly.
_V1_KEYS = {
    ("", "nodes"): "in KRT v2 the nodes live in each workflow (workflows[].nodes)",
    ("workflows[]", "sequential"): (
        "KRT v2 has no sequential list: each node names what it subscribes to "
        "(subscriptions) and the workflow names its exitpoint"
    ),
}

_REQUIRED_HINTS = {
    "version": 'a lowercase name for this version, e.g. "version: price-estimator-v1"',
    "description": 'one line saying what this version does, e.g. "description: Price estimator"',
    "entrypoint.proto": f'"proto: {PUBLIC_PROTO}"',
    "entrypoint.image": 'the entrypoint image, e.g. "image: konstellation/kre-entrypoint:3.3.6"',
    "workflows": "a list of workflows, each with name, entrypoint, exitpoint and nodes",
    "workflows[].name": 'a lowercase workflow name, e.g. "name: inference"',
    "workflows[].entrypoint": f'the rpc name in "service Entrypoint" of {PUBLIC_PROTO}',
    "workflows[].exitpoint": "the name of the node whose output answers the caller",
    "workflows[].nodes[].name": 'a lowercase node name, e.g. "name: etl"',
    "workflows[].nodes[].image": 'the runner image, e.g. "image: konstellation/kre-py:3.4.1"',
    "workflows[].nodes[].src": 'the node\'s main file inside the KRT, e.g. "src: src/etl/main.py"',
}


def go_path(path: str) -> str:
    """``workflows[0].nodes[1].objectStore.scope`` -> ``Workflows[0].Nodes[1].ObjectStore.Scope``:
    the Go field path KRE's messages name (``e.Namespace()`` without ``Krt.``)."""
    return ".".join(part[:1].upper() + part[1:] for part in path.split("."))


class ParsedManifestV2(ParsedManifest[ManifestV2]):
    """A best-effort reading of a v2 ``krt.yml``, for checks that go on after an error
    (``node_paths[i]`` is the YAML path of the i-th node of all workflows,
    ``workflows[0].nodes[2]``). Never use this manifest for anything but more checks."""


def kre_answer(problems: tuple[Problem, ...] | list[Problem]) -> list[str]:
    """The lines KRE 8.2 answers an upload with, from the problems of :func:`check_manifest_v2`:
    KRE's own texts in its order, and the resource-name trailer once, after the field errors,
    when a name is refused. The missing-krtVersion answer comes only when nothing else fails."""
    said = [
        p
        for p in problems
        if p.kre and p.rule != "kre.src-missing" and p.kre != KRE_KRT_VERSION_MISSING
    ]
    fields = [p.kre for p in said if p.rule not in _WORKFLOW_RULES]
    workflows = [p.kre for p in said if p.rule in _WORKFLOW_RULES]
    if any(p.rule == "kre.name" for p in said):
        fields.append(KRE_RESOURCE_NAME_TRAILER)
    lines = fields + workflows
    if not lines and any(p.kre == KRE_KRT_VERSION_MISSING for p in problems):
        return [KRE_KRT_VERSION_MISSING]
    return lines


# KRE's validator.go rules, reported after every fields_validator.go rule.
_WORKFLOW_RULES = frozenset(
    {"kre.node-name-repeated", "kre.subscriptions-required", "kre.exitpoint"}
)


# -- the shape of a v2 krt.yml: KRE 8.2's struct tags (types.go) as a pydantic schema ----------
# Fields in types.go's order, which is the order of KRE's answer (fields_validator.go walks the
# struct); yaml.v2 drops unknown keys silently, so the schema forbids them.


def _number_as_text(value: Any) -> Any:
    """yaml.v2 reads a number into a Go string as written; so do we (and warn: _numbers)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


_NUMBER_AS_TEXT = BeforeValidator(_number_as_text)


# Text in KRE's reading: a number is its text (warned), non-empty, then the constraints. The
# constraints come before the validator, so pydantic checks them as a string's (and names them
# so: string_too_short, string_pattern_mismatch); the validator still runs first.
_Text = Annotated[StrictStr, StringConstraints(min_length=1), _NUMBER_AS_TEXT]
_ResourceName = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_RE.pattern),
    _NUMBER_AS_TEXT,
]
_Proto = Annotated[StrictStr, StringConstraints(min_length=1, pattern=r"\.proto$"), _NUMBER_AS_TEXT]
_Rpc = Annotated[
    StrictStr, StringConstraints(min_length=1, pattern=RPC_RE.pattern), _NUMBER_AS_TEXT
]
_Description = Annotated[StrictStr, StringConstraints(min_length=1, pattern=r"\S"), _NUMBER_AS_TEXT]
_Item = Annotated[StrictStr, StringConstraints(min_length=1)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _EntrypointSchema(_Schema):
    proto: _Proto
    image: _Text


class _ConfigSchema(_Schema):
    variables: tuple[
        Annotated[StrictStr, StringConstraints(min_length=1, pattern=VARIABLE_RE.pattern)], ...
    ] = ()
    files: tuple[_Item, ...] = ()


class _ObjectStoreSchema(_Schema):
    # Both checked after the shape (_check_object_store): KRE checks the scope first.
    name: Annotated[StrictStr, _NUMBER_AS_TEXT] = ""
    scope: Annotated[StrictStr, _NUMBER_AS_TEXT] = ""


class _NodeSchema(_Schema):
    name: _ResourceName
    image: _Text
    src: _Text
    gpu: StrictBool = False
    subscriptions: tuple[_Item, ...] = ()
    replicas: Any = None  # checked by _check_replicas, in yaml.v2's and Kubernetes' words
    objectStore: _ObjectStoreSchema | None = None


class _WorkflowSchema(_Schema):
    name: _ResourceName
    nodes: tuple[_NodeSchema, ...] = ()
    entrypoint: _Rpc
    exitpoint: _Text


class _ManifestSchema(_Schema):
    krtVersion: Any = None
    version: _ResourceName
    description: _Description
    entrypoint: _EntrypointSchema
    config: _ConfigSchema = _ConfigSchema()
    workflows: Annotated[tuple[_WorkflowSchema, ...], Field(min_length=1)]


def _refine(rule: Rule, path: str, value: Any, owner: Any) -> tuple[Rule, dict[str, object]]:
    """KRE 8.2's words for a schema error (see :func:`~kedro_krt.formats.checks_base.
    schema_problems`)."""
    value = _number_as_text(value)
    values: dict[str, object] = {
        "field": go_path(path),
        "hint": _REQUIRED_HINTS.get(shape(path), "a value"),
        "proto": value,
        "rpc": value,
        "expected": PUBLIC_PROTO,
    }
    if rule is rules.UNKNOWN_KEY:
        values.pop("hint")
        parent, _, key = path.rpartition(".")
        parent = parent if "." in path else ""
        key = key if "." in path else path
        values["known"] = ", ".join(_KNOWN_KEYS[shape(parent)])
        v1 = _V1_KEYS.get((shape(parent), key))
        if v1:
            rule = rules.V1_KEY
            values["v1"] = v1
    elif rule is rules.NOT_A_STRING:
        values["hint"] = "write a single text value"
    elif rule is rules.NOT_A_NAME_LIST:
        values["value"] = short(value)
    elif rule is rules.V2_NAME:
        values.update(name=value, example=name_suggestion(value))
        if NAME_RE.match(value):
            rule = rules.V2_NAME_LENGTH
            limit = MAX_NAME_LENGTH
            values.update(length=len(value), limit=limit, limit_plus_one=limit + 1)
    elif rule is rules.V2_VARIABLE_NAME:
        values.update(name=value, example=variable_suggestion(value))
    return rule, values


@dataclass
class _RawNode:
    index: int
    path: str
    name: str
    image: str
    src: str
    subscriptions: list[tuple[int, str]]
    gpu: bool
    replicas: int
    object_store: ObjectStore | None


@dataclass
class _RawWorkflow:
    index: int
    path: str
    name: str
    entrypoint: str
    exitpoint: str
    nodes: list[_RawNode]


def _text(data: Any, key: str) -> str:
    value = _number_as_text(data.get(key)) if isinstance(data, Mapping) else None
    return value if isinstance(value, str) else ""


def _entries(data: Any, key: str) -> list[tuple[int, Mapping[Any, Any]]]:
    value = data.get(key) if isinstance(data, Mapping) else None
    items = value if isinstance(value, list) else []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, Mapping)]


def _lenient_node(path: str, index: int, item: Mapping[Any, Any]) -> _RawNode:
    subs = item.get("subscriptions")
    subscriptions = [
        (i, s)
        for i, s in enumerate(subs if isinstance(subs, list) else [])
        if isinstance(s, str) and s
    ]
    raw = item.get("replicas")
    store = item.get("objectStore")
    object_store = (
        ObjectStore(_text(store, "name"), _text(store, "scope") or "workflow")
        if isinstance(store, Mapping)
        else None
    )
    return _RawNode(
        index=index,
        path=path,
        name=_text(item, "name"),
        image=_text(item, "image"),
        src=_text(item, "src"),
        subscriptions=subscriptions,
        gpu=item.get("gpu") is True,
        replicas=raw
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw <= 2**31 - 1
        else 1,
        object_store=object_store,
    )


def _lenient(data: Mapping[Any, Any]) -> list[_RawWorkflow]:
    """The workflows as far as they can be read: a value of the wrong type is left empty, an
    entry that is not a mapping is left out."""
    workflows = []
    for index, item in _entries(data, "workflows"):
        path = f"workflows[{index}]"
        nodes = [
            _lenient_node(f"{path}.nodes[{n_index}]", n_index, node)
            for n_index, node in _entries(item, "nodes")
        ]
        workflows.append(
            _RawWorkflow(
                index,
                path,
                _text(item, "name"),
                _text(item, "entrypoint"),
                _text(item, "exitpoint"),
                nodes,
            )
        )
    return workflows


def check_manifest_v2(data: Any, marks: Mapping[str, int]) -> ParsedManifestV2:
    """Every v2 manifest check, on parsed YAML; a best-effort manifest and the problems."""
    report = Report(marks)
    if not isinstance(data, Mapping):
        report.add(
            "",
            rules.TOP_NOT_A_MAPPING,
            keys="version, krtVersion, description, entrypoint and workflows",
            found=type_name(data),
        )
        return ParsedManifestV2(None, report.problems(_ManifestSchema, data), marks=marks)
    data = dict(prepare(_ManifestSchema, data))
    if "entrypoint" not in data:
        data["entrypoint"] = {}  # KRE 8.2 then asks for Entrypoint.Proto and Entrypoint.Image
    for path, info, value in fields_present(_ManifestSchema, data):
        if _NUMBER_AS_TEXT in info.metadata and _number_as_text(value) is not value:
            report.add(path, rules.NUMBER_AS_TEXT, number=repr(value), value=str(value))
    schema_problems(_ManifestSchema, data, report, rules.V2_SHAPE_RULES, _refine)
    _check_fields(report, data)
    workflows = _lenient(data)

    report.phase = 1  # validator.go, getWorkflowsValidationErrors: per workflow, in order
    for wf in workflows:
        seen: set[str] = set()
        for node in wf.nodes:
            if node.name in seen:
                report.add(
                    f"{node.path}.name",
                    rules.V2_NODE_NAME_REPEATED,
                    name=node.name,
                    workflow=wf.name,
                )
            seen.add(node.name)
            if not node.subscriptions:
                report.add(node.path, rules.V2_SUBSCRIPTIONS_REQUIRED, name=node.name)
        if not wf.exitpoint:
            report.add(wf.path, rules.V2_EXITPOINT_MISSING, workflow=wf.name)
        elif wf.exitpoint not in seen:
            close = difflib.get_close_matches(wf.exitpoint, sorted(seen), n=1)
            report.add(
                f"{wf.path}.exitpoint",
                rules.V2_EXITPOINT_NOT_FOUND,
                exitpoint=wf.exitpoint,
                workflow=wf.name,
                hint=f'did you mean "{close[0]}"? ' if close else "",
                known=", ".join(sorted(seen)) or "none",
            )

    # Ours: what KRE accepts but never runs.
    report.phase = 2
    ep = data["entrypoint"]
    entrypoint = Entrypoint(proto=_text(ep, "proto"), image=_text(ep, "image"))
    version = _text(data, "version")
    check_images(report, version, entrypoint, [(n.path, n) for wf in workflows for n in wf.nodes])
    _check_stock_versions(report, entrypoint, workflows)
    _check_workflow_names(report, workflows)
    for wf in workflows:
        _check_graph(report, wf)

    cfg = data.get("config")
    cfg = cfg if isinstance(cfg, Mapping) else {}

    def names(key: str) -> tuple[str, ...]:
        value = cfg.get(key)
        return tuple(
            v for v in (value if isinstance(value, list) else []) if isinstance(v, str) and v
        )

    manifest = ManifestV2(
        version=version,
        description=_text(data, "description"),
        entrypoint=entrypoint,
        workflows=tuple(
            WorkflowV2(
                name=wf.name,
                entrypoint=wf.entrypoint,
                exitpoint=wf.exitpoint,
                nodes=tuple(
                    NodeV2(
                        name=n.name,
                        image=n.image,
                        src=n.src,
                        subscriptions=tuple(s for _, s in n.subscriptions),
                        gpu=n.gpu,
                        replicas=n.replicas,
                        object_store=n.object_store,
                    )
                    for n in wf.nodes
                ),
            )
            for wf in workflows
        ),
        config=ConfigSpec(variables=names("variables"), files=names("files")),
    )
    return ParsedManifestV2(
        manifest,
        report.problems(_ManifestSchema, data),
        tuple(n.path for wf in workflows for n in wf.nodes),
        tuple(wf.path for wf in workflows),
        marks,
    )


def _check_fields(report: Report, data: Mapping[Any, Any]) -> None:
    """What fields_validator.go checks beyond the schema, sorted with the fields they are about:
    krtVersion, the proto's name, an entrypoint that is not a mapping, empty workflows,
    replicas and object stores."""
    raw_version = data.get("krtVersion")
    if raw_version is None or raw_version == "":
        # omitempty: the fields validator lets it pass; the version is refused later with
        # this text (version_interactor.go, Create).
        report.add(
            "", rules.V2_KRT_VERSION_MISSING, order="krtVersion", expected=KrtVersion.V2.value
        )
    elif str(raw_version) != KrtVersion.V2.value:
        report.add(
            "krtVersion", rules.V2_KRT_VERSION, value=raw_version, expected=KrtVersion.V2.value
        )

    ep = data["entrypoint"]
    if not isinstance(ep, Mapping):
        for key in ("proto", "image"):
            path = f"entrypoint.{key}"
            report.add(path, rules.V2_REQUIRED, field=go_path(path), hint=_REQUIRED_HINTS[path])
    proto = _text(ep, "proto")
    if proto.endswith(".proto") and proto != PUBLIC_PROTO:
        report.add("entrypoint.proto", rules.PROTO_NAME, proto=proto, expected=PUBLIC_PROTO)

    for index, item in _entries(data, "workflows"):
        path = f"workflows[{index}]"
        if item.get("nodes") in (None, []):
            report.add(f"{path}.nodes", rules.NODES_EMPTY, workflow=_text(item, "name"))
        for n_index, node in _entries(item, "nodes"):
            node_path = f"{path}.nodes[{n_index}]"
            _check_replicas(report, f"{node_path}.replicas", node.get("replicas"))
            store = node.get("objectStore")
            if isinstance(store, Mapping):
                _check_object_store(report, f"{node_path}.objectStore", store)


def _check_replicas(report: Report, path: str, raw: Any) -> None:
    if raw is None:
        return
    if isinstance(raw, bool) or not isinstance(raw, int):
        report.add(path, rules.REPLICAS_TYPE, found=type_name(raw))
    elif raw < 0 or raw > 2**31 - 1:
        report.add(path, rules.REPLICAS_RANGE, replicas=raw)
    elif raw == 0:
        report.add(path, rules.REPLICAS_ZERO)


def _check_object_store(report: Report, path: str, store: Mapping[Any, Any]) -> None:
    # KRE 8.2 checks the scope before it applies its default "workflow", so a missing scope is
    # refused too (types.go, version_interactor.go generateWorkflows); then our name rule.
    name, scope = _text(store, "name"), _text(store, "scope")
    after = f"{path}.scope"
    if scope not in OBJECT_STORE_SCOPES:
        report.add(
            after if scope else path,
            rules.V2_OBJECT_STORE_SCOPE,
            order=after,
            field=go_path(path),
            said=f'"{scope}"' if scope else "missing",
        )
    if not name:
        report.add(f"{path}.name", rules.OBJECT_STORE_NAME_MISSING, order=after)
    elif not NAME_RE.match(name):
        report.add(f"{path}.name", rules.OBJECT_STORE_NAME, order=after, name=name)


#: Konstellation's images whose major version 3 is the first for KRE 8 (kre-runners: kre-py 3.x
#: and kre-entrypoint 3.x speak KRT v2's messages; 1.x and 2.x KRE 7's).
_V2_FROM_MAJOR = {"konstellation/kre-entrypoint": 3, "konstellation/kre-py": 3}


def _check_stock_versions(
    report: Report, entrypoint: Entrypoint, workflows: list[_RawWorkflow]
) -> None:
    """A stock kre-entrypoint or kre-py of KRE 7 in a v2 manifest: it cannot speak KRT v2."""
    places = [("entrypoint.image", entrypoint.image)]
    places += [(f"{n.path}.image", n.image) for wf in workflows for n in wf.nodes]
    warned: set[str] = set()
    for path, image in places:
        repository, _, tag = image.rpartition(":")
        needed = _V2_FROM_MAJOR.get(repository)
        major = tag.split(".", 1)[0]
        if needed is None or not major.isdigit() or int(major) >= needed or image in warned:
            continue
        warned.add(image)
        report.add(
            path,
            rules.IMAGE_KRT_VERSION,
            image=image,
            short_name=repository.rsplit("/", 1)[-1],
            repository=repository,
            example="3.3.6" if "entrypoint" in repository else "3.4.1",
        )


def _check_workflow_names(report: Report, workflows: list[_RawWorkflow]) -> None:
    first_name: dict[str, int] = {}
    first_rpc: dict[str, int] = {}
    for wf in workflows:
        if wf.name in first_name:
            report.add(
                f"{wf.path}.name", rules.DUPLICATE_WORKFLOW, name=wf.name, first=first_name[wf.name]
            )
        elif wf.name:
            first_name[wf.name] = wf.index
        if wf.entrypoint in first_rpc:
            report.add(
                f"{wf.path}.entrypoint",
                rules.DUPLICATE_RPC,
                rpc=wf.entrypoint,
                first=first_rpc[wf.entrypoint],
            )
        elif wf.entrypoint and RPC_RE.match(wf.entrypoint):
            first_rpc[wf.entrypoint] = wf.index


def _check_graph(report: Report, wf: _RawWorkflow) -> None:
    """Subscriptions name nodes, make no cycle, and lead from the entrypoint to the exitpoint."""
    names = [n.name for n in wf.nodes if n.name]
    known = set(names)
    edges: dict[str, set[str]] = {n.name: set() for n in wf.nodes if n.name}
    for node in wf.nodes:
        seen: set[str] = set()
        for s_index, text in node.subscriptions:
            s_path = f"{node.path}.subscriptions[{s_index}]"
            sub = Subscription.parse(text)
            said = {"node": node.name, "text": text}
            if text in seen:
                report.add(s_path, rules.SUBSCRIPTION_REPEATED, **said)
                continue
            seen.add(text)
            if sub.node == ENTRYPOINT:
                if sub.subtopic:
                    report.add(s_path, rules.SUBSCRIPTION_SUBTOPIC, **said)
                continue
            if sub.node not in known:
                close = difflib.get_close_matches(sub.node, names, n=1)
                report.add(
                    s_path,
                    rules.SUBSCRIPTION_UNKNOWN,
                    **said,
                    workflow=wf.name,
                    hint=f'did you mean "{close[0]}"? ' if close else "",
                    known=", ".join(sorted(known)),
                )
                continue
            if sub.node == node.name:
                report.add(s_path, rules.SUBSCRIPTION_SELF, **said)
                continue
            if node.name:
                edges[node.name].add(sub.node)

    cycle = _find_cycle(edges, names)
    if cycle:
        node = next(n for n in wf.nodes if n.name == cycle[0])
        report.add(
            f"{node.path}.subscriptions",
            rules.SUBSCRIPTION_CYCLE,
            workflow=wf.name,
            cycle=" -> ".join(reversed([*cycle, cycle[0]])),
        )
        return

    # Reachability from the entrypoint along subscriptions.
    reached = {ENTRYPOINT}
    changed = True
    while changed:
        changed = False
        for node in wf.nodes:
            if node.name in reached or not node.name:
                continue
            if any(Subscription.parse(s).node in reached for _, s in node.subscriptions):
                reached.add(node.name)
                changed = True
    starters = [
        n for n in wf.nodes if any(Subscription.parse(s).is_entrypoint for _, s in n.subscriptions)
    ]
    if wf.nodes and not starters:
        report.add(f"{wf.path}.nodes", rules.ENTRYPOINT_UNUSED, workflow=wf.name)
        return
    if wf.exitpoint in known and wf.exitpoint not in reached:
        report.add(
            f"{wf.path}.exitpoint",
            rules.EXITPOINT_UNREACHABLE,
            exitpoint=wf.exitpoint,
            workflow=wf.name,
        )
    for node in wf.nodes:
        if (
            node.replicas > 1
            and len({Subscription.parse(s).node for _, s in node.subscriptions}) > 1
        ):
            report.add(
                f"{node.path}.replicas", rules.REPLICAS_JOIN, node=node.name, replicas=node.replicas
            )
        if node.name and node.subscriptions and node.name not in reached:
            report.add(f"{node.path}.name", rules.NODE_UNREACHED, node=node.name)


def _find_cycle(edges: dict[str, set[str]], order: list[str]) -> list[str]:
    """A cycle of ``node -> subscribed node`` edges, as a list of nodes, or ``[]``."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        stack.append(name)
        for nxt in sorted(edges.get(name, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return []

    for name in order:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


def parse_manifest_v2_lenient(text: str) -> ParsedManifestV2:
    """Parse v2 ``krt.yml`` text and run every check, keeping a best-effort manifest."""
    return read_lenient(
        text,
        check_manifest_v2,
        "version, krtVersion, description, entrypoint and workflows",
        ParsedManifestV2,
    )


def parse_manifest_v2(text: str) -> tuple[ManifestV2 | None, list[Problem]]:
    """Parse and check v2 ``krt.yml`` text.

    Returns:
        The manifest (``None`` when there is any error) and every problem found.
    """
    return parse_manifest_v2_lenient(text).strict()


class V2Format(ManifestFormat):
    """KRT v2 as the validator and the compiler ask it (see :class:`ManifestFormat`)."""

    krt_version = KrtVersion.V2
    manifest_class = ManifestV2
    #: KRE 8.0 reads v2 without replicas and objectStore; 8.1 and 8.2 read only v2.
    kre_targets = ("8.0", "8.1", "8.2")

    def written_as(self, data: Mapping[Any, Any]) -> bool:
        return any("nodes" in w or "exitpoint" in w for _, w in _entries(data, "workflows"))

    def check(self, data: Any, marks: Mapping[str, int]) -> ParsedManifestV2:
        return check_manifest_v2(data, marks)

    def parse_lenient(self, text: str) -> ParsedManifestV2:
        return parse_manifest_v2_lenient(text)

    def kre_answer(self, data: Any) -> list[str]:
        return kre_answer(check_manifest_v2(data, {}).problems)

    def refused(self, kre: str, answer: list[str]) -> Problem:
        return rules.V2_REFUSED.at("krt.yml", kre_version=kre)

    def target_problems(
        self, kre: str, data: Mapping[Any, Any], parsed: ParsedManifest[Any]
    ) -> list[Problem]:
        if kre != "8.0" or parsed.manifest is None:
            return []
        problems: list[Problem] = []
        for node, path in zip(parsed.manifest.nodes, parsed.node_paths, strict=True):
            ignored = [k for k in ("replicas", "objectStore") if _has(data, path, k)]
            if ignored:
                where = parsed.location(f"{path}.{ignored[0]}")
                said = " nor ".join(ignored)
                problems.append(rules.V2_FIELD_IGNORED.at(where, ignored=said, node=node.name))
        return problems

    def src_missing(self, where: str, src: str, node: str, hint: str) -> Problem:
        return rules.V2_SRC_MISSING.at(where, src=src, node=node, hint=hint)


def _has(data: Mapping[Any, Any], path: str, key: str) -> bool:
    """Whether the YAML mapping at ``path`` (``workflows[0].nodes[1]``) has ``key``."""
    node: object = data
    for part in path.split("."):
        name, _, index = part.partition("[")
        node = node.get(name) if isinstance(node, Mapping) else None
        if index:
            i = int(index.rstrip("]"))
            node = node[i] if isinstance(node, list) and i < len(node) else None
    return isinstance(node, Mapping) and key in node


#: KRT v2, the entry of :data:`kedro_krt.formats.krt_formats.FORMATS`.
V2_FORMAT = V2Format()
