"""Thin click commands: parse, call, print. `kedro krt ...` in a project, `kedro-krt` anywhere."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

HELP_PIPELINE = "Registered pipeline to compile into a workflow (repeat for several)."
HELP_PIPELINES = "Registered pipelines, comma-separated, as `kedro run --pipelines` spells it."
HELP_ENV = "Kedro conf env packaged with base (never `local`). Default: base only."
HELP_VERSION = "KRT version name (default: `version:` in krt.yml, else the package name)."
HELP_KRE = (
    "The KRE version the KRT goes to (7, 8.0, 8.1, 8.2, ...): adds what that KRE says of the "
    "format, e.g. KRE 8.1+ refuses KRT v1. Default: check by the KRT's own format."
)
HELP_DEPLOY_KRE = (
    "The runtime's KRE version (e.g. 8.2): the .krt is checked for it before the upload "
    "(KRE 8.1+ refuses KRT v1). Default: deploy.kre_version in krt.yml."
)
HELP_KRT_VERSION = (
    "KRT format: v1 (KRE 6.x-8.0) or v2 (KRE 8.0+, the only one KRE 8.1+ accepts). "
    "Default: `krt_version:` in krt.yml, else v2 if deploy.kre_version is 8.1+, else v1."
)
HELP_HOST = "Interface to bind (127.0.0.1 unless told otherwise)."
HELP_PORT = "gRPC port of the entrypoint (KRE uses 9000)."
HELP_WEB_PORT = "HTTP port for /public_input.proto, /info and /endpoints (0 disables)."
HELP_WORKERS = (
    "Worker processes sharing the port; the kernel spreads connections (not requests) over them."
)
HELP_NATS = (
    "KRE's topology: a real nats-server with JetStream, one runner process per node, the gRPC "
    "front as KRE's entrypoint (slower to start; what runs in the pods)."
)
HELP_NATS_URL = "With --nats: use this NATS server (JetStream on) instead of starting one."
HELP_TIMEOUT = "Seconds before a request fails with DEADLINE_EXCEEDED (KRE: 30)."
HELP_START_TIMEOUT = (
    "Seconds the nodes may take to import and run init (--nats: until every runner subscribed) "
    "before the server exits 1 naming the node.  [default: 300]"
)
HELP_CONFIG = "A config variable of the version, NAME=VALUE (repeat); else taken from the env."
HELP_ADDRESS = "host:port of the served KRT."
HELP_API = "URL of KRE's admin API, e.g. https://api.kre.example.com."
HELP_RUNTIME = "Id of the KRE runtime to deploy to (the ID of the admin UI's /runtimes/ID)."
HELP_DEPLOY_CONFIG = (
    "A config variable of the version: NAME=VALUE, or NAME alone to take the value of the "
    "environment variable NAME (repeat)."
)
HELP_START = "Start the version once created; every config variable needs a value."
HELP_PUBLISH = "Publish the version once started (implies --start); needs --comment."
HELP_COMMENT = "The comment KRE records with the start and the publication."
HELP_WAIT = "Seconds to wait for each status: CREATED, STARTED, PUBLISHED. Default: 600."
HELP_TOKEN_ENV = (
    "Environment variable that holds KRE's API token. Default: KRE_API_TOKEN. The token "
    "itself is never a flag."
)
HELP_CA_FILE = (
    "PEM file of a private CA that signed the API's certificate, trusted besides the system's."
)
HELP_UI = "Base URL of KRE's admin UI, when it is not the API's with `api.` changed to `admin.`."


def _user_errors() -> tuple[type[BaseException], ...]:
    from kedro_krt.errors import user_errors

    return user_errors()


@contextlib.contextmanager
def _friendly() -> Iterator[None]:
    """User mistakes become one clear message and exit 1; our bugs keep their traceback.

    Kedro's own noise (deprecations, dotted dataset names, resolver registration) is hidden
    while the command runs; the process's warning filters are restored after it.
    """
    from kedro_krt.errors import kedro_noise_hidden

    with kedro_noise_hidden():
        try:
            yield
        except _user_errors() as exc:
            raise click.ClickException(str(exc)) from None


def _progress(message: str) -> None:
    click.echo(click.style(f"  ... {message}", dim=True), err=True)


def _open(project_path: Path, env: str | None) -> Any:
    from kedro_krt.compiler.project import open_project

    return open_project(project_path, env)


def _compile(
    metadata: Any,
    env: str | None,
    pipelines: tuple[str, ...],
    version: str | None = None,
    project: Any = None,
    krt_version: str | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Open the project (unless given) and compile it, numbered from its lock, in the KRT
    format ``krt_version`` (else krt.yml's ``krt_version``): (project, plan, new lock)."""
    from kedro_krt.compiler.lock import compile_locked

    project = project or _open(metadata.project_path, env)
    plan, lock = compile_locked(
        project, pipelines or None, version=version, progress=_progress, krt_version=krt_version
    )
    return project, plan, lock


