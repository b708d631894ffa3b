"""krt.yml: the schema's errors; `kedro krt init` writes a template that parses and compiles."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kedro_krt.compiler.config import (
    DEFAULT_ENTRYPOINT_IMAGE,
    ConfigError,
    KrtConfig,
    WorkflowConfig,
    describe_schema,
    parse_config,
    render_template,
)
from tests.helpers import run_cli


def test_empty_config_gives_the_defaults() -> None:
    config = parse_config(None)
    assert config == KrtConfig()
    assert config.images.entrypoint == DEFAULT_ENTRYPOINT_IMAGE


def test_a_full_config_parses() -> None:
    config = parse_config(
        {
            "version": "v1",
            "workflows": [
                {
                    "name": "inference",
                    "pipeline": "inference",
                    "namespace": None,
                    "grouping": "single",
                    "inputs": "etl.shuttles",  # one name is a list of one
                    "artifacts": ["price_model"],
                    "nodes": {"etl": "prepare"},
                }
            ],
            "images": {"runtime": "mine:1"},
            "variables": ["API_KEY"],
        }
    )
    (wf,) = config.workflows
    assert wf == WorkflowConfig(
        name="inference",
        pipeline="inference",
        grouping="single",
        inputs=("etl.shuttles",),
        artifacts=("price_model",),
        nodes={"etl": "prepare"},
    )
    assert config.images.runtime == "mine:1"
    assert config.images.entrypoint == DEFAULT_ENTRYPOINT_IMAGE
    assert config.variables == ("API_KEY",)


@pytest.mark.parametrize(
    ("data", "key", "where", "suggestion"),
    [
        ({"verison": "v1"}, "verison", "at the top level", "version"),
        ({"workflows": [{"name": "a", "pipline": "a"}]}, "pipline", "at workflows[0]", "pipeline"),
        ({"images": {"runtme": "x"}}, "runtme", "at images", "runtime"),
    ],
)
def test_unknown_key_names_key_location_and_suggestion(
    data: dict[str, Any], key: str, where: str, suggestion: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    message = str(err.value)
    assert f"unknown key '{key}' {where}" in message
    assert f"did you mean '{suggestion}'?" in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"version": ["a"]}, "'version' must be a string, found a list"),
        ({"workflows": {"name": "a"}}, "'workflows' must be a list, found a mapping"),
        ({"workflows": [{"name": "a", "nodes": ["x"]}]}, "'workflows[0].nodes' must be a mapping"),
        ({"samples": "data/x.csv"}, "'samples' must be a mapping, found a string"),
        ({"images": "img"}, "images: expected a mapping, found a string"),
        ({"workflows": [{"pipeline": "a"}]}, "'workflows[0].name' is required"),
        ({"version": True}, "'version' must be a string, found bool"),
    ],
)
def test_wrong_types_are_refused(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert expected in str(err.value)


def test_grouping_is_an_enum() -> None:
    for grouping in ("namespace", "single", "node"):
        config = parse_config({"workflows": [{"name": "a", "grouping": grouping}]})
        assert config.workflows[0].grouping == grouping
    with pytest.raises(ConfigError) as err:
        parse_config({"workflows": [{"name": "a", "grouping": "namespaces"}]})
    message = str(err.value)
    assert "'workflows[0].grouping' is 'namespaces'" in message
    assert "namespace, single, node" in message


def test_every_key_of_the_schema_is_documented() -> None:
    rows = describe_schema()
    paths = {r[0] for r in rows}
    # nested mappings (images:, deploy:) too: pydantic before 2.9 writes them as an allOf
    assert {"version", "workflows[].grouping", "images.runtime", "schemas"} <= paths
    assert {"images.entrypoint", "deploy.api", "deploy.token_env", "deploy.wait"} <= paths
    assert all(doc for *_, doc in rows)


def test_template_parses_back_to_what_was_asked() -> None:
    text = render_template(
        "my-version", 'Say "hi"', [{"name": "inference", "pipeline": "inference", "rpc": "Infer"}]
    )
    config = parse_config(yaml.safe_load(text))
    assert config.version == "my-version"
    assert config.description == 'Say "hi"'
    assert config.workflows == (
        WorkflowConfig(name="inference", pipeline="inference", rpc="Infer"),
    )


# --- kedro krt init (the real CLI in a copy of the tiny project) ----------------------------------


@pytest.fixture
def project(tiny_path: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_path, tmp_path / "project"))


@pytest.mark.integration
def test_init_writes_a_template_that_parses_and_compiles(project: Path) -> None:
    target = project / "conf" / "base" / "krt.yml"
    proc = run_cli(["kedro", "krt", "init"], cwd=project)
    assert "Wrote conf/base/krt.yml" in proc.stdout
    text = target.read_text()
    assert text.startswith("# kedro-krt:")
    config = parse_config(yaml.safe_load(text))
    assert config.version == "krt-tiny"
    # Every pipeline whose nodes are all namespaced becomes a workflow.
    pipelines = [w.pipeline for w in config.workflows]
    assert pipelines == ["alpha", "artifacts", "beta", "falsy", "flat"]

    # Refuses to overwrite without --force, and leaves the file alone.
    target.write_text(text + "# edited\n")
    refused = run_cli(["kedro", "krt", "init"], cwd=project, check=False)
    assert refused.returncode == 1
    assert "exists; pass --force to overwrite it" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert target.read_text().endswith("# edited\n")

    run_cli(["kedro", "krt", "init", "--force"], cwd=project)
    assert target.read_text() == text

    # The written config compiles as it is: no --pipeline, the workflows come from it.
    report = run_cli(["kedro", "krt", "compile"], cwd=project).stdout
    assert "KRT version krt-tiny" in report
    assert "5 workflow(s), 7 KRT node(s)" in report


@pytest.mark.integration
def test_a_bad_krt_yml_is_a_message_not_a_traceback(project: Path) -> None:
    (project / "conf" / "base" / "krt.yml").write_text(
        "version: v1\nworkflows:\n  - name: alpha\n    groupng: single\n"
    )
    proc = run_cli(["kedro", "krt", "compile"], cwd=project, check=False)
    assert proc.returncode == 1
    assert "unknown key 'groupng' at workflows[0]; did you mean 'grouping'?" in proc.stderr
    assert "Traceback" not in proc.stderr
