"""Run Kedro nodes as a straight list of calls over in-memory values.

The compiled plan names the Kedro nodes of a KRT node in order; at init they are looked up once,
artifacts and fixed parameters are loaded once, and per message the engine only calls the node
functions. No catalog, no runner, no file I/O, no copies: values flow through a dict.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kedro_krt.node.logs import keep_runner_logging
from kedro_krt.node.plan import HooksPlan
from kedro_krt.node.runtime.copies import CopyMode, copy_value, infer_copy_mode
from kedro_krt.node.runtime.errors import RuntimeSetupError
from kedro_krt.node.runtime.hooks import HookSelection, NodeHooks, first_readers, select_hooks

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

_BOOT_LOCK = threading.Lock()
_BOOTED: dict[tuple[str, str, tuple[str, ...], bool, tuple[str, ...]], ProjectRuntime] = {}


@dataclass
class ProjectRuntime:
    """A Kedro project booted once per process: its context, one catalog, its pipelines."""

    path: Path
    env: str
    context: Any
    catalog: Any
    pipelines: Mapping[str, Any]
    #: The hook calls around each Kedro node (None or falsy: no hook implements a node or
    #: dataset spec, and the engine calls nothing).
    hooks: NodeHooks | None = None
    #: The hooks this boot registered and those krt.yml left out.
    selection: HookSelection | None = None

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

    def load(self, names: Iterable[str], readers: Sequence[Any] = ()) -> dict[str, Any]:
        """Load datasets (artifacts, parameters) once; a failure names the dataset.

        A dataset that one of ``readers`` (Kedro nodes, in order) reads is loaded between the
        dataset load hooks, with the first of them as the hook's ``node``.
        """
        names = list(names)
        hooks = self.hooks if self.hooks and self.hooks.loads else None
        by_reader = first_readers(readers, names) if hooks is not None else {}
        out: dict[str, Any] = {}
        for name in names:
            try:
                reader = by_reader.get(name)
                if hooks is not None and reader is not None:
                    out[name] = hooks.load(
                        name, reader, lambda name=name: self.catalog.load(name)  # type: ignore[misc]
                    )
                else:
                    out[name] = self.catalog.load(name)
            except Exception as exc:
                raise RuntimeSetupError(f"cannot load '{name}' at init: {exc}") from exc
        return out


def _import_failure(project: Path, exc: BaseException) -> str:
    """One line: what failed to import, where, and the package that is missing."""
    # find_pipelines(raise_errors=True) wraps the real failure ("No module named 'plotly'") in
    # an ImportError that names only the pipeline's module: say the real one.
    while isinstance(exc, ImportError) and exc.__cause__ is not None:
        exc = exc.__cause__
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = Path(tb.tb_frame.f_code.co_filename)
        if project in filename.parents:
            where = f"{filename.relative_to(project)} line {tb.tb_lineno}"
        tb = tb.tb_next
    what = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        what = f"it imports '{exc.name}', which is not installed here"
    return f"{what}{f' ({where})' if where else ''}"


def load_pipelines(project: Path, names: Sequence[str] | None) -> dict[str, Any]:
    """The project's registered pipelines: only ``names`` where the registry allows it.

    As ``kedro run --pipelines`` does in Kedro 1.7, the registry is told which pipelines are
    wanted (``find_pipelines`` then imports only their modules), so an unrelated pipeline that
    cannot be imported (a package missing from the serving environment) does not matter. When a
    wanted one cannot be imported, the error is one line naming the module and what it lacks.

    Raises:
        RuntimeSetupError: the registry itself, or a wanted pipeline, cannot be imported.
    """
    import warnings

    from kedro.framework.project import pipelines as registry
    from kedro.framework.startup import bootstrap_project

    project = Path(project).resolve()
    # Kedro's registry is process-wide and follows the last project bootstrapped: make it this
    # project's again (`kedro-krt build` opens several projects in one process).
    metadata = bootstrap_project(project)
    wanted = sorted(set(names)) if names else None
    # `find_pipelines` turns a requested name that is no pipeline package into an ImportError
    # (or a warning) about a module: ask it only for the packages that exist. A name that is
    # neither is then missing from the registry, and the caller says so with the names known.
    requested = wanted
    if wanted is not None:
        packages = pipeline_packages(metadata.package_name)
        if packages is not None:
            requested = [n for n in wanted if n in packages or n == "__default__"]
    registry.set_requested(requested)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = dict(registry)
        except Exception as exc:
            raise RuntimeSetupError(
                "the project's pipeline registry cannot be imported: "
                + _import_failure(project, exc)
            ) from None
    for name in wanted or ():
        if name in loaded:
            continue
        for warning in caught:
            message = str(warning.message)
            # find_pipelines turns an import error into this warning, with the traceback.
            if (
                f".pipelines.{name}' module" in message
                and "error occurred while importing" in message
            ):
                raise RuntimeSetupError(
                    f"pipeline '{name}' cannot be imported: {_from_traceback(project, message)}"
                )
    return loaded


def pipeline_packages(package_name: str) -> set[str] | None:
    """The names of the folders of ``<package>.pipelines`` that ``find_pipelines`` would import
    (none hidden, no ``__pycache__``), found without importing them; ``None`` when the project
    has no such package."""
    import importlib.resources

    try:
        root = importlib.resources.files(f"{package_name}.pipelines")
    except Exception:  # no such package, or one that fails to import: Kedro's error then
        return None
    return {
        p.name
        for p in root.iterdir()
        if p.is_dir() and p.name != "__pycache__" and not p.name.startswith(".")
    }


def _from_traceback(project: Path, text: str) -> str:
    """The cause and the project file of a formatted traceback, in one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cause = lines[-1]
    files = [line.split('"')[1] for line in lines if line.startswith('File "')]
    ours = [f for f in files if f.startswith(f"{project}/")]
    where = f" ({ours[-1][len(str(project)) + 1 :]})" if ours else ""
    if cause.startswith("ModuleNotFoundError: No module named "):
        module = cause.split("No module named ", 1)[1]
        cause = f"it imports {module}, which is not installed here"
    return f"{cause}{where}; install what it needs in this environment"


