"""kedro_krt/scratch.py. A SIGTERM before the event loop unwinds (``StopRequested``) and leaves
no scratch folder, wherever it lands: even in the step that makes the folder, or in the one
that removes it. And an owned folder that a SIGKILL left is removed by the next one.

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


# -- SIGKILL: the next owned folder of the prefix sweeps what a dead process left ------------

OWNER = """
import sys, time
from kedro_krt.scratch import OwnedFolder
folder = OwnedFolder("krt-owned-", dir=sys.argv[1])
print(folder.path, flush=True)
time.sleep(120)
"""


@pytest.mark.integration
def test_a_killed_owners_folder_is_swept_a_live_ones_is_not(tmp_path: Path) -> None:
    import subprocess
    import sys

    from kedro_krt.scratch import OWNER_FILE, OwnedFolder, sweep_orphans

    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        theirs = Path(owner.stdout.readline().strip())
        assert (theirs / OWNER_FILE).is_file()
        (theirs / "artifact.pkl").write_bytes(b"x" * 1000)
        not_owned = tmp_path / "krt-owned-by-nobody"  # no owner file: never ours to remove
        not_owned.mkdir()
        # A link named like ours to a folder with a free owner file: never followed.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / OWNER_FILE).write_text("")
        (tmp_path / "krt-owned-link").symlink_to(elsewhere, target_is_directory=True)
        ours = OwnedFolder("krt-owned-", dir=tmp_path)  # sweeps first: theirs lives

        assert sweep_orphans("krt-owned-", tmp_path) == []
        assert theirs.is_dir()
        owner.kill()  # SIGKILL: no code of theirs runs
        owner.wait()
        assert sweep_orphans("krt-owned-", tmp_path) == [theirs]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [ours.path.name, not_owned.name, "krt-owned-link", "elsewhere"]
        )
        assert (elsewhere / OWNER_FILE).is_file()
        ours.remove()
        ours.remove()
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "elsewhere", "krt-owned-by-nobody", "krt-owned-link"
        ]
    finally:
        owner.kill()
        owner.wait()


HOLDER = """
import sys, time
from kedro_krt.scratch import hold
hold(sys.argv[1])
print("held", flush=True)
time.sleep(120)
"""


@pytest.mark.integration
def test_a_folder_held_by_a_live_process_outlives_its_owner(tmp_path: Path) -> None:
    """As a --workers worker still draining holds its supervisor's folder."""
    import subprocess
    import sys

    from kedro_krt.scratch import sweep_orphans

    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    holder = None
    try:
        assert owner.stdout is not None
        folder = Path(owner.stdout.readline().strip())
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        owner.kill()
        owner.wait()
        assert sweep_orphans("krt-owned-", tmp_path) == []
        assert folder.is_dir()
        holder.kill()
        holder.wait()
        assert sweep_orphans("krt-owned-", tmp_path) == [folder]
    finally:
        for proc in (owner, holder):
            if proc is not None:
                proc.kill()
                proc.wait()
