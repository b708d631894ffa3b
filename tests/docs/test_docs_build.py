"""The docs site builds strictly, and its reference pages are generated from the code.

The build runs `mkdocs build --strict` into a temporary folder. The checks after it read the
click commands, the config schema and the validator's rule ids from the code (not from the
docs hook), so a page that was hand-copied once and then went stale fails here.
The checks of krt.yml snippets and error messages need no mkdocs and always run.
"""

from __future__ import annotations

import ast
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from kedro_krt import cli
from kedro_krt.compiler.config import describe_schema, parse_config
from kedro_krt.node.schema.infer import type_from_config
from tests.docs.doc_blocks import read_blocks

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
BIN = Path(sys.executable).parent
PACKAGE = REPO / "kedro_krt"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mkdocs = BIN / "mkdocs"
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [str(mkdocs if mkdocs.exists() else "mkdocs"), "build", "--strict", "-d", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "NO_MKDOCS_2_WARNING": "1",
            "KEDRO_DISABLE_TELEMETRY": "true",
            "PATH": f"{BIN}:/usr/bin:/bin",
        },
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _text(page: Path) -> str:
    """The visible text of a built page, entities decoded and spaces collapsed."""
    raw = re.sub(r"</?(code|em|strong|a|span|b|i)(\s[^>]*)?>", "", page.read_text(encoding="utf-8"))
    raw = re.sub(r"<[^>]+>", " ", raw)
    return " ".join(html.unescape(raw).split())


def _plain(doc: str) -> str:
    """A help or doc string as the page shows it: Markdown code marks gone, spaces collapsed."""
    return " ".join(doc.replace("`", "").split())


def _commands(group: click.Group) -> dict[str, click.Command]:
    return dict(group.commands)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("group", "prog"), [(cli.krt, "kedro krt"), (cli.main, "kedro-krt")], ids=["krt", "main"]
)
def test_cli_page_has_every_command_and_option(site: Path, group: click.Group, prog: str) -> None:
    text = _text(site / "reference" / "cli" / "index.html")
    commands = _commands(group)
    assert commands, f"{prog} has no commands?"
    for name, command in commands.items():
        assert f"{prog} {name}" in text, f"`{prog} {name}` is missing from the CLI page"
        if command.help:
            first = _plain(command.help.strip().splitlines()[0])
            assert first in text, f"the help of `{prog} {name}` is missing: {first!r}"
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    assert opt in text, f"option {opt} of `{prog} {name}` is missing"
                if param.help:
                    assert _plain(param.help) in text, (
                        f"the help of {param.opts[0]} of `{prog} {name}` is missing"
                    )


#: The commands in the order a user meets them: the tutorial's, then the rest.
CLI_ORDER = ["init", "compile", "package", "validate", "serve", "call", "schema", "build", "deploy"]


@pytest.mark.slow
def test_cli_page_lists_each_command_once_in_the_order_a_user_meets_them(site: Path) -> None:
    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    headings = re.findall(r"<h2 id=\"([^\"]+)\"", page)
    assert headings == [f"kedro-krt-{name}" for name in CLI_ORDER]
    assert sorted(CLI_ORDER) == sorted(_commands(cli.main)), "a command is missing from CLI_ORDER"
    # The page's table of contents (the right-hand column) names each command once.
    toc = page.split("md-sidebar--secondary", 1)[1].split('class="md-content"', 1)[0]
    entries = re.findall(r'href="#(kedro-krt-[a-z]+)"', toc)
    assert entries == [f"kedro-krt-{name}" for name in CLI_ORDER]


@pytest.mark.slow
def test_config_page_gives_every_key_an_anchor_outside_a_table(site: Path) -> None:
    # A key in a narrow table column broke mid-word (`krt_versio`/`n`): each is a term of its
    # own, with an id to link to.
    sys.path.insert(0, str(DOCS))
    try:
        from hooks import key_anchor
    finally:
        sys.path.remove(str(DOCS))
    page = (site / "reference" / "config" / "index.html").read_text(encoding="utf-8")
    paths = [path for path, *_ in describe_schema()]
    anchors = [key_anchor(path) for path in paths]
    assert len(set(anchors)) == len(paths), "two keys share an anchor"
    for path, anchor in zip(paths, anchors, strict=True):
        term = f'<dt id="{anchor}"><code>{html.escape(path)}</code>'
        assert term in page, f"krt.yml key {path} has no term with id {anchor!r}"
        assert f'href="#{anchor}"' in page, f"krt.yml key {path} has no permalink"
    assert "<td><code>workflows[].grouping</code></td>" not in page


@pytest.mark.slow
def test_config_page_has_every_key(site: Path) -> None:
    text = _text(site / "reference" / "config" / "index.html")
    rows = describe_schema()
    assert len(rows) > 10
    for path, _type, _default, doc in rows:
        assert path in text, f"krt.yml key {path} is missing from the config page"
        assert _plain(doc) in text, f"the doc of {path} is missing"