@click.group(name="Kedro-KRT")
def commands() -> None:
    """kedro-krt's project commands."""


@commands.group(name="krt")
def krt() -> None:
    """Compile Kedro pipelines into KRT versions for KRE, and serve them locally."""


@krt.command()
@click.option("--env", "-e", default="base", show_default=True, help="Conf env to write into.")
@click.option("--force", is_flag=True, help="Overwrite an existing krt.yml.")
@click.pass_obj
def init(metadata: Any, env: str, force: bool) -> None:
    """Write conf/<env>/krt.yml, prefilled with what can be inferred."""
    from kedro_krt.compiler.compile import default_workflows, rpc_name
    from kedro_krt.compiler.config import config_path, render_template
    from kedro_krt.formats.manifest_base import to_valid_name

    with _friendly():
        path = config_path(metadata.project_path, env)
        if path.exists() and not force:
            raise click.ClickException(f"{path} exists; pass --force to overwrite it")
        project = _open(metadata.project_path, None if env == "local" else env)
        workflows = [
            {"name": w.name, "pipeline": w.pipeline, "rpc": rpc_name(w)}
            for w in default_workflows(project)
        ]
        text = render_template(
            to_valid_name(project.package_name), f"{project.project_name}", workflows
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {path.relative_to(metadata.project_path)}")
        for w in workflows:
            click.echo(f"  workflow {w['name']}: pipeline {w['pipeline']}, rpc {w['rpc']}")


def _pipeline_options(func: Any) -> Any:
    """``--pipeline/-p NAME`` (repeatable) and Kedro 1.7's ``--pipelines A,B``, merged in order
    into the command's ``pipelines`` argument."""

    @functools.wraps(func)
    def merged(*args: Any, pipelines_csv: str | None = None, **kwargs: Any) -> Any:
        names = [*kwargs.pop("pipelines", ())]
        names += [p.strip() for p in (pipelines_csv or "").split(",") if p.strip()]
        return func(*args, pipelines=tuple(dict.fromkeys(names)), **kwargs)

    merged = click.option("--pipelines", "pipelines_csv", default=None, help=HELP_PIPELINES)(merged)
    return click.option("--pipeline", "-p", "pipelines", multiple=True, help=HELP_PIPELINE)(merged)


@krt.command(name="compile")
@_pipeline_options
@click.option("--env", "-e", default=None, help=HELP_ENV)
@click.option("--version", "version", default=None, help=HELP_VERSION)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write krt.yml, the protos and docs/README.md into this folder.",
)
@click.option(
    "--krt-version",
    type=click.Choice(["v1", "v2"]),
    default=None,
    help=HELP_KRT_VERSION,
)
@click.pass_obj
def compile_cmd(
    metadata: Any,
    pipelines: tuple[str, ...],
    env: str | None,
    version: str | None,
    output: Path | None,
    krt_version: str | None,
) -> None:
    """Print how the pipelines compile: workflows, KRT nodes, dataset roles, fields, warnings."""
    from kedro_krt.compiler.report import render_report
    from kedro_krt.package import write_compiled

    with _friendly():
        _, plan, _ = _compile(metadata, env, pipelines, version, krt_version=krt_version)
        click.echo(render_report(plan), nl=False)
        if output is not None:
            for path in write_compiled(plan, output):
                click.echo(f"wrote {path}")


@krt.command()
@_pipeline_options
@click.option("--version", "version", default=None, help=HELP_VERSION)
@click.option("--env", "-e", default=None, help=HELP_ENV)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the .krt (default: dist/ in the project).",
)
@click.option(
    "--krt-version",
    type=click.Choice(["v1", "v2"]),
    default=None,
    help=HELP_KRT_VERSION,
)
@click.pass_obj
def package(
    metadata: Any,
    pipelines: tuple[str, ...],
    version: str | None,
    env: str | None,
    output: Path | None,
    krt_version: str | None,
) -> None:
    """Write dist/<version>.krt, ready to upload to KRE."""
    with _friendly():
        started = time.perf_counter()
        project, plan, lock = _compile(metadata, env, pipelines, version, krt_version=krt_version)
        _write_package(metadata, project, plan, lock, output, started)


