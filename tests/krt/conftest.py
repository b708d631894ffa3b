"""Fixtures for the krt/ tests; the archive builders live in krt_helpers.py."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.krt.krt_helpers import Entry, MakeKrt, entries_for, good_files, make_tar


@pytest.fixture
def make_krt(tmp_path: Path) -> MakeKrt:
    """Build a .krt in tmp_path from entries (default: the good KRT)."""
    counter = iter(range(1_000_000))

    def build(entries: Iterable[Entry] | None = None, **kwargs: bool) -> Path:
        if entries is None:
            entries = entries_for(good_files())
        return make_tar(tmp_path / f"test-{next(counter)}.krt", entries, **kwargs)

    return build
