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
workflows), so :func:`kre_answer` gives the lines of KRE's own answer.

KRE 8.2 checks no more than that. It does not check that a subscription names a node, that
the subscriptions make no cycle, that the exitpoint is reached from the entrypoint, unknown
keys (yaml.v2 drops them) or replicas; a KRT that breaks them is accepted and then never
answers. Those are ours (rules ``krt.*``), with what to change. This module knows nothing of
Kedro, nor of the other files of a KRT.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kedro_krt.formats.checks_base import (
    Checker,
    ParsedManifest,
    read_lenient,
    shape,
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
    to_valid_name,
)
from kedro_krt.formats.problems import Problem, error, warning
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
KRE_KRT_VERSION_MISSING = "error krtVersion input from krt.yml not valid: "
#: validator/errors.go, ``ErrRepeatedNodeName``.
KRE_REPEATED_NODE_NAME = "node names should be unique per workflows"


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


class V2Checker(Checker):
    """The walk of :class:`~kedro_krt.formats.checks_base.Checker` with KRT v2's keys and paths
    and KRE 8.2's words."""

    known_keys = _KNOWN_KEYS
    hints = _REQUIRED_HINTS
    blank_description = '"description" is blank: write one line saying what this version does'

    def kre_error(self, path: str, kre: str, hint: str, rule: str) -> None:
        """An error KRE reports: its text first, then what to change."""
        self.error(path, f"{kre}: {hint}" if hint else kre, rule, kre)

    def required(self, path: str) -> None:
        hint = _REQUIRED_HINTS.get(shape(path), "a value")
        self.kre_error(
            path, f'the field "{go_path(path)}" is required', f"add {hint}", "kre.required"
        )

    def special_key(self, data: Mapping[Any, Any], key: Any, path: str, where: str) -> bool:
        """v1's keys, which KRE 8 ignores in a v2 krt.yml, get their own message."""
        v1 = _V1_KEYS.get((shape(path), str(key)))
        if v1:
            self.error(
                f"{path}.{key}" if path else str(key),
                f'"{key}"{where} is a KRT v1 key, which KRE 8 ignores in a v2 krt.yml: {v1}; '
                "remove it",
                "krt.v1-key",
            )
        return bool(v1)

    def string(self, data: Mapping[Any, Any], key: str, path: str, required: bool = True) -> str:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.required(path)
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.error(
                path,
                f'"{path}" must be a string, found {type_name(value)}: write a single text value',
                "krt.type",
            )
            return ""
        if not isinstance(value, str):
            # yaml.v2 reads a number into a Go string as written; so do we, and say so.
            self.warning(
                path,
                f'"{path}" is the number {value!r}; KRE reads it as the text "{value}": quote it',
                "krt.type",
            )
            return str(value)
        return value

    def name(self, value: str, path: str) -> None:
        if not value:
            return
        try:
            fix = f' (for example "{to_valid_name(value)}")'
        except ValueError:
            fix = ""
        if not NAME_RE.match(value):
            self.kre_error(
                path,
                f'invalid resource name "{value}" at "{go_path(path)}"',
                "use only lowercase letters, digits and '-', starting and ending with a letter "
                "or digit" + fix,
                "kre.name",
            )
        elif len(value) > MAX_NAME_LENGTH:
            self.kre_error(
                path,
                f'invalid length "{value}" at "{go_path(path)}" must be lower than '
                f"{MAX_NAME_LENGTH + 1}",
                f"it has {len(value)} characters; KRE allows at most {MAX_NAME_LENGTH}" + fix,
                "kre.name-length",
            )


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


