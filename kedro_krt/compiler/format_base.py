"""What the compiler asks a KRT format: its last step on the numbered plan, and its words when
the KRE version deployed to does not read it.

One subclass per format (:mod:`kedro_krt.compiler.krt_v1`, :mod:`kedro_krt.compiler.krt_v2`),
picked through :data:`kedro_krt.compiler.krt_formats.COMPILE_FORMATS`.

Both end by :meth:`CompileFormat.apply_settings`: KRE's settings of a KRT node's pods, from
the workflows of krt.yml (:class:`NodeSettings`). Which of them a format can write is its
:attr:`~CompileFormat.node_settings`; a setting it cannot write is refused, never dropped.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

from kedro_krt.node.analysis import CompileError
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import Plan, WorkflowPlan

__all__ = ["SETTING_KEYS", "CompileFormat", "NodeSettings", "unknown_node"]

#: Each setting of :class:`NodeSettings`, by the key of a workflow in krt.yml that sets it.
SETTING_KEYS = {"replicas": "replicas", "gpu": "gpu", "object_store": "object_store"}


@dataclass(frozen=True)
class NodeSettings:
    """What krt.yml sets for one KRT node: ``replicas`` pods (``None``: unset), one GPU per
    pod, and a JetStream object store (``object_store`` is its name, ``""``: none)."""

    replicas: int | None = None
    gpu: bool = False
    object_store: str = ""
    object_store_scope: str = "workflow"

    def given(self) -> tuple[str, ...]:
        """The krt.yml keys that set something here, in :data:`SETTING_KEYS`' order."""
        said = {
            "replicas": self.replicas is not None,
            "gpu": self.gpu,
            "object_store": bool(self.object_store),
        }
        return tuple(key for key in SETTING_KEYS if said[key])


#: ``{workflow: {KRT node: settings}}``, as the workflows of krt.yml say.
Settings = Mapping[str, Mapping[str, NodeSettings]]


def unknown_node(key: str, workflow: str, name: str, known: list[str]) -> CompileError:
    """The error for ``key:`` of ``workflow`` naming ``name``, which is none of its KRT nodes."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return CompileError(
        f"`{key}:` of workflow '{workflow}' in krt.yml names '{name}', which is not one of its "
        f"KRT nodes: {hint}the KRT nodes are {', '.join(known)} (`kedro krt compile` lists them)"
    )


class CompileFormat(ABC):
    """A KRT format as the compiler writes it."""

    #: The format, the key of :data:`~kedro_krt.compiler.krt_formats.COMPILE_FORMATS`.
    krt_version: ClassVar[KrtVersion]
    #: The krt.yml keys of a node's settings (:data:`SETTING_KEYS`) this format can write.
    node_settings: ClassVar[tuple[str, ...]]

    @abstractmethod
    def finish(self, plan: Plan, settings: Settings) -> Plan:
        """The compiled, numbered plan in this format, with each KRT node's ``settings``
        (``{workflow: {KRT node: NodeSettings}}``, from the workflows of krt.yml).

        Raises:
            CompileError: the plan cannot be written in this format as configured.
        """

    @abstractmethod
    def refusal(self, said: str, kre_version: str) -> str:
        """Why KRE ``kre_version`` (``deploy.kre_version``) cannot take this format, chosen by
        ``said`` (``--krt-version`` or ``krt_version in krt.yml``), and what to do instead."""

    def unsupported(self, key: str, workflow: str, node: str) -> str:
        """Why ``key:`` (a setting of node ``node`` of ``workflow``, not in
        :attr:`node_settings`) cannot be written in this format, and what to change."""
        return (
            f"`{key}:` of workflow '{workflow}' in krt.yml sets node '{node}', which KRT "
            f"{self.krt_version.value} cannot say: remove it, or choose another krt_version"
        )

    def apply_settings(self, plan: Plan, settings: Settings) -> Plan:
        """``plan`` with each KRT node's settings written into its :class:`KrtNodePlan`.

        Raises:
            CompileError: a setting this format cannot write (first), or a node name that is
                none of the workflow's KRT nodes (with the closest one).
        """
        for wf_name, nodes in settings.items():
            for node, given in nodes.items():
                for key in given.given():
                    if key not in self.node_settings:
                        raise CompileError(self.unsupported(key, wf_name, node))
        return replace(
            plan,
            workflows=tuple(_workflow(w, settings.get(w.name, {})) for w in plan.workflows),
        )


def _workflow(wf: WorkflowPlan, settings: Mapping[str, NodeSettings]) -> WorkflowPlan:
    known = [n.name for n in wf.nodes]
    for name, given in settings.items():
        if name not in known:
            raise unknown_node(given.given()[0], wf.name, name, known)
    nodes = []
    for node in wf.nodes:
        if node.name not in settings:
            nodes.append(node)
            continue
        given = settings[node.name]
        nodes.append(
            replace(
                node,
                replicas=node.replicas if given.replicas is None else given.replicas,
                gpu=given.gpu,
                object_store=given.object_store,
                object_store_scope=given.object_store_scope if given.object_store else "",
            )
        )
    return replace(wf, nodes=tuple(nodes))
