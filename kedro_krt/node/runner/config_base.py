"""The runner's settings: the ``KRT_*`` environment variables KRE gives a node pod, as far as
every KRT format reads them alike.

kre-py 2.1.5 and 3.4.1 (``src/config.py`` of each) read them with ``os.environ[...]``, no
defaults; KRE's k8s-manager sets them (``engine/k8s-manager/kubernetes/version/config.go``,
``manager_node.go``). A missing one stops the runner with kre-py's message. Each format's
settings (:mod:`~kedro_krt.node.runner.config_v1`, :mod:`~kedro_krt.node.runner.config_v2`) add
their own variables; :func:`kedro_krt.node.runner.formats.krt_version_from_env` tells the
environments apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kedro_krt.node.errors import KrtError

__all__ = [
    "FILE_VARS",
    "NODE_VARS",
    "OUTPUT_VARS",
    "NodeSettings",
    "RunnerConfigError",
    "required_env",
]

#: What kre-py 2.1.5 and kre-py 3.4.1 both require (``src/config.py`` of each), in the order
#: both read them: the node, then its NATS output, then its files and stores.
NODE_VARS = (
    "KRT_WORKFLOW_NAME",
    "KRT_RUNTIME_ID",
    "KRT_VERSION_ID",
    "KRT_VERSION",
    "KRT_NODE_NAME",
    "KRT_NATS_SERVER",
)
OUTPUT_VARS = ("KRT_NATS_OUTPUT", "KRT_NATS_STREAM", "KRT_NATS_MONGO_WRITER")
FILE_VARS = ("KRT_BASE_PATH", "KRT_HANDLER_PATH", "KRT_MONGO_URI", "KRT_INFLUX_URI")


class RunnerConfigError(KrtError):
    """A required environment variable is missing."""


def required_env(env: Mapping[str, str], names: tuple[str, ...], pod: str) -> dict[str, str]:
    """``names`` read from ``env``, keyed as kre-py names them (``KRT_NODE_NAME`` ->
    ``node_name``).

    Raises:
        RunnerConfigError: ``error reading config: the 'X' env var is missing``, as kre-py
            (2.1.5 and 3.4.1 alike), and who sets it (``pod`` names the KRE and the pod).
    """
    missing = next((name for name in names if name not in env), None)
    if missing is not None:
        raise RunnerConfigError(
            f"error reading config: the '{missing}' env var is missing ({pod}; `kedro-krt "
            "serve --nats` sets them for a local run)"
        )
    return {name.removeprefix("KRT_").lower(): env[name] for name in names}


@dataclass(frozen=True)
class NodeSettings:
    """What a v1 and a v2 node pod's settings say alike (the variables of :data:`NODE_VARS`,
    :data:`OUTPUT_VARS` and :data:`FILE_VARS`), named as kre-py names them; the same meaning
    in both."""

    workflow_name: str
    runtime_id: str
    version_id: str
    version: str
    node_name: str
    nats_server: str
    nats_output: str
    nats_stream: str
    nats_mongo_writer: str
    base_path: str
    handler_path: str
    mongo_uri: str
    influx_uri: str

    @property
    def runner_name(self) -> str:
        """``<version>-<node>``: the logger's name and the NATS connection's (and, in v1, the
        durable consumer and its queue group)."""
        return f"{self.version}-{self.node_name}"

    @property
    def nats_url(self) -> str:
        """KRE gives ``host:port`` without a scheme (``kre-nats:4222``); the client wants one."""
        server = self.nats_server
        return server if "://" in server else f"nats://{server}"