def check_manifest_v2(data: Any, marks: Mapping[str, int]) -> ParsedManifestV2:
    """Every v2 manifest check, on parsed YAML; a best-effort manifest and the problems."""
    c = V2Checker(marks)
    if not isinstance(data, Mapping):
        c.error(
            "",
            "krt.yml must be a mapping with version, krtVersion, description, entrypoint and "
            f"workflows, found {type_name(data)}",
            "krt.type",
        )
        return ParsedManifestV2(None, tuple(c.problems), marks=marks)
    c.unknown_keys(data, "")

    # fields_validator.go, in types.go's field order.
    raw_version = data.get("krtVersion")
    if raw_version is None or raw_version == "":
        # omitempty: the fields validator lets it pass; the version is refused later with
        # this text (version_interactor.go, Create).
        c.error(
            "",
            f"krtVersion is missing: KRE 8.1+ checks the rest, then answers "
            f'"{KRE_KRT_VERSION_MISSING}"; write "krtVersion: {KrtVersion.V2.value}"',
            "kre.krt-version",
            KRE_KRT_VERSION_MISSING,
        )
    elif str(raw_version) != KrtVersion.V2.value:
        c.kre_error(
            "krtVersion",
            f'invalid value "{raw_version}" at krtVersion "KrtVersion"',
            f'write "krtVersion: {KrtVersion.V2.value}" (the only value KRE 8.1 and later accept)',
            "kre.krt-version",
        )

    version, description = c.version_and_description(data)

    entrypoint = Entrypoint(proto="", image="")
    ep = c.mapping(data, "entrypoint", "entrypoint", required=False)
    ep = ep if ep is not None else {}
    proto = c.string(ep, "proto", "entrypoint.proto")
    if proto and not proto.endswith(".proto"):
        c.kre_error(
            "entrypoint.proto",
            f'invalid value "{proto}" at "Entrypoint.Proto" must end with .proto',
            f'write "proto: {PUBLIC_PROTO}"',
            "kre.proto-suffix",
        )
    else:
        c.proto_name(proto)
    image = c.string(ep, "image", "entrypoint.image")
    entrypoint = Entrypoint(proto=proto, image=image)

    config = ConfigSpec()
    cfg = c.mapping(data, "config", "config", required=False)
    if cfg is not None:
        variables = []
        for index, name in c.string_list(cfg, "variables", "config.variables"):
            path = f"config.variables[{index}]"
            if not VARIABLE_RE.match(name):
                fixed = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
                hint = f' (for example "{fixed}")' if fixed else ""
                c.kre_error(
                    path,
                    f'invalid value "{name}" at env var "{go_path(path)}" must contain only '
                    "capital letters, numbers, and underscores",
                    "start and end with a letter or digit" + hint,
                    "kre.variable-name",
                )
            variables.append(name)
        files = [name for _, name in c.string_list(cfg, "files", "config.files")]
        config = ConfigSpec(variables=tuple(variables), files=tuple(files))

    if data.get("workflows") is None:
        c.required("workflows")
    raw_workflows = [
        _fields_of_workflow(c, index, item)
        for index, item in c.entries(data, "workflows", "workflows")
    ]
    if isinstance(data.get("workflows"), list) and not data["workflows"]:
        c.error("workflows", '"workflows" is empty: add a workflow', "krt.workflows-empty")

    # validator.go, getWorkflowsValidationErrors: per workflow, in order.
    for wf in raw_workflows:
        seen: set[str] = set()
        for node in wf.nodes:
            if node.name in seen:
                c.kre_error(
                    f"{node.path}.name",
                    KRE_REPEATED_NODE_NAME,
                    f'"{node.name}" is used twice in workflow "{wf.name}": rename one',
                    "kre.node-name-repeated",
                )
            seen.add(node.name)
            if not node.subscriptions:
                c.kre_error(
                    f"{node.path}",
                    f'node "{node.name}" requires at least one subscription',
                    f'add "subscriptions: [{ENTRYPOINT}]" to receive the request, or the '
                    "names of the nodes whose output it reads",
                    "kre.subscriptions-required",
                )
        if not wf.exitpoint:
            c.kre_error(
                wf.path,
                f'missing exitpoint in workflow "{wf.name}"',
                "name the node whose output answers the caller (exitpoint: <node>)",
                "kre.exitpoint",
            )
        elif wf.exitpoint not in seen:
            close = difflib.get_close_matches(wf.exitpoint, sorted(seen), n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            c.kre_error(
                f"{wf.path}.exitpoint",
                f'exitpoint node "{wf.exitpoint}" not found in workflow "{wf.name}" nodes',
                f"{hint}the exitpoint must be one of the workflow's nodes "
                f"({', '.join(sorted(seen)) or 'none'})",
                "kre.exitpoint",
            )

    # Ours: what KRE accepts but never runs.
    check_images(c, version, entrypoint, [(n.path, n) for wf in raw_workflows for n in wf.nodes])
    _check_stock_versions(c, entrypoint, raw_workflows)
    _check_workflow_names(c, raw_workflows)
    for wf in raw_workflows:
        _check_graph(c, wf)

    workflows = tuple(
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
        for wf in raw_workflows
    )
    manifest = ManifestV2(
        version=version,
        description=description,
        entrypoint=entrypoint,
        workflows=workflows,
        config=config,
    )
    return ParsedManifestV2(
        manifest,
        tuple(c.problems),
        tuple(n.path for wf in raw_workflows for n in wf.nodes),
        tuple(wf.path for wf in raw_workflows),
        marks,
    )


def _fields_of_workflow(c: V2Checker, index: int, item: Mapping[Any, Any]) -> _RawWorkflow:
    """The fields_validator.go rules of one workflow, in types.go's order: Name, Nodes,
    Entrypoint, Exitpoint."""
    path = f"workflows[{index}]"
    name = c.string(item, "name", f"{path}.name")
    c.name(name, f"{path}.name")
    nodes = [
        _fields_of_node(c, f"{path}.nodes[{n_index}]", node)
        for n_index, node in c.entries(item, "nodes", f"{path}.nodes")
    ]
    if item.get("nodes") is None or item.get("nodes") == []:
        c.error(
            f"{path}.nodes",
            f'workflow "{name}" has no nodes: list them under "nodes", each with name, image, '
            "src and subscriptions",
            "krt.nodes-empty",
        )
    rpc = c.string(item, "entrypoint", f"{path}.entrypoint")
    if rpc and not RPC_RE.match(rpc):
        c.error(
            f"{path}.entrypoint",
            f'"{path}.entrypoint" is "{rpc}", which cannot be an rpc name: use the name of '
            'an rpc of "service Entrypoint" (letters, digits and "_", e.g. "Predict")',
            "krt.rpc-name",
        )
    exitpoint = c.string(item, "exitpoint", f"{path}.exitpoint")
    return _RawWorkflow(index, path, name, rpc, exitpoint, nodes)


def _fields_of_node(c: V2Checker, path: str, item: Mapping[Any, Any]) -> _RawNode:
    name = c.string(item, "name", f"{path}.name")
    c.name(name, f"{path}.name")
    image = c.string(item, "image", f"{path}.image")
    src = c.string(item, "src", f"{path}.src")

    gpu = c.flag(item, "gpu", f"{path}.gpu")

    subscriptions = c.string_list(item, "subscriptions", f"{path}.subscriptions")

    replicas = 1
    raw = item.get("replicas")
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int):
            c.error(
                f"{path}.replicas",
                f'"{path}.replicas" must be a whole number, found {type_name(raw)}: KRE '
                'cannot read it (yaml: cannot unmarshal into int32); write e.g. "replicas: 2"',
                "krt.replicas",
            )
        elif raw < 0 or raw > 2**31 - 1:
            c.error(
                f"{path}.replicas",
                f'"{path}.replicas" is {raw}: Kubernetes refuses a deployment with that many '
                "replicas; write a number of pods from 1 up",
                "krt.replicas",
            )
        elif raw == 0:
            c.warning(
                f"{path}.replicas",
                f'"{path}.replicas" is 0, which KRE reads as 1 (version_interactor.go): write '
                "1, or leave it out",
                "krt.replicas",
            )
        else:
            replicas = raw

    object_store = None
    store = c.mapping(item, "objectStore", f"{path}.objectStore", required=False)
    if store is not None:
        store_path = f"{path}.objectStore"
        store_name = c.string(store, "name", f"{store_path}.name", required=False)
        scope = c.string(store, "scope", f"{store_path}.scope", required=False)
        if scope not in OBJECT_STORE_SCOPES:
            # KRE 8.2 checks the scope before it applies its default "workflow", so a missing
            # scope is refused too (types.go, version_interactor.go generateWorkflows).
            kre = (
                f"Key: 'Krt.{go_path(store_path)}.Scope' Error:Field validation for 'Scope' "
                "failed on the 'oneof' tag"
            )
            said = f'"{scope}"' if scope else "missing"
            c.kre_error(
                f"{store_path}.scope" if scope else store_path,
                kre,
                f'the scope is {said}; write "scope: workflow" (one store per workflow) or '
                '"scope: project" (one for the whole version)',
                "kre.object-store-scope",
            )
        if not store_name:
            c.error(
                f"{store_path}.name",
                f'"{store_path}.name" is missing: name the object store (lowercase letters, '
                "digits and '-'); KRE's nats-manager refuses an empty name when the version "
                "starts (invalid object store name)",
                "krt.object-store-name",
            )
        elif not NAME_RE.match(store_name):
            c.error(
                f"{store_path}.name",
                f'"{store_name}" at "{store_path}.name" is not a valid object store name: KRE '
                "accepts the upload, then its nats-manager refuses to start the version with "
                '"invalid object store name" (nats-manager entity/object_store.go); use only '
                "lowercase letters, digits and '-'",
                "krt.object-store-name",
            )
        object_store = ObjectStore(store_name, scope or "workflow")

    return _RawNode(
        index=int(path.rsplit("[", 1)[1].rstrip("]")),
        path=path,
        name=name,
        image=image,
        src=src,
        subscriptions=subscriptions,
        gpu=gpu,
        replicas=replicas,
        object_store=object_store,
    )


