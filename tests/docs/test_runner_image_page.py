"""The runner-image page says what generate.py does to requirements.txt: the development
packages it names are the ones left out, and kedro-datasets is one kedro-krt adds."""

from __future__ import annotations

import re
from pathlib import Path

from kedro_krt.emit.files import DEV_ONLY, RUNNER_REQUIREMENTS, RUNTIME_REQUIREMENTS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "runner-image.md"


def _section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    return text.split("## What kedro-krt does to the requirements", 1)[1].split("\n## ", 1)[0]


def test_the_development_packages_named_are_left_out() -> None:
    bullet = next(b for b in _section().split("\n- ") if "kedro new" in b)
    named = re.findall(r"`([a-z][a-z0-9-]+)`", bullet)
    assert len(named) >= 5
    assert not set(named) - DEV_ONLY, f"not left out by generate.py: {set(named) - DEV_ONLY}"


def test_kedro_datasets_is_added_without_extras() -> None:
    added = [r.split(">=")[0].split("[")[0] for r in (*RUNTIME_REQUIREMENTS, *RUNNER_REQUIREMENTS)]
    assert "kedro-datasets" in added
    assert "kedro-datasets" in RUNTIME_REQUIREMENTS, "kedro-krt now adds extras: fix the page"
    assert "**without extras**" in _section()
