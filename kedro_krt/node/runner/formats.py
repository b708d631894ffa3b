"""The runner of each KRT format: the one table of this layer, and the one function that reads
a node pod's format from its environment.

KRE gives a v2 node pod (KRE 8) ``KRT_NATS_INPUTS`` (several subjects) and a v1 node pod (KRE 7)
``KRT_NATS_INPUT``: :func:`krt_version_from_env` tells them apart, and :data:`RUNNERS` gives that
format's settings (read from the environment) and runner. A new format is a ``config_<format>``,
``context_<format>``, ``envelope_<format>`` and ``node_<format>`` module, one entry here, and
its marker in :func:`krt_version_from_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.runner.config_v1 import RunnerConfig
from kedro_krt.node.runner.config_v2 import RunnerConfigV2
from kedro_krt.node.runner.node_v1 import NodeRunner
from kedro_krt.node.runner.node_v2 import NodeRunnerV2

__all__ = ["RUNNERS", "V2_MARKER", "RunnerFormat", "krt_version_from_env"]

#: The variable only a v2 node pod has: the runner runs a v2 node when it is set.
V2_MARKER = "KRT_NATS_INPUTS"


@dataclass(frozen=True)
class RunnerFormat:
    """A format's settings (``config.from_env()``), its runner (``runner(config, logger)``),
    and the stock runner whose contract it keeps (``contract``, as the docs name it)."""

    config: Any
    runner: Any
    contract: str


#: KRT format -> its settings and runner. kre-py 2.1.5 runs KRT v1 nodes on KRE 7, kre-py 3.4.1
#: KRT v2 nodes on KRE 8 (konstellation-io/kre-runners @ kre-py-v2.1.5, kre-py/v3.4.1).
RUNNERS: dict[KrtVersion, RunnerFormat] = {
    KrtVersion.V1: RunnerFormat(RunnerConfig, NodeRunner, "kre-py 2.1.5"),
    KrtVersion.V2: RunnerFormat(RunnerConfigV2, NodeRunnerV2, "kre-py 3.4.1"),
}


def krt_version_from_env(environ: Mapping[str, str] | None = None) -> KrtVersion:
    """The format of this node pod: v2 when ``KRT_NATS_INPUTS`` is set (as KRE 8 sets it), else
    v1 (KRE 7 sets ``KRT_NATS_INPUT``)."""
    env = os.environ if environ is None else environ
    return KrtVersion.V2 if V2_MARKER in env else KrtVersion.V1
