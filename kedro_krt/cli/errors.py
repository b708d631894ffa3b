"""How the command line shows a user's mistake, and the Kedro noise it hides.

A user error is a :class:`~kedro_krt.node.errors.KrtError` (every user-error class of kedro_krt
derives from it) or a missing file: one line ``Error: <message>``, exit 1. Anything else is our
bug and keeps its traceback. Both groups run every command inside :func:`user_errors_shown`
(:class:`~kedro_krt.cli.commands.KrtGroup`), so no command catches errors of its own.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import click

from kedro_krt.node.errors import KrtError

__all__ = ["kedro_noise_hidden", "user_errors_shown"]


@contextmanager
def kedro_noise_hidden() -> Iterator[None]:
    """Deprecations, and Kedro's dotted-dataset-name and resolver warnings, hidden while a
    command runs; the process's warning filters are restored after. The two warnings are
    matched as wherever Kedro starts (``quiet_kedro_start`` of the node runtime's engine)."""
    from kedro_krt.node.runtime.engine import quiet_kedro_start

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        quiet_kedro_start()
        yield


@contextmanager
def user_errors_shown() -> Iterator[None]:
    """User mistakes become one clear message and exit 1; our bugs keep their traceback.

    Kedro's own noise is hidden while the command runs (:func:`kedro_noise_hidden`).
    """
    with kedro_noise_hidden():
        try:
            yield
        except (KrtError, FileNotFoundError) as exc:
            raise click.ClickException(str(exc)) from None
