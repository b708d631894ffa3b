"""Kedro's hooks in a KRT node, called as Kedro's runner calls them.

Which hooks: those ``kedro run`` registers (the project's ``HOOKS`` and the plugins' hooks of
the ``kedro.hooks`` entry points, less the plugins ``DISABLE_HOOKS_FOR_PLUGINS`` names), through
Kedro's own registration, then narrowed by krt.yml's ``hooks:`` (:class:`HooksPlan`): all of
them but :data:`OFF_IN_NODES` by default, none, or only those ``keep`` names.

When: at init, once per project boot, the context and catalog hooks (Kedro's session and
context call them: the node's boot goes through them with this selection), and the dataset
hooks of each artifact loaded from its file. Per message, around each Kedro node, what Kedro's
``runner/task.py`` (``Task._run_node_sequential``; the same in Kedro 1.5 and 1.7) calls: per
input ``before_dataset_loaded`` / ``after_dataset_loaded``; ``before_node_run`` (a dict it
returns replaces those inputs); the node; ``on_node_error`` and the error raised again, or
``after_node_run``; per output ``before_dataset_saved`` / ``after_dataset_saved``. The
arguments are Kedro's: ``catalog`` is the node's catalog (built once at init), ``is_async``
False, ``run_id`` the node's session id (one per process, as kedro-boot passes it).

Cost: which specs some hook implements is worked out once; a spec nobody implements is never
called, and with none of the node and dataset specs implemented the engine keeps its plain
loop (:class:`~kedro_krt.node.runtime.engine.CallList` gets no hooks at all).

Kedro's private names this relies on, all in Kedro's own code paths since 1.0 (``Task`` makes
a manager with the first three for ``ParallelRunner``; kedro-boot sets the fourth):
``kedro.framework.hooks.manager._create_hook_manager``, ``._register_hooks``,
``._register_hooks_entry_points``, and ``KedroSession._hook_manager``. :func:`kedro_hooks_api`
probes them; a Kedro without them serves without hooks and says so once in the log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from kedro_krt.node.errors import KrtError
from kedro_krt.node.plan import HooksPlan

__all__ = [
    "DATASET_SPECS",
    "NODE_SPECS",
    "OFF_IN_NODES",
    "HookSelection",
    "HooksConfigError",
    "NodeHooks",
    "kedro_hooks_api",
    "select_hooks",
]

logger = logging.getLogger(__name__)

#: The node specs Kedro's runner calls around each node, in the order it calls them.
NODE_SPECS = ("before_node_run", "on_node_error", "after_node_run")
#: The dataset specs it calls for each input and output of a node.
DATASET_SPECS = (
    "before_dataset_loaded",
    "after_dataset_loaded",
    "before_dataset_saved",
    "after_dataset_saved",
)
#: The specs a node calls once, at init.
INIT_SPECS = ("after_context_created", "after_catalog_created")

#: Plugins whose hooks a served node leaves out unless krt.yml's ``hooks.keep`` names them,
#: with the reason (the docs' compatibility page says the same).
OFF_IN_NODES: Mapping[str, str] = {
    "kedro-telemetry": (
        "it reports the use of Kedro's CLI: in a node it would read the project's pipeline "
        "registry and send usage statistics from every pod that starts"
    ),
    "kedro-viz": (
        "its hook gathers dataset statistics for Kedro-Viz and writes them after a pipeline "
        "run, which a served node never finishes: work on every message for nothing"
    ),
    "kedro-mlflow": (
        "its MLflow run is started and ended by pipeline hooks, which a served node never "
        "calls, so its before_node_run logs the node's parameters with mlflow.log_param, "
        "which starts a run of its own per engine thread or node process that never ends, "
        "writes to the tracking store on every message, and fails every later request that "
        "overrides a parameter with another value (MLflow refuses to change a logged "
        "parameter)"
    ),
}


class HooksConfigError(KrtError, ValueError):
    """krt.yml's ``hooks.keep`` names a hook the project does not register."""


def kedro_hooks_api() -> tuple[Callable[[], Any], Callable[..., None], Callable[..., None]] | None:
    """Kedro's own hook-manager factory and registration functions, or None when this Kedro
    lacks them (then nodes run without hooks)."""
    try:
        from kedro.framework.hooks.manager import (
            _create_hook_manager,
            _register_hooks,
            _register_hooks_entry_points,
        )
    except ImportError:  # pragma: no cover - every Kedro 1.x has them
        return None
    return _create_hook_manager, _register_hooks, _register_hooks_entry_points


