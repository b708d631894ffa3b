"""What a KRT manifest format answers, asked by whoever does not know which format it holds.

One subclass per format, beside its model and checks (:data:`kedro_krt.formats.manifest_v1.
V1_FORMAT`, :data:`kedro_krt.formats.manifest_v2.V2_FORMAT`); the one table of them is
:data:`kedro_krt.formats.krt_formats.FORMATS`. The validator, the compiler and the server ask
this object, never ``krtVersion`` itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from kedro_krt.formats.checks_base import ParsedManifest
from kedro_krt.formats.problems import Problem
from kedro_krt.node.krt_version import KrtVersion

__all__ = ["ManifestFormat"]


class ManifestFormat(ABC):
    """A KRT format seen from its ``krt.yml``: how to read and check it, and which KRE reads it."""

    #: The format, the key of :data:`~kedro_krt.formats.krt_formats.FORMATS`.
    krt_version: ClassVar[KrtVersion]
    #: The manifest model this format's checks build.
    manifest_class: ClassVar[type]
    #: The KRE versions (of :data:`kedro_krt.formats.validate.KRE_TARGETS`) that read it.
    kre_targets: ClassVar[tuple[str, ...]]

    @abstractmethod
    def written_as(self, data: Mapping[Any, Any]) -> bool:
        """Whether parsed ``krt.yml`` data has a key that only this format has (a v1 top-level
        ``nodes`` list, a v2 workflow's ``nodes`` or ``exitpoint``), whatever its
        ``krtVersion`` says: how a file that lacks its ``krtVersion`` is told apart."""

    @abstractmethod
    def check(self, data: Any, marks: Mapping[str, int]) -> ParsedManifest[Any]:
        """Every check of this format on parsed YAML: a best-effort manifest and the problems."""

    @abstractmethod
    def parse_lenient(self, text: str) -> ParsedManifest[Any]:
        """Read and check ``krt.yml`` text, keeping a best-effort manifest even with errors."""

    def parse(self, text: str) -> tuple[Any | None, list[Problem]]:
        """Read and check ``krt.yml`` text: the manifest (``None`` on any error), every problem."""
        return self.parse_lenient(text).strict()

    def kre_answer(self, data: Any) -> list[str]:
        """The lines a KRE that reads this format answers the upload of ``data`` with (empty when
        the checks do not know KRE's own words)."""
        return []

    @abstractmethod
    def refused(self, kre: str, answer: list[str]) -> Problem:
        """The error for a KRT of this format sent to KRE ``kre``, which does not read it;
        ``answer`` is what that KRE says, from the checks of a format it reads."""

    def target_problems(
        self, kre: str, data: Mapping[Any, Any], parsed: ParsedManifest[Any]
    ) -> list[Problem]:
        """What KRE ``kre``, which reads this format, says beyond the format's own checks."""
        return []

    @abstractmethod
    def src_missing(self, where: str, src: str, node: str, hint: str) -> Problem:
        """The error for node ``node`` whose ``src`` is not in the KRT, in this KRE's words."""
