"""The docs of `kedro-krt build`: every krt-build.yml shown is one the build reads, the
reference table has every key, and the page quotes the examples that the tests build."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from kedro_krt.handwritten.config import describe_build_schema, parse_build_config
from kedro_krt.node.schema.infer import type_from_config
from tests.docs.doc_blocks import read_blocks

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
_SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"\s*$')


def _build_files() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in read_blocks(page):
            if block.lang != "yaml" or not (block.title or "").endswith("krt-build.yml"):
                continue
            body = block.body
            snippet = _SNIPPET.match(body.strip())
            if snippet:
                body = (REPO / snippet.group("path")).read_text(encoding="utf-8")
            found.append((f"{page.relative_to(DOCS)}:{block.line}", body))
    return found


def test_every_krt_build_yml_shown_is_valid() -> None:
    files = _build_files()
    assert len(files) >= 3
    for where, body in files:
        config = parse_build_config(yaml.safe_load(body))
        assert config.nodes, where
        for name, node in config.nodes.items():
            assert node.kedro is not None, where
            for dataset, spec in node.kedro.schemas.items():
                type_from_config(spec, where=f"{where} nodes.{name}.kedro.schemas.{dataset}")


def test_the_reference_table_has_every_key() -> None:
    page = (DOCS / "reference" / "build.md").read_text(encoding="utf-8")
    assert "<!-- kedro-krt: build-config-table -->" in page
    sys.path.insert(0, str(DOCS))
    try:
        from hooks import build_config_table
    finally:
        sys.path.remove(str(DOCS))
    table = build_config_table()
    for path, _type, doc in describe_build_schema():
        assert f"<code>{path.replace('<', '&lt;').replace('>', '&gt;')}</code>" in table
        assert doc.split("`")[0] in table
