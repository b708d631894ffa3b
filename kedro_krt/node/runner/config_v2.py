"""A KRT v2 node's settings (KRE 8, kre-py 3.4.1): its own set of ``KRT_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from kedro_krt.node.runner.config_base import (
    FILE_VARS,
    NODE_VARS,
    OUTPUT_VARS,
    NodeSettings,
    RunnerConfigError,
    required_env,
)

__all__ = ["ENV_VARS_V2", "RunnerConfigV2"]

#: Every variable kre-py 3.4.1 requires (``src/config.py``), in its order. KRE 8.2's k8s-manager
#: sets them (``engine/k8s-manager/kubernetes/version/manager_node.go`` and ``config.go``).
ENV_VARS_V2 = (
    *NODE_VARS,
    "KRT_NATS_INPUTS",
    *OUTPUT_VARS,
    "KRT_NATS_KEY_VALUE_STORE_PROJECT",
    "KRT_NATS_KEY_VALUE_STORE_WORKFLOW",
    "KRT_NATS_KEY_VALUE_STORE_NODE",
    *FILE_VARS,
)


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
            required_env(
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
