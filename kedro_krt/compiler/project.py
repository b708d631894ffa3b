"""Open a Kedro project once: metadata, context, one catalog, the registered pipelines, krt.yml."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro_krt.compiler.config import KrtConfig, load_config
from kedro_krt.node.analysis import NodeInfo

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")


@dataclass
class KedroProject:
    """A bootstrapped project in one conf env (never `local`: what you compile is what you ship)."""

    path: Path
    env: str
    package_name: str
    project_name: str
    context: Any
    catalog: Any
    config: KrtConfig
    #: The registered pipelines imported so far (see :meth:`load_pipelines`).
    pipelines: Mapping[str, Any] = field(default_factory=dict)

    def load_pipelines(self, names: Sequence[str] | None) -> Mapping[str, Any]:
        """Import the registered pipelines ``names`` only (all when None), as Kedro 1.7's
        ``kedro run --pipelines`` does: an unrelated pipeline that cannot be imported does
        not matter; a wanted one that cannot is a one-line error."""
        from kedro_krt.node.analysis import CompileError
        from kedro_krt.node.runtime.engine import load_pipelines
        from kedro_krt.node.runtime.errors import RuntimeSetupError

        try:
            self.pipelines = load_pipelines(self.path, names)
        except RuntimeSetupError as exc:
            raise CompileError(str(exc)) from None
        return self.pipelines

    def _registered_names(self) -> list[str]:
        """Every registered pipeline's name, for a suggestion: all pipelines imported, or,
        where one of them cannot be (a package this environment lacks), the names of the
        pipeline packages that ``find_pipelines`` registers."""
        from kedro_krt.node.analysis import CompileError
        from kedro_krt.node.runtime.engine import pipeline_packages

        packages = pipeline_packages(self.package_name) or set()
        try:
            self.load_pipelines(None)
        except CompileError:
            if not packages:
                raise
        return sorted({*self.pipelines, *packages})

    def params(self) -> dict[str, Any]:
        """The project's parameters for the env."""
        return dict(self.context.params)

    def dataset_config(self, name: str) -> dict[str, Any] | None:
        """The catalog config of a dataset (explicit entry or factory pattern), if any."""
        from kedro_krt.node.runtime.catalog import CatalogView

        return CatalogView(self.catalog).dataset_config(name)

    def pipeline(self, name: str) -> Any:
        """A registered pipeline, with a suggestion when the name is wrong."""
        if name not in self.pipelines:
            known = self._registered_names()
        if name not in self.pipelines:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            from kedro_krt.node.analysis import CompileError

            raise CompileError(
                f"pipeline '{name}' is not registered in pipeline_registry.py.{hint} "
                f"Registered: {', '.join(known)}"
            )
        return self.pipelines[name]


def node_infos(pipeline: Any) -> list[NodeInfo]:
    """Plain descriptions of a Kedro pipeline's nodes."""
    return [
        NodeInfo(
            name=n.name,
            namespace=n.namespace,
            inputs=tuple(n.inputs),
            outputs=tuple(n.outputs),
        )
        for n in pipeline.nodes
    ]


def open_project(path: Path, env: str | None = None) -> KedroProject:
    """Open the project at `path` in `env` (`base` by default) for compiling.

    Kedro starts as everywhere else in kedro-krt
    (:func:`kedro_krt.node.runtime.engine.start_kedro`); what is added here is refusing `local`
    and naming the envs that exist.
    """
    from kedro_krt.compiler.config import ConfigError
    from kedro_krt.node.analysis import CompileError
    from kedro_krt.node.runtime.engine import start_kedro
    from kedro_krt.node.runtime.errors import RuntimeSetupError

    path = Path(path).resolve()
    env = env or "base"
    if env == "local":
        raise ConfigError(
            "env 'local' holds secrets and machine settings and never goes into a .krt: "
            "use base or another env"
        )

    def env_exists(project_path: Path, settings: Any) -> None:
        conf_root = project_path / str(settings.CONF_SOURCE)
        if conf_root.is_dir() and not (conf_root / env).is_dir():
            # Kedro would fail later with a traceback; say which envs exist instead.
            envs = sorted(p.name for p in conf_root.iterdir() if p.is_dir() and p.name != "local")
            raise ConfigError(
                f"conf env '{env}' does not exist: there is no folder {conf_root.name}/{env}. "
                f"Use one of: {', '.join(envs) or '(none)'}"
            )

    try:
        metadata, context = start_kedro(path, env, check=env_exists)
    except RuntimeSetupError as exc:
        raise CompileError(str(exc)) from None
    return KedroProject(
        path=path,
        env=env,
        package_name=metadata.package_name,
        project_name=metadata.project_name,
        context=context,
        catalog=context.catalog,
        config=load_config(context.config_loader),
    )
