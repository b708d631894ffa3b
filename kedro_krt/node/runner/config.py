"""The runner's settings: the ``KRT_*`` environment variables KRE gives a node pod.

kre-py 2.1.5 (``src/config.py``) reads these sixteen with ``os.environ[...]``, no defaults; KRE
7's k8s-manager sets them (``engine/k8s-manager/kubernetes/version/config.go``,
``manager_node.go``). A missing one stops the runner with kre-py's message.

A KRT v2 node (KRE 8, kre-py 3.4.1) has its own set (:data:`ENV_VARS_V2`,
:class:`RunnerConfigV2`); :func:`is_v2` tells the two environments apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from kedro_krt.node.errors import KrtError

__all__ = [
    "ENV_VARS",
    "ENV_VARS_V2",
    "RunnerConfig",
    "RunnerConfigError",
    "RunnerConfigV2",
    "is_v2",
]

#: What kre-py 2.1.5 and kre-py 3.4.1 both require (``src/config.py`` of each), in the order
#: both read them: the node, then its NATS output, then its files and stores.
_NODE = (
    "KRT_WORKFLOW_NAME",
    "KRT_RUNTIME_ID",
    "KRT_VERSION_ID",
    "KRT_VERSION",
    "KRT_NODE_NAME",
    "KRT_NATS_SERVER",
)
_OUTPUT = ("KRT_NATS_OUTPUT", "KRT_NATS_STREAM", "KRT_NATS_MONGO_WRITER")
_FILES = ("KRT_BASE_PATH", "KRT_HANDLER_PATH", "KRT_MONGO_URI", "KRT_INFLUX_URI")

#: Every variable kre-py 2.1.5 requires, in its order.
ENV_VARS = (
    *_NODE,
    "KRT_NATS_INPUT",
    *_OUTPUT,
    *_FILES,
    "KRT_IS_LAST_NODE",
    "KRT_NATS_ENTRYPOINT_SUBJECT",
)


class RunnerConfigError(KrtError):
    """A required environment variable is missing."""


def _required(env: Mapping[str, str], names: tuple[str, ...], pod: str) -> dict[str, str]:
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
    """What a v1 and a v2 node pod's settings say alike (the variables of ``_NODE``,
    ``_OUTPUT`` and ``_FILES``), named as kre-py names them; the same meaning in both."""

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


@dataclass(frozen=True)
class RunnerConfig(NodeSettings):
    """One node's settings, as kre-py names them."""

    nats_input: str
    is_last_node: bool
    nats_entrypoint_subject: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunnerConfig:
        """Read the sixteen variables.

        Raises:
            RunnerConfigError: ``error reading config: the 'X' env var is missing``, as kre-py.
        """
        env = os.environ if environ is None else environ
        values = _required(
            env, ENV_VARS, "KRE's k8s-manager sets every KRT_* variable of a node pod"
        )
        # kre-py compares the string: only "true" makes the last node.
        last = values.pop("is_last_node") == "true"
        return cls(is_last_node=last, **values)  # type: ignore[arg-type]


# -- KRT v2 (KRE 8, kre-py 3.x) -----------------------------------------------------------------

#: Every variable kre-py 3.4.1 requires (``src/config.py``), in its order. KRE 8.2's k8s-manager
#: sets them (``engine/k8s-manager/kubernetes/version/manager_node.go`` and ``config.go``).
ENV_VARS_V2 = (
    *_NODE,
    "KRT_NATS_INPUTS",
    *_OUTPUT,
    "KRT_NATS_KEY_VALUE_STORE_PROJECT",
    "KRT_NATS_KEY_VALUE_STORE_WORKFLOW",
    "KRT_NATS_KEY_VALUE_STORE_NODE",
    *_FILES,
)

#: The variable only a v2 node pod has: the runner runs a v2 node when it is set.
V2_MARKER = "KRT_NATS_INPUTS"


def is_v2(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this environment is a KRT v2 node pod's (``KRT_NATS_INPUTS`` set, as KRE 8
    sets it; KRE 7 sets ``KRT_NATS_INPUT`` for a v1 node)."""
    env = os.environ if environ is None else environ
    return V2_MARKER in env


@dataclass(frozen=True)
class RunnerConfigV2(NodeSettings):
    """One v2 node's settings, as kre-py 3.4.1 names them.

    The field names that v1 also has mean the same (so the ``ctx.db``/``ctx.measurement``
    backends serve both). Optional, as in kre-py: ``KRT_NATS_OBJECT_STORE`` (no object store),
    ``KRT_NATS_MAX_ACK_PENDING`` (``-1``), ``KRT_JS_REQUEST_TIMEOUT`` (milliseconds, 30000).
    """

    nats_inputs: tuple[str, ...]
    nats_key_value_store_project: str
    nats_key_value_store_workflow: str
    nats_key_value_store_node: str
    nats_object_store: str | None = None
    nats_max_ack_pending: int = -1
    js_request_timeout_ms: int = 30000

    def queue(self, subject: str) -> str:
        """kre-py 3's durable and queue group of one input: ``<subject, dots as dashes>-<node>``.
        """
        return f"{subject.replace('.', '-')}-{self.node_name}"

    def output_subject(self, channel: str = "") -> str:
        """``KRT_NATS_OUTPUT``, or its subtopic ``<output>.<channel>``."""
        return f"{self.nats_output}.{channel}" if channel else self.nats_output

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunnerConfigV2:
        """Read the variables.

        Raises:
            RunnerConfigError: ``error reading config: the 'X' env var is missing``, as kre-py 3,
                or a number that is not one.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = dict(
            _required(
                env, ENV_VARS_V2, "KRE 8's k8s-manager sets every KRT_* variable of a v2 node pod"
            )
        )
        # kre-py 3: os.environ["KRT_NATS_INPUTS"].split(",")
        values["nats_inputs"] = tuple(str(values["nats_inputs"]).split(","))
        values["nats_object_store"] = env.get("KRT_NATS_OBJECT_STORE") or None
        for key, name, default in (
            ("nats_max_ack_pending", "KRT_NATS_MAX_ACK_PENDING", -1),
            ("js_request_timeout_ms", "KRT_JS_REQUEST_TIMEOUT", 30000),
        ):
            text = env.get(name, "")
            try:
                values[key] = int(text) if text != "" else default
            except ValueError:
                raise RunnerConfigError(
                    f"error reading config: {name}={text!r} is not a whole number"
                ) from None
        return cls(**values)  # type: ignore[arg-type]
