"""KRE 7's names for one version on NATS: streams, subjects, and the environment of each pod.

(konstellation-io/kre @ kre-7.0.0: ``engine/k8s-manager/kubernetes/version/`` ``config.go``,
``manager_node.go``, ``entrypoint.go``, ``constants.go``; konstellation-io/kre-runners @
kre-entrypoint-v1.8.1: ``src/kre_entrypoint.py``.)

- One JetStream stream per workflow, ``<runtime>-<version>-<rpc>`` (the workflow's
  ``entrypoint``, not its name), subjects ``<stream>.*``, interest retention; KRE's entrypoint
  creates it at start.
- A node reads ``<stream>.<node>`` and writes to the next node's subject; the last node writes
  to ``<stream>.entrypoint``, where the entrypoint waits for the reply.
- ``ctx.db.save`` goes to the mongo-writer on ``mongo_writer_data.<runtime>`` (core NATS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro_krt.serve.topology_base import (
    ENTRYPOINT,
    PodSettings,
    WorkflowStream,
    pod_environ,
)

if TYPE_CHECKING:  # the runner's image needs no typing_extensions
    from typing_extensions import Unpack

__all__ = ["NodePod", "WorkflowTopology", "stream_name", "topology"]


def stream_name(runtime_id: str, version: str, rpc: str) -> str:
    """The JetStream stream of one workflow: ``<runtime>-<version>-<rpc>``."""
    return f"{runtime_id}-{version}-{rpc}"


@dataclass(frozen=True)
class NodePod:
    """One node of one workflow, as KRE deploys it: its name, src and environment."""

    workflow: str
    node: str
    src: str
    environ: Mapping[str, str]

    @property
    def replicas(self) -> int:
        """KRE 7 runs one pod per node."""
        return 1


@dataclass(frozen=True)
class WorkflowTopology(WorkflowStream):
    """One workflow on NATS: its rpc, stream, the first node's subject, and its node pods."""

    pods: tuple[NodePod, ...]

    @property
    def first_subject(self) -> str:
        """Where the entrypoint publishes each request."""
        return f"{self.stream}.{self.pods[0].node}"


def topology(
    *,
    version: str,
    workflows: list[tuple[str, str, list[tuple[str, str]]]],
    **settings: Unpack[PodSettings],
) -> tuple[WorkflowTopology, ...]:
    """Every workflow's stream and node pods, with the environment KRE 7 gives each pod.

    ``workflows`` holds ``(name, rpc, [(node, src), ...])`` in ``sequential`` order; ``settings``
    are :class:`PodSettings`.
    """
    result = []
    for name, rpc, nodes in workflows:
        stream = stream_name(settings["runtime_id"], version, rpc)
        pods = []
        for index, (node, src) in enumerate(nodes):
            last = index == len(nodes) - 1
            output = ENTRYPOINT if last else nodes[index + 1][0]
            own = {
                "KRT_IS_LAST_NODE": "true" if last else "false",
                "KRT_NATS_ENTRYPOINT_SUBJECT": f"{stream}.{ENTRYPOINT}",
                "KRT_NATS_INPUT": f"{stream}.{node}",
                "KRT_NATS_OUTPUT": f"{stream}.{output}",
            }
            environ = pod_environ(
                settings, version=version, workflow=name, node=node, src=src, stream=stream, own=own
            )
            pods.append(NodePod(name, node, src, environ))
        result.append(WorkflowTopology(name, rpc, stream, tuple(pods)))
    return tuple(result)
