"""No code block of the docs is cut on a 1280 px wide screen.

At 1280 px the site's content column leaves a code block 656 px for its text, and its code
font (Roboto Mono, or the monospace fallback offline, at 13.6 px) is 8.2 px a character: 80
characters (measured in headless Chromium on the built tutorial). A longer line scrolls
sideways, and a reader of a command or an output sees only its start. A block inside a list
item or an admonition is indented, so it has a few characters less.

Mermaid blocks are drawn as diagrams, not shown as text. A few outputs are quoted as the
command prints them, in lines wider than the page (a report's table, a long message), and a data
file can have a line that no break keeps valid (a CSV header): they are named here, each by the
command it follows or the words it starts with, with why.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

#: Characters of a line that a code block shows at 1280 px without scrolling.
WIDTH = 80
#: The same for a block indented under a list item or in an admonition.
INDENTED_WIDTH = 76

#: (page, the command an output block follows or the text it starts with): outputs quoted as
#: printed, and data files, whose lines are wider than the page.
WIDE_OUTPUTS = {
    ("tutorial/index.md", "kedro krt compile"),  # its summary fits 100 columns
    ("how-to/kedro-as-a-node.md", "Node price: "),  # the build report
    ("how-to/kedro-as-a-node.md", "Error: node 'price'"),  # a type-check error, as wrapped
    ("how-to/schemas.md", "no type found for "),  # compile's warning, one line
    # deploy's last lines: the admin UI's URL of the version, and the entrypoint, one a line
    ("how-to/deploy-to-kre.md", "version shuttle-prices: PUBLISHED"),
    # The sample CSV (written into the starter by tests/starter): its header is the model's
    # 8 feature columns, and a header cannot break. As JSON it would fit, but pandas reads a
    # JSON 95.0 as an integer: the request's field would change type.
    ("how-to/inference-pipeline.md", "engines,passenger_capacity,"),
    # KRE's fluent-bit first-line pattern, quoted as config.go writes it, and a runner line as
    # it is printed: the point of both is that they are one line each.
    ("explanation/runner.md", "^(?<logtime>"),
    # call's refusal of a misspelt field: one line as printed, with the fields the row has
    ("how-to/call.md", "Error: the data for Inference has no field"),
    ("explanation/runner.md", "2026-12-07T21:14:49.198Z INFO kedro-krt"),
}
#: Pages rewritten on another branch at the same time (issue 21's deploy part): checked once
#: that work is in.
NOT_YET_CHECKED: set[str] = set()

_SNIPPET = re.compile(r'^\s*--8<-- "(?P<path>[^"]+)"\s*$', re.M)

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)


def _blocks(page: Path) -> list[tuple[int, str, str, str]]:
    """(line, indent, language, body) of each fenced block, indented ones too; a block that
    includes a file (`--8<-- "path"`, pymdownx.snippets) shows that file."""
    text = page.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m["indent"], m["lang"], _included(m["body"]))
        for m in _FENCE.finditer(text)
    ]


def _included(body: str) -> str:
    return _SNIPPET.sub(lambda m: (REPO / m["path"]).read_text(encoding="utf-8"), body)


def _output_of(blocks: list[tuple[int, str, str, str]], index: int) -> str | None:
    """The commands of the bash block before an untitled output block, if it is one."""
    if index == 0 or blocks[index][2] not in ("text", "json", ""):
        return None
    before = blocks[index - 1]
    return before[3].strip() if before[2] == "bash" else None


def _is_wide_output(rel: str, blocks: list[tuple[int, str, str, str]], index: int) -> bool:
    command, body = _output_of(blocks, index), blocks[index][3]
    return any(
        page == rel and (command == marker or body.startswith(marker))
        for page, marker in WIDE_OUTPUTS
    )


def wide_lines(page: Path, docs: Path = DOCS) -> list[str]:
    """Each line of a code block of `page` that a 1280 px screen cuts, with where it is."""
    rel = page.relative_to(docs).as_posix()
    if rel in NOT_YET_CHECKED:
        return []
    blocks = _blocks(page)
    found = []
    for index, (line, indent, lang, body) in enumerate(blocks):
        if lang == "mermaid":
            continue
        if _is_wide_output(rel, blocks, index):
            continue
        limit = INDENTED_WIDTH if indent else WIDTH
        for offset, text in enumerate(body.splitlines(), 1):
            shown = text[len(indent):] if text.startswith(indent) else text
            if len(shown) > limit:
                found.append(f"{rel}:{line + offset}: {len(shown)} > {limit}: {shown.strip()}")
    return found


def test_no_code_block_is_wider_than_the_page() -> None:
    pages = sorted(DOCS.rglob("*.md"))
    assert len(pages) > 20
    wide = [line for page in pages for line in wide_lines(page)]
    assert not wide, (
        "code lines a 1280 px screen cuts (break commands with `\\`, shorten comments, wrap "
        "code):\n" + "\n".join(wide)
    )


def test_the_named_wide_outputs_exist() -> None:
    # An exemption that no longer matches a block would hide nothing, and stay.
    for rel, marker in WIDE_OUTPUTS:
        blocks = _blocks(DOCS / rel)
        assert any(_is_wide_output(rel, blocks, i) for i in range(len(blocks))), (rel, marker)


def test_a_wide_line_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\n" + "x" * 80 + "\n" + "x" * 81 + "\n```\n\n- item\n\n    ```\n    "
        + "y" * 77 + "\n    ```\n\n```mermaid\n" + "z" * 200 + "\n```\n\n"
        '```python\n--8<-- "RELEASE.md"\n```\n',
        encoding="utf-8",
    )
    found = wide_lines(page, docs=tmp_path)
    release = [len(line) for line in (REPO / "RELEASE.md").read_text().splitlines()]
    assert max(release) > WIDTH  # the included file is read, and has a wide line
    first_wide = next(n for n in release if n > WIDTH)
    assert [w.split(": ")[1] for w in found][:3] == ["81 > 80", "77 > 76", f"{first_wide} > 80"]