#: Konstellation's images whose major version 3 is the first for KRE 8 (kre-runners: kre-py 3.x
#: and kre-entrypoint 3.x speak KRT v2's messages; 1.x and 2.x KRE 7's).
_V2_FROM_MAJOR = {"konstellation/kre-entrypoint": 3, "konstellation/kre-py": 3}


def _check_stock_versions(
    c: V2Checker, entrypoint: Entrypoint, workflows: list[_RawWorkflow]
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
        c.warning(
            path,
            f'Image "{image}" is KRE 7\'s {repository.rsplit("/", 1)[-1]}, which speaks only KRT '
            f"v1's messages: a KRT v2 needs {repository}:3.x (KRE 8), e.g. {repository}:"
            f"{'3.3.6' if 'entrypoint' in repository else '3.4.1'}",
            "krt.image-krt-version",
        )


def _check_workflow_names(c: V2Checker, workflows: list[_RawWorkflow]) -> None:
    first_name: dict[str, int] = {}
    first_rpc: dict[str, int] = {}
    for wf in workflows:
        if wf.name in first_name:
            c.error(
                f"{wf.path}.name",
                f'Duplicate workflow name "{wf.name}" (also workflows[{first_name[wf.name]}]): '
                "rename one of them",
                "krt.duplicate-workflow",
            )
        elif wf.name:
            first_name[wf.name] = wf.index
        if wf.entrypoint in first_rpc:
            c.error(
                f"{wf.path}.entrypoint",
                f'Duplicate rpc "{wf.entrypoint}" (also workflows[{first_rpc[wf.entrypoint]}]'
                ".entrypoint): the entrypoint routes each rpc to one workflow; give each "
                "workflow its own rpc",
                "krt.duplicate-rpc",
            )
        elif wf.entrypoint and RPC_RE.match(wf.entrypoint):
            first_rpc[wf.entrypoint] = wf.index


def _check_graph(c: V2Checker, wf: _RawWorkflow) -> None:
    """Subscriptions name nodes, make no cycle, and lead from the entrypoint to the exitpoint."""
    names = [n.name for n in wf.nodes if n.name]
    known = set(names)
    edges: dict[str, set[str]] = {n.name: set() for n in wf.nodes if n.name}
    for node in wf.nodes:
        seen: set[str] = set()
        for s_index, text in node.subscriptions:
            s_path = f"{node.path}.subscriptions[{s_index}]"
            sub = Subscription.parse(text)
            if text in seen:
                c.warning(
                    s_path,
                    f'node "{node.name}" subscribes to "{text}" twice: it would get every '
                    "message twice; remove one",
                    "krt.subscription-repeated",
                )
                continue
            seen.add(text)
            if sub.node == ENTRYPOINT:
                if sub.subtopic:
                    c.error(
                        s_path,
                        f'subscription "{text}" of node "{node.name}": the entrypoint publishes '
                        f'only to "{ENTRYPOINT}", never to a subtopic; write "{ENTRYPOINT}"',
                        "krt.subscription-unknown",
                    )
                continue
            if sub.node not in known:
                close = difflib.get_close_matches(sub.node, names, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                c.error(
                    s_path,
                    f'subscription "{text}" of node "{node.name}" names no node of workflow '
                    f'"{wf.name}": {hint}a subscription is "{ENTRYPOINT}", a node of the same '
                    f"workflow ({', '.join(sorted(known))}) or <node>.<subtopic>; KRE accepts "
                    "it and the node never gets a message",
                    "krt.subscription-unknown",
                )
                continue
            if sub.node == node.name:
                c.error(
                    s_path,
                    f'node "{node.name}" subscribes to itself ("{text}"): every message it '
                    "sends would come back to it; remove the subscription",
                    "krt.subscription-cycle",
                )
                continue
            if node.name:
                edges[node.name].add(sub.node)

    cycle = _find_cycle(edges, names)
    if cycle:
        node = next(n for n in wf.nodes if n.name == cycle[0])
        c.error(
            f"{node.path}.subscriptions",
            f'the subscriptions of workflow "{wf.name}" make a cycle: '
            f"{' -> '.join(reversed([*cycle, cycle[0]]))} (each arrow: a node whose output "
            "the next one subscribes to); a message would go round forever: remove one of "
            "those subscriptions",
            "krt.subscription-cycle",
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
        c.error(
            f"{wf.path}.nodes",
            f'no node of workflow "{wf.name}" subscribes to "{ENTRYPOINT}": the request would '
            f'reach no node; add "{ENTRYPOINT}" to the subscriptions of the first node',
            "krt.entrypoint-unused",
        )
        return
    if wf.exitpoint in known and wf.exitpoint not in reached:
        c.error(
            f"{wf.path}.exitpoint",
            f'the exitpoint "{wf.exitpoint}" of workflow "{wf.name}" cannot be reached from '
            f'"{ENTRYPOINT}" through the subscriptions, so no request would be answered; '
            "subscribe it (or a node before it) to a node the request reaches",
            "krt.exitpoint-unreachable",
        )
    for node in wf.nodes:
        if (
            node.replicas > 1
            and len({Subscription.parse(s).node for _, s in node.subscriptions}) > 1
        ):
            c.warning(
                f"{node.path}.replicas",
                f'node "{node.name}" has {node.replicas} replicas and subscribes to several '
                "nodes: each subscription is a queue group of its own, so the messages of one "
                "request may reach different pods; a node that joins them by request id needs "
                "replicas: 1",
                "krt.replicas-join",
            )
        if node.name and node.subscriptions and node.name not in reached:
            c.warning(
                f"{node.path}.name",
                f'node "{node.name}" is never reached from "{ENTRYPOINT}" through the '
                "subscriptions: it would never get a message; subscribe it to a node the "
                "request reaches, or remove it",
                "krt.node-unreached",
            )


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

    def check(self, data: Any, marks: Mapping[str, int]) -> ParsedManifestV2:
        return check_manifest_v2(data, marks)

    def parse_lenient(self, text: str) -> ParsedManifestV2:
        return parse_manifest_v2_lenient(text)

    def kre_answer(self, data: Any) -> list[str]:
        return kre_answer(check_manifest_v2(data, {}).problems)

    def refused(self, kre: str, answer: list[str]) -> Problem:
        return error(
            "krt.yml",
            f"KRE {kre} reads only KRT v1: krtVersion: v2 needs KRE 8.0 or later; for KRE "
            f"{kre} package it as v1 (kedro krt package --krt-version v1)",
            "kre.krt-v2-unknown",
        )

    def target_problems(
        self, kre: str, data: Mapping[Any, Any], parsed: ParsedManifest[Any]
    ) -> list[Problem]:
        if kre != "8.0" or parsed.manifest is None:
            return []
        problems: list[Problem] = []
        for node, path in zip(parsed.manifest.nodes, parsed.node_paths, strict=True):
            ignored = [k for k in ("replicas", "objectStore") if _has(data, path, k)]
            if ignored:
                problems.append(
                    warning(
                        parsed.location(f"{path}.{ignored[0]}"),
                        f"KRE 8.0 reads no {' nor '.join(ignored)} (they came with KRE 8.1 "
                        f'and 8.2, types.go): node "{node.name}" would run one pod without '
                        "an object store",
                        "kre.v2-field-ignored",
                    )
                )
        return problems

    def src_missing(self, where: str, src: str, node: str, hint: str) -> Problem:
        # KRE 8.2: validator/fields_validator.go, ValidateSrcPaths (its trailing space too).
        said = f'error src file "{src}" for node "{node}" does not exists '
        return error(where, f"{said.rstrip()}: {hint}", "kre.src-missing", said)


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
