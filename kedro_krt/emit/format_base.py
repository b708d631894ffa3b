"""What emitting a plan asks of its KRT format: the krt.yml, the docs' flowchart, and the
generated modules each node folder carries.

One subclass per format (:mod:`kedro_krt.emit.krt_v1`, :mod:`kedro_krt.emit.krt_v2`), picked
through :data:`kedro_krt.emit.krt_formats.EMIT_FORMATS` by ``Plan.krt_version``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar

from kedro_krt.formats.krt_formats import AnyManifest
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import NodeRuntimePlan, Plan, WorkflowPlan

__all__ = ["EmitFormat"]


class EmitFormat(ABC):
    """A KRT format as the emitter and the packager write it."""

    #: The format, the key of :data:`~kedro_krt.emit.krt_formats.EMIT_FORMATS`.
    krt_version: ClassVar[KrtVersion]
    #: The template of each node's ``src/<node>/main.py``, in kedro_krt/templates.
    node_template: ClassVar[str]

    @abstractmethod
    def manifest(self, plan: Plan) -> AnyManifest:
        """The krt.yml of a plan compiled in this format."""

    @abstractmethod
    def flowchart(self, workflow: WorkflowPlan) -> list[str]:
        """The mermaid lines of a workflow in docs/README.md (after ``flowchart LR``)."""

    def node_modules(self, node: NodeRuntimePlan, generated: Iterable[str]) -> set[str]:
        """The generated ``*_pb2`` modules (names without ``.py``) a node's folder needs, among
        ``generated`` (the ``*_pb2.py`` file names protoc wrote): those of its own messages."""
        return {node.input_module, node.output_module}