@pytest.mark.slow
def test_the_site_publishes_the_json_schemas(site: Path) -> None:
    from kedro_krt.compiler.config import json_schema
    from kedro_krt.handwritten.config import json_schema as build_json_schema

    for name, expected in (
        ("krt.schema.json", json_schema),
        ("krt-build.schema.json", build_json_schema),
    ):
        published = json.loads((site / "reference" / name).read_text(encoding="utf-8"))
        assert published == expected(), f"{name} on the site is not the code's schema"


def _rule_ids() -> set[str]:
    ids = set()
    for path in (PACKAGE / "formats").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"kr[et]\.[a-z-]+", node.value)
            ):
                ids.add(node.value)
    return ids


def _warning_texts() -> list[str]:
    """The fixed words of every `warnings.append("...")` in kedro_krt/, outside the validator:
    the warnings compile, package, build and serve return instead of raising."""
    texts = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "krt":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = getattr(node, "func", None)
            if not (isinstance(node, ast.Call) and isinstance(func, ast.Attribute)):
                continue
            owner = func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if func.attr != "append" or not name.endswith("warnings") or not node.args:
                continue
            arg = node.args[0]
            parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
            words = [p.value for p in parts if isinstance(p, ast.Constant)]
            longest = max((str(w) for w in words), key=len, default="")
            if len(longest.strip()) > 12:
                texts.append(longest.strip())
    return texts


@pytest.mark.slow
def test_errors_page_has_every_returned_warning(site: Path) -> None:
    text = _text(site / "reference" / "errors" / "index.html")
    texts = _warning_texts()
    assert len(texts) > 10
    shown = _plain(text)  # code cells show the backticks of a message literally
    missing = [t for t in texts if _plain(t) not in shown]
    assert not missing, f"returned warnings missing from the errors page: {missing}"


@pytest.mark.slow
def test_errors_page_has_every_validator_rule(site: Path) -> None:
    text = _text(site / "reference" / "errors" / "index.html")
    ids = _rule_ids()
    assert len(ids) > 20
    missing = sorted(i for i in ids if i not in text)
    assert not missing, f"validator rules missing from the errors page: {missing}"


_KNOWN_TAGS = [
    "html",
    "head",
    "body",
    "meta",
    "link",
    "title",
    "script",
    "style",
    "noscript",
    "header",
    "footer",
    "main",
    "article",
    "aside",
    "section",
    "nav",
    "form",
    "input",
    "label",
    "button",
    "svg",
    "path",
    "use",
    "g",
    "circle",
    "rect",
    "iframe",
    "colgroup",
    "col",
    "figure",
    "figcaption",
    "source",
    "picture",
    "template",
    "option",
    "select",
    "textarea",
    "time",
]


@pytest.mark.slow
def test_no_placeholder_is_swallowed_as_a_tag(site: Path) -> None:
    sys.path.insert(0, str(DOCS))
    try:
        from hooks import HTML_TAGS
    finally:
        sys.path.remove(str(DOCS))
    allowed = set(HTML_TAGS) | set(_KNOWN_TAGS)
    for page in site.rglob("*.html"):
        tags = set(re.findall(r"<([A-Za-z][\w-]*)[\s>/]", page.read_text(encoding="utf-8")))
        unknown = sorted(t for t in tags if t.lower() not in allowed)
        assert not unknown, f"{page.relative_to(site)}: <{'>, <'.join(unknown)}> would be invisible"


@pytest.mark.slow
def test_no_page_shows_rendering_debris(site: Path) -> None:
    """What a reader must never see: click's sentinel as a default, a key combination left as
    `++ctrl+c++` (pymdownx.keys), or an escape shown as text (`&lt;` on screen)."""
    for page in site.rglob("*.html"):
        text = _text(page)
        where = page.relative_to(site)
        assert "Sentinel." not in text, f"{where}: click's Sentinel shown as a default"
        assert not re.search(r"\+\+[a-z]", text), f"{where}: a literal ++key++"
        assert "&lt;" not in text and "&gt;" not in text, f"{where}: an escape shown as text"


@pytest.mark.slow
def test_type_tables_are_generated(site: Path) -> None:
    text = _text(site / "reference" / "types" / "index.html")
    assert "kedro-krt:" not in text, "a marker was left in the page"
    for expected in ("category", "google.protobuf.Timestamp", "optional int64", "list[float]"):
        assert expected in text


#: Pages whose reader needs a diagram (site paths): the flow from a project to KRE, the
#: tutorial's pipeline and its KRT nodes, how Kedro nodes are grouped and what flows between them.
DIAGRAM_PAGES = [
    ".",
    "tutorial",
    "explanation/compilation",
    "explanation/krt-contents",
    "explanation/words",
]


