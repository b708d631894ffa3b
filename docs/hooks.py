"""mkdocs hook: the reference tables are generated from the code at build time, never copied.

A page asks for a table with a marker comment on a line of its own, e.g.
``<!-- kedro-krt: config-table -->``. The markers and what replaces them:

* ``config-table``: every key of ``conf/<env>/krt.yml``, each with its anchor, from
  :func:`kedro_krt.compiler.config.describe_schema`;
* ``build-config-table``: every key of ``krt-build.yml``, from
  :func:`kedro_krt.handwritten.config.describe_build_schema`;
* ``dtype-table`` / ``value-table`` / ``hint-table``: the proto type kedro-krt gives real pandas
  columns, Python values and type hints, found by running :mod:`kedro_krt.node.schema.infer`
  on them;
* ``schema-words``: the scalar names and aliases accepted under ``schemas:``;
* ``validator-rules``: every rule of the KRT validator, from the catalogue
  :mod:`kedro_krt.formats.rules` and the other checks of ``kedro_krt/formats/*.py``;
* ``error-catalog``: every message a user error can carry, read from the ``raise`` statements;
* ``warning-catalog``: every warning returned rather than raised (compile, package, build, serve),
  read from the ``warnings.append(...)`` calls.

An unknown marker fails the build, so a typo cannot leave a page silently empty.

The JSON Schemas of krt.yml and krt-build.yml (what ``kedro-krt schema`` prints) are written
into the site as ``reference/krt.schema.json`` and ``reference/krt-build.schema.json``.
"""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MARKER = re.compile(r"^<!-- kedro-krt: ([a-z-]+) -->$", re.MULTILINE)

#: The root of every user error (kedro_krt/node/errors.py): the CLI prints their message
#: without a traceback. Its subclasses are found in the source, never listed by hand.
USER_ERROR_ROOT = "KrtError"

#: click's own user errors, raised by the commands for a wrong flag or argument.
CLICK_ERRORS = ("ClickException", "UsageError", "BadParameter")


def _package_dir() -> Path:
    import kedro_krt

    return Path(kedro_krt.__file__).resolve().parent


def _code(text: str) -> str:
    """Inline code that is safe inside a Markdown table cell."""
    escaped = html.escape(" ".join(text.split("\n")))
    # A backtick inside would start a Markdown code span, which escapes the escapes again.
    return "<code>" + escaped.replace("|", "&#124;").replace("`", "&#96;") + "</code>"


def _cell(text: str) -> str:
    return text.replace("|", "&#124;").replace("\n", " ")


# --- krt.yml ---------------------------------------------------------------------------------


def key_anchor(path: str) -> str:
    """The id of a krt.yml key on the reference page: `workflows[].grouping` ->
    `workflows-grouping`, so `config.md#workflows-grouping` links to it."""
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def config_table() -> str:
    """Every key of krt.yml as a definition list: the key (with its anchor and permalink) as the
    term, then its type, its default and what it does.

    A list, not a table: a table's narrow first column broke long keys mid-word
    (`krt_versio`/`n`), and a term can carry an id to link to."""
    from kedro_krt.compiler.config import describe_schema

    entries = []
    for path, type_name, default, doc in describe_schema():
        anchor = key_anchor(path)
        facts = f"*type* {_code(type_name)}" + (f", *default* {_code(default)}" if default else "")
        entries += [
            f"`{path}` [¶](#{anchor}){{ .headerlink title=\"Permanent link\" }} {{ #{anchor} }}",
            f":   {facts}. {' '.join(doc.split())}",
            "",
        ]
    return "\n".join(entries)


# --- type mapping ----------------------------------------------------------------------------


