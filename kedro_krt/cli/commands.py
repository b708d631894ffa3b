"""The click commands, each written once and registered on both groups.

`kedro krt X` (a Kedro plugin command; Kedro hands the project's metadata as click's ``obj``) and
`kedro-krt X` (anywhere; the project, when a command needs one, is the one the working directory
is in) run the same command object. A command parses its arguments and calls one function of
:mod:`kedro_krt.cli.functions`; the group shows a user's mistake as one line
(:func:`kedro_krt.cli.errors.user_errors_shown`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click

from kedro_krt.cli import functions
from kedro_krt.cli.errors import user_errors_shown
from kedro_krt.node.krt_version import KrtVersion

HELP_PIPELINE = "Registered pipeline to compile into a workflow (repeat for several)."
HELP_PIPELINES = "Registered pipelines, comma-separated, as `kedro run --pipelines` spells it."
HELP_ENV = "Kedro conf env packaged with base (never `local`). Default: base only."
HELP_VERSION = "KRT version name (default: `version:` in krt.yml, else the package name)."
HELP_KRE = (
    "The KRE version the KRT goes to (7, 8.0, 8.1, 8.2, ...): adds what that KRE says of the "
    "format, e.g. KRE 8.1+ refuses KRT v1. Default: check by the KRT's own format."
)
HELP_DEPLOY_KRE = (
    "The KRE version of the runtime deployed to (e.g. 8.2): the .krt is checked for it before "
    "the upload (KRE 8.1+ refuses KRT v1). Default: deploy.kre_version in krt.yml."
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
HELP_CALL_EXAMPLE = (
    "Print RPC's example request (proto3 JSON) instead of calling: save it, change the values, "
    "send it with --file."
)
HELP_CALL_KRT = (
    "With --example: the .krt (or KRT folder) to read it from. Default: the newest in dist/."
)
HELP_API = "URL of KRE's admin API, e.g. https://api.kre.example.com."
HELP_RUNTIME = "Id of the KRE runtime to deploy to (the ID of the admin UI's /runtimes/ID)."
HELP_DEPLOY_CONFIG = (
    "A config variable of the version: NAME=VALUE, or NAME alone to take the value of the "
    "environment variable NAME (repeat)."
)
HELP_ALLOW_LOCAL_IMAGE = (
    "Deploy images named without a registry host (e.g. kedro-krt-runtime:latest) as they are, "
    "for a cluster that has them already; refused otherwise, as its pods could not pull them."
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
HELP_QUIET = "Print only the path of the .krt (and the warnings)."
HELP_BUILD = (
    "Build a hand-written KRT folder (krt.yml, protos, src/<node>/...) into a .krt: "
    ".krtignore honoured as kli does, protos compiled into the node folders, nodes made from "
    "Kedro projects as krt-build.yml says, checked by the validator before it is written."
)
HELP_BUILD_OUTPUT = "The .krt to write. Default: dist/<version>.krt in the working directory."
HELP_BUILD_VERSION = "Version name written into the shipped krt.yml (the folder is not changed)."
HELP_SERVE_KRT = "Serve this .krt (or folder) instead of compiling the project: the same as SOURCE."
HELP_DEPLOY_KRT = "Deploy this .krt instead of packaging the project: the same as FILE."
HELP_DEPLOY_VERSION = "Package the project under this version name (a name is unique in a runtime)."


class KrtGroup(click.Group):
    """A group of kedro-krt commands: listed in the order a user meets them, and run so that a
    user's mistake is one line `Error: ...` and exit 1 (the one place that catches it)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        with user_errors_shown():
            return super().invoke(ctx)


@click.group(name="Kedro-KRT")
def commands() -> None:
    """kedro-krt's project commands."""


@commands.group(name="krt", cls=KrtGroup)
def krt() -> None:
    """Compile Kedro pipelines into KRT versions for KRE, and serve them locally."""


@click.group(cls=KrtGroup)
@click.version_option(package_name="kedro-krt")
def main() -> None:
    """Compile Kedro pipelines into KRT versions for KRE, build hand-written KRTs, and
    validate, serve, call and deploy them. init, compile and package work on the Kedro project
    of the working directory (the same commands as `kedro krt ...`)."""


# --- options shared by several commands ----------------------------------------------------------


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


