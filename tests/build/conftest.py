"""Fixtures of the `kedro-krt build` tests: the repository's examples copied next to a trained
copy of the example project, as a user would build them.

The e2e helpers (a served KRT, a gRPC client by reflection, Kedro's own run as reference) are
shared with tests/e2e: their folder is put on sys.path here.
"""

from __future__ import annotations

import sys
from pathlib import Path

_E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if _E2E not in sys.path:
    sys.path.append(_E2E)
