"""The JSON Schema that editors read accepts and refuses what kedro-krt itself accepts and refuses.

Both come from the same pydantic dataclasses (kedro_krt/confschema.py); these tests hold the
editor's view (checked by jsonschema, the reference implementation) to kedro-krt's own checks,
on every krt.yml and krt-build.yml the project ships and on typical mistakes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from kedro_krt.cli import main
from kedro_krt.compiler.config import ConfigError, json_schema, parse_config, render_template
from kedro_krt.handwritten.config import json_schema as build_json_schema
from kedro_krt.handwritten.config import parse_build_config
from kedro_krt.handwritten.errors import BuildError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_KRT_YML = sorted(ROOT.glob("example_project/conf/*/krt.yml"))
SHIPPED_BUILD_YML = sorted(ROOT.glob("examples/*/krt-build.yml"))


def _editor_accepts(schema: dict[str, Any], data: Any) -> bool:
    validator = jsonschema.Draft202012Validator(schema)
    return not list(validator.iter_errors(data))


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())
    jsonschema.Draft202012Validator.check_schema(build_json_schema())


@pytest.mark.parametrize("path", SHIPPED_KRT_YML, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_krt_yml_is_accepted_by_both(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    parse_config(data)
    assert _editor_accepts(json_schema(), data)


def test_the_init_template_is_accepted_by_both() -> None:
    text = render_template("v1", "d", [{"name": "inference", "pipeline": "inference", "rpc": "I"}])
    data = yaml.safe_load(text)
    parse_config(data)
    assert _editor_accepts(json_schema(), data)


@pytest.mark.parametrize("path", SHIPPED_BUILD_YML, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_krt_build_yml_is_accepted_by_both(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    parse_build_config(data)
    assert _editor_accepts(build_json_schema(), data)


MISTAKES = [
    {"verison": "v1"},
    {"workflows": [{"name": "a", "pipline": "a"}]},
    {"workflows": [{"pipeline": "a"}]},
    {"workflows": [{"name": "a", "grouping": "namespaces"}]},
    {"images": "img"},
    {"images": {"runtme": "x"}},
    {"samples": "data/x.csv"},
    {"deploy": {"wait": True}},
    {"deploy": {"wait": "soon"}},
    {"version": ["a"]},
]


@pytest.mark.parametrize("data", MISTAKES, ids=lambda d: json.dumps(d))
def test_mistakes_are_refused_by_both(data: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        parse_config(data)
    assert not _editor_accepts(json_schema(), data)


@pytest.mark.parametrize(
    "data",
    [{"node": {}}, {"nodes": {"price": {"kedro": {}}}}, {"nodes": []}],
    ids=lambda d: json.dumps(d),
)
def test_build_mistakes_are_refused_by_both(data: dict[str, Any]) -> None:
    with pytest.raises(BuildError):
        parse_build_config(data)
    assert not _editor_accepts(build_json_schema(), data)


@pytest.mark.parametrize(
    ("file", "expected"), [("krt.yml", json_schema), ("krt-build.yml", build_json_schema)]
)
def test_the_cli_prints_the_schema(file: str, expected: Any) -> None:
    result = CliRunner().invoke(main, ["schema", file])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected()