def _proto(spec: Any) -> str:
    """How a TypeSpec appears in the generated proto, in words."""
    from kedro_krt.node.schema.types import PROTO_SCALAR

    if spec is None:
        return "not inferable: next source in the order, else google.protobuf.Value"
    if spec.kind == "scalar":
        return ("optional " if spec.optional else "") + PROTO_SCALAR[spec.scalar]
    if spec.kind == "list":
        return f"repeated {PROTO_SCALAR[spec.scalar]}"
    if spec.kind == "table":
        return "repeated <Name>Row, one field per column"
    if spec.kind == "record":
        inner = ", ".join(f"{f.name}: {_proto(f.type)}" for f in spec.fields)
        return f"message {{{inner}}}"
    if spec.kind == "struct":
        return "google.protobuf.Struct"
    return "google.protobuf.Value"


def _rebuilt(spec: Any) -> str:
    if spec is None:
        return ""
    dtype = dict(spec.meta).get("dtype", "")
    container = spec.container or "scalar"
    return f"{container} ({dtype})" if dtype else container


def _column_cases() -> Iterator[tuple[str, Any]]:
    import numpy as np
    import pandas as pd

    # The label is the note; the dtype shown is the real one of the Series built here.
    yield "", pd.Series([1.5, 2.0])
    yield "holding a NaN", pd.Series([1.5, None])
    yield "", pd.Series([1.5], dtype="float32")
    yield "", pd.Series([1, 2])
    yield "", pd.Series([1, 2], dtype="int32")
    yield "", pd.Series([1, 2], dtype="uint8")
    yield "nullable, holding a NA", pd.Series([1, None], dtype="Int64")
    yield "", pd.Series([True, False])
    yield "nullable, holding a NA", pd.Series([True, None], dtype="boolean")
    yield "pandas' default for text", pd.Series(["a", "b"])
    yield "", pd.Series(["a", "b"], dtype="string")
    yield "", pd.Series(["a", "b"], dtype="category")
    yield "", pd.Series(pd.to_datetime(["2024-01-01", "2024-06-01"]))
    yield "", pd.Series(pd.to_datetime(["2024-01-01"], utc=True))
    yield "holding str", pd.Series(["a", "b"], dtype=object)
    yield "holding bool", pd.Series([True, False], dtype=object)
    yield "holding int", pd.Series([1, 2], dtype=object)
    yield "holding bytes", pd.Series([b"a", b"b"], dtype=object)
    yield "holding Decimal", pd.Series([decimal.Decimal("1.5")], dtype=object)
    yield "holding mixed values", pd.Series([1, "a"], dtype=object)
    del np


def dtype_table() -> str:
    """The proto type of a DataFrame column of each dtype, found by running the inference."""
    import pandas as pd

    from kedro_krt.node.schema.infer import table_from_frame
    from kedro_krt.node.schema.types import PROTO_SCALAR

    rows = [
        "| column dtype | field in the `<Name>Row` message | decoded back as |",
        "|---|---|---|",
    ]
    for note, series in _column_cases():
        (column,) = table_from_frame(pd.DataFrame({"c": series})).columns
        proto = ("optional " if column.optional else "") + PROTO_SCALAR[column.kind]
        label = _code(str(series.dtype)) + (f" ({note})" if note else "")
        rows.append(f"| {label} | {_code(proto)} | {_code(column.dtype)} |")
    return "\n".join(rows)


def _value_cases() -> Iterator[tuple[str, Any]]:
    import numpy as np
    import pandas as pd

    yield "True", True
    yield "3", 3
    yield "2.5", 2.5
    yield '"text"', "text"
    yield 'b"raw"', b"raw"
    yield "datetime(2024, 1, 1)", dt.datetime(2024, 1, 1)
    yield 'pd.Timestamp("2024-01-01", tz="UTC")', pd.Timestamp("2024-01-01", tz="UTC")
    yield "np.float32(1.5)", np.float32(1.5)
    yield "np.int64(3)", np.int64(3)
    yield "[1, 2]", [1, 2]
    yield "[1, 2.5]", [1, 2.5]
    yield '("a", "b")', ("a", "b")
    yield '[1, "a"]', [1, "a"]
    yield "pd.Series([1.0, 2.0], name=\"price\")", pd.Series([1.0, 2.0], name="price")
    yield "np.array([1, 2])", np.array([1, 2])
    yield "np.zeros((2, 2))", np.zeros((2, 2))
    yield 'pd.DataFrame({"a": [1]})', pd.DataFrame({"a": [1]})
    yield '{"depth": 3, "fast": True}', {"depth": 3, "fast": True}
    yield '{"rows": [{"a": 1}]}', {"rows": [{"a": 1}]}
    yield "{1: 2}", {1: 2}
    yield "{}", {}
    yield "None", None