@pytest.mark.slow
def test_the_site_loads_no_script_from_elsewhere_and_ships_mermaid(site: Path) -> None:
    # Opened from disk or offline, a page must not depend on a CDN: every <script src> is the
    # site's own, and mermaid.js (which mkdocs-material would fetch from a CDN) is served by it.
    external = sorted(
        f"{page.relative_to(site)}: {src}"
        for page in site.rglob("*.html")
        for src in re.findall(r"<script[^>]*\ssrc=\"([^\"]+)\"", page.read_text(encoding="utf-8"))
        if re.match(r"[a-z]+:|//", src)
    )
    assert external == []
    assert (site / "assets" / "mermaid.min.js").stat().st_size > 1_000_000
    for name in DIAGRAM_PAGES:
        page = (site / name / "index.html").read_text(encoding="utf-8")
        assert 'class="mermaid"' in page, f"{name} has no diagram"
        assert "assets/mermaid.min.js" in page, f"{name} does not load the site's mermaid.js"
    assert not list(site.rglob("__pycache__")), "the docs hook's bytecode was published"


# --- checks without mkdocs -----------------------------------------------------------------


def _config_blocks() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in read_blocks(page):
            if block.lang == "yaml" and re.fullmatch(r"conf/[^/]+/krt.yml", block.title or ""):
                found.append((f"{page.relative_to(DOCS)}:{block.line}", block.body))
    return found


def test_every_krt_yml_snippet_is_valid() -> None:
    blocks = _config_blocks()
    assert len(blocks) >= 8
    for where, body in blocks:
        data = yaml.safe_load(body)
        config = parse_config(data)
        for name, spec in config.schemas.items():
            type_from_config(spec, where=f"{where} schemas.{name}")


def _message_corpus() -> list[str]:
    """Every string and f-string of the package, with `<…>` where an f-string varies."""
    sys.path.insert(0, str(DOCS))
    try:
        from hooks import _render
    finally:
        sys.path.remove(str(DOCS))
    corpus = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr | ast.Constant):
                text = _render(node)
                if text:
                    corpus.append(text)
    return corpus


def test_common_errors_quote_real_messages() -> None:
    corpus = "\n".join(_message_corpus())
    table = (DOCS / "reference" / "errors.md").read_text(encoding="utf-8")
    section = table.split("## Common errors", 1)[1].split("\n## ", 1)[0]
    checked = 0
    for row in section.splitlines():
        match = re.match(r"\| (``?)(.+?)\1", row)
        if not match:
            continue
        fragment = match.group(2).strip()
        if re.fullmatch(r"[A-Z_]+", fragment):
            continue  # a gRPC status code, not a message
        for piece in re.split(r"<[^>]+>|\.\.\.", fragment):
            piece = piece.strip()
            if len(piece) >= 6:
                assert piece in corpus, f"errors.md quotes a message the code lacks: {piece!r}"
                checked += 1
    assert checked >= 15


@pytest.mark.slow
def test_api_page_is_generated_from_the_code(site: Path) -> None:
    """mkdocstrings rendered the signatures and docstrings, not the `:::` directives."""
    text = _text(site / "reference" / "api" / "index.html")
    assert ":::" not in text, "an mkdocstrings directive was left as text"
    for expected in (
        "kedro_krt.node.runtime.session.KrtSession",
        "project_path",  # KrtSession's signature (its __init__ merged into the class)
        "kedro_krt.serve.client.call",
        "127.0.0.1:9000",  # call's default address
        "CallError",
        "InvalidRequest",
        "RuntimeSetupError",
    ):
        assert expected in text, f"{expected!r} is missing from the Python API page"


def _chromium() -> str | None:
    found = (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))
    return next((path for path in found if path), None)


@pytest.mark.slow
def test_every_diagram_renders_with_the_bundled_mermaid_offline(site: Path, tmp_path: Path) -> None:
    """Each mermaid block of the docs is drawn by the site's own mermaid.js in a headless
    browser, from disk: a diagram with a syntax error, or a mermaid.js that needs the network,
    fails here rather than on a reader's screen (as raw `flowchart` text)."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no headless Chromium (apt-get install chromium)")
    diagrams = [
        (f"{page.relative_to(DOCS)}:{block.line}", block.body)
        for page in sorted(DOCS.rglob("*.md"))
        for block in read_blocks(page)
        if block.lang == "mermaid"
    ]
    assert len(diagrams) >= 6
    probe = tmp_path / "probe.html"
    script = (site / "assets" / "mermaid.min.js").as_uri()
    probe.write_text(
        f'<html><body><script src="{script}"></script>'
        "<script>\n"
        f"const diagrams = {json.dumps([body for _, body in diagrams])};\n"
        "mermaid.initialize({startOnLoad: false});\n"
        "(async () => {\n"
        "  const out = [];\n"
        "  for (const [i, text] of diagrams.entries()) {\n"
        "    try { const {svg} = await mermaid.render('d' + i, text);\n"
        "          out.push(svg.includes('<svg') ? 'ok' : 'no svg'); }\n"
        "    catch (e) { out.push('error: ' + e.message); }\n"
        "  }\n"
        "  const pre = document.createElement('pre'); pre.id = 'result';\n"
        "  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);\n"
        "})();\n"
        "</script></body></html>",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    match = re.search(r'<pre id="result">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the browser drew nothing:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    results = json.loads(html.unescape(match.group(1)))
    failed = [f"{where}: {result}" for (where, _), result in zip(diagrams, results, strict=True)
              if result != "ok"]
    assert not failed, "diagrams that do not render:\n" + "\n".join(failed)