def _write_package(
    metadata: Any,
    project: Any,
    plan: Any,
    lock: dict[str, Any],
    output: Path | None,
    started: float,
) -> Path:
    """Package a compiled project into ``output`` (dist/ by default), keep the lock, report."""
    from kedro_krt.compiler.lock import LOCK_FILE, write_lock
    from kedro_krt.package import image_commands
    from kedro_krt.package import package as write_package

    out_dir = output or metadata.project_path / "dist"
    result = write_package(project, plan, out_dir, progress=_progress)
    # The lock keeps field numbers stable in later versions: commit it with the project.
    write_lock(metadata.project_path / LOCK_FILE, lock)
    for warning in [
        *result.warnings,
        *plan.warnings,
        *(w for wf in plan.workflows for w in wf.warnings),
    ]:
        click.echo(click.style(f"warning: {warning}", fg="yellow"), err=True)
    click.echo(str(result.path))
    for wf in plan.workflows:
        click.echo(f"  workflow {wf.name} (rpc {wf.rpc}): " + " -> ".join(n.name for n in wf.nodes))
    click.echo(
        f"  {result.files} files, {result.size / 1024:.1f} KiB, "
        f"{len(result.artifacts)} artifact file(s), {time.perf_counter() - started:.1f} s"
    )
    click.echo(f"Build and push the nodes' image ({plan.runtime_image}) from the .krt:")
    for command in image_commands(result.path, plan.runtime_image, plan.version):
        click.echo(f"  {command}")
    return Path(result.path)


def _validate(path: Path, kre: str | None = None) -> None:
    from kedro_krt.formats.validate import format_report, kre_target, validate_path

    try:
        kre_target(kre)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--kre") from None
    with _friendly():
        report = validate_path(path, kre=kre)
    click.echo(format_report(report))
    if not report.ok:
        sys.exit(1)


_kre_option = click.option("--kre", "kre", default=None, metavar="VERSION", help=HELP_KRE)


@krt.command(name="validate")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@_kre_option
def validate_project_cmd(path: Path, kre: str | None) -> None:
    """Check a .krt, a folder or a krt.yml (KRT v1 or v2) against KRE's rules and ours."""
    _validate(path, kre)


