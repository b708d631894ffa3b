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
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path


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


@contextlib.contextmanager
def scratch_folder(prefix: str, dir: Path | None = None) -> Iterator[Path]:
    """A new folder (as :func:`tempfile.mkdtemp`) for the block, removed at its end however it
    ends; a SIGTERM can neither come between its making and the block nor cut its removal."""
    path: Path | None = None
    try:
        with sigterm_held():
            path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
        yield path
    finally:
        if path is not None:
            with sigterm_held():
                shutil.rmtree(path, ignore_errors=True)
