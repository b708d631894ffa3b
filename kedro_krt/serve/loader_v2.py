"""Load a KRT v2 for the local server: which nodes can run here, and import them.

A v2 workflow is a graph: each node subscribes to ``entrypoint``, to other nodes or to a
node's subtopic (``node.subtopic``), and the workflow's ``exitpoint`` answers the caller
(konstellation-io/kre @ v8.2.0: ``engine/admin-api/domain/usecase/krt/types.go``).

**Nodes that are not Python** (a ``kre-go`` node, ``src: bin/<binary>``) are left out, with a
warning, as :func:`kedro_krt.serve.loader.python_workflows` leaves out v1 workflows. What
happens to their subscribers: they keep their other subscriptions and simply never receive a
message from the left-out node (as if that pod published nothing). A Python node whose every
path from the entrypoint runs through a left-out node never receives anything: it is loaded
(its ``init`` runs) and a warning names it. A workflow whose exitpoint is left out, or cannot
be reached from the entrypoint through Python nodes, cannot answer: it is not served (its rpc
answers UNIMPLEMENTED), and a warning says why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from kedro_krt.formats.manifest_v2 import ENTRYPOINT, ManifestV2, NodeV2, WorkflowV2
from kedro_krt.node.runtime.context import make_logger, node_environ
from kedro_krt.node.runtime.context_v2 import KreContextV2, LocalConfiguration
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.loader import (
    PreparedKrt,
    RpcTypes,
    import_node,
    init_of,
    version_environ,
    workflow_of,
)

log = logging.getLogger("kedro_krt.serve")

__all__ = [
    "KreContextV2",
    "LoadedNodeV2",
    "LoadedWorkflowV2",
    "is_python",
    "load_nodes_v2",
    "python_workflows_v2",
]

#: The in-process engine's runtime id in store names (``serve --nats`` uses the same).
LOCAL_RUNTIME = "local"


def is_python(node: NodeV2) -> bool:
    """Whether this server can run the node: its ``src`` is a Python file."""
    return node.src.endswith(".py")


def _reachable(workflow: WorkflowV2, kept: set[str]) -> set[str]:
    """The kept nodes a message from the entrypoint can reach through kept nodes only."""
    reached = {ENTRYPOINT}
    changed = True
    while changed:
        changed = False
        for node in workflow.nodes:
            if node.name in reached or node.name not in kept:
                continue
            if any(s.node in reached for s in node.parsed_subscriptions):
                reached.add(node.name)
                changed = True
    return reached - {ENTRYPOINT}


def python_workflows_v2(manifest: ManifestV2) -> tuple[ManifestV2, tuple[str, ...]]:
    """The manifest with its non-Python nodes left out and the workflows that can still answer,
    and a warning for each thing left out (see the module docstring).

    Raises:
        ServeError: when no workflow is left.
    """
    kept_workflows = []
    warnings: list[str] = []
    for wf in manifest.workflows:
        other = [n for n in wf.nodes if not is_python(n)]
        kept = {n.name for n in wf.nodes if is_python(n)}
        reached = _reachable(wf, kept)
        if wf.exitpoint not in kept or wf.exitpoint not in reached:
            why = (
                f"its exitpoint '{wf.exitpoint}' is not Python"
                if wf.exitpoint not in kept
                else f"its exitpoint '{wf.exitpoint}' receives messages only through nodes "
                "that are not Python"
            )
            warnings.append(
                f"workflow '{wf.name}' (rpc {wf.entrypoint}) is not served: {why}, and "
                "kedro-krt serve runs Python nodes only; KRE runs the others in their image"
            )
            continue
        for node in other:
            subscribers = [
                n.name for n in wf.nodes
                if n.name in kept and any(s.node == node.name for s in n.parsed_subscriptions)
            ]
            then = (
                f"; {', '.join(repr(s) for s in subscribers)} never receive(s) its messages here"
                if subscribers
                else ""
            )
            warnings.append(
                f"workflow '{wf.name}': node '{node.name}' ({node.src}, {node.image}) is left "
                f"out: it is not Python, and kedro-krt serve runs Python nodes only{then}"
            )
        for name in sorted(kept - reached):
            warnings.append(
                f"workflow '{wf.name}': node '{name}' is loaded but never receives a message "
                "here: everything it subscribes to comes from nodes that are left out"
            )
        kept_workflows.append(replace(wf, nodes=tuple(n for n in wf.nodes if n.name in kept)))
    if not kept_workflows:
        raise ServeError(
            "no workflow of this KRT can be served here:\n"
            + "\n".join(f"  - {w}" for w in warnings)
        )
    return replace(manifest, workflows=tuple(kept_workflows)), tuple(warnings)


@dataclass(frozen=True)
class LoadedNodeV2:
    """One v2 node of one workflow, imported."""

    name: str
    workflow: str
    src: str
    module: ModuleType
    init: Any
    ctx: KreContextV2
    subscriptions: tuple[str, ...]
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedWorkflowV2(RpcTypes):
    """A v2 workflow ready to serve: its nodes, who subscribes to what, and its exitpoint."""

    name: str
    rpc: str
    request_cls: Any
    response_cls: Any
    nodes: tuple[LoadedNodeV2, ...]
    exitpoint: str
    #: subject (``entrypoint``, ``node`` or ``node.subtopic``) -> the nodes subscribed to it
    subscribers: Mapping[str, tuple[LoadedNodeV2, ...]]


def load_nodes_v2(prepared: PreparedKrt, *, state_dir: Path) -> dict[str, LoadedWorkflowV2]:
    """Import every Python node of every served workflow; the workflows by rpc name.

    Raises:
        ServeError: naming the node, when its file fails to import or defines neither
            ``default_handler`` nor ``custom_handlers``.
    """
    manifest = prepared.manifest
    assert isinstance(manifest, ManifestV2)
    folders = version_environ(prepared)
    project: dict[str, str] = {}
    workflows: dict[str, LoadedWorkflowV2] = {}
    for wf in manifest.workflows:
        workflow_store: dict[str, str] = {}
        nodes = []
        for spec in wf.nodes:
            configuration = LocalConfiguration(
                {"project": project, "workflow": workflow_store, "node": {}},
                make_logger(manifest.version, spec.name),
            )
            nodes.append(
                _load_node_v2(prepared, wf, spec, state_dir, folders, configuration)
            )
        subscribers: dict[str, list[LoadedNodeV2]] = {}
        for node in nodes:
            for subject in node.subscriptions:
                subscribers.setdefault(subject, []).append(node)
        workflows[wf.entrypoint] = workflow_of(
            LoadedWorkflowV2, prepared, wf.name, wf.entrypoint,
            nodes=tuple(nodes),
            exitpoint=wf.exitpoint,
            subscribers={k: tuple(v) for k, v in subscribers.items()},
        )
    return workflows


def _load_node_v2(
    prepared: PreparedKrt,
    wf: WorkflowV2,
    spec: NodeV2,
    state_dir: Path,
    folders: frozenset[str],
    configuration: LocalConfiguration,
) -> LoadedNodeV2:
    from kedro_krt.node.runner.node import WorkerLoadError
    from kedro_krt.node.runner.node_v2 import check_v2_module
    from kedro_krt.serve.topology_v2 import object_store_name

    manifest = prepared.manifest
    environ = node_environ(
        version=manifest.version, node=spec.name, workflow=wf.name,
        base_path=prepared.root, handler_path=spec.src,
    )
    # No NATS in-process: the variables a v2 pod has instead of v1's KRT_NATS_INPUT, with the
    # subjects named as KRE 8 names them, for code that reads or logs them.
    stream = f"{LOCAL_RUNTIME}_{manifest.version}_{wf.entrypoint}"
    environ.pop("KRT_NATS_INPUT", None)
    environ["KRT_NATS_INPUTS"] = ",".join(f"{stream}.{s}" for s in spec.subscriptions)
    environ["KRT_NATS_OUTPUT"] = f"{stream}.{spec.name}"
    environ["KRT_IS_EXITPOINT"] = "true" if spec.name == wf.exitpoint else "false"
    module, logger = import_node(prepared, wf.name, spec.name, spec.src, environ, folders)
    try:
        check_v2_module(module, spec.src)
    except WorkerLoadError as exc:
        raise ServeError(f"node '{spec.name}' (workflow '{wf.name}'): {exc}") from None
    init = init_of(module, spec.name, spec.src)
    store = None
    if spec.object_store is not None:
        name = object_store_name(
            LOCAL_RUNTIME, manifest.version, wf.name, spec.object_store.name,
            spec.object_store.scope,
        )
        store = (Path(state_dir) / "objectstore" / name, name)
    ctx = KreContextV2(
        version=manifest.version, node=spec.name, workflow=wf.name, base_path=prepared.root,
        state_dir=state_dir, logger=logger, configuration=configuration, object_store=store,
    )
    return LoadedNodeV2(
        name=spec.name, workflow=wf.name, src=spec.src, module=module, init=init, ctx=ctx,
        subscriptions=tuple(spec.subscriptions), environ=environ,
    )