def _serve_options(func: Any) -> Any:
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help=HELP_HOST),
        click.option("--port", default=9000, show_default=True, type=int, help=HELP_PORT),
        click.option("--web-port", default=8080, show_default=True, type=int, help=HELP_WEB_PORT),
        click.option("--workers", default=1, show_default=True, type=int, help=HELP_WORKERS),
        click.option("--timeout", default=30.0, show_default=True, type=float, help=HELP_TIMEOUT),
        # None: run_server's default (kedro_krt.serve.options.DEFAULT_START_TIMEOUT_S), not
        # imported here to keep the CLI's start light.
        click.option("--start-timeout", default=None, type=float, help=HELP_START_TIMEOUT),
        click.option("--config", "config", multiple=True, help=HELP_CONFIG),
        click.option("--nats", "nats", is_flag=True, default=False, help=HELP_NATS),
        click.option("--nats-url", default=None, metavar="URL", help=HELP_NATS_URL),
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Folder of the local db/measurement/prediction stores (default: temporary).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _config_pairs(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--config")
        out[name] = value
    return out


def _run_server(source: Path, **options: Any) -> None:
    from kedro_krt.serve import run_server

    config = _config_pairs(options.pop("config"))
    if options.get("start_timeout") is None:
        options.pop("start_timeout", None)
    with _friendly():
        code = run_server(source, config=config, **options)
    sys.exit(code)


@krt.command()
@click.option(
    "--krt",
    "krt_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Serve this .krt (or folder) instead of compiling the project.",
)
@_pipeline_options
@click.option("--env", "-e", default=None, help=HELP_ENV)
@_serve_options
@click.pass_obj
def serve(
    metadata: Any,
    krt_file: Path | None,
    pipelines: tuple[str, ...],
    env: str | None,
    **options: Any,
) -> None:
    """Serve the project (compiled on the fly) or a .krt as KRE would, on 127.0.0.1:9000."""
    if krt_file is not None:
        _run_server(krt_file, **options)
        return
    from kedro_krt.package import package as write_package
    from kedro_krt.scratch import StopRequested, scratch_folder, sigterm_unwinds

    # A SIGTERM while the project compiles unwinds too: the packaged .krt's folder goes.
    try:
        with sigterm_unwinds(), scratch_folder("kedro-krt-serve-", owned=True) as tmp, _friendly():
            project, plan, _ = _compile(metadata, env, pipelines)
            result = write_package(project, plan, tmp, progress=_progress)
            _run_server(result.path, **options)
    except StopRequested:
        sys.exit(0)


def _call(rpc: str, data: str | None, file: Path | None, address: str, timeout: float) -> None:
    from kedro_krt.serve.client import CallError, call

    if (data is None) == (file is None):
        raise click.UsageError("give the request as --data JSON or --file FILE (one of them)")
    body = data if data is not None else file.read_text(encoding="utf-8")  # type: ignore[union-attr]
    with _friendly():
        try:
            reply = call(rpc, body, address=address, timeout=timeout)
        except CallError as exc:
            click.echo(f"{exc.code}: {exc.details}", err=True)
            sys.exit(1)
    click.echo(reply)


def _call_options(func: Any) -> Any:
    for option in reversed(
        [
            click.argument("rpc"),
            click.option("--data", "-d", default=None, help="The request as proto3 JSON."),
            click.option(
                "--file",
                "-f",
                type=click.Path(exists=True, path_type=Path),
                default=None,
                help="A file holding the request as proto3 JSON.",
            ),
            click.option(
                "--address", "-a", default="127.0.0.1:9000", show_default=True, help=HELP_ADDRESS
            ),
            click.option(
                "--timeout",
                default=30.0,
                show_default=True,
                type=float,
                help="Seconds to wait for the reply.",
            ),
        ]
    ):
        func = option(func)
    return func


@krt.command(name="call")
@_call_options
def call_project_cmd(
    rpc: str, data: str | None, file: Path | None, address: str, timeout: float
) -> None:
    """Call an rpc of a served KRT with a proto3 JSON request; print the JSON reply."""
    _call(rpc, data, file, address, timeout)


@click.group()
@click.version_option(package_name="kedro-krt")
def main() -> None:
    """kedro-krt commands that need no Kedro project: build, validate, serve, call and deploy
    KRTs."""


@main.command(name="validate")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@_kre_option
def validate_cmd(path: Path, kre: str | None) -> None:
    """Check a .krt, a folder or a krt.yml (KRT v1 or v2) against KRE's rules and ours; exit 1
    on errors."""
    _validate(path, kre)


@main.command(name="serve")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@_serve_options
def serve_cmd(source: Path, **options: Any) -> None:
    """Serve any KRT v1 with Python nodes (a .krt, a folder or its krt.yml) as KRE would."""
    _run_server(source, **options)


@main.command(name="call")
@_call_options
def call_cmd(rpc: str, data: str | None, file: Path | None, address: str, timeout: float) -> None:
    """Call an rpc of a served KRT with a proto3 JSON request; print the JSON reply."""
    _call(rpc, data, file, address, timeout)


@main.command(name="schema")
@click.argument("file", type=click.Choice(["krt.yml", "krt-build.yml"]), default="krt.yml")
def schema_cmd(file: str) -> None:
    """Print the JSON Schema of krt.yml (or krt-build.yml) for editors.

    Save it beside the project (`kedro-krt schema > krt.schema.json`) and point the YAML
    language server at it with a first line `# yaml-language-server: $schema=../../krt.schema.json`
    in conf/base/krt.yml.
    """
    if file == "krt.yml":
        from kedro_krt.compiler.config import json_schema
    else:
        from kedro_krt.handwritten.config import json_schema
    click.echo(json.dumps(json_schema(), indent=2))


# --- deploy ----------------------------------------------------------------------------------


def _deploy_options(func: Any) -> Any:
    options = [
        click.option("--api", default=None, metavar="URL", help=HELP_API),
        click.option("--runtime", default=None, metavar="RUNTIME_ID", help=HELP_RUNTIME),
        click.option(
            "--config", "config", multiple=True, metavar="NAME=VALUE", help=HELP_DEPLOY_CONFIG
        ),
        click.option("--start", is_flag=True, default=False, help=HELP_START),
        click.option("--publish", is_flag=True, default=False, help=HELP_PUBLISH),
        click.option("--comment", default=None, metavar="TEXT", help=HELP_COMMENT),
        click.option("--wait", type=float, default=None, metavar="SECONDS", help=HELP_WAIT),
        click.option("--token-env", default=None, metavar="NAME", help=HELP_TOKEN_ENV),
        click.option(
            "--ca-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help=HELP_CA_FILE,
        ),
        click.option("--ui", default=None, metavar="URL", help=HELP_UI),
        click.option("--kre", "kre", default=None, metavar="VERSION", help=HELP_DEPLOY_KRE),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _DeployDisplay:
    """Shows a deployment's steps on stderr; a wait is one line that updates on a terminal."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._open_line = False
        self._last: tuple[str, str] | None = None

    def step(self, text: str) -> None:
        self.waited()
        _progress(text)

    def warn(self, text: str) -> None:
        self.waited()
        click.echo(click.style(f"warning: {text}", fg="yellow"), err=True)

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


def _run_deploy(
    krt_path: Path, target: Any, token: str, options: dict[str, Any], *, from_project: bool
) -> None:
    """Deploy, then say where the version is and what it still needs."""
    import os

    from kedro_krt.deploy.flow import DeployOptions, deploy
    from kedro_krt.deploy.settings import config_values

    result = deploy(
        krt_path,
        target,
        token,
        DeployOptions(
            config=config_values(options["config"], os.environ),
            start=options["start"],
            publish=options["publish"],
            comment=options["comment"] or "",
            from_project=from_project,
        ),
        _DeployDisplay(),  # type: ignore[arg-type]
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
        click.echo(
            click.style(
                f"warning: config variables without a value: {', '.join(result.missing)}. KRE "
                "starts the version only once each has one: set them in the admin UI (the "
                "version's configuration), or deploy with --config NAME=VALUE",
                fg="yellow",
            ),
            err=True,
        )


def _check_deploy_flags(options: dict[str, Any]) -> None:
    import importlib.util

    if importlib.util.find_spec("httpx") is None:
        raise click.ClickException(
            "deploy needs httpx, which comes with the deploy extra: pip install 'kedro-krt[deploy]'"
        )
    if options["publish"] and not options["comment"]:
        raise click.UsageError(
            "--publish needs --comment TEXT: KRE records it in the runtime's audit log"
        )


def _read_token(target: Any) -> str:
    import os

    from kedro_krt.deploy.settings import read_token

    return read_token(target.token_env, os.environ)


@krt.command(name="deploy")
@click.option(
    "--krt",
    "krt_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Deploy this .krt instead of packaging the project.",
)
@_pipeline_options
@click.option("--env", "-e", default=None, help=HELP_ENV)
@click.option(
    "--version",
    "version",
    default=None,
    help="Package the project under this version name (a name is unique in a runtime).",
)
@_deploy_options
@click.pass_obj
def deploy_project_cmd(
    metadata: Any,
    krt_file: Path | None,
    pipelines: tuple[str, ...],
    env: str | None,
    version: str | None,
    **options: Any,
) -> None:
    """Package the project (or take a .krt) and upload it to KRE; configure, start, publish."""
    _check_deploy_flags(options)
    if krt_file is not None and (pipelines or version):
        raise click.UsageError(
            "--krt deploys the .krt as it is: --pipeline and --version apply to packaging the "
            "project (a .krt's name is `version:` in its krt.yml)"
        )
    with _friendly():
        started = time.perf_counter()
        project = _open(metadata.project_path, env)
        target = _deploy_target(options, project.config.deploy, metadata.project_path)
        token = _read_token(target)
        if krt_file is None:
            project, plan, lock = _compile(metadata, env, pipelines, version, project=project)
            krt_file = _write_package(metadata, project, plan, lock, None, started)
        _run_deploy(krt_file, target, token, options, from_project=True)


@main.command(name="deploy")
@click.argument("krt_file", metavar="FILE", type=click.Path(exists=True, path_type=Path))
@_deploy_options
def deploy_cmd(krt_file: Path, **options: Any) -> None:
    """Upload a .krt to KRE's admin API; configure, start and publish the version."""
    _check_deploy_flags(options)
    with _friendly():
        target = _deploy_target(options)
        token = _read_token(target)
        _run_deploy(krt_file, target, token, options, from_project=False)


def _register_build() -> None:
    from kedro_krt.handwritten.command import build_command

    main.add_command(build_command, name="build")


_register_build()
