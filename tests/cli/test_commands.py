"""The two groups share one set of commands; a user's mistake is one line; the project of a
command is Kedro's metadata or the working directory's. In-process, with click's CliRunner."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
from click.testing import CliRunner

from kedro_krt.cli import commands, functions, krt, main
from kedro_krt.cli.commands import ALL_COMMANDS, KrtGroup
from kedro_krt.node.analysis import CompileError
from kedro_krt.node.errors import KrtError


def test_both_groups_register_the_same_command_objects() -> None:
    assert commands.commands["krt"] is krt
    assert list(krt.commands) == list(main.commands)
    for name, command in main.commands.items():
        assert krt.commands[name] is command, name
    assert set(main.commands.values()) == set(ALL_COMMANDS)


def test_every_user_error_class_derives_from_the_root() -> None:
    from kedro_krt.compiler.config import ConfigError
    from kedro_krt.deploy.errors import DeployError, KreRefused
    from kedro_krt.emit.protoc import ProtoCompileError
    from kedro_krt.formats.archive import KrtArchiveError
    from kedro_krt.formats.manifest_base import ManifestError
    from kedro_krt.handwritten.errors import BuildError
    from kedro_krt.node.runtime.errors import InvalidRequest, RuntimeSetupError
    from kedro_krt.node.schema.types import SchemaError
    from kedro_krt.package import PackageError
    from kedro_krt.serve.client import RequestDataError
    from kedro_krt.serve.errors import ServeError

    for cls in (
        BuildError, CompileError, ConfigError, DeployError, KreRefused, KrtArchiveError,
        ManifestError, PackageError, ProtoCompileError, SchemaError, ServeError,
        RequestDataError, InvalidRequest, RuntimeSetupError,
    ):  # fmt: skip
        assert issubclass(cls, KrtError), cls
    # What code and tests catch by their older bases still holds.
    assert issubclass(ConfigError, ValueError) and issubclass(RuntimeSetupError, RuntimeError)


def _group_with(func: Any) -> click.Group:
    group = KrtGroup()
    group.add_command(click.Command("go", callback=func))
    return group


def test_a_user_error_is_one_line_and_exit_1() -> None:
    def fails() -> None:
        raise CompileError("pipeline 'x' is not registered; use one of: a, b")

    result = CliRunner().invoke(_group_with(fails), ["go"])
    assert result.exit_code == 1
    assert result.stderr == "Error: pipeline 'x' is not registered; use one of: a, b\n"
    assert "Traceback" not in result.output


def test_a_missing_file_is_a_user_error_too() -> None:
    def fails() -> None:
        raise FileNotFoundError(2, "No such file or directory", "conf/base/x.yml")

    result = CliRunner().invoke(_group_with(fails), ["go"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: [Errno 2] No such file or directory")


def test_our_bug_keeps_its_traceback() -> None:
    def fails() -> None:
        raise KeyError("a bug")

    result = CliRunner().invoke(_group_with(fails), ["go"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)


def test_a_real_command_shows_a_user_error_as_one_line(tmp_path: Path) -> None:
    krt = tmp_path / "x.krt"
    krt.write_bytes(b"not a krt")
    result = CliRunner().invoke(
        main, ["deploy", str(krt), "--runtime", "demo"], env={"KRE_API_TOKEN": "t"}
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: no api to deploy to: pass --api URL")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["init", "compile", "package"])
def test_a_project_command_outside_a_project_says_where_to_run_it(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 1
    assert f"Error: {command} works on a Kedro project" in result.stderr
    assert f"or run `kedro krt {command}` there" in result.stderr


@pytest.mark.parametrize("command", ["serve", "deploy"])
def test_serve_and_deploy_without_a_krt_need_a_project(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command], env={"KRE_API_TOKEN": "t"})
    assert result.exit_code == 1
    assert f"Error: {command} works on a Kedro project" in result.stderr


def _fake_project(root: Path) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "x"\n', encoding="utf-8")
    (root / "src" / "x").mkdir(parents=True)
    return root


def test_kedro_krt_finds_the_project_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _fake_project(tmp_path / "proj")
    seen: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        functions, "compile_project", lambda *args, **kwargs: seen.append((*args, kwargs))
    )
    monkeypatch.chdir(project / "src" / "x")
    result = CliRunner().invoke(main, ["compile", "-p", "a", "--pipelines", "b,a", "--full"])
    assert result.exit_code == 0, result.output
    target = functions.ProjectTarget(project.resolve(), ("a", "b"))
    assert seen == [(target, None, {"full": True})]


def test_kedro_krt_uses_kedros_project_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _fake_project(tmp_path / "proj")
    seen: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        functions, "compile_project", lambda *args, **kwargs: seen.append((*args, kwargs))
    )
    monkeypatch.chdir(tmp_path)  # not in the project: Kedro's metadata says where it is
    metadata = SimpleNamespace(project_path=project)
    result = CliRunner().invoke(commands, ["krt", "compile", "-e", "prod"], obj=metadata)
    assert result.exit_code == 0, result.output
    assert seen == [(functions.ProjectTarget(project, (), "prod"), None, {"full": False})]


def test_a_krt_is_served_as_it_is(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--pipeline", "a"])
    assert result.exit_code == 2
    assert "a KRT is served as it is: --pipeline and --env apply to compiling" in result.stderr
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--krt", str(tmp_path / "..")])
    assert result.exit_code == 2
    assert "give the KRT once" in result.stderr


def test_package_has_quiet_as_build_has() -> None:
    for name in ("package", "build"):
        options = {o for p in main.commands[name].params for o in p.opts}
        assert {"--quiet", "-q"} <= options, name


def test_serve_help_names_both_formats() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert "Serve a KRT (v1 or v2)" in result.output
    assert "KRT v1 with" not in result.output


def test_python_m_kedro_krt_cli_is_kedro_krt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["kedro-krt", "build", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("kedro_krt.cli", run_name="__main__")
    assert exited.value.code == 0


@pytest.mark.slow
def test_package_quiet_prints_the_path_and_the_warnings(
    trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(trained_project)
    out = tmp_path / "dist"
    result = CliRunner().invoke(main, ["package", "-q", "-p", "inference", "-o", str(out)])
    assert result.exit_code == 0, result.output
    (krt_file,) = out.glob("*.krt")
    assert result.stdout == f"{krt_file}\n"
    assert all(line.startswith("warning: ") for line in result.stderr.splitlines())
