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
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:  # the runner's image needs no typing_extensions
    from typing_extensions import Unpack

__all__ = [
    "ENTRYPOINT",
    "NodePod",
    "PodSettings",
    "WorkflowTopology",
    "mongo_writer_subject",
    "pod_environ",
    "topology",
]

#: The entrypoint's name in subjects and tracking entries.
ENTRYPOINT = "entrypoint"
#: Where KRE's init container unpacks the .krt in every pod.
KRE_BASE_PATH = "/krt-files"


def stream_name(runtime_id: str, version: str, rpc: str) -> str:
    """The JetStream stream of one workflow: ``<runtime>-<version>-<rpc>``."""
    return f"{runtime_id}-{version}-{rpc}"


def mongo_writer_subject(runtime_id: str) -> str:
    """The core-NATS subject of KRE's mongo-writer for one runtime."""
    return f"mongo_writer_data.{runtime_id}"


class _PodSettingsRequired(TypedDict):
    runtime_id: str
    nats_server: str


class PodSettings(_PodSettingsRequired, total=False):
    """What a run gives every node pod's environment, v1 and v2 alike: the keywords of
    :func:`topology` and :func:`~kedro_krt.serve.topology_v2.topology_v2` besides the version
    and its workflows. ``base_path`` is :data:`KRE_BASE_PATH` unless given, ``version_id`` the
    version's name, the URIs empty; ``variables`` are the version's ``config.variables`` (KRE
    adds them from a configmap)."""

    base_path: str
    version_id: str
    mongo_uri: str
    influx_uri: str
    variables: Mapping[str, str] | None


def pod_environ(
    settings: PodSettings,
    *,
    version: str,
    workflow: str,
    node: str,
    src: str,
    stream: str,
    own: Mapping[str, str],
) -> dict[str, str]:
    """One node pod's environment: what KRE 7 and KRE 8 give every node pod alike, in their
    order (``getCommonEnvVars`` in ``config.go``, the same at kre-7.0.0 and v8.2.0, and the
    first entries of ``generateWorkflowConfig`` in ``manager_node.go``), then the version's
    ``own`` (its subjects), then the config variables."""
    runtime_id = settings["runtime_id"]
    return {
        # getCommonEnvVars (config.go)
        "KRT_INFLUX_URI": settings.get("influx_uri", ""),
        "KRT_RUNTIME_ID": runtime_id,
        "KRT_VERSION_ID": settings.get("version_id", "") or version,
        "KRT_VERSION": version,
        "KRT_MONGO_URI": settings.get("mongo_uri", ""),
        "KRT_MONGO_DB_NAME": "kre",
        "KRT_MONGO_BUCKET": "krt",
        "KRT_BASE_PATH": settings.get("base_path", KRE_BASE_PATH),
        "KRT_NATS_SERVER": settings["nats_server"],
        # generateWorkflowConfig (manager_node.go)
        "KRT_WORKFLOW_ID": workflow,
        "KRT_WORKFLOW_NAME": workflow,
        "KRT_NODE_ID": node,
        "KRT_NODE_NAME": node,
        "KRT_HANDLER_PATH": src,
        "KRT_NATS_MONGO_WRITER": mongo_writer_subject(runtime_id),
        "KRT_NATS_STREAM": stream,
        **own,
        **dict(settings.get("variables") or {}),
    }


@dataclass(frozen=True)
class NodePod:
    """One node of one workflow, as KRE deploys it: its name, src and environment."""

    workflow: str
    node: str
    src: str
    environ: Mapping[str, str]


@dataclass(frozen=True)
class WorkflowStream:
    """One workflow's JetStream stream, in KRE 7 and KRE 8 alike: its name, rpc and stream."""

    name: str
    rpc: str
    stream: str

    @property
    def entrypoint_subject(self) -> str:
        """``<stream>.entrypoint``: v1's answers (or errors) arrive there; the v2 entrypoint
        publishes each request there."""
        return f"{self.stream}.{ENTRYPOINT}"


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