def canonical_name(name: str) -> str:
    """A distribution name as PyPA's name normalisation spells it: kedro-mlflow 2.0.3's
    metadata says ``kedro_mlflow``, kedro-viz's ``kedro-viz``; both are ``kedro-...`` here."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _hook_name(plugin: Any, dists: Mapping[int, str]) -> str:
    """A plugin's distribution name, normalised (``kedro-mlflow``), or a project hook's class
    name."""
    dist = dists.get(id(plugin))
    return canonical_name(dist) if dist else type(plugin).__name__


def _implements(manager: Any, plugin: Any) -> tuple[str, ...]:
    specs = []
    for caller in manager.get_hookcallers(plugin) or ():
        specs.append(caller.name)
    return tuple(sorted(specs))


@dataclass(frozen=True)
class HookSelection:
    """What krt.yml's ``hooks:`` leaves of the hooks ``kedro run`` registers."""

    #: (name, specs it implements), in registration order: the hooks the node runs.
    kept: tuple[tuple[str, tuple[str, ...]], ...]
    #: (name, why it is left out).
    left_out: tuple[tuple[str, str], ...]
    manager: Any = None

    def describe(self) -> list[str]:
        """One line per hook: kept ones with their specs, then the others with the reason."""
        lines = [f"{name} ({', '.join(specs) or 'no spec'})" for name, specs in self.kept]
        lines += [f"{name}: left out, {why}" for name, why in self.left_out]
        return lines


def select_hooks(settings: Any, plan: HooksPlan, *, check: bool = True) -> HookSelection:
    """Kedro's hook manager as ``kedro run`` builds it from ``settings``, narrowed by ``plan``.

    Raises:
        HooksConfigError: (``check``) ``plan.keep`` names no registered hook.
    """
    api = kedro_hooks_api()
    if api is None:  # pragma: no cover - every Kedro 1.x has it
        logger.warning("this Kedro has no hook manager kedro-krt knows: nodes run no hook")
        return HookSelection((), ())
    create, register, register_entry_points = api
    manager = create()
    register(manager, settings.HOOKS)
    register_entry_points(manager, settings.DISABLE_HOOKS_FOR_PLUGINS)
    dists = {id(plugin): dist.project_name for plugin, dist in manager.list_plugin_distinfo()}
    registered = [(_hook_name(p, dists), p) for _, p in manager.list_name_plugin() if p]
    names = {name for name, _ in registered}
    # keep names a plugin in either spelling (kedro_mlflow, kedro-mlflow), a class exactly.
    keep = {name if name in names else canonical_name(name) for name in plan.keep}
    if check:
        unknown = [name for name in plan.keep if name not in names and canonical_name(name)
                   not in names]
        if unknown:
            raise HooksConfigError(
                f"krt.yml: hooks.keep names {', '.join(unknown)}, which the project does not "
                f"register; its hooks are: {', '.join(sorted(names)) or '(none)'} (class names "
                "of settings.HOOKS, distribution names of plugins)"
            )
    kept: list[tuple[str, tuple[str, ...]]] = []
    left_out: list[tuple[str, str]] = []
    for name, plugin in registered:
        why = ""
        if not plan.enabled:
            why = "krt.yml sets hooks.enabled to false"
        elif keep and name not in keep:
            why = "krt.yml's hooks.keep does not name it"
        elif not keep and name in OFF_IN_NODES:
            why = f"off in served nodes unless hooks.keep names it: {OFF_IN_NODES[name]}"
        if why:
            manager.unregister(plugin)
            left_out.append((name, why))
        else:
            kept.append((name, _implements(manager, plugin)))
    return HookSelection(tuple(kept), tuple(left_out), manager)


