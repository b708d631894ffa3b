"""Errors a KRT node raises for its caller."""

from __future__ import annotations

from kedro_krt.node.errors import KrtError


class InvalidRequest(KrtError, ValueError):
    """The request cannot be processed as sent: wrong message type, undecodable field, a value
    the node refuses.

    Servers answer it as gRPC ``INVALID_ARGUMENT`` with this message; any other exception in a
    node is ``INTERNAL`` (``error in '<node>': ...``), as in KRE. It is a ``ValueError``, so a
    Kedro node that raises it fails ``kedro run`` as a ``ValueError`` would.

    :attr:`refusal` is what the caller is told: the message itself, unless the refusal was
    made elsewhere and is passed on (a v2 node failing because its upstream refused).
    """

    def __init__(self, message: str = "", *, refusal: str | None = None) -> None:
        super().__init__(message)
        self._refusal = refusal

    @property
    def refusal(self) -> str:
        """The words the caller gets with ``INVALID_ARGUMENT``."""
        return self._refusal if self._refusal is not None else str(self)


class RuntimeSetupError(KrtError, RuntimeError):
    """A KRT node cannot start: missing plan, project or artifact; says what is missing."""