def _options(*options: Any) -> Any:
    """One decorator that adds ``options`` in the order given (as they show in --help)."""

    def apply(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


_env_option = click.option("--env", "-e", default=None, help=HELP_ENV)
_krt_version_option = click.option(
    "--krt-version",
    type=click.Choice([v.value for v in KrtVersion]),
    default=None,
    help=HELP_KRT_VERSION,
)
_kre_option = click.option("--kre", "kre", default=None, metavar="VERSION", help=HELP_KRE)

_serve_options = _options(
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
)

_deploy_options = _options(
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
    click.option(
        "--allow-local-image", is_flag=True, default=False, help=HELP_ALLOW_LOCAL_IMAGE
    ),
)


def _one_source(argument: Path | None, option: Path | None, flag: str) -> Path | None:
    if argument is not None and option is not None and argument != option:
        raise click.UsageError(f"give the KRT once: as an argument or as {flag}, not both")
    return argument or option


# --- the commands, in the order a user meets them ------------------------------------------------


@click.command()
@click.option("--env", "-e", default="base", show_default=True, help="Conf env to write into.")
@click.option("--force", is_flag=True, help="Overwrite an existing krt.yml.")
@click.pass_obj
def init(metadata: Any, env: str, force: bool) -> None:
    """Write conf/<env>/krt.yml of the project, prefilled with what can be inferred."""
    functions.init(functions.project_path(metadata, "init"), env, force)


@click.command(name="compile")
@_pipeline_options
@_env_option
@click.option("--version", "version", default=None, help=HELP_VERSION)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also emit krt.yml, the protos and docs/README.md into this folder.",
)
@_krt_version_option
@click.option(
    "--full",
    is_flag=True,
    help="The whole report: every dataset's role and the rule behind it, where each type comes "
    "from, the copies, every message between nodes (wide tables).",
)
@click.pass_obj
def compile_cmd(
    metadata: Any,
    pipelines: tuple[str, ...],
    env: str | None,
    version: str | None,
    output: Path | None,
    krt_version: str | None,
    full: bool,
) -> None:
    """Print how the project compiles: per workflow its KRT nodes, what each reads and sends,
    the request and response fields, warnings; --full for every dataset's role and rule."""
    path = functions.project_path(metadata, "compile")
    target = functions.ProjectTarget(path, pipelines, env, version, krt_version)
    functions.compile_project(target, output, full=full)


@click.command()
@_pipeline_options
@click.option("--version", "version", default=None, help=HELP_VERSION)
@_env_option
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the .krt (default: dist/ in the project).",
)
@_krt_version_option
@click.option("--quiet", "-q", is_flag=True, help=HELP_QUIET)
@click.pass_obj
def package(
    metadata: Any,
    pipelines: tuple[str, ...],
    version: str | None,
    env: str | None,
    output: Path | None,
    krt_version: str | None,
    quiet: bool,
) -> None:
    """Compile the project and package it into dist/<version>.krt, ready to upload to KRE."""
    path = functions.project_path(metadata, "package")
    target = functions.ProjectTarget(path, pipelines, env, version, krt_version)
    functions.package_project(target, output, quiet=quiet)


@click.command(name="build", help=HELP_BUILD)
@click.argument(
    "source", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help=HELP_BUILD_OUTPUT
)
@click.option("--version", "version", default=None, help=HELP_BUILD_VERSION)
@click.option("--quiet", "-q", is_flag=True, help=HELP_QUIET)
def build(source: Path, output: Path | None, version: str | None, quiet: bool) -> None:
    """`kedro-krt build DIR [--output FILE] [--version NAME]` (its help is HELP_BUILD)."""
    functions.build(source, output, version, quiet=quiet)


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@_kre_option
def validate(path: Path, kre: str | None) -> None:
    """Check a .krt or a KRT folder (KRT v1 or v2) against KRE's rules and ours; a krt.yml
    given as a file is checked alone. Exit 1 on errors."""
    functions.validate(path, kre)


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path), required=False)
@click.option(
    "--krt",
    "krt_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help=HELP_SERVE_KRT,
)
@_pipeline_options
@_env_option
@_serve_options
@click.pass_obj
def serve(
    metadata: Any,
    source: Path | None,
    krt_file: Path | None,
    pipelines: tuple[str, ...],
    env: str | None,
    config: tuple[str, ...],
    **options: Any,
) -> None:
    """Serve a KRT (v1 or v2) as KRE would, on 127.0.0.1:9000: SOURCE (a .krt, a KRT folder or
    its krt.yml), else the project, compiled and packaged on the fly."""
    source = _one_source(source, krt_file, "--krt")
    if source is not None:
        if pipelines or env:
            raise click.UsageError(
                "a KRT is served as it is: --pipeline and --env apply to compiling the project"
            )
        functions.serve(source, config, **options)
        return
    path = functions.project_path(metadata, "serve")
    functions.serve_project(functions.ProjectTarget(path, pipelines, env), config, **options)


