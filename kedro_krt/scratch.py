"""A SIGTERM that unwinds, and scratch folders that it cannot leave behind.

Before ``kedro-krt serve`` is in its event loop (whose handler drains the server), SIGTERM's
default action would kill it at once: no ``finally`` runs, no atexit hook, and its scratch
folders (``kedro-krt-serve-*``, ``krt-protoc-*``, ``kedro-krt-pb2-*``) stay in the temporary
folder. :func:`sigterm_unwinds` turns the first SIGTERM into :class:`StopRequested`, raised in
the main thread, so that every ``finally`` removes what it made.

An exception raised by a signal can land between any two steps, though: after ``mkdtemp`` made
a folder but before its name reached the code that removes it, or half-way through the removal.
:func:`sigterm_held` defers it over such steps (the handler notes it; the end of the hold raises
it) and :func:`scratch_folder` holds it over both. The hold is in Python, not the signal mask:
a process-directed signal may be taken by any thread whose mask lets it in (gRPC's, a pool's),
while Python runs the handler in the main thread whatever thread took it.

Main thread only: Python runs signal handlers there; elsewhere these are no-ops.

SIGKILL (``kill -9``, the OOM killer, a CI job's timeout) runs no code at all. A folder made
with ``owned=True``, or as an :class:`OwnedFolder` (serve's ``kedro-krt-serve-*``, which holds
the unpacked KRT and its artifacts, ``--nats``'s ``kedro-krt-nats-*``, ``kedro-krt-pb2-*``)
carries an owner file locked (``flock``, shared) for
as long as its process lives, and by any process that works in it too (:func:`hold`: the
``--workers`` workers); the kernel drops a lock when its process dies, however it dies. The
next one to make such a folder first removes those of the same prefix that nobody holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("kedro_krt.serve")

#: In an owned folder: locked by its owner while it lives (never read, only locked).
OWNER_FILE = ".kedro-krt-owner"


class StopRequested(BaseException):
    """SIGTERM while the server is not in its event loop (the KRT is being checked, unpacked,
    compiled): raised in the main thread so that every ``finally`` removes what it made."""


class _Unwind:
    """The SIGTERM handler of one :func:`sigterm_unwinds` block."""

    def __init__(self) -> None:
        self.raised = False  # later SIGTERMs are ignored: they must not cut the clean-up
        self.held = 0
        self.pending = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.held:
            self.pending = True
        else:
            self.fire()

    def fire(self) -> None:
        self.pending = False
        if not self.raised:
            self.raised = True
            raise StopRequested


_ACTIVE: list[_Unwind] = []


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While the block runs, the first SIGTERM raises :class:`StopRequested` (later ones are
    ignored); the previous handler comes back at the end."""
    if not _in_main_thread():
        yield
        return
    unwind = _Unwind()
    previous = signal.signal(signal.SIGTERM, unwind)
    _ACTIVE.append(unwind)
    try:
        yield
    finally:
        _ACTIVE.remove(unwind)
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_held() -> Iterator[None]:
    """Within the block, a SIGTERM that :func:`sigterm_unwinds` would raise waits; it is raised
    at the block's end (and not at all if the block raised: one exception unwinds already)."""
    unwind = _ACTIVE[-1] if _ACTIVE and _in_main_thread() else None
    if unwind is None:
        yield
        return
    unwind.held += 1
    try:
        yield
    finally:
        unwind.held -= 1
    if not unwind.held and unwind.pending:
        unwind.fire()


class OwnedFolder:
    """A new folder (as :func:`tempfile.mkdtemp`) whose owner file this process keeps locked
    until :meth:`remove`; made after removing the folders of the same prefix left by dead
    processes (:func:`sweep_orphans`)."""

    def __init__(self, prefix: str, dir: Path | None = None) -> None:
        sweep_orphans(prefix, dir)
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
        try:
            # Locked before it gets its name: a sweeper never sees it unlocked while we live.
            fd = os.open(self.path / (OWNER_FILE + ".new"), os.O_WRONLY | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            os.rename(self.path / (OWNER_FILE + ".new"), self.path / OWNER_FILE)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        self._fd: int | None = fd

    def remove(self) -> None:
        """Remove the folder, then let its lock go; twice is harmless."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_HELD: list[int] = []


def hold(folder: Path) -> None:
    """Keep ``folder`` (an :class:`OwnedFolder` of another process) from being swept for as
    long as this process lives, even if its owner dies first. A folder without an owner file
    is never swept: nothing to do."""
    try:
        fd = os.open(Path(folder) / OWNER_FILE, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return
    fcntl.flock(fd, fcntl.LOCK_SH)
    _HELD.append(fd)


def sweep_orphans(prefix: str, dir: Path | None = None) -> list[Path]:
    """Remove the ``prefix*`` folders of the temporary folder that nobody holds any more
    (their owner file's lock is free: its owner died); the removed ones. Folders without an
    owner file (still being made, or not made by :class:`OwnedFolder`), links, and other
    users' folders are left alone."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(dir if dir is not None else tempfile.gettempdir()))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            # Our own real folders only: never through a link, never another user's.
            if not entry.is_dir(follow_symlinks=False) or (
                entry.stat(follow_symlinks=False).st_uid != os.getuid()
            ):
                continue
            fd = os.open(os.path.join(entry.path, OWNER_FILE), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its owner, or a process it started, lives
        else:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        finally:
            os.close(fd)
    if removed:
        log.info(
            "removed %d scratch folder(s) left by killed processes: %s",
            len(removed), ", ".join(p.name for p in removed),
        )
    return removed


@contextlib.contextmanager
def scratch_folder(prefix: str, dir: Path | None = None, *, owned: bool = False) -> Iterator[Path]:
    """A new folder (as :func:`tempfile.mkdtemp`) for the block, removed at its end however it
    ends; a SIGTERM can neither come between its making and the block nor cut its removal.
    ``owned``: an :class:`OwnedFolder`, which the next owned folder of the prefix removes if
    this process is killed outright."""
    folder: OwnedFolder | Path | None = None
    try:
        with sigterm_held():
            folder = OwnedFolder(prefix, dir) if owned else Path(tempfile.mkdtemp(prefix, dir=dir))
        yield folder.path if isinstance(folder, OwnedFolder) else folder
    finally:
        if folder is not None:
            with sigterm_held():
                if isinstance(folder, OwnedFolder):
                    folder.remove()
                else:
                    shutil.rmtree(folder, ignore_errors=True)
