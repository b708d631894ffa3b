"""The serving of each KRT format: the one table of this layer.

:data:`SERVING` gives, for a :class:`~kedro_krt.node.krt_version.KrtVersion`, what serving that
format means (:class:`~kedro_krt.serve.serving_base.Serving`): which workflows can run here,
how their nodes load in-process and how a request runs through them, and its ``--nats`` front.
:func:`serving_for` looks up a manifest's. A new format is a ``serving_<format>.py`` (and a
``topology_<format>.py`` for its names on NATS) and one entry here.
"""

from __future__ import annotations

from kedro_krt.formats.krt_formats import AnyManifest
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.serve.serving_base import Serving
from kedro_krt.serve.serving_v1 import V1Serving
from kedro_krt.serve.serving_v2 import V2Serving

__all__ = ["SERVING", "serving_for"]

#: KRT format -> how this server serves it.
SERVING: dict[KrtVersion, Serving] = {
    KrtVersion.V1: V1Serving(),
    KrtVersion.V2: V2Serving(),
}


def serving_for(manifest: AnyManifest) -> Serving:
    """The serving of ``manifest``'s format (its ``krt_version``)."""
    return SERVING[manifest.krt_version]