def value_table() -> str:
    """The proto type of a Python value (what a catalog load or trial run returns)."""
    from kedro_krt.node.schema.infer import infer_type

    rows = ["| value | proto type | decoded back as |", "|---|---|---|"]
    for label, value in _value_cases():
        spec = infer_type(value)
        rows.append(f"| {_code(label)} | {_code(_proto(spec))} | {_cell(_rebuilt(spec))} |")
    return "\n".join(rows)


def _hint_cases() -> Iterator[tuple[str, Any]]:
    import typing
    from collections.abc import Sequence

    import numpy as np
    import pandas as pd

    yield "int", int
    yield "float", float
    yield "str", str
    yield "bool", bool
    yield "bytes", bytes
    yield "datetime", dt.datetime
    yield "pd.Timestamp", pd.Timestamp
    yield "float | None", float | None
    yield "Optional[str]", typing.Optional[str]  # noqa: UP045 - the spelling users write
    yield "list[float]", list[float]
    yield "Sequence[str]", Sequence[str]
    yield "tuple[int, ...]", tuple[int, ...]
    yield "tuple[int, str]", tuple[int, str]
    yield "dict[str, float]", dict[str, float]
    yield "dict", dict
    yield "pd.DataFrame", pd.DataFrame
    yield "pd.Series", pd.Series
    yield "np.ndarray", np.ndarray
    yield "Any", typing.Any


def hint_table() -> str:
    """The proto type told by a node function's annotation."""
    from kedro_krt.node.schema.infer import type_from_hint

    rows = ["| annotation | proto type |", "|---|---|"]
    for label, hint in _hint_cases():
        rows.append(f"| {_code(label)} | {_code(_proto(type_from_hint(hint)))} |")
    return "\n".join(rows)


def schema_words() -> str:
    """Scalar names and aliases of the `schemas:` language, from the parser itself."""
    from kedro_krt.node.schema import infer
    from kedro_krt.node.schema.types import PROTO_SCALAR, SCALAR_KINDS

    aliases: dict[str, list[str]] = {}
    for alias, target in getattr(infer, "_ALIASES", {}).items():
        aliases.setdefault(target, []).append(alias)
    rows = ["| word | also accepted | proto type |", "|---|---|---|"]
    for kind in SCALAR_KINDS:
        also = ", ".join(_code(a) for a in aliases.get(kind, []))
        rows.append(f"| {_code(kind)} | {also} | {_code(PROTO_SCALAR[kind])} |")
    return "\n".join(rows)


# --- messages read from the source -----------------------------------------------------------


def _placeholder(expr: ast.expr) -> str:
    if isinstance(expr, ast.Name):
        return f"<{expr.id}>"
    if isinstance(expr, ast.Attribute):
        return f"<{expr.attr}>"
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
        return f"<{expr.value.id}>"
    return "<…>"


def _render(expr: ast.expr) -> str | None:
    """The text of a message expression with `<name>` for what varies; None if not text."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        parts = []
        for value in expr.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append(_placeholder(value.value))
        return "".join(parts)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = _render(expr.left), _render(expr.right)
        return (left or "<…>") + (right or "<…>")
    if isinstance(expr, ast.IfExp):
        return _render(expr.body)
    return None


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _sources() -> Iterator[tuple[str, ast.Module]]:
    root = _package_dir()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        yield rel, ast.parse(path.read_text(encoding="utf-8"))


def user_errors() -> tuple[str, ...]:
    """The names of every class that derives from :data:`USER_ERROR_ROOT`, however
    indirectly, root first then by name; then click's."""
    bases: dict[str, set[str]] = {}
    for _, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {_base_name(b) for b in node.bases}
                bases.setdefault(node.name, set()).update(names)
    found = {USER_ERROR_ROOT}
    grew = True
    while grew:
        more = {name for name, of in bases.items() if of & found} - found
        found |= more
        grew = bool(more)
    return (USER_ERROR_ROOT, *sorted(found - {USER_ERROR_ROOT}), *CLICK_ERRORS)


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    return ""


