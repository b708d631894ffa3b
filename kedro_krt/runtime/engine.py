"""Run Kedro nodes as a straight list of calls over in-memory values.

The compiled plan names the Kedro nodes of a KRT node in order; at init they are looked up once,
artifacts and fixed parameters are loaded once, and per message the engine only calls the node
functions. No catalog, no runner, no file I/O, no copies: values flow through a dict.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro_krt.runtime.errors import RuntimeSetupError

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

_BOOT_LOCK = threading.Lock()
_BOOTED: dict[tuple[str, str], ProjectRuntime] = {}


@dataclass
class ProjectRuntime:
    """A Kedro project booted once per process: its context, one catalog, its pipelines."""

    path: Path
    env: str
    context: Any
    catalog: Any
    pipelines: Mapping[str, Any]

    def nodes(self, pipeline: str, names: Sequence[str]) -> list[Any]:
        """The Kedro nodes `names` of a registered pipeline, in the given order."""
        if pipeline not in self.pipelines:
            raise RuntimeSetupError(
                f"pipeline '{pipeline}' is not registered in the project at {self.path}"
            )
        by_name = {n.name: n for n in self.pipelines[pipeline].nodes}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise RuntimeSetupError(
                f"the plan names nodes {', '.join(missing)} that pipeline '{pipeline}' does not "
                "have: the project changed since the KRT was compiled; recompile it"
            )
        return [by_name[n] for n in names]

    def load(self, names: Iterable[str]) -> dict[str, Any]:
        """Load datasets (artifacts, parameters) once; a failure names the dataset."""
        out: dict[str, Any] = {}
        for name in names:
            try:
                out[name] = self.catalog.load(name)
            except Exception as exc:
                raise RuntimeSetupError(f"cannot load '{name}' at init: {exc}") from exc
        return out


def boot_project(path: Path, env: str) -> ProjectRuntime:
    """Bootstrap the Kedro project at `path` once per process and env."""
    key = (str(Path(path).resolve()), env)
    with _BOOT_LOCK:
        if key in _BOOTED:
            return _BOOTED[key]
        from kedro.framework.project import pipelines
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        project_path = Path(key[0])
        if not (project_path / "pyproject.toml").is_file():
            raise RuntimeSetupError(f"no Kedro project (pyproject.toml) at {project_path}")
        bootstrap_project(project_path)
        session = KedroSession.create(project_path=project_path, env=env)
        context = session.load_context()
        # Kedro configures its own logging at bootstrap; per-load INFO lines cost time per run.
        for name in ("kedro", "kedro.io", "kedro.pipeline", "kedro.framework", "kedro.config"):
            logging.getLogger(name).setLevel(logging.WARNING)
        runtime = ProjectRuntime(
            path=project_path,
            env=env,
            context=context,
            catalog=context.catalog,
            pipelines=dict(pipelines),
        )
        _BOOTED[key] = runtime
        return runtime


class CallList:
    """Kedro nodes as a straight list of calls over a dict of values."""

    __slots__ = ("_steps",)

    def __init__(self, nodes: Sequence[Any]) -> None:
        self._steps = [(n.run, tuple(n.inputs)) for n in nodes]

    def run(self, values: dict[str, Any]) -> dict[str, Any]:
        """Call every node in order; `values` gains every output. Returns `values`."""
        for run, inputs in self._steps:
            values.update(run({k: values[k] for k in inputs}))
        return values
