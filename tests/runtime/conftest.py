"""Fixtures of the runtime tests.

The reference (Kedro's own SequentialRunner on the same rows) and the request builders are shared
with the end-to-end tests: their helper module is put on sys.path here, so that both folders use
one definition.
"""

from __future__ import annotations

import sys
from pathlib import Path

_E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if _E2E not in sys.path:
    sys.path.append(_E2E)
