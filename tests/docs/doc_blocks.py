"""Read the fenced code blocks of a docs page, with the conventions the docs tests run them by.

* a ```` ```bash ```` block holds commands, one per line (``\\`` continues a line, ``#`` starts
  a comment);
* a block with ``title="<path>"`` is a file the reader creates, at that path relative to the
  folder the commands are in at that point;
* a ```` ```text ```` or ```` ```json ```` block without a title right after a ``bash`` block is
  the output of that block, stdout and stderr as a terminal shows them: a ``text`` block is that
  output line for line (:func:`shown_output_matches`), where a line ``...`` stands for lines left
  out and a line ending in `` ...`` for the end of a line left out; a ``json`` block equals the
  reply. Kedro's own log records (Rich's boxed format) are left out of the comparison, and times,
  sizes, temporary folders and ports are normalised (:func:`normalise`).
"""

from __future__ import annotations

import difflib
import re
import shlex
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
        """The logical command lines of a bash block: a line ending in ``\\`` goes on on the
        next, and so does a line that leaves a quote open (a JSON argument over several lines)."""
        out: list[str] = []
        pending = ""
        for raw in self.body.splitlines():
            line = raw.rstrip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = pending + line
            if _open_quote(line):
                pending = line + "\n"
                continue
            pending = ""
            if line.strip() and not line.strip().startswith("#"):
                out.append(line.strip())
        assert not pending, f"a command of the block at line {self.line} is never closed"
        return out


def _open_quote(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return True
    return False


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


#: The first line of a record of Kedro's Rich log handler: `[12/07/26 21:13:40] INFO     ...`,
#: or the same without the time when it repeats.
_RICH_RECORD = re.compile(
    r"^(\[\d\d/\d\d/\d\d \d\d:\d\d:\d\d\] | {20})(DEBUG|INFO|WARNING|ERROR|CRITICAL) "
)
#: Rich indents the rest of a record under its message; our own lines indent by a few spaces.
_RICH_CONTINUATION = re.compile(r"^ {20,}")


def drop_rich_records(output: str) -> list[str]:
    """The lines of `output` without Kedro's Rich log records (they wrap at the terminal's width,
    so no page can show them as a reader's terminal does)."""
    kept: list[str] = []
    in_record = False
    for line in output.splitlines():
        if _RICH_RECORD.match(line) or (in_record and _RICH_CONTINUATION.match(line)):
            in_record = True
            continue
        in_record = False
        kept.append(line)
    return kept


#: What differs from one run to the next, and the one spelling a page shows for it.
_VARYING = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)? s\b"), "<n> s"),
    (re.compile(r"\b\d+(\.\d+)? (B|KiB|MiB|GiB)\b"), "<n> KiB"),
    (re.compile(r"\b\d+ files\b"), "<n> files"),
    (re.compile(r"kedro-krt-serve-\w+"), "kedro-krt-serve-<tmp>"),
]


def normalise(line: str, replacements: dict[str, str] | None = None) -> str:
    """`line` with run-dependent values (times, durations, sizes, file counts, temporary folders)
    in one spelling, and each key of `replacements` (a real path, a port) replaced by its value
    (what the page shows)."""
    for real, shown in (replacements or {}).items():
        line = line.replace(real, shown)
    for pattern, spelling in _VARYING:
        line = pattern.sub(spelling, line)
    return line.rstrip()


def _line_matches(shown: str, real: str) -> bool:
    if shown.endswith(" ..."):
        return real.startswith(shown[: -len(" ...")])
    return shown == real


def _lines_match(shown: list[str], real: list[str]) -> bool:
    """`shown` equals `real`, where a `...` line of `shown` stands for any number of lines."""
    # matched[i][j]: shown[i:] matches real[j:]
    n, m = len(shown), len(real)
    matched = [[False] * (m + 1) for _ in range(n + 1)]
    matched[n][m] = True
    for i in range(n - 1, -1, -1):
        for j in range(m, -1, -1):
            if shown[i] == "...":
                matched[i][j] = matched[i + 1][j] or (j < m and matched[i][j + 1])
            else:
                matched[i][j] = j < m and _line_matches(shown[i], real[j]) and matched[i + 1][j + 1]
    return matched[0][0]


def _trimmed(lines: list[str]) -> list[str]:
    while lines and not lines[0]:
        lines = lines[1:]
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


def shown_output_matches(
    shown: str, output: str, replacements: dict[str, str] | None = None
) -> str | None:
    """None when the page's `shown` output is the real `output`; else a diff that says where
    they part (page first)."""
    page = _trimmed([normalise(line) for line in shown.splitlines()])
    real = _trimmed([normalise(line, replacements) for line in drop_rich_records(output)])
    if _lines_match(page, real):
        return None
    return "\n".join(difflib.unified_diff(page, real, "the page", "the real output", lineterm=""))
