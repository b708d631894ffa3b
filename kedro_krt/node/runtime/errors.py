"""Errors a KRT node raises for its caller."""

from __future__ import annotations

from kedro_krt.node.errors import KrtError


class InvalidRequest(KrtError, ValueError):
    """The request cannot be processed as sent: wrong message type, undecodable field.

    Servers answer it as gRPC ``INVALID_ARGUMENT`` with this message; any other exception in a
    node is ``INTERNAL`` (``error in '<node>': ...``), as in KRE.
    """


class RuntimeSetupError(KrtError, RuntimeError):
    """A KRT node cannot start: missing plan, project or artifact; says what is missing."""
