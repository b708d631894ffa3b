"""What loading a KRT for the local server does for every KRT format: unpack, validate, resolve
the config, compile the public proto, import a node file as KRE's runner does.

:func:`kedro_krt.serve.loader.prepare_krt` and :func:`~kedro_krt.serve.loader.load_nodes` put
these together, with what differs by format taken from the table of
:mod:`kedro_krt.serve.formats`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, ServiceDescriptor
from google.protobuf.message import Message

from kedro_krt.formats.manifest_v1 import Manifest
from kedro_krt.formats.manifest_v2 import ManifestV2
from kedro_krt.node.plan import PUBLIC_PROTO
from kedro_krt.node.runtime.context_base import make_logger
from kedro_krt.node.runtime.imports import exec_module_file
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.gencode import shadow_for

log = logging.getLogger("kedro_krt.serve")

#: A node's ``init(ctx)``, sync or async.
InitFunc = Callable[[Any], Any]
WorkflowT = TypeVar("WorkflowT", bound="RpcTypes")


@dataclass(frozen=True)
class PreparedKrt:
    """A validated KRT on disk with its public proto compiled; no node code has run yet.

    ``pool`` is a descriptor pool of our own: the nodes import their own ``*_pb2`` modules into
    the default pool, and a stale copy there must not clash with the proto the entrypoint serves
    (KRE's entrypoint is a separate process, so it never clashes there either).
    """

    root: Path
    manifest: Manifest | ManifestV2
    proto_text: str
    package: str
    service: ServiceDescriptor
    pool: descriptor_pool.DescriptorPool
    file_protos: tuple[descriptor_pb2.FileDescriptorProto, ...]
    config: Mapping[str, str]
    warnings: tuple[str, ...] = ()

    @property
    def service_name(self) -> str:
        """The full name of the entrypoint service, e.g. ``entrypoint.Entrypoint``."""
        return str(self.service.full_name)

    def rpc_types(self, rpc: str) -> tuple[Descriptor, Descriptor]:
        """The request and response descriptors of ``rpc`` in ``service Entrypoint``."""
        method = self.service.methods_by_name[rpc]
        return method.input_type, method.output_type


class RpcTypes:
    """The full names of a workflow's request and response messages (for its dataclass)."""

    request_cls: type[Message]
    response_cls: type[Message]

    @property
    def request_type(self) -> str:
        return str(self.request_cls.DESCRIPTOR.full_name)

    @property
    def response_type(self) -> str:
        return str(self.response_cls.DESCRIPTOR.full_name)


# -- stage 1: prepare ---------------------------------------------------------------------------


def resolve_source(source: Path, work_dir: Path) -> Path:
    """The KRT folder for ``source``: a folder, its ``krt.yml``, or a ``.krt`` unpacked safely.

    Raises:
        ServeError: when the source does not exist, is not a KRT, or the archive is unsafe.
    """
    source = Path(source)
    if not source.exists():
        raise ServeError(
            f"{source}: no such file or folder; give a .krt file, a KRT folder or a krt.yml"
        )
    if source.is_dir():
        if not (source / "krt.yml").is_file():
            raise ServeError(
                f"{source}: this folder has no krt.yml at its root, so it is not a KRT"
            )
        return source.resolve()
    if source.name == "krt.yml":
        return source.parent.resolve()
    from kedro_krt.formats.archive import KrtArchiveError, extract_krt

    dest = work_dir / "krt"
    try:
        return extract_krt(source, dest).resolve()
    except KrtArchiveError as exc:
        raise ServeError(f"{source}: refused to unpack this KRT archive: {exc}") from None
    except (OSError, EOFError) as exc:
        raise ServeError(
            f"{source}: cannot read it as a .krt (a gzip-compressed tar): {exc}"
        ) from None


def validate_krt(source: Path) -> tuple[Manifest | ManifestV2, tuple[str, ...]]:
    """Run the KRT validator; refuse on errors with its report, return the warnings.

    Raises:
        ServeError: with the validator's report, when the KRT has errors.
    """
    from kedro_krt.formats.validate import format_report, validate_path

    report = validate_path(source)
    # A v2 manifest comes in its own field of the report.
    manifest = report.checked
    if not report.ok or manifest is None:
        raise ServeError(
            f"{source} is not a valid KRT, so it cannot be served:\n{format_report(report)}"
        )
    warnings = tuple(str(p) for p in report.problems if p.severity == "warning")
    return manifest, warnings


def resolve_config(
    manifest: Manifest | ManifestV2, given: Mapping[str, str]
) -> dict[str, str]:
    """The value of every ``config.variables``/``config.files`` entry, from ``given`` or the env.

    ``given`` (``--config NAME=VALUE``) wins over the environment. A ``config.files`` value that
    starts with ``@`` names a file whose text becomes the value.

    Raises:
        ServeError: naming every missing entry (KRE refuses to start a version without them).
    """
    values: dict[str, str] = {}
    missing: list[str] = []
    for name in (*manifest.config.variables, *manifest.config.files):
        if name in given:
            values[name] = given[name]
        elif name in os.environ:
            values[name] = os.environ[name]
        else:
            missing.append(name)
    if missing:
        names = ", ".join(missing)
        raise ServeError(
            f"missing config value(s): {names}. krt.yml declares them in config.variables/"
            f"config.files and KRE refuses to start a version without them: set them in the "
            f"environment or pass --config {missing[0]}=VALUE"
        )
    for name in manifest.config.files:
        value = values[name]
        if value.startswith("@"):
            try:
                values[name] = Path(value[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                raise ServeError(f"config file {name}: cannot read {value[1:]}: {exc}") from None
    unknown = sorted(set(given) - set(values))
    if unknown:
        log.warning(
            "--config %s: not declared in krt.yml config, passed on anyway", ", ".join(unknown)
        )
        values.update({k: given[k] for k in unknown})
    return values


def compile_public_proto(root: Path) -> descriptor_pb2.FileDescriptorSet:
    """protoc's descriptor set of ``public_input.proto`` and everything it imports.

    Raises:
        ServeError: with protoc's message, when it rejects the file.
    """
    from kedro_krt.formats.proto import ProtoError, descriptor_set_of

    try:
        return descriptor_set_of(root / PUBLIC_PROTO, [root], include_imports=True)
    except ProtoError as exc:
        raise ServeError(f"protoc rejected {PUBLIC_PROTO}:\n{exc}") from None


# -- stage 2: import nodes ----------------------------------------------------------------------


@contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set env vars for the duration of a block (one node's view of ``KRT_*``), then restore."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _module_name(workflow: str, node: str) -> str:
    # KRE names the module "worker"; one process holds many nodes here, so each gets its own.
    return "worker_" + re.sub(r"\W", "_", f"{workflow}__{node}")


def _is_under(module: ModuleType, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        paths = list(getattr(module, "__path__", []) or [])
        file = paths[0] if paths else None
    if not file:
        return False
    try:
        return folder in Path(file).resolve().parents
    except OSError:
        return False


def import_node_module(
    path: Path,
    module_name: str,
    other_folders: frozenset[str] = frozenset(),
    shadow: Path | None = None,
) -> ModuleType:
    """Import a node file as KRE's runner does, isolated from the other nodes' folders.

    Its folder is appended to ``sys.path`` (and stays there, as in KRE). While it imports, the
    other nodes' folders are taken off ``sys.path``, and afterwards the modules it imported from
    its own folder are dropped from ``sys.modules`` (the node keeps its references): two nodes
    that both ship a ``utils.py`` each get their own. ``shadow`` (regenerated ``*_pb2.py``, see
    :mod:`kedro_krt.serve.gencode`) goes right before the node's folder while it imports.
    """
    folder = path.parent.resolve()
    saved_path = list(sys.path)
    sys.path[:] = [p for p in saved_path if p not in other_folders and p != str(folder)]
    if shadow is not None:
        sys.path.append(str(shadow))
    sys.path.append(str(folder))
    before = set(sys.modules)
    try:
        module = exec_module_file(path, module_name)
    finally:
        for name in set(sys.modules) - before:
            mod = sys.modules.get(name)
            if name != module_name and mod is not None and (
                _is_under(mod, folder) or (shadow is not None and _is_under(mod, shadow))
            ):
                del sys.modules[name]
        sys.path[:] = saved_path
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    return module


def version_environ(prepared: PreparedKrt) -> frozenset[str]:
    """Set what every node of the version shares in the environment, for the whole process
    (every format alike); what differs per node (KRT_NODE_NAME, ...) is set only while that node
    imports and runs init. Returns the folders of all the nodes (see
    :func:`import_node_module`)."""
    manifest = prepared.manifest
    folders = frozenset(
        str((prepared.root / n.src).parent.resolve()) for n in manifest.nodes
    )
    os.environ.update(prepared.config)
    os.environ.update(
        {
            "KRT_VERSION": manifest.version,
            "KRT_VERSION_ID": manifest.version,
            "KRT_BASE_PATH": str(prepared.root),
        }
    )
    return folders


def workflow_of(
    cls: Callable[..., WorkflowT], prepared: PreparedKrt, name: str, rpc: str, **more: Any
) -> WorkflowT:
    """A workflow ready to serve (``cls``, an :class:`RpcTypes` dataclass of a format, loaded
    or on NATS): its name, rpc and message classes, and ``more`` of its own."""
    request, response = prepared.rpc_types(rpc)
    return cls(
        name=name,
        rpc=rpc,
        request_cls=message_factory.GetMessageClass(request),
        response_cls=message_factory.GetMessageClass(response),
        **more,
    )


def import_node(
    prepared: PreparedKrt,
    workflow: str,
    node: str,
    src: str,
    environ: Mapping[str, str],
    folders: frozenset[str],
) -> tuple[ModuleType, logging.Logger]:
    """Import one node file (any format) with its ``environ`` set, the other nodes' ``folders``
    off ``sys.path``; the module and the node's logger.

    Raises:
        ServeError: naming the node, when its file fails to import.
    """
    path = (prepared.root / src).resolve()
    logger = make_logger(prepared.manifest.version, node)
    logger.info("Loading handler script %s...", src)
    try:
        shadow = shadow_for(path.parent, prepared.root, node)
        with scoped_environ(environ):
            module = import_node_module(
                path, _module_name(workflow, node), folders - {str(path.parent)}, shadow
            )
    except Exception as exc:
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("kedro_krt"):
            # The node asks for a runtime module this kedro-krt does not have: the KRT was
            # packaged by another version, and in-process the server's own runtime is the one
            # loaded (it is imported already), not the KRT's lib/.
            hint = (
                "; the KRT was packaged by another kedro-krt, whose runtime (in its lib/) an "
                "in-process server does not load: serve it with --nats (each node then runs on "
                "the KRT's own lib/, as on KRE), or package it again with this kedro-krt"
            )
        raise ServeError(
            f"node '{node}': error loading handler script {src}: {type(exc).__name__}: {exc}"
            f"{hint}"
        ) from exc
    return module, logger


def init_of(module: ModuleType, node: str, src: str) -> InitFunc | None:
    """The node's ``init`` (optional, sync or async, in every format).

    Raises:
        ServeError: when ``init`` is there but is not a function.
    """
    init: InitFunc | None = getattr(module, "init", None)
    if init is not None and not callable(init):
        raise ServeError(f"node '{node}': 'init' in {src} must be a function")
    return init
