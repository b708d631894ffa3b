"""The KRT v2 manifest (``krt.yml`` with ``krtVersion: v2``): a typed model and its YAML form.

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
:func:`kedro_krt.formats.manifest_v2_checks.parse_manifest_v2` or :meth:`ManifestV2.from_dict`,
which run every check first. This module knows nothing of Kedro, nor of the other files of
a KRT. The v1 model is :mod:`kedro_krt.formats.manifest`; both share :class:`Entrypoint` and
:class:`ConfigSpec`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kedro_krt.formats.manifest import ConfigSpec, Entrypoint, krt_yaml

__all__ = [
    "ENTRYPOINT",
    "KRT_V1",
    "KRT_V2",
    "OBJECT_STORE_SCOPES",
    "ManifestV2",
    "NodeV2",
    "ObjectStore",
    "Subscription",
    "WorkflowV2",
    "krt_version_of",
]

#: The ``krtVersion`` value of a v2 manifest (the only one KRE 8.1 and later accept).
KRT_V2 = "v2"
#: The ``krtVersion`` of a v1 manifest, written or implied by its absence (KRE 8.0).
KRT_V1 = "v1"
#: The subscription that receives the request from KRE's entrypoint.
ENTRYPOINT = "entrypoint"
#: ``objectStore.scope`` values KRE accepts (types.go: ``oneof=workflow project``).
OBJECT_STORE_SCOPES = ("workflow", "project")
#: KRE's default scope, applied only after validation (version_interactor.go); KRE 8.2's
#: validator refuses a missing scope first, so we always write it.
DEFAULT_OBJECT_STORE_SCOPE = "workflow"


def krt_version_of(data: object) -> str:
    """The KRT format of parsed ``krt.yml`` data: ``"v2"``, ``"v1"``, or the odd value as given.

    KRE 8.0 treats a missing or empty ``krtVersion`` as v1 (konstellation-io/kre @ v8.0.0:
    ``krt/parser/parser.go``, ``ParseKrtYaml``); so do we.
    """
    if not isinstance(data, Mapping):
        return KRT_V1
    value = data.get("krtVersion")
    if value is None or value == "":
        return KRT_V1
    return str(value)


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
    :func:`~kedro_krt.formats.manifest_v2_checks.parse_manifest_v2` or :meth:`from_dict`, which
    check it.
    """

    krt_version: ClassVar[str] = KRT_V2

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
            "krtVersion": KRT_V2,
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
        from kedro_krt.formats.manifest import ManifestError
        from kedro_krt.formats.manifest_v2_checks import check_manifest_v2

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
        from kedro_krt.formats.manifest import ManifestError
        from kedro_krt.formats.manifest_v2_checks import parse_manifest_v2

        manifest, problems = parse_manifest_v2(text)
        if manifest is None:
            raise ManifestError(problems)
        return manifest
