"""A SIGTERM before the event loop unwinds (``StopRequested``) and leaves no scratch folder,
wherever it lands: even in the step that makes the folder, or in the one that removes it.

The signal is sent to this process from inside those steps (``mkdtemp`` and ``rmtree``
wrapped), where, without the hold, the handler's exception would cut them: the folder made but
its name lost, or its removal half done. tests/serve/test_serve_scratch.py sends it from outside
to a real server; these land it exactly.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest

from kedro_krt.scratch import StopRequested, scratch_folder, sigterm_held, sigterm_unwinds


def _sigterm_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_sigterm_while_the_folder_is_made_is_raised_once_it_can_be_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tempfile.mkdtemp

    def mkdtemp_then_sigterm(*args: Any, **kwargs: Any) -> str:
        made = real(*args, **kwargs)
        _sigterm_self()
        return made

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp_then_sigterm)
    entered = False
    with pytest.raises(StopRequested), sigterm_unwinds(), scratch_folder("s-", tmp_path):
        entered = True
    assert not entered
    assert list(tmp_path.iterdir()) == []


def test_a_sigterm_during_the_removal_lets_it_finish_then_unwinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.rmtree

    def sigterm_then_rmtree(*args: Any, **kwargs: Any) -> None:
        _sigterm_self()
        real(*args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", sigterm_then_rmtree)
    with pytest.raises(StopRequested), sigterm_unwinds(), scratch_folder("s-", tmp_path) as work:
        (work / "a" / "b").mkdir(parents=True)
        (work / "a" / "b" / "f").write_text("x")
    assert list(tmp_path.iterdir()) == []


def test_the_first_sigterm_raises_later_ones_are_ignored_and_the_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    cleaned = False
    with pytest.raises(StopRequested), sigterm_unwinds():
        try:
            _sigterm_self()
        finally:
            _sigterm_self()  # a second one must not cut this clean-up
            cleaned = True
    assert cleaned
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_held_sigterm_is_not_raised_again_after_the_block_raised() -> None:
    # One exception unwinds already; the held SIGTERM must not replace it.
    with pytest.raises(ValueError), sigterm_unwinds(), sigterm_held():
        _sigterm_self()
        raise ValueError("the block's own error")
