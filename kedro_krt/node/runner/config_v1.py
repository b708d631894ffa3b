"""A KRT v1 node's settings: the sixteen ``KRT_*`` variables kre-py 2.1.5 reads.

kre-py 2.1.5 (``src/config.py``) reads them with ``os.environ[...]``, no defaults; KRE 7's
k8s-manager sets them (``engine/k8s-manager/kubernetes/version/config.go``,
``manager_node.go``). A missing one stops the runner with kre-py's message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from kedro_krt.node.runner.config_base import (
    FILE_VARS,
    NODE_VARS,
    OUTPUT_VARS,
    NodeSettings,
    required_env,
)

__all__ = ["ENV_VARS", "RunnerConfig"]

#: Every variable kre-py 2.1.5 requires, in its order.
ENV_VARS = (
    *NODE_VARS,
    "KRT_NATS_INPUT",
    *OUTPUT_VARS,
    *FILE_VARS,
    "KRT_IS_LAST_NODE",
    "KRT_NATS_ENTRYPOINT_SUBJECT",
)


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
        values = required_env(
            env, ENV_VARS, "KRE's k8s-manager sets every KRT_* variable of a node pod"
        )
        # kre-py compares the string: only "true" makes the last node.
        last = values.pop("is_last_node") == "true"
        return cls(is_last_node=last, **values)  # type: ignore[arg-type]
