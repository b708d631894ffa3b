"""Errors of the local server: user mistakes (:class:`ServeError`) and bad requests."""

from __future__ import annotations


class ServeError(Exception):
    """A user mistake that stops the server (bad KRT, missing config variable, port in use).

    The message says what is wrong and what to change; the CLI prints it without a traceback.
    """


class InvalidRequest(ValueError):
    """Raise it in a node's handler to answer the caller ``INVALID_ARGUMENT`` with its message.

    Any other exception in a node becomes ``INTERNAL`` with ``error in '<node>': <message>``,
    as in KRE.
    """


class NodeError(Exception):
    """A node failed while handling a request; ``str()`` is KRE's ``error in '<node>': ...``."""

    def __init__(self, node: str, message: str, *, invalid_request: bool = False) -> None:
        super().__init__(f"error in '{node}': {message}")
        self.node = node
        self.detail = message
        self.invalid_request = invalid_request
