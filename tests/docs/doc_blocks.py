"""Read the fenced code blocks of a docs page, with the conventions the docs tests run them by.

* a ```` ```bash ```` block holds commands, one per line (``\\`` continues a line, ``#`` starts
  a comment);
* a block with ``title="<path>"`` is a file the reader creates, at that path relative to the
  folder the commands are in at that point;
* a ```` ```text ```` or ```` ```json ```` block without a title right after a ``bash`` block is
  the output of that block: every line of a ``text`` block appears in the real output
  (spaces collapsed; a line ``...`` stands for lines left out), a ``json`` block equals the reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its title (a file path) if any, its text and line."""

    lang: str
    title: str | None
    body: str
    line: int

    @property
    def commands(self) -> list[str]:
        """The logical command lines of a bash block."""
        out: list[str] = []
        pending = ""
        for raw in self.body.splitlines():
            line = raw.rstrip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = pending + line
            pending = ""
            if line.strip() and not line.strip().startswith("#"):
                out.append(line.strip())
        return out


@dataclass(frozen=True)
class Step:
    """A bash block and the output block that follows it, if any."""

    block: Block
    expected: Block | None


def read_blocks(page: Path) -> list[Block]:
    """Every fenced block of `page`, in order."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        title = _TITLE.search(match.group("attrs"))
        blocks.append(
            Block(
                lang=match.group("lang"),
                title=title.group("title") if title else None,
                body=match.group("body"),
                line=text.count("\n", 0, match.start()) + 1,
            )
        )
    return blocks


def steps(blocks: list[Block]) -> list[Block | Step]:
    """Files to write (titled blocks) and commands with their expected output, in page order."""
    out: list[Block | Step] = []
    for i, block in enumerate(blocks):
        if block.title is not None:
            out.append(block)
        elif block.lang == "bash":
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            expected = (
                nxt
                if nxt is not None and nxt.title is None and nxt.lang in ("text", "json")
                else None
            )
            out.append(Step(block, expected))
    return out


def collapse(text: str) -> list[str]:
    """The non-empty lines of `text` with runs of spaces collapsed."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def missing_lines(expected: str, actual: str) -> list[str]:
    """Lines of `expected` (spaces collapsed) found in no line of `actual`."""
    have = collapse(actual)
    return [
        line
        for line in collapse(expected)
        if line != "..." and not any(line in got for got in have)
    ]