class CallCommand(click.Command):
    """``call``, whose help ends with the example requests of the .krt in ``dist/``."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        functions.call_help_examples(formatter)


@click.command(cls=CallCommand)
@click.argument("rpc")
@click.option("--data", "-d", default=None, help="The request as proto3 JSON.")
@click.option(
    "--file",
    "-f",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A file holding the request as proto3 JSON.",
)
@click.option("--example", is_flag=True, help=HELP_CALL_EXAMPLE)
@click.option(
    "--krt",
    "krt_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help=HELP_CALL_KRT,
)
@click.option("--address", "-a", default="127.0.0.1:9000", show_default=True, help=HELP_ADDRESS)
@click.option(
    "--timeout", default=30.0, show_default=True, type=float, help="Seconds to wait for the reply."
)
def call(
    rpc: str,
    data: str | None,
    file: Path | None,
    example: bool,
    krt_file: Path | None,
    address: str,
    timeout: float,
) -> None:
    """Call an rpc of a served KRT with a proto3 JSON request; print the JSON reply.

    With --example, print RPC's example request instead (nothing is called): the one the KRT
    was packaged with, made of the project's sample rows, which answers as it is.
    """
    if example:
        if data is not None or file is not None:
            raise click.UsageError("--example prints a request: give it without --data or --file")
        functions.call_example(rpc, krt_file)
        return
    if krt_file is not None:
        raise click.UsageError("--krt names where --example reads the example; add --example")
    functions.call(rpc, data, file, address, timeout)


@click.command()
@click.argument(
    "krt_arg",
    metavar="[FILE]",
    type=click.Path(exists=True, path_type=Path),
    required=False,
)
@click.option(
    "--krt",
    "krt_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=HELP_DEPLOY_KRT,
)
@_pipeline_options
@_env_option
@click.option("--version", "version", default=None, help=HELP_DEPLOY_VERSION)
@_deploy_options
@click.pass_obj
def deploy(
    metadata: Any,
    krt_arg: Path | None,
    krt_file: Path | None,
    pipelines: tuple[str, ...],
    env: str | None,
    version: str | None,
    **options: Any,
) -> None:
    """Upload a .krt (FILE, else the project packaged) to KRE's admin API; configure, start
    and publish the version."""
    functions.check_deploy_flags(options)
    krt_file = _one_source(krt_arg, krt_file, "--krt")
    if krt_file is not None and (pipelines or version):
        raise click.UsageError(
            "--krt deploys the .krt as it is: --pipeline and --version apply to packaging the "
            "project (a .krt's name is `version:` in its krt.yml)"
        )
    if krt_file is not None and metadata is None:
        functions.deploy_file(krt_file, options)
        return
    path = functions.project_path(metadata, "deploy")
    target = functions.ProjectTarget(path, pipelines, env, version)
    functions.deploy_project(target, krt_file, options)


@click.command(name="schema")
@click.argument("file", type=click.Choice(["krt.yml", "krt-build.yml"]), default="krt.yml")
def schema(file: str) -> None:
    """Print the JSON Schema of krt.yml (or krt-build.yml) for editors.

    Save it beside the project (`kedro-krt schema > krt.schema.json`) and point the YAML
    language server at it with a first line `# yaml-language-server: $schema=../../krt.schema.json`
    in conf/base/krt.yml.
    """
    functions.schema(file)


#: Every command, in the order a user meets them; both groups have them all.
ALL_COMMANDS = (init, compile_cmd, package, build, validate, serve, call, deploy, schema)

for _command in ALL_COMMANDS:
    krt.add_command(_command)
    main.add_command(_command)
