"""Load a KRT for the local server: unpack, validate, compile the public proto, import nodes.

Loading has two stages, so that the server can bind its port (and answer health checks with
NOT_SERVING) before the slow part runs:

- :func:`prepare_krt`: unpack a ``.krt`` safely, validate, check the config variables, compile
  ``public_input.proto`` into a descriptor pool of our own and find each workflow's rpc.
- :func:`load_nodes` and :func:`run_inits`: import every node file the way KRE's Python runner
  does, then run every ``init``.

What every format does alike is in :mod:`~kedro_krt.serve.loader_base`; which workflows can be
served here and how a node is loaded differ by format, and come from the format's serving
(:func:`kedro_krt.serve.formats.serving_for`).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pool

from kedro_krt.node.plan import PUBLIC_PROTO
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.formats import serving_for
from kedro_krt.serve.loader_base import (
    PreparedKrt,
    compile_public_proto,
    resolve_config,
    resolve_source,
    scoped_environ,
    validate_krt,
)
from kedro_krt.serve.serving_base import LoadedWorkflowBase

__all__ = ["PreparedKrt", "load_nodes", "prepare_krt", "run_inits"]


def prepare_krt(
    source: Path, *, work_dir: Path, config: Mapping[str, str] | None = None, validate: bool = True
) -> PreparedKrt:
    """Stage 1 of loading: everything that needs no node code. See the module docstring.

    Raises:
        ServeError: for a missing, unsafe or invalid KRT, a missing config value, a
            ``public_input.proto`` that protoc rejects or that lacks a workflow's rpc.
    """
    source = Path(source)
    warnings: tuple[str, ...] = ()
    if validate:
        # Validate what the user gave (for a .krt that includes KRE's archive rules).
        target = source.parent if source.name == "krt.yml" else source
        manifest, warnings = validate_krt(target)
    root = resolve_source(source, work_dir)
    if not validate:
        from kedro_krt.formats.krt_formats import parse_any_manifest

        parsed, problems = parse_any_manifest((root / "krt.yml").read_text(encoding="utf-8"))
        if parsed is None:
            raise ServeError("invalid krt.yml:\n" + "\n".join(str(p) for p in problems))
        manifest = parsed
    manifest, skipped = serving_for(manifest).python_workflows(manifest)
    warnings += skipped
    values = resolve_config(manifest, config or {})

    file_set = compile_public_proto(root)
    pool = descriptor_pool.DescriptorPool()
    for file_proto in file_set.file:
        pool.Add(file_proto)
    public = next(f for f in file_set.file if f.name == PUBLIC_PROTO)
    package = public.package
    service_name = f"{package}.Entrypoint" if package else "Entrypoint"
    try:
        service = pool.FindServiceByName(service_name)
    except KeyError:
        raise ServeError(
            f"{PUBLIC_PROTO} has no 'service Entrypoint': KRE's entrypoint serves only that "
            "service; declare it with one rpc per workflow"
        ) from None
    for workflow in manifest.workflows:
        method = service.methods_by_name.get(workflow.entrypoint)
        if method is None:
            raise ServeError(
                f"workflow '{workflow.name}': rpc '{workflow.entrypoint}' is not in service "
                f"Entrypoint of {PUBLIC_PROTO} (it has: {', '.join(service.methods_by_name)})"
            )
        # KRE's entrypoint serves unary rpcs only.
        sides = (("client", method.client_streaming), ("server", method.server_streaming))
        for side, streaming in sides:
            if streaming:
                raise ServeError(
                    f"rpc '{workflow.entrypoint}' is {side}-streaming; KRE's entrypoint serves "
                    "only unary rpcs: remove 'stream' from its declaration"
                )
    return PreparedKrt(
        root=root,
        manifest=manifest,
        proto_text=(root / PUBLIC_PROTO).read_text(encoding="utf-8"),
        package=package,
        service=service,
        pool=pool,
        file_protos=tuple(file_set.file),
        config=values,
        warnings=warnings,
    )


def load_nodes(prepared: PreparedKrt, *, state_dir: Path) -> dict[str, LoadedWorkflowBase]:
    """Import every node of every workflow (as the KRT's format loads them); the workflows by
    rpc name.

    Raises:
        ServeError: naming the node, when its file fails to import or lacks the handlers its
            format calls.
    """
    return serving_for(prepared.manifest).load_nodes(prepared, state_dir=state_dir)


async def run_inits(
    workflows: Mapping[str, Any],
    call: Callable[[Any, Callable[[], Awaitable[Any]]], Awaitable[Any]] | None = None,
    on_init: Callable[[str, str], None] | None = None,
) -> None:
    """Run every node's ``init(ctx)`` (sync or async) once, in manifest order.

    ``call(node, make)`` runs ``await make()`` where the node's handler will run (the engine's
    thread of that node), so that what an async init binds to its event loop is there for the
    handler; without it, an async init runs here and a sync one in a worker thread.
    ``on_init(node, workflow)`` is told of each init as it begins.

    Raises:
        ServeError: naming the node and its error, at the first init that fails.
    """
    for wf in workflows.values():
        for node in wf.nodes:
            if node.init is None:
                continue
            # kre-py's line, with the node it is about: an init that hangs shows which one.
            node.ctx.logger.info(
                "Executing handler init of node '%s' (workflow '%s')...", node.name, wf.name
            )
            if on_init is not None:
                on_init(node.name, wf.name)

            async def init(node: Any = node) -> None:
                assert node.init is not None
                with scoped_environ(node.environ):
                    if call is None and not inspect.iscoroutinefunction(node.init):
                        # A thread keeps the event loop free to answer health checks
                        # (NOT_SERVING) while a slow init loads a model.
                        result = await asyncio.to_thread(node.init, node.ctx)
                    else:
                        result = node.init(node.ctx)
                    if inspect.isawaitable(result):
                        await result

            try:
                if call is None:
                    await init()
                else:
                    await call(node, init)
            except Exception as exc:
                node.ctx.logger.exception("init failed")
                raise ServeError(
                    f"node '{node.name}' (workflow '{wf.name}'): init failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
