"""KRE 8's names for one KRT v2 version on NATS: streams, subjects, stores, and each pod's env.

(konstellation-io/kre @ v8.2.0: ``engine/nats-manager/internal/manager/nats.go`` (names),
``engine/nats-manager/nats/client.go`` (stream config), ``engine/k8s-manager/kubernetes/
version/manager_node.go`` and ``config.go`` (a node pod's environment), ``entrypoint.go``
(the entrypoint's subjects); konstellation-io/kre-runners @ kre-entrypoint/v3.3.6:
``kre-entrypoint/src/kre_entrypoint.py``.)

- One JetStream stream per workflow, ``<runtime>_<version>_<rpc>`` (underscores, the rpc of
  the workflow's ``entrypoint``), interest retention; its subjects are every node's
  ``<stream>.<node>`` and ``<stream>.<node>.*`` (the subtopics) and ``<stream>.entrypoint``.
- A node writes to ``<stream>.<node>`` (``KRT_NATS_OUTPUT``; ``send_output(msg, "x")`` to
  ``<stream>.<node>.x``) and reads each subscription ``s`` at ``<stream>.<s>``
  (``KRT_NATS_INPUTS``, comma-separated): ``entrypoint``, a node, or ``node.subtopic``.
- The entrypoint publishes each request to ``<stream>.entrypoint`` (``from_node`` =
  ``entrypoint``) and answers with the first message for that request on the exitpoint's
  subject ``<stream>.<exitpoint>``; an ``error`` there becomes gRPC INTERNAL.
- Key-value stores: ``key-store_<runtime>_<version>`` (project),
  ``key-store_<runtime>_<version>_<workflow>`` (workflow),
  ``key-store_<runtime>_<version>_<workflow>_<node>`` (node).
- A node's ``objectStore: {name, scope}``: ``<runtime>_<version>_<name>`` (scope project) or
  ``<runtime>_<version>_<workflow>_<name>`` (scope workflow, the default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro_krt.serve.topology_base import PodSettings, WorkflowStream, pod_environ

if TYPE_CHECKING:  # the runner's image needs no typing_extensions
    from typing_extensions import Unpack

__all__ = [
    "NodePodV2",
    "NodeV2",
    "WorkflowTopologyV2",
    "kv_store_names",
    "object_store_name",
    "stream_name_v2",
    "topology_v2",
]


def stream_name_v2(runtime_id: str, version: str, rpc: str) -> str:
    """KRE 8's stream of one workflow: ``<runtime>_<version>_<rpc>``."""
    return f"{runtime_id}_{version}_{rpc}"


def kv_store_names(runtime_id: str, version: str, workflow: str, node: str) -> tuple[str, str, str]:
    """The project, workflow and node key-value buckets of one node."""
    project = f"key-store_{runtime_id}_{version}"
    return project, f"{project}_{workflow}", f"{project}_{workflow}_{node}"


def object_store_name(
    runtime_id: str, version: str, workflow: str, name: str, scope: str = "workflow"
) -> str:
    """The JetStream object store of a node's ``objectStore``."""
    if scope == "project":
        return f"{runtime_id}_{version}_{name}"
    return f"{runtime_id}_{version}_{workflow}_{name}"


@dataclass(frozen=True)
class NodeV2:
    """What the topology needs of a krt.yml v2 node."""

    name: str
    src: str
    subscriptions: tuple[str, ...]
    replicas: int = 1
    object_store: tuple[str, str] | None = None  # (name, scope)


@dataclass(frozen=True)
class NodePodV2:
    """One node of one workflow as KRE 8 deploys it (``replicas`` pods of this environment)."""

    workflow: str
    node: str
    src: str
    replicas: int
    environ: Mapping[str, str]

    @property
    def queues(self) -> tuple[str, ...]:
        """kre-py 3's durable consumers of this node, one per input subject."""
        return tuple(
            f"{subject.replace('.', '-')}-{self.node}"
            for subject in self.environ["KRT_NATS_INPUTS"].split(",")
        )


@dataclass(frozen=True)
class WorkflowTopologyV2(WorkflowStream):
    """One v2 workflow on NATS: its rpc, stream, exitpoint and node pods."""

    exitpoint: str
    pods: tuple[NodePodV2, ...]
    kv_stores: tuple[str, ...]
    object_stores: tuple[str, ...]

    @property
    def exitpoint_subject(self) -> str:
        """Where the answer (or an error) for the caller arrives."""
        return f"{self.stream}.{self.exitpoint}"

    @property
    def subjects(self) -> list[str]:
        """The stream's subjects, as KRE's nats-manager declares them."""
        out = []
        for pod in self.pods:
            out += [f"{self.stream}.{pod.node}", f"{self.stream}.{pod.node}.*"]
        return [*out, self.entrypoint_subject]


def topology_v2(
    *,
    version: str,
    workflows: Sequence[tuple[str, str, str, Sequence[NodeV2]]],
    **settings: Unpack[PodSettings],
) -> tuple[WorkflowTopologyV2, ...]:
    """Every workflow's stream, stores and node pods, with the environment KRE 8.2 gives each pod.

    ``workflows`` holds ``(name, rpc, exitpoint, nodes)``; ``settings``
    are :class:`~kedro_krt.serve.topology_base.PodSettings`.
    """
    runtime_id = settings["runtime_id"]
    result = []
    for name, rpc, exitpoint, nodes in workflows:
        stream = stream_name_v2(runtime_id, version, rpc)
        pods = []
        kv: list[str] = []
        objects: list[str] = []
        for node in nodes:
            project_kv, workflow_kv, node_kv = kv_store_names(runtime_id, version, name, node.name)
            kv += [s for s in (project_kv, workflow_kv, node_kv) if s not in kv]
            own = {
                "KRT_IS_EXITPOINT": "true" if node.name == exitpoint else "false",
                "KRT_NATS_OUTPUT": f"{stream}.{node.name}",
                "KRT_NATS_INPUTS": ",".join(f"{stream}.{s}" for s in node.subscriptions),
                "KRT_NATS_KEY_VALUE_STORE_PROJECT": project_kv,
                "KRT_NATS_KEY_VALUE_STORE_WORKFLOW": workflow_kv,
                "KRT_NATS_KEY_VALUE_STORE_NODE": node_kv,
            }
            environ = pod_environ(
                settings, version=version, workflow=name, node=node.name, src=node.src,
                stream=stream, own=own,
            )
            if node.object_store is not None:
                store = object_store_name(runtime_id, version, name, *node.object_store)
                environ["KRT_NATS_OBJECT_STORE"] = store
                if store not in objects:
                    objects.append(store)
            pods.append(NodePodV2(name, node.name, node.src, max(1, node.replicas), environ))
        result.append(
            WorkflowTopologyV2(name, rpc, stream, exitpoint, tuple(pods), tuple(kv), tuple(objects))
        )
    return tuple(result)
