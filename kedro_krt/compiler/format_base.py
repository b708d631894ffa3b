"""What the compiler asks a KRT format: its last step on the numbered plan, and its words when
the KRE version deployed to does not read it.

One subclass per format (:mod:`kedro_krt.compiler.krt_v1`, :mod:`kedro_krt.compiler.krt_v2`),
picked through :data:`kedro_krt.compiler.krt_formats.COMPILE_FORMATS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import Plan

__all__ = ["CompileFormat"]


class CompileFormat(ABC):
    """A KRT format as the compiler writes it."""

    #: The format, the key of :data:`~kedro_krt.compiler.krt_formats.COMPILE_FORMATS`.
    krt_version: ClassVar[KrtVersion]

    @abstractmethod
    def finish(self, plan: Plan, replicas: Mapping[str, Mapping[str, int]]) -> Plan:
        """The compiled, numbered plan in this format. ``replicas`` is ``{workflow: {KRT node:
        replicas}}`` (``replicas:`` of each workflow in krt.yml).

        Raises:
            CompileError: the plan cannot be written in this format as configured.
        """

    @abstractmethod
    def refusal(self, said: str, kre_version: str) -> str:
        """Why KRE ``kre_version`` (``deploy.kre_version``) cannot take this format, chosen by
        ``said`` (``--krt-version`` or ``krt_version in krt.yml``), and what to do instead."""
