"""The runner's settings: the ``KRT_*`` environment variables KRE gives a node pod.

kre-py 2.1.5 (``src/config.py``) reads these sixteen with ``os.environ[...]``, no defaults; KRE
7's k8s-manager sets them (``engine/k8s-manager/kubernetes/version/config.go``,
``manager_node.go``). A missing one stops the runner with kre-py's message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ENV_VARS", "RunnerConfig", "RunnerConfigError"]

#: Every variable kre-py 2.1.5 requires, in its order.
ENV_VARS = (
    "KRT_WORKFLOW_NAME",
    "KRT_RUNTIME_ID",
    "KRT_VERSION_ID",
    "KRT_VERSION",
    "KRT_NODE_NAME",
    "KRT_NATS_SERVER",
    "KRT_NATS_INPUT",
    "KRT_NATS_OUTPUT",
    "KRT_NATS_STREAM",
    "KRT_NATS_MONGO_WRITER",
    "KRT_BASE_PATH",
    "KRT_HANDLER_PATH",
    "KRT_MONGO_URI",
    "KRT_INFLUX_URI",
    "KRT_IS_LAST_NODE",
    "KRT_NATS_ENTRYPOINT_SUBJECT",
)


class RunnerConfigError(Exception):
    """A required environment variable is missing."""


@dataclass(frozen=True)
class RunnerConfig:
    """One node's settings, as kre-py names them."""

    workflow_name: str
    runtime_id: str
    version_id: str
    version: str
    node_name: str
    nats_server: str
    nats_input: str
    nats_output: str
    nats_stream: str
    nats_mongo_writer: str
    base_path: str
    handler_path: str
    mongo_uri: str
    influx_uri: str
    is_last_node: bool
    nats_entrypoint_subject: str

    @property
    def runner_name(self) -> str:
        """``<version>-<node>``: the logger's name, the durable consumer and its queue group."""
        return f"{self.version}-{self.node_name}"

    @property
    def nats_url(self) -> str:
        """KRE gives ``host:port`` without a scheme (``kre-nats:4222``); the client wants one."""
        server = self.nats_server
        return server if "://" in server else f"nats://{server}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunnerConfig:
        """Read the sixteen variables.

        Raises:
            RunnerConfigError: ``error reading config: the 'X' env var is missing``, as kre-py.
        """
        env = os.environ if environ is None else environ
        missing = next((name for name in ENV_VARS if name not in env), None)
        if missing is not None:
            raise RunnerConfigError(
                f"error reading config: the '{missing}' env var is missing (KRE's k8s-manager "
                "sets every KRT_* variable of a node pod; `kedro-krt serve --nats` sets them "
                "for a local run)"
            )
        values = {name.removeprefix("KRT_").lower(): env[name] for name in ENV_VARS}
        # kre-py compares the string: only "true" makes the last node.
        last = values.pop("is_last_node") == "true"
        return cls(is_last_node=last, **values)  # type: ignore[arg-type]
