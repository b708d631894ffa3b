"""The work behind each command: open the project, call the layer that does the job, print.

The click commands (:mod:`kedro_krt.cli.commands`) parse their arguments and call one function
here. Heavy modules are imported inside the functions: `kedro-krt --help` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from kedro_krt.node.errors import KrtError

Progress = Callable[[str], None]

#: Columns of a prose message (init's explanation): a terminal's default 80, less the last, so
#: a line never wraps there, and the docs show it whole (80 characters on a 1280 px page).
MESSAGE_WIDTH = 79


def progress(message: str) -> None:
    """One dim progress line on stderr: `  ... message`."""
    click.echo(click.style(f"  ... {message}", dim=True), err=True)


def no_progress(message: str) -> None:
    """What ``--quiet`` prints of the progress: nothing."""


def warn(text: str) -> None:
    """A yellow `warning: ...` line on stderr."""
    click.echo(click.style(f"warning: {text}", fg="yellow"), err=True)


# --- the project ---------------------------------------------------------------------------------


@contextmanager
def _kedro_logs_hidden() -> Iterator[None]:
    """Kedro's logging while it opens projects is not the build's report; restored after."""
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def project_path(metadata: Any, command: str) -> Path:
    """The Kedro project a command works on: the one `kedro krt` runs in (its metadata), else
    the one the working directory is in (as `kedro` finds it), else a user error."""
    if metadata is not None:
        return Path(metadata.project_path)
    from kedro.utils import find_kedro_project

    found = find_kedro_project(Path.cwd())
    if found is None:
        raise click.ClickException(
            f"{command} works on a Kedro project, and {Path.cwd()} is in none: run it in the "
            "project's folder (where pyproject.toml has [tool.kedro]), or run "
            f"`kedro krt {command}` there"
        )
    # Importing Kedro's project module sets up its logging and says so at INFO; under
    # `kedro krt` Kedro has done that already, silently: the same output either way.
    with _kedro_logs_hidden():
        import kedro.framework.project  # noqa: F401
    return Path(found)


def _open(path: Path, env: str | None) -> Any:
    from kedro_krt.compiler.project import open_project

    return open_project(path, env)


@dataclass(frozen=True)
class ProjectTarget:
    """What a project command compiles: the project at ``path``, its conf ``env``, the
    ``pipelines`` asked for (none: krt.yml's workflows), the version name and the KRT format
    (``None``: krt.yml's, else the defaults)."""

    path: Path
    pipelines: tuple[str, ...] = ()
    env: str | None = None
    version: str | None = None
    krt_version: str | None = None


def _compile(
    target: ProjectTarget, project: Any = None, report: Progress = progress
) -> tuple[Any, Any, dict[str, Any]]:
    """Open the project (unless given) and compile it, numbered from its lock:
    (project, plan, new lock)."""
    from kedro_krt.compiler.lock import compile_locked

    project = project or _open(target.path, target.env)
    plan, lock = compile_locked(
        project,
        target.pipelines or None,
        version=target.version,
        progress=report,
        krt_version=target.krt_version,
    )
    return project, plan, lock


def init(path: Path, env: str, force: bool) -> None:
    """Write conf/<env>/krt.yml of the project at ``path``, prefilled with what can be inferred,
    and say what was chosen, why, and how to change it."""
    from kedro_krt.compiler.compile import default_choice, rpc_name
    from kedro_krt.compiler.config import config_path, render_template
    from kedro_krt.formats.manifest_base import readable_name

    target = config_path(path, env)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
    project = _open(path, None if env == "local" else env)
    choice = default_choice(project)
    workflows = [
        {"name": w.name, "pipeline": w.pipeline, "rpc": rpc_name(w), "grouping": w.grouping}
        for w in choice.workflows
    ]
    name = readable_name(project.package_name)
    text = render_template(name, f"{project.project_name}", workflows)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    shown = target.relative_to(path)
    click.echo(f"Wrote {shown}")
    for w in workflows:
        click.echo(
            f"  workflow {w['name']}: pipeline {w['pipeline']}, rpc {w['rpc']}, "
            f"grouping {w['grouping']}"
        )
    import textwrap

    said = f"Registered pipelines: {', '.join(choice.pipelines) or 'none'}."
    if choice.namespaced:
        said += (
            " Each namespaced one became a workflow, with one KRT node per top-level "
            f"namespace; edit `workflows:` in {shown} to change that."
        )
    elif choice.workflows:
        said += (
            f" None is namespaced, so init took the first, {choice.workflows[0].pipeline}, as "
            "one KRT node (grouping: single). To change it, edit `workflows:` in "
            f"{shown}: another `pipeline:`, or `grouping: node` for one KRT node per Kedro "
            "node. A pipeline that answers requests is best namespaced: see the how-to "
            '"Add an inference pipeline" in the docs.'
        )
    click.echo(
        textwrap.fill(said, width=MESSAGE_WIDTH, break_on_hyphens=False, break_long_words=False)
    )


def compile_project(target: ProjectTarget, output: Path | None, *, full: bool = False) -> None:
    """Print how the project compiles (the summary; ``full``: the whole report); with
    ``output``, also emit its files there."""
    from kedro_krt.compiler.report import render_report, render_summary
    from kedro_krt.package import write_compiled

    _, plan, _ = _compile(target)
    click.echo((render_report if full else render_summary)(plan), nl=False)
    if output is not None:
        for written in write_compiled(plan, output):
            click.echo(f"wrote {written}")


def package_project(target: ProjectTarget, output: Path | None, *, quiet: bool = False) -> Path:
    """Compile the project and package it into ``output`` (dist/ by default)."""
    started = time.perf_counter()
    project, plan, lock = _compile(target, report=no_progress if quiet else progress)
    return _write_package(target.path, project, plan, lock, output, started, quiet=quiet)


def _write_package(
    path: Path,
    project: Any,
    plan: Any,
    lock: dict[str, Any],
    output: Path | None,
    started: float,
    *,
    quiet: bool = False,
) -> Path:
    """Package a compiled project into ``output`` (dist/ by default), keep the lock, report."""
    from kedro_krt.compiler.lock import LOCK_FILE, write_lock
    from kedro_krt.package import package as write_package

    out_dir = output or path / "dist"
    result = write_package(project, plan, out_dir, progress=no_progress if quiet else progress)
    # The lock keeps field numbers stable in later versions: commit it with the project.
    write_lock(path / LOCK_FILE, lock)
    for warning in [
        *result.warnings,
        *plan.warnings,
        *(w for wf in plan.workflows for w in wf.warnings),
    ]:
        warn(warning)
    click.echo(str(result.path))
    if quiet:
        return Path(result.path)
    for wf in plan.workflows:
        click.echo(f"  workflow {wf.name} (rpc {wf.rpc}): " + " -> ".join(n.name for n in wf.nodes))
    click.echo(
        f"  {result.files} files, {result.size / 1024:.1f} KiB, "
        f"{len(result.artifacts)} artifact file(s), {time.perf_counter() - started:.1f} s"
    )
    _say_image(result.path, plan.runtime_image, plan.version)
    return Path(result.path)


def _say_image(krt: Path, image: str, version: str) -> None:
    """How to build the nodes' image; with a local name (no registry host), how to name it
    for a cluster too: said once, here, and nowhere else locally."""
    from kedro_krt.formats.images import EXAMPLE_REGISTRY, ImageName
    from kedro_krt.package import image_commands

    commands = image_commands(krt, image, version)
    if not ImageName.parse(image).is_local:
        click.echo(f"Build and push the nodes' image ({image}) from the .krt:")
        for command in commands:
            click.echo(f"  {command}")
        return
    click.echo(f"Build the nodes' image ({image}) from the .krt:")
    for command in commands[:-1]:  # no push: the name has no registry to push to
        click.echo(f"  {command}")
    click.echo("Before deploying, push it to the registry your KRE pulls from and set")
    click.echo("images.runtime in conf/<env>/krt.yml to that name, for example")
    click.echo(f"  {EXAMPLE_REGISTRY}/{version}-runtime:0.1.0")


# --- build, validate, schema ---------------------------------------------------------------------


def build(source: Path, output: Path | None, version: str | None, *, quiet: bool) -> None:
    """Build the hand-written KRT folder ``source`` into a .krt and print its report."""
    from kedro_krt.handwritten.assemble import build_krt

    with _kedro_logs_hidden():
        result = build_krt(
            source, output, version=version, progress=no_progress if quiet else progress
        )
    if quiet:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    else:
        click.echo(result.report, nl=False)
    click.echo(f"KRT file: {result.path} ({result.files} files, {result.size / 1024:.0f} KiB)")


def validate(path: Path, kre: str | None) -> None:
    """Print the validator's report of ``path``; exit 1 when it finds an error."""
    from kedro_krt.formats.validate import format_report, kre_target, validate_path

    try:
        kre_target(kre)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--kre") from None
    report = validate_path(path, kre=kre)
    click.echo(format_report(report))
    if not report.ok:
        sys.exit(1)


def schema(file: str) -> None:
    """Print the JSON Schema of krt.yml or krt-build.yml."""
    if file == "krt.yml":
        from kedro_krt.compiler.config import json_schema
    else:
        from kedro_krt.handwritten.config import json_schema
    click.echo(json.dumps(json_schema(), indent=2))


# --- serve and call ------------------------------------------------------------------------------


def config_pairs(items: tuple[str, ...]) -> dict[str, str]:
    """``--config NAME=VALUE`` options as a dict."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--config")
        out[name] = value
    return out


def serve(source: Path, config: tuple[str, ...], **options: Any) -> None:
    """Serve the KRT at ``source`` until stopped; exit with the server's code."""
    from kedro_krt.serve import run_server

    if options.get("start_timeout") is None:
        options.pop("start_timeout", None)
    sys.exit(run_server(source, config=config_pairs(config), **options))


def serve_project(target: ProjectTarget, config: tuple[str, ...], **options: Any) -> None:
    """Compile and package the project into a scratch folder, and serve that .krt."""
    from kedro_krt.package import package as write_package
    from kedro_krt.scratch import StopRequested, scratch_folder, sigterm_unwinds

    # A SIGTERM while the project compiles unwinds too: the packaged .krt's folder goes.
    try:
        with sigterm_unwinds(), scratch_folder("kedro-krt-serve-", owned=True) as tmp:
            project, plan, _ = _compile(target)
            result = write_package(project, plan, tmp, progress=progress)
            serve(result.path, config, **options)
    except StopRequested:
        sys.exit(0)


def call(rpc: str, data: str | None, file: Path | None, address: str, timeout: float) -> None:
    """Call ``rpc`` of a served KRT; print the JSON reply, or the gRPC error and exit 1."""
    from kedro_krt.serve.client import CallError
    from kedro_krt.serve.client import call as call_rpc

    if (data is None) == (file is None):
        raise click.UsageError("give the request as --data JSON or --file FILE (one of them)")
    body = data if data is not None else file.read_text(encoding="utf-8")  # type: ignore[union-attr]
    try:
        reply = call_rpc(rpc, body, address=address, timeout=timeout)
    except CallError as exc:
        click.echo(f"{exc.code}: {exc.details}", err=True)
        sys.exit(1)
    click.echo(reply)


def _example_source(krt_file: Path | None) -> Path | None:
    from kedro_krt.serve.examples import newest_krt

    return krt_file if krt_file is not None else newest_krt(Path("dist"))


def call_example(rpc: str, krt_file: Path | None) -> None:
    """Print ``rpc``'s example request from a KRT (``krt_file``, else the newest in dist/)."""
    from kedro_krt.serve.examples import krt_examples

    source = _example_source(krt_file)
    if source is None:
        raise click.UsageError(
            "no .krt in dist/ to read the example from: package the project first, or give "
            "--krt FILE (the /endpoints of a served KRT shows it too)"
        )
    examples = krt_examples(source)
    if rpc not in examples:
        raise click.UsageError(
            f"{source} has no rpc '{rpc}'; it has: {', '.join(sorted(examples)) or 'none'}"
        )
    click.echo(json.dumps(examples[rpc], indent=2))


def call_help_examples(formatter: click.HelpFormatter) -> None:
    """The end of ``call --help``: each rpc's example request of the newest .krt in dist/
    (nothing when there is none, or it cannot be read: help never fails)."""
    from kedro_krt.serve.examples import krt_examples

    source = _example_source(None)
    examples: Mapping[str, Any] = {}
    if source is not None:
        with contextlib.suppress(KrtError, OSError, ValueError):
            examples = krt_examples(source)
    with formatter.section("Example requests"):
        if not examples:
            formatter.write_text(
                "`call RPC --example --krt FILE` prints the example request of a .krt (made "
                "of the project's sample rows when `package` made it); so does /endpoints on "
                "the web port of a served KRT."
            )
            return
        formatter.write_text(
            f"Of {source}, made of the project's sample rows where `package` had them. Save one "
            "with `call RPC --example > request.json`, change the values, send it with "
            "`call RPC --file request.json`."
        )
        for rpc, example in examples.items():
            formatter.write_paragraph()
            formatter.write_text(f"{rpc}:")
            formatter.write_paragraph()
            with formatter.indentation():
                for line in json.dumps(example, indent=2).splitlines():
                    formatter.write(f"{' ' * formatter.current_indent}{line}\n")


# --- deploy --------------------------------------------------------------------------------------


class DeployDisplay:
    """Shows a deployment's steps on stderr; a wait is one line that updates on a terminal."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._open_line = False
        self._last: tuple[str, str] | None = None

    def step(self, text: str) -> None:
        self.waited()
        progress(text)

    def warn(self, text: str) -> None:
        self.waited()
        warn(text)

    def waiting(self, version: str, status: str, goal: str, elapsed: float) -> None:
        line = f"  ... version '{version}' is {status} ({elapsed:.0f} s), waiting for {goal}"
        if self._tty:
            click.echo("\r" + click.style(line, dim=True) + "\033[K", nl=False, err=True)
            self._open_line = True
        elif self._last != (status, goal):
            click.echo(click.style(line, dim=True), err=True)
        self._last = (status, goal)

    def waited(self) -> None:
        if self._open_line:
            click.echo("", err=True)
            self._open_line = False
        self._last = None


def check_deploy_flags(options: dict[str, Any]) -> None:
    """What can be refused before anything is opened: httpx missing, --publish alone."""
    import importlib.util

    if importlib.util.find_spec("httpx") is None:
        raise click.ClickException(
            "deploy needs httpx, which comes with the deploy extra: pip install 'kedro-krt[deploy]'"
        )
    if options["publish"] and not options["comment"]:
        raise click.UsageError(
            "--publish needs --comment TEXT: KRE records it in the runtime's audit log"
        )


def _deploy_target(
    options: dict[str, Any], config: Any = None, project_path: Path | None = None
) -> Any:
    from kedro_krt.deploy.settings import resolve_target

    return resolve_target(
        api=options["api"],
        runtime=options["runtime"],
        token_env=options["token_env"],
        ca_file=options["ca_file"],
        ui=options["ui"],
        wait=options["wait"],
        config=config,
        project_path=project_path,
        kre=options["kre"],
    )


def _read_token(target: Any) -> str:
    from kedro_krt.deploy.settings import read_token

    return read_token(target.token_env, os.environ)


def deploy_file(krt_file: Path, options: dict[str, Any]) -> None:
    """Deploy a .krt with the target the flags give (no project)."""
    target = _deploy_target(options)
    token = _read_token(target)
    _run_deploy(krt_file, target, token, options, from_project=False)


def deploy_project(
    target: ProjectTarget, krt_file: Path | None, options: dict[str, Any]
) -> None:
    """Deploy from the project: its ``deploy:`` settings under the flags, and ``krt_file`` or,
    without one, the project packaged first."""
    started = time.perf_counter()
    project = _open(target.path, target.env)
    kre = _deploy_target(options, project.config.deploy, target.path)
    token = _read_token(kre)
    if krt_file is None:
        _check_before_packaging(project, target, kre, token, options)
        project, plan, lock = _compile(target, project=project)
        krt_file = _write_package(target.path, project, plan, lock, None, started)
        # package has shown the validator's warnings: not twice.
        _run_deploy(krt_file, kre, token, options, from_project=True, warned=True)
        return
    _run_deploy(krt_file, kre, token, options, from_project=True)


def _check_before_packaging(
    project: Any, target: ProjectTarget, kre: Any, token: str, options: dict[str, Any]
) -> None:
    """What deploy would refuse after packaging, found before it: images a cluster cannot
    pull, --config names krt.yml does not declare, a version name taken in the runtime."""
    from kedro_krt.compiler.compile import version_of
    from kedro_krt.deploy.flow import (
        check_before_packaging,
        check_config_names,
        refuse_local_images,
    )
    from kedro_krt.deploy.settings import config_values
    from kedro_krt.formats.images import local_images
    from kedro_krt.formats.manifest_base import Entrypoint

    config = project.config
    name = version_of(project, target.version)
    if not options["allow_local_image"]:
        from types import SimpleNamespace

        nodes = [(0, SimpleNamespace(name="", image=config.images.runtime))]
        found = local_images(Entrypoint("", config.images.entrypoint), nodes)
        refuse_local_images(
            name,
            [
                replace(f, used_by="the Kedro nodes") if f.setting == "images.runtime" else f
                for f in found
            ],
        )
    given = config_values(options["config"], os.environ)
    env = project.env
    check_config_names(
        name,
        config.variables,
        given,
        where=(
            f"conf/{env}/krt.yml declares: {', '.join(config.variables) or 'none'}; add the "
            f"name to `variables:` there (nodes read it from the environment), or leave it out"
        ),
    )
    check_before_packaging(kre, token, name, DeployDisplay())  # type: ignore[arg-type]


def _run_deploy(
    krt_path: Path,
    target: Any,
    token: str,
    options: dict[str, Any],
    *,
    from_project: bool,
    warned: bool = False,
) -> None:
    """Deploy, then say where the version is and what it still needs."""
    from kedro_krt.deploy.flow import DeployOptions
    from kedro_krt.deploy.flow import deploy as run_deploy
    from kedro_krt.deploy.settings import config_values

    result = run_deploy(
        krt_path,
        target,
        token,
        DeployOptions(
            config=config_values(options["config"], os.environ),
            start=options["start"],
            publish=options["publish"],
            comment=options["comment"] or "",
            from_project=from_project,
            allow_local_image=options["allow_local_image"],
            warned=warned,
        ),
        DeployDisplay(),  # type: ignore[arg-type]
    )
    click.echo(f"version {result.version}: {result.status} in runtime {result.runtime}")
    click.echo(f"  admin UI: {result.page}")
    if result.entrypoint:
        click.echo(
            f"  entrypoint: {result.entrypoint} (gRPC; serves the runtime's published version)"
        )
    if result.configured:
        click.echo(f"  config set: {', '.join(result.configured)}")
    if result.kept:
        click.echo(f"  config kept from an earlier version: {', '.join(result.kept)}")
    if result.missing:
        warn(
            f"config variables without a value: {', '.join(result.missing)}. KRE "
            "starts the version only once each has one: set them in the admin UI (the "
            "version's configuration), or deploy with --config NAME=VALUE"
        )
