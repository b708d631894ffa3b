"""Errors of the local server: user mistakes (:class:`ServeError`) and bad requests."""

from __future__ import annotations

from kedro_krt.node.errors import KrtError

# One class for "this request is wrong", raised by our runtime and by hand-written nodes alike:
# it lives in the runtime (which knows nothing of the server) and answers INVALID_ARGUMENT.
from kedro_krt.node.runtime.errors import InvalidRequest

__all__ = ["InvalidRequest", "NodeError", "RequestTooLarge", "ServeError"]


class ServeError(KrtError):
    """A user mistake that stops the server (bad KRT, missing config variable, port in use).

    The message says what is wrong and what to change; the CLI prints it without a traceback.
    """


class NodeError(Exception):
    """A node failed while handling a request; ``str()`` is KRE's ``error in '<node>': ...``."""

    def __init__(self, node: str, message: str, *, invalid_request: bool = False) -> None:
        super().__init__(f"error in '{node}': {message}")
        self.node = node
        self.detail = message
        self.invalid_request = invalid_request


class RequestTooLarge(Exception):
    """A request that KRE's entrypoint cannot send to the first node: still over the NATS
    message limit after gzip. The caller gets RESOURCE_EXHAUSTED with ``str()``, which names
    the sizes and the limit."""
