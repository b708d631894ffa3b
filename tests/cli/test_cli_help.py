"""Every command's --help, the plugin's registration with Kedro, and a wrong pipeline name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kedro_krt.cli import commands, main
from tests.helpers import run_cli


def _walk(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _walk(command, (*prefix, name))


PROJECT_COMMANDS = list(_walk(commands))
GLOBAL_COMMANDS = list(_walk(main))


def test_the_commands_we_expect_exist() -> None:
    # Both groups have every command, in the order a user meets them (docs/reference/cli.md).
    expected = ("init", "compile", "package", "build", "validate", "serve", "call", "deploy")
    group = commands.commands["krt"]
    assert isinstance(group, click.Group)
    listed = group.list_commands(click.Context(group))
    assert [c for c in listed if c in expected] == list(expected)
    assert {("krt", c) for c in expected} <= set(PROJECT_COMMANDS)
    assert {(c,) for c in (*expected, "schema")} <= set(GLOBAL_COMMANDS)


@pytest.mark.parametrize("path", PROJECT_COMMANDS, ids=" ".join)
def test_project_command_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(commands, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and path[-1] in result.output
    # A one-line description shows under Usage.
    assert len(result.output.splitlines()) > 3


@pytest.mark.parametrize("path", [(), *GLOBAL_COMMANDS], ids=lambda p: " ".join(p) or "kedro-krt")
def test_global_command_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_plugin_is_registered_with_kedro(trained_project: Path) -> None:
    proc = run_cli(["kedro", "krt", "--help"], cwd=trained_project)
    for command in ("init", "compile", "package", "validate", "serve", "call"):
        assert command in proc.stdout
    proc = run_cli(["kedro-krt", "--help"], cwd=trained_project)
    assert "validate" in proc.stdout


@pytest.mark.parametrize("command", ["compile", "package"])
def test_wrong_pipeline_name_suggests_the_right_one(trained_project: Path, command: str) -> None:
    proc = run_cli(
        ["kedro", "krt", command, "--pipeline", "inferense"], cwd=trained_project, check=False
    )
    assert proc.returncode == 1
    assert "pipeline 'inferense' is not registered" in proc.stderr
    assert "Did you mean 'inference'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (trained_project / "dist").exists()


def test_friendly_mode_leaves_the_warning_filters_alone() -> None:
    import warnings

    from kedro_krt.cli.errors import user_errors_shown

    before = list(warnings.filters)
    with user_errors_shown():
        assert len(warnings.filters) > len(before)
    assert warnings.filters == before
