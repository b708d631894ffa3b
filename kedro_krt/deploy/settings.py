"""Where a deployment goes and with what: flags over `deploy:` in krt.yml, the token from the
environment only, the config values from the command line or the environment."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kedro_krt.compiler.config import DEFAULT_TOKEN_ENV, DeployConfig
from kedro_krt.deploy.errors import DeployError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WHERE_CONF = "deploy.{key} in conf/<env>/krt.yml"


@dataclass(frozen=True)
class Target:
    """KRE's admin API, the runtime, and how to reach them.

    Attributes:
        api: the admin API's base URL, without a trailing slash.
        runtime: the runtime's id.
        token_env: the environment variable that holds the API token.
        ca_file: a private CA's PEM file, trusted besides the system's trust store.
        ui: the admin UI's base URL when given (else derived from ``api``).
        wait: seconds to wait for each status.
        kre: the KRE version of the runtime (``8.2``), when known: the .krt is checked for it.
    """

    api: str
    runtime: str
    token_env: str = DEFAULT_TOKEN_ENV
    ca_file: Path | None = None
    ui: str = ""
    wait: float = 600.0
    kre: str | None = None


def resolve_target(
    *,
    api: str | None = None,
    runtime: str | None = None,
    token_env: str | None = None,
    ca_file: Path | None = None,
    ui: str | None = None,
    wait: float | None = None,
    config: DeployConfig | None = None,
    project_path: Path | None = None,
    kre: str | None = None,
) -> Target:
    """Command-line values win over ``config`` (a project's ``deploy:``), which wins over the
    defaults. ``deploy.ca_file`` is relative to ``project_path``."""
    cfg = config or DeployConfig()
    in_project = project_path is not None

    def missing(flag: str, key: str, example: str) -> DeployError:
        where = f", or set {_WHERE_CONF.format(key=key)}" if in_project else ""
        return DeployError(f"no {key} to deploy to: pass {flag} {example}{where}")

    api = (api or cfg.api).strip()
    if not api:
        raise missing("--api", "api", "URL (the address of KRE's admin API)")
    parts = urlsplit(api)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeployError(
            f"--api {api!r} is not an http(s) URL: give the address of KRE's admin API, "
            "e.g. https://api.kre.example.com"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise DeployError(
            "--api takes the admin API's base address only (no credentials, query or "
            "fragment), e.g. https://api.kre.example.com"
        )
    runtime = (runtime or cfg.runtime).strip()
    if not runtime:
        raise missing("--runtime", "runtime", "ID (as in the admin UI's /runtimes/ID address)")
    ca_path: Path | None = ca_file
    if ca_path is None and cfg.ca_file:
        ca_path = Path(cfg.ca_file)
        if not ca_path.is_absolute() and project_path is not None:
            ca_path = project_path / ca_path
    if ca_path is not None and not ca_path.is_file():
        raise DeployError(f"--ca-file {ca_path}: no such file (give the private CA's PEM file)")
    seconds = cfg.wait if wait is None else wait
    if seconds <= 0:
        raise DeployError(f"--wait {seconds:g}: give a number of seconds above 0")
    return Target(
        api=api.rstrip("/"),
        runtime=runtime,
        token_env=token_env or cfg.token_env or DEFAULT_TOKEN_ENV,
        ca_file=ca_path,
        ui=(ui or cfg.ui).strip(),
        wait=float(seconds),
        kre=_kre(kre or cfg.kre_version or None),
    )


def _kre(text: str | None) -> str | None:
    from kedro_krt.formats.validate import kre_target

    try:
        return kre_target(text)
    except ValueError as exc:
        raise DeployError(str(exc)) from None


def read_token(token_env: str, environ: Mapping[str, str]) -> str:
    """The API token from the environment variable ``token_env``; never from anywhere else."""
    if not _ENV_NAME.match(token_env):
        # Not echoed: a user may have passed the token itself by mistake.
        raise DeployError(
            "--token-env takes the NAME of the environment variable that holds the API token "
            "(letters, digits and '_'); what was given is not such a name, and is not printed "
            "in case it is the token itself"
        )
    token = environ.get(token_env, "").strip()
    if not token:
        raise DeployError(
            f"no API token: the environment variable {token_env} is not set. Generate a "
            "token in KRE's admin UI (your profile, API tokens) and export it in "
            f"{token_env}; it is never read from a flag or from krt.yml"
        )
    return token


def config_values(items: tuple[str, ...], environ: Mapping[str, str]) -> dict[str, str]:
    """``--config NAME=VALUE`` pairs; a bare ``NAME`` takes the value of the environment
    variable NAME (keeps secrets off the command line)."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not name:
            raise DeployError(f"--config {item!r}: expected NAME=VALUE or NAME")
        if not sep:
            if name not in environ:
                raise DeployError(
                    f"--config {name}: no value given and no environment variable {name}: "
                    f"pass {name}=VALUE or export {name}"
                )
            value = environ[name]
        values[name] = value
    return values


def cleartext_warning(api: str) -> str | None:
    """A warning when the token and the .krt would cross a network unencrypted."""
    parts = urlsplit(api)
    if parts.scheme != "http":
        return None
    host = parts.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return None
    return (
        f"{api} is plain http: the API token's sign-in and the .krt cross the network "
        "unencrypted; use the https address of KRE's admin API"
    )