def error_messages() -> list[tuple[str, str, str]]:
    """(exception class, message with <placeholders>, file) of every user-facing raise."""
    names = set(user_errors())
    found: list[tuple[str, str, str]] = []
    for rel, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            name = _call_name(node.exc)
            if name not in names or not node.exc.args:
                continue
            text = _render(node.exc.args[0])
            if text and text.strip() not in ("", "<…>", "<exc>"):
                found.append((name, text, rel))
    return found


def error_catalog() -> str:
    """Every user-facing message, grouped by the exception that carries it."""
    by_class: dict[str, list[tuple[str, str]]] = {}
    for name, text, rel in error_messages():
        by_class.setdefault(name, []).append((text, rel))
    out: list[str] = []
    for name in user_errors():
        entries = by_class.get(name)
        if not entries:
            continue
        out += [f"### {name}", "", "| message | raised in |", "|---|---|"]
        for text, rel in sorted(set(entries)):
            out.append(f"| {_code(text)} | {_code(rel)} |")
        out.append("")
    return "\n".join(out)


def _is_warning_list(func: ast.expr) -> bool:
    """`warnings.append`, `self.warnings.append`, `plan_warnings.append`: a list of warnings."""
    if not (isinstance(func, ast.Attribute) and func.attr == "append"):
        return False
    owner = func.value
    name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
    return name.endswith("warnings")


def warning_messages() -> list[tuple[str, str]]:
    """(message with <placeholders>, file) of every warning that is returned, not raised: what
    compile, package, build and serve report and carry on after."""
    found: list[tuple[str, str]] = []
    for rel, tree in _sources():
        if rel.startswith("kedro_krt/formats/"):
            continue  # the validator's warnings have their own table, by rule
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _is_warning_list(node.func) and node.args):
                continue
            text = _render(node.args[0])
            if text and text.strip() not in ("", "<…>"):
                found.append((text.replace("\n", " "), rel))
    return found


def warning_catalog() -> str:
    """Every returned warning: the message and the file that returns it."""
    rows = ["| message | returned by |", "|---|---|"]
    for text, rel in sorted(set(warning_messages())):
        rows.append(f"| {_code(text)} | {_code(rel)} |")
    return "\n".join(rows)


def validator_rules() -> list[tuple[str, str, str]]:
    """(rule id, severity, message with <placeholders>) of every check of the KRT validator:
    the catalogue of the manifest checks (:data:`kedro_krt.formats.rules.CATALOGUE`), then the
    checks that still write their rule id where they report it (the archive, the files, v2)."""
    from kedro_krt.formats.rules import CATALOGUE

    found = [(rule.id, rule.severity, rule.shown()) for rule in CATALOGUE]
    for rel, tree in _sources():
        if not rel.startswith("kedro_krt/formats/"):
            continue
        for node in ast.walk(tree):
            name = _call_name(node) if isinstance(node, ast.Call) else ""
            if name not in ("error", "warning", "kre_error"):
                continue
            assert isinstance(node, ast.Call)
            # error/warning(where, message, rule[, kre]); kre_error(where, kre, hint, rule)
            index = 3 if name == "kre_error" else 2
            if len(node.args) <= index:
                continue
            rule = node.args[index]
            if not (isinstance(rule, ast.Constant) and isinstance(rule.value, str)):
                continue
            if not rule.value.startswith(("kre.", "krt.")):
                continue
            message = (_render(node.args[1]) or "<…>").replace("\n", " ")
            found.append((rule.value, "error" if name == "kre_error" else name, message))
    return found


