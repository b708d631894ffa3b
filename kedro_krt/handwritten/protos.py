"""The KRT's own protos: compiled once with the real protoc, into every node folder that
imports them, and read as descriptors to check a Kedro mapping against hand-written messages.

The protos are the ``*.proto`` files at the root of the KRT source folder (where KRE's
entrypoint and kli expect ``public_input.proto``). A node imports a proto's generated module by
bare name (``from public_input_pb2 import Request``), since KRE's Python runner puts the node's
folder on ``sys.path``; so each node folder gets the ``*_pb2.py`` its Python files import,
and those their own imports need.

A node on KRE's stock kre-py image gets the same modules without protoc 7's runtime version
check (:mod:`kedro_krt.emit.portable`): kre-py's protobuf 3.20.1 imports them, and so does every
protobuf up to 7.x. Every other node keeps protoc's output as it is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor

from kedro_krt.emit.portable import PortableGencodeError, portable_pb2
from kedro_krt.emit.protoc import ProtoCompileError, compile_protos, descriptor_set
from kedro_krt.handwritten.errors import BuildError
from kedro_krt.scratch import scratch_folder


def module_of(proto: str) -> str:
    """``internal_nodes.proto`` -> ``internal_nodes_pb2``."""
    return proto.removesuffix(".proto") + "_pb2"


@dataclass(frozen=True)
class CompiledProtos:
    """The root protos of a KRT: generated modules, imports between them, descriptors."""

    sources: Mapping[str, str]
    #: ``{"public_input_pb2": bytes of public_input_pb2.py}``
    modules: Mapping[str, bytes]
    #: ``{"internal_nodes.proto": ("public_input.proto",)}``: the KRT's protos each imports.
    imports: Mapping[str, tuple[str, ...]]
    pool: descriptor_pool.DescriptorPool
    package: Mapping[str, str]
    #: ``modules`` without the runtime version check, for nodes on kre-py's images.
    portable: Mapping[str, bytes]

    @classmethod
    def compile(cls, sources: Mapping[str, str]) -> CompiledProtos:
        """Run protoc on every root proto (raises BuildError with protoc's report)."""
        if not sources:
            return cls({}, {}, {}, descriptor_pool.DescriptorPool(), {}, {})
        try:
            files = descriptor_set(sources)
            with scratch_folder("krt-build-pb2-") as tmp:
                generated = compile_protos(sources, tmp, pyi=False)
                modules = {p.stem: p.read_bytes() for p in generated if p.suffix == ".py"}
        except ProtoCompileError as exc:
            raise BuildError(
                f"protoc rejected the KRT's protos:\n{exc.stderr.strip()}\nFix the line protoc "
                "names."
            ) from None
        pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            pool.Add(file)
        imports = {
            f.name: tuple(d for d in f.dependency if d in sources)
            for f in files.file
            if f.name in sources
        }
        package = {f.name: f.package for f in files.file if f.name in sources}
        try:
            portable = {
                name: portable_pb2(data.decode("utf-8"), name).encode()
                for name, data in modules.items()
            }
        except PortableGencodeError as exc:
            raise BuildError(str(exc)) from None
        return cls(dict(sources), modules, imports, pool, package, portable)

    def closure(self, protos: Iterable[str]) -> list[str]:
        """``protos`` and every KRT proto they import, directly or not, sorted."""
        seen: set[str] = set()
        todo = list(protos)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(self.imports.get(name, ()))
        return sorted(seen)

    def proto_of_module(self, module: str) -> str | None:
        """The root proto whose generated module is ``module``, if any."""
        return next((p for p in self.sources if module_of(p) == module), None)

    def find_message(self, name: str) -> tuple[Descriptor, str]:
        """A top-level message by ``Name`` or ``package.Name``, and the proto declaring it.

        Raises:
            BuildError: naming the messages there are, when none (or several) match.
        """
        found = []
        known = []
        for proto in sorted(self.sources):
            file = self.pool.FindFileByName(proto)
            for message in file.message_types_by_name.values():
                known.append(message.full_name)
                if name in (message.name, message.full_name):
                    found.append((message, proto))
        if len(found) == 1:
            return found[0]
        if found:
            where = ", ".join(f"{m.full_name} ({p})" for m, p in found)
            raise BuildError(f"message '{name}' is declared more than once ({where}): use its "
                             "full name, package.Name")
        raise BuildError(
            f"no proto of the KRT declares a message '{name}'; its messages: "
            f"{', '.join(sorted(known)) or '(none)'}"
        )

    def rpc_types(self, rpc: str) -> tuple[str, str] | None:
        """The full names of the request and response of ``rpc`` in ``service Entrypoint``."""
        for proto in sorted(self.sources):
            file = self.pool.FindFileByName(proto)
            service = file.services_by_name.get("Entrypoint")
            if service is not None and rpc in service.methods_by_name:
                method = service.methods_by_name[rpc]
                return method.input_type.full_name, method.output_type.full_name
        return None


def imported_modules(python_files: Mapping[str, bytes]) -> set[str]:
    """Top-level module names the Python files import (a file that does not parse adds none:
    the validator and the runner report it)."""
    names: set[str] = set()
    for text in python_files.values():
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names
