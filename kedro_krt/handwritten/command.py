"""The click command `kedro-krt build DIR`: parse, call :func:`build_krt`, print.

It is a `click.Command` of its own (`build_command`), registered in the `kedro-krt` group by
kedro_krt.cli; `python -m kedro_krt.handwritten` runs it too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

HELP_BUILD = (
    "Build a hand-written KRT folder (krt.yml, protos, src/<node>/...) into a .krt: "
    ".krtignore honoured as kli does, protos compiled into the node folders, nodes made from "
    "Kedro projects as krt-build.yml says, checked by the validator before it is written."
)
HELP_OUTPUT = "The .krt to write. Default: dist/<version>.krt in the working directory."
HELP_BUILD_VERSION = "Version name written into the shipped krt.yml (the folder is not changed)."
HELP_QUIET = "Print only the path of the .krt (and the warnings)."


def _user_errors() -> tuple[type[BaseException], ...]:
    from kedro_krt.errors import user_errors

    return user_errors()


@contextmanager
def _quiet_kedro() -> Iterator[None]:
    """Kedro's own noise while it opens projects (its logging setup, deprecations, dotted
    dataset names) is not the build's report; filters and levels are restored after."""
    from kedro_krt.errors import kedro_noise_hidden

    with kedro_noise_hidden():
        logging.disable(logging.INFO)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


@click.command(name="build", help=HELP_BUILD)
@click.argument(
    "source", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help=HELP_OUTPUT)
@click.option("--version", "version", default=None, help=HELP_BUILD_VERSION)
@click.option("--quiet", "-q", is_flag=True, help=HELP_QUIET)
def build_command(source: Path, output: Path | None, version: str | None, quiet: bool) -> None:
    """kedro-krt build DIR [--output FILE] [--version NAME]"""
    from kedro_krt.handwritten.assemble import build_krt

    def progress(message: str) -> None:
        if not quiet:
            click.echo(click.style(f"  ... {message}", dim=True), err=True)

    try:
        with _quiet_kedro():
            result = build_krt(source, output, version=version, progress=progress)
    except _user_errors() as exc:
        raise click.ClickException(str(exc)) from None
    if quiet:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    else:
        click.echo(result.report, nl=False)
    click.echo(f"KRT file: {result.path} ({result.files} files, {result.size / 1024:.0f} KiB)")
