"""What KRE 7 and KRE 8 name alike for one version on NATS, whatever its KRT format: the
entrypoint, the mongo-writer's subject, a workflow's stream, and what every node pod's
environment holds.

(konstellation-io/kre @ kre-7.0.0 and v8.2.0: ``engine/k8s-manager/kubernetes/version/``
``config.go``, ``manager_node.go``.) Each format's names are in
:mod:`~kedro_krt.serve.topology_v1` and :mod:`~kedro_krt.serve.topology_v2`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

__all__ = [
    "ENTRYPOINT",
    "KRE_BASE_PATH",
    "PodSettings",
    "WorkflowStream",
    "mongo_writer_subject",
    "pod_environ",
]

#: The entrypoint's name in subjects and tracking entries.
ENTRYPOINT = "entrypoint"
#: Where KRE's init container unpacks the .krt in every pod.
KRE_BASE_PATH = "/krt-files"


def mongo_writer_subject(runtime_id: str) -> str:
    """The core-NATS subject of KRE's mongo-writer for one runtime."""
    return f"mongo_writer_data.{runtime_id}"


class _PodSettingsRequired(TypedDict):
    runtime_id: str
    nats_server: str


class PodSettings(_PodSettingsRequired, total=False):
    """What a run gives every node pod's environment, v1 and v2 alike: the keywords of
    :func:`~kedro_krt.serve.topology_v1.topology` and
    :func:`~kedro_krt.serve.topology_v2.topology_v2` besides the version
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