#: Warnings Kedro gives on every start that say nothing to a kedro-krt user (module, message):
#: Kedro 1.x's config loader registers its resolvers with omegaconf's deprecated
#: ``register_new_resolver`` (omegaconf 2.4 warns each time; kedro/config/omegaconf_config.py),
#: and Kedro warns when a node reads or writes a dotted dataset name outside its own namespace,
#: which is how namespaced pipelines hand data to each other (``inputs={"features":
#: "etl.features"}``) and how kedro-krt tells request inputs from artifacts.
KEDRO_START_WARNINGS = (
    (r"kedro\.config\.", r"register_new_resolver\(\) is deprecated"),
    (r"kedro\.pipeline\.", r"One or more dataset names contain '\.' characters"),
)


def quiet_kedro_start() -> None:
    """Ignore :data:`KEDRO_START_WARNINGS`, and only them (by message, and by the Kedro package
    that issues them: a project's own call to ``register_new_resolver`` still warns);
    idempotent."""
    import warnings

    for module, message in KEDRO_START_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning, module=module)


def start_kedro(
    path: Path, env: str, check: Callable[[Path, Any], None] | None = None
) -> tuple[Any, Any]:
    """Kedro's own start, the one way kedro-krt opens a project (compile, package, serve, the
    nodes of a .krt, KrtSession): ``bootstrap_project``, a session in ``env``, its context.

    ``check(project_path, settings)`` runs once the project's settings are known and before the
    session starts, to refuse what Kedro would only fail on later with a traceback. Returns the
    project's metadata and the loaded context. Kedro's per-load INFO lines are turned down to
    WARNING: they cost time per run, and our commands print their own report. Under a node
    runner, the project's ``conf/logging.yml`` gives its logger levels and nothing else
    (:func:`~kedro_krt.node.logs.keep_runner_logging`). The warnings of
    :data:`KEDRO_START_WARNINGS` are not shown.
    """
    metadata, _, context, _ = _start_session(path, env, check, None)
    return metadata, context


