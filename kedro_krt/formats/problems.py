"""The one record every KRT check produces: a :class:`Problem`.

It lives in its own module so that the manifest parser and the file validator can both
return it without importing each other. Import it from :mod:`kedro_krt.formats.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a KRT.

    Attributes:
        severity: ``"error"`` (KRE refuses it, or it breaks at run time) or ``"warning"``.
        location: where: ``"krt.yml:12 nodes[0].name"``, ``"public_input.proto"``,
            ``"archive entry ./"``; the line number is there when it is known.
        message: what is wrong and what to change.
        rule: a short stable id, ``"kre.*"`` for KRE's own rules and ``"krt.*"`` for ours.
        kre: KRE's own text for this problem, exactly as KRE answers the upload, when the
            check knows it (the v2 checks do); ``message`` then starts with it.
    """

    severity: Severity
    location: str
    message: str
    rule: str
    kre: str = ""

    def __str__(self) -> str:
        return f"{self.severity}: {self.location}: {self.message} [{self.rule}]"


def error(location: str, message: str, rule: str, kre: str = "") -> Problem:
    """Shorthand for an error :class:`Problem`."""
    return Problem("error", location, message, rule, kre)


def warning(location: str, message: str, rule: str) -> Problem:
    """Shorthand for a warning :class:`Problem`."""
    return Problem("warning", location, message, rule)
