"""A KRE node's log lines, whatever the Kedro project inside it would configure.

KRE's log sidecar (fluent-bit, configured by KRE 7's and KRE 8's k8s-manager:
``engine/k8s-manager/kubernetes/version/config.go``, ``parsers.conf``) starts a record at a line
``<UTC time>Z <ERROR|WARN|INFO|DEBUG> <message>`` and appends every other line to the record
before it. kre-py 2 and 3 log in that format (``logging.basicConfig``, UTC, WARNING renamed WARN
and CRITICAL ERROR), and so does the runner.

Kedro configures logging as soon as ``kedro.framework.project`` is imported, and again when a
project is bootstrapped: ``KEDRO_LOGGING_CONFIG``, else the project's ``conf/logging.yml`` looked
up from the working directory, else Kedro's ``rich_logging.yml``, whose boxed, wrapped lines KRE
cannot read and whose ``dictConfig`` replaces the root logger's handlers. The runner therefore
points ``KEDRO_LOGGING_CONFIG`` at :data:`KEDRO_LOGGING`, an incremental configuration that
changes no handler, and a Kedro project started inside the runner takes only the logger levels of
its own ``conf/logging.yml`` (:func:`keep_runner_logging`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["KEDRO_LOGGING", "LOG_DATE_FORMAT", "LOG_FORMAT", "keep_runner_logging", "own_logging"]

#: kre-py's log format (UTC), which KRE's fluent-bit parser expects.
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: The logging configuration the runner gives Kedro: levels only, no handler, no formatter.
KEDRO_LOGGING = Path(__file__).resolve().with_name("kedro_logging.yml")
#: The project's own logging configuration, where Kedro looks for it (``find_config_file``).
PROJECT_LOGGING = ("conf/logging.yml", "conf/logging.yaml")


def own_logging() -> None:
    """Keep Kedro, once imported, off the process's handlers (called by the runner)."""
    os.environ["KEDRO_LOGGING_CONFIG"] = str(KEDRO_LOGGING)


def _runner_owns_logging() -> bool:
    return os.environ.get("KEDRO_LOGGING_CONFIG") == str(KEDRO_LOGGING)


def project_levels(project: Path) -> dict[str, int | str]:
    """The logger levels of the project's ``conf/logging.yml``: ``{logger name: level}``, the
    root logger as ``""``. Handlers, formatters and filters are not read. A file that is not a
    logging configuration gives nothing (Kedro itself would refuse it on the developer's
    machine first)."""
    import yaml

    for rel in PROJECT_LOGGING:
        path = project / rel
        if path.is_file():
            try:
                config: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                return {}
            break
    else:
        return {}
    if not isinstance(config, dict):
        return {}
    levels: dict[str, int | str] = {}
    sections: list[tuple[str, Any]] = [("", config.get("root"))]
    loggers = config.get("loggers")
    if isinstance(loggers, dict):
        sections += list(loggers.items())
    for name, section in sections:
        if isinstance(section, dict) and isinstance(section.get("level"), (str, int)):
            level = section["level"]
            levels[str(name)] = level.upper() if isinstance(level, str) else level
    return levels


def keep_runner_logging(project: Path) -> None:
    """Under the runner, apply the levels of the project's own ``conf/logging.yml`` (and
    nothing else of it); elsewhere, nothing: Kedro has already applied the whole file as it
    does for ``kedro run``."""
    if not _runner_owns_logging():
        return
    for name, level in project_levels(project).items():
        try:
            logging.getLogger(name or None).setLevel(level)
        except (ValueError, TypeError):  # an unknown level name: Kedro would refuse it too
            continue
