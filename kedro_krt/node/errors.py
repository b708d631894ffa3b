"""The root of every user error: a mistake the user can fix, said in the message.

It lives in the node package (which imports nothing outside itself) because nodes have user
errors too: a request that does not fit (``InvalidRequest``), a project that does not start
(``RuntimeSetupError``). The CLI catches :class:`KrtError` once and prints its message as one
line, exit 1; any other exception is our bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["KrtError"]


class KrtError(Exception):
    """A user's mistake; its message says what was found and what to change."""