def _start_session(
    path: Path,
    env: str,
    check: Callable[[Path, Any], None] | None,
    hooks: HooksPlan | None,
) -> tuple[Any, Any, Any, HookSelection | None]:
    """:func:`start_kedro`, and with ``hooks`` the session's hook manager narrowed to them
    before the context is made (so ``after_context_created`` runs through it); returns the
    metadata, the session, the context and the hook selection (None without ``hooks``)."""
    quiet_kedro_start()
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project_path = Path(path).resolve()
    if not (project_path / "pyproject.toml").is_file():
        raise RuntimeSetupError(f"no Kedro project (pyproject.toml) at {project_path}")
    metadata = bootstrap_project(project_path)
    from kedro.framework.project import settings

    if check is not None:
        check(project_path, settings)
    session = KedroSession.create(project_path=project_path, env=env)
    selection = None
    if hooks is not None:
        selection = select_hooks(settings, hooks, check=False)
        if selection.manager is not None and hasattr(session, "_hook_manager"):
            session._hook_manager = selection.manager
    context = session.load_context()
    keep_runner_logging(project_path)
    for name in ("kedro", "kedro.io", "kedro.pipeline", "kedro.framework", "kedro.config"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return metadata, session, context, selection


def boot_project(
    path: Path,
    env: str,
    pipelines: Sequence[str] | None = None,
    hooks: HooksPlan | None = None,
) -> ProjectRuntime:
    """Start the Kedro project at `path` once per process, env, set of pipelines and
    selection of hooks.

    ``pipelines`` names the registered pipelines to import (all when None), as
    ``kedro run --pipelines`` does. ``hooks`` says which of the project's Kedro hooks run
    (:mod:`kedro_krt.node.runtime.hooks`): the context and catalog hooks run here, once.
    """
    hooks = hooks if hooks is not None else HooksPlan()
    key = (
        str(Path(path).resolve()),
        env,
        tuple(sorted(pipelines)) if pipelines else (),
        hooks.enabled,
        hooks.keep,
    )
    with _BOOT_LOCK:
        if key in _BOOTED:
            return _BOOTED[key]
        project_path = Path(key[0])
        _, session, context, selection = _start_session(project_path, env, None, hooks)
        catalog = context.catalog
        manager = selection.manager if selection is not None else None
        runtime = ProjectRuntime(
            path=project_path,
            env=env,
            context=context,
            catalog=catalog,
            pipelines=load_pipelines(project_path, pipelines),
            hooks=NodeHooks(manager, catalog, session.session_id) if manager else None,
            selection=selection,
        )
        _BOOTED[key] = runtime
        return runtime


def node_runner(n: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``n.run``, or the very same steps without its per-call overhead.

    Kedro's ``Node.run`` (kedro/pipeline/node.py, 1.x) logs ``Running node: <str(node)>`` at
    INFO, formatting the node's description on every call even when that level is off (as it
    is in a KRT node: :func:`start_kedro` turns Kedro's loggers down to WARNING), checks that
    the inputs given are the node's (a CallList builds them from ``n.inputs``, so they are),
    calls the function with its inputs as one argument, positional arguments or keywords, maps
    the result to the output names (``_outputs_to_dictionary``, used as it is for list, dict and
    absent outputs: its checks and messages are Kedro's), and on an exception logs ``Node ...
    failed with error`` at ERROR and re-raises it. The runner returned does the same, with the
    INFO line formatted only when INFO is enabled for Kedro's logger. ``n.run`` itself is kept
    for anything else: a subclass of ``Node`` with its own ``run``, a function Kedro could only
    name by ``repr`` (a ``partial``: Kedro warns each time it formats such a node), or another
    Kedro whose ``Node`` lacks what this relies on. The function is read from the node on
    every call, so one set through ``node.func`` (a hook may decorate it) is honoured.
    """
    try:
        from kedro.pipeline.node import Node
    except ImportError:  # pragma: no cover - kedro is a requirement
        return cast(Callable[[dict[str, Any]], dict[str, Any]], n.run)
    cls = type(n)
    try:
        plain = (
            isinstance(n, Node)
            and cls.run is Node.run
            and cls._outputs_to_dictionary is Node._outputs_to_dictionary  # type: ignore[attr-defined]
            and cls.__str__ is Node.__str__
        )
        func = n._func
        spec = n._inputs
        outputs = n._outputs
        to_dict = n._outputs_to_dictionary
        logger = n._logger
    except AttributeError:
        plain = False
    if not plain or not hasattr(func, "__name__"):
        return cast(Callable[[dict[str, Any]], dict[str, Any]], n.run)
    if not (spec is None or isinstance(spec, (str, list, dict))):
        return cast(Callable[[dict[str, Any]], dict[str, Any]], n.run)
    named = isinstance(outputs, str)
    kedro_run = n.run
    info = logging.INFO

    def run(inputs: dict[str, Any]) -> dict[str, Any]:
        f = n._func
        if f is not func:  # a new function was set: Kedro's own run, as for any other node
            return cast(dict[str, Any], kedro_run(inputs))
        if logger.isEnabledFor(info):
            logger.info("Running node: %s", str(n), extra={"markup": False})
        try:
            if not spec:
                result = f()
            elif isinstance(spec, str):
                result = f(inputs[spec])
            elif isinstance(spec, list):
                result = f(*(inputs[item] for item in spec))
            else:
                result = f(**{arg: inputs[alias] for arg, alias in spec.items()})
            return {outputs: result} if named else cast(dict[str, Any], to_dict(result))
        except Exception as exc:
            logger.error(
                "Node %s failed with error: \n%s", str(n), str(exc), extra={"markup": False}
            )
            raise

    return run


class CallList:
    """Kedro nodes as a straight list of calls over a dict of values.

    Each call gets its inputs from the dict; an input that someone will see again after the
    call (a later call, ``observed``: what is encoded or returned after the calls, or
    ``shared``: a value that outlives the run) is handed over as a copy, in Kedro's copy mode
    (``modes`` overrides it per dataset), so that a node that changes its input in place
    behaves as under Kedro's runner (:mod:`kedro_krt.node.runtime.copies`). An output that *is* a
    shared object (a node returning its artifact) is copied too.

    ``hooks`` (given and truthy: some hook implements a node or dataset spec) are called
    around each node as Kedro's runner calls them (:mod:`kedro_krt.node.runtime.hooks`);
    without, :meth:`run` is the plain loop.
    """

    __slots__ = ("_hooked", "_hooks", "_modes", "_shared_ids", "_steps")

    def __init__(
        self,
        nodes: Sequence[Any],
        *,
        observed: Iterable[str] = (),
        shared: Mapping[str, Any] | None = None,
        modes: Mapping[str, CopyMode] | None = None,
        hooks: NodeHooks | None = None,
    ) -> None:
        observed = set(observed)
        shared = shared or {}
        modes = modes or {}
        reads: dict[str, list[int]] = {}
        for index, n in enumerate(nodes):
            for name in n.inputs:
                reads.setdefault(name, []).append(index)
        self._steps = []
        for index, n in enumerate(nodes):
            inputs = tuple(n.inputs)
            guarded = tuple(
                (name, modes.get(name))
                for name in dict.fromkeys(inputs)
                if modes.get(name) != "assign"
                and (name in shared or name in observed or reads[name][-1] > index)
            )
            self._steps.append((node_runner(n), inputs, guarded, tuple(n.outputs)))
        # An output that is a shared object is copied in the output's own mode, whatever the
        # artifact's: `assign` on an artifact says its readers leave it alone, not theirs.
        self._shared_ids = {id(v) for v in shared.values() if infer_copy_mode(v) != "assign"}
        self._modes = dict(modes)
        self._hooks = hooks if hooks else None
        self._hooked = (
            [(n, dict(step[2])) for n, step in zip(nodes, self._steps, strict=True)]
            if self._hooks is not None
            else []
        )

    def run(self, values: dict[str, Any]) -> dict[str, Any]:
        """Call every node in order; `values` gains every output. Returns `values`."""
        if self._hooks is not None:
            return self._run_hooked(values, self._hooks)
        shared_ids = self._shared_ids
        for run, inputs, guarded, _ in self._steps:
            args = {k: values[k] for k in inputs}
            for name, mode in guarded:
                args[name] = copy_value(args[name], mode)
            outputs = run(args)
            if shared_ids:
                for key, value in outputs.items():
                    if id(value) in shared_ids and self._modes.get(key) != "assign":
                        outputs[key] = copy_value(value, self._modes.get(key))
            values.update(outputs)
        return values

    def _run_hooked(self, values: dict[str, Any], hooks: NodeHooks) -> dict[str, Any]:
        """:meth:`run` with the hook calls of Kedro's ``Task`` around each node: each input
        (duplicates too, as Kedro loads them) is taken from ``values`` between the load
        hooks, each output put into it between the save hooks, in the node's output order."""
        shared_ids = self._shared_ids
        before_loaded, after_loaded = hooks.before_loaded, hooks.after_loaded
        before_saved, after_saved = hooks.before_saved, hooks.after_saved
        for (run, inputs, _, _), (node, copies) in zip(self._steps, self._hooked, strict=True):
            args: dict[str, Any] = {}
            for name in inputs:
                if before_loaded is not None:
                    before_loaded(dataset_name=name, node=node)
                value = values[name]
                if name in copies:
                    value = copy_value(value, copies[name])
                args[name] = value
                if after_loaded is not None:
                    after_loaded(dataset_name=name, data=value, node=node)
            outputs = hooks.run(node, run, args)
            for key, value in outputs.items():
                if before_saved is not None:
                    before_saved(dataset_name=key, data=value, node=node)
                kept = value
                if shared_ids and id(value) in shared_ids and self._modes.get(key) != "assign":
                    kept = copy_value(value, self._modes.get(key))
                values[key] = kept
                if after_saved is not None:
                    after_saved(dataset_name=key, data=value, node=node)
        return values
