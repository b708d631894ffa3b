"""The KRT format, one value: which krt.yml, node contract and runner a version follows.

Carried by the compiled plan (``Plan.krt_version``), the manifest models (``krt_version``) and
the runner's settings (read from the pod's environment). Each layer that differs by format has a
base module and one module per format, picked through one table keyed by this value
(docs/explanation/architecture.md lists the tables); nothing else asks which format it has.
A new format is one member here, one module per layer and one entry per table.
"""

from __future__ import annotations

import enum


class KrtVersion(str, enum.Enum):
    """A KRT format: ``v1`` (KRE 6.x to 8.0) or ``v2`` (KRE 8.0 and later)."""

    V1 = "v1"
    V2 = "v2"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: object) -> KrtVersion:
        """The format named by ``text``; a ValueError naming the accepted values otherwise."""
        try:
            return cls(text)
        except ValueError:
            accepted = ", ".join(v.value for v in cls)
            raise ValueError(f"unknown KRT format {text!r}; expected one of {accepted}") from None