class NodeHooks:
    """The hook calls of Kedro's runner around one Kedro node, for the specs some hook
    implements; built once at init. Falsy when no node or dataset spec is implemented."""

    def __init__(self, manager: Any, catalog: Any, run_id: str | None) -> None:
        self.catalog = catalog
        self.run_id = run_id
        hook = manager.hook
        # Kedro's manager traces every hook call (pluggy's monitoring, written to Kedro's
        # logger only at DEBUG); unless that log is on, the implementations are called as
        # pluggy calls them, without the tracing's cost (see _direct).
        traced = logging.getLogger("kedro.framework.hooks.manager").isEnabledFor(logging.DEBUG)

        def caller(name: str) -> Any:
            found = getattr(hook, name, None)
            if found is None or not found.get_hookimpls():
                return None
            return found if traced else _direct(found)

        self.before_node_run = caller("before_node_run")
        self.after_node_run = caller("after_node_run")
        self.on_node_error = caller("on_node_error")
        self.before_loaded = caller("before_dataset_loaded")
        self.after_loaded = caller("after_dataset_loaded")
        self.before_saved = caller("before_dataset_saved")
        self.after_saved = caller("after_dataset_saved")
        self.loads = self.before_loaded is not None or self.after_loaded is not None
        self.saves = self.before_saved is not None or self.after_saved is not None
        self._any = self.loads or self.saves or any(
            c is not None for c in (self.before_node_run, self.after_node_run, self.on_node_error)
        )

    def __bool__(self) -> bool:
        return self._any

    def load(self, name: str, node: Any, load: Callable[[], Any]) -> Any:
        """``load()`` between the two load hooks of dataset ``name`` read by ``node``."""
        if self.before_loaded is not None:
            self.before_loaded(dataset_name=name, node=node)
        data = load()
        if self.after_loaded is not None:
            self.after_loaded(dataset_name=name, data=data, node=node)
        return data

    def run(
        self,
        node: Any,
        run: Callable[[dict[str, Any]], dict[str, Any]],
        inputs: dict[str, Any],
    ) -> dict[str, Any]:
        """``run(inputs)`` between the node hooks, as Kedro's ``Task`` calls them.

        ``before_node_run`` gets a copy of the inputs; what its implementations return
        (dicts) replaces those inputs, and the node then runs through Kedro's own
        ``Node.run`` (its checks of unexpected inputs are Kedro's). A return that is not a
        dict (or None) is a TypeError, as in Kedro.
        """
        if self.before_node_run is not None:
            answers = self.before_node_run(
                node=node,
                catalog=self.catalog,
                inputs=dict(inputs),
                is_async=False,
                run_id=self.run_id,
            )
            new: dict[str, Any] = {}
            for answer in answers or ():
                if answer is not None and not isinstance(answer, dict):
                    raise TypeError(
                        f"a before_node_run hook of node '{node.name}' returned a "
                        f"{type(answer).__name__}: it must return None or a dict of dataset "
                        "names to new input values"
                    )
                new.update(answer or {})
            if new:
                inputs.update(new)
                run = node.run
        try:
            outputs = run(inputs)
        except Exception as exc:
            if self.on_node_error is not None:
                self.on_node_error(
                    error=exc,
                    node=node,
                    catalog=self.catalog,
                    inputs=inputs,
                    is_async=False,
                    run_id=self.run_id,
                )
            raise
        if self.after_node_run is not None:
            self.after_node_run(
                node=node,
                catalog=self.catalog,
                inputs=inputs,
                outputs=outputs,
                is_async=False,
                run_id=self.run_id,
            )
        return outputs

    def save(self, name: str, data: Any, node: Any, save: Callable[[], None]) -> None:
        """``save()`` between the two save hooks of output ``name`` of ``node``."""
        if self.before_saved is not None:
            self.before_saved(dataset_name=name, data=data, node=node)
        save()
        if self.after_saved is not None:
            self.after_saved(dataset_name=name, data=data, node=node)


def _direct(caller: Any) -> Callable[..., list[Any]]:
    """A hook caller's implementations called as pluggy's ``_multicall`` calls them, without
    its per-call machinery: the last registered first (``get_hookimpls`` lists them in
    pluggy's order, ``tryfirst``/``trylast`` applied), each with the arguments it names, the
    results that are not None in a list, an exception raised as it is. A caller with a
    wrapper implementation (``hookwrapper``/``wrapper``) is kept as it is."""
    impls = caller.get_hookimpls()
    if any(getattr(i, "hookwrapper", False) or getattr(i, "wrapper", False) for i in impls):
        return cast(Callable[..., list[Any]], caller)
    steps = [(impl.function, tuple(impl.argnames)) for impl in reversed(impls)]

    def call(**kwargs: Any) -> list[Any]:
        results = []
        for function, names in steps:
            result = function(*[kwargs[name] for name in names])
            if result is not None:
                results.append(result)
        return results

    return call


def first_readers(nodes: Iterable[Any], names: Iterable[str]) -> dict[str, Any]:
    """For each dataset of ``names``, the first of ``nodes`` that reads it (the node Kedro's
    runner would load it for first)."""
    wanted = set(names)
    found: dict[str, Any] = {}
    for n in nodes:
        for name in n.inputs:
            if name in wanted and name not in found:
                found[name] = n
    return found