def validator_table() -> str:
    """One row per validator rule: id, severity, who enforces it, messages."""
    rules: dict[str, tuple[set[str], list[str]]] = {}
    for rule, severity, message in validator_rules():
        severities, messages = rules.setdefault(rule, (set(), []))
        severities.add(severity)
        if message not in messages:
            messages.append(message)
    rows = ["| rule | severity | whose rule | message |", "|---|---|---|---|"]
    for rule in sorted(rules):
        severities, messages = rules[rule]
        who = "KRE's (KRE refuses it or fails on it)" if rule.startswith("kre.") else "ours"
        text = "<br>".join(_code(m) for m in messages)
        rows.append(f"| {_code(rule)} | {', '.join(sorted(severities))} | {who} | {text} |")
    return "\n".join(rows)


def build_config_table() -> str:
    """One row per key of krt-build.yml: path, type, what it does."""
    from kedro_krt.handwritten.config import describe_build_schema

    rows = ["| key | type | what it does |", "|---|---|---|"]
    for path, type_name, doc in describe_build_schema():
        rows.append(f"| {_code(path)} | {_cell(type_name)} | {_cell(doc)} |")
    return "\n".join(rows)


GENERATORS: dict[str, Callable[[], str]] = {
    "config-table": config_table,
    "build-config-table": build_config_table,
    "dtype-table": dtype_table,
    "value-table": value_table,
    "hint-table": hint_table,
    "schema-words": schema_words,
    "error-catalog": error_catalog,
    "warning-catalog": warning_catalog,
    "validator-rules": validator_table,
}


def render_markers(markdown: str, where: str = "page") -> str:
    """Replace every marker of `markdown` by its generated table."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(
                f"{where}: unknown marker 'kedro-krt: {name}'; known: {', '.join(GENERATORS)}"
            )
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs hook: fill the generated tables of a page."""
    return render_markers(markdown, page.file.src_uri)


#: Element names that may appear as bare tags in the built pages; any other `<word>` is text.
HTML_TAGS = frozenset(
    [
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details",
        "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
        "kbd", "li", "nav", "ol", "p", "pre", "s", "small", "span", "strong", "sub",
        "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul"
    ]
)
_BARE_TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)>")


def escape_placeholders(content: str) -> str:
    """Show `<env>`-style placeholders of generated help texts as text, not as unknown tags.

    mkdocs-click passes click's help texts through Markdown, where `conf/<env>/krt.yml` would
    otherwise become an invisible `<env>` element.
    """

    def fix(match: re.Match[str]) -> str:
        if match.group(2).lower() in HTML_TAGS:
            return match.group(0)
        return html.escape(match.group(0))

    return _BARE_TAG.sub(fix, content)


#: click 8.2+ gives options without a default the sentinel `UNSET`, which mkdocs-click prints.
_UNSET_DEFAULT = re.compile(r"<td><code>Sentinel\.UNSET</code></td>")


def on_page_content(html_text: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs hook: placeholders in the generated CLI reference stay visible, and an option
    without a default shows none."""
    if page.file.src_uri == "reference/cli.md":
        return _UNSET_DEFAULT.sub("<td></td>", escape_placeholders(html_text))
    return html_text


#: The JSON Schemas published with the site: file name -> the function that makes it.
SCHEMA_FILES = {
    "krt.schema.json": "kedro_krt.compiler.config",
    "krt-build.schema.json": "kedro_krt.handwritten.config",
}


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: publish the JSON Schemas editors read, made from the code as the tables."""
    import importlib
    import json

    from mkdocs.structure.files import File

    for name, module in SCHEMA_FILES.items():
        schema = importlib.import_module(module).json_schema()
        files.append(
            File.generated(config, f"reference/{name}", content=json.dumps(schema, indent=2) + "\n")
        )
    return files
