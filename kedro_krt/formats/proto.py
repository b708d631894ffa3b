"""What a ``.proto`` file declares, as protoc (from grpcio-tools) reads it.

We ask the real protoc for a descriptor set instead of parsing proto text ourselves: a file
protoc accepts here is a file KRE's entrypoint can compile, and the services we read are the
ones it will serve.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2

from kedro_krt.node.errors import KrtError
from kedro_krt.scratch import scratch_folder

_PROTOC_TIMEOUT_S = 120


class ProtoError(KrtError):
    """protoc rejected a proto file; the message is protoc's own report."""


@dataclass(frozen=True)
class Rpc:
    """One rpc of a service: full input and output type names, and whether it streams."""

    name: str
    input_type: str
    output_type: str
    client_streaming: bool = False
    server_streaming: bool = False


@dataclass(frozen=True)
class ProtoDescription:
    """What one proto file declares (not what it imports)."""

    file: str
    package: str
    services: dict[str, tuple[Rpc, ...]]
    messages: tuple[str, ...]


def well_known_protos_dir() -> Path:
    """The folder of the ``google/protobuf/*.proto`` files bundled with grpcio-tools."""
    return Path(str(resources.files("grpc_tools") / "_proto"))


def run_protoc(args: Sequence[str]) -> tuple[int, str]:
    """grpcio-tools' protoc in a process of its own: (exit code, what it reported).

    The one way kedro-krt runs protoc. In-process, protoc writes its report to file descriptor 2
    of the whole process, which only a process-wide redirect could capture; a subprocess costs
    about 0.1 s and disturbs nothing.
    """
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{well_known_protos_dir()}", *args],
        capture_output=True, text=True, timeout=_PROTOC_TIMEOUT_S, check=False,
    )
    report = (result.stderr or result.stdout).strip()
    return result.returncode, report


def _virtual_name(proto_path: Path, include_dirs: Sequence[Path]) -> tuple[str, list[Path]]:
    """The name protoc knows the file by, and the -I list that makes it so."""
    includes = [Path(d).resolve() for d in include_dirs]
    for folder in includes:
        try:
            return proto_path.relative_to(folder).as_posix(), includes
        except ValueError:
            continue
    # The file is outside every include folder: its own folder comes first.
    return proto_path.name, [proto_path.parent, *includes]


def descriptor_set_of(
    proto_path: Path | str, include_dirs: Sequence[Path] = (), *, include_imports: bool = False
) -> descriptor_pb2.FileDescriptorSet:
    """protoc's descriptor set of a proto file (and, with ``include_imports``, of its imports).

    Raises:
        ProtoError: with protoc's report, when protoc rejects the file or it does not exist.
    """
    proto_path = Path(proto_path).resolve()
    if not proto_path.is_file():
        raise ProtoError(f"{proto_path}: no such proto file")
    name, includes = _virtual_name(proto_path, include_dirs)
    with scratch_folder("krt-protoc-") as tmp:
        out = tmp / "descriptor.pb"
        # protoc resolves the input name against the include folders; cwd only matters for
        # relative -I, which we never pass.
        code, report = run_protoc(
            [
                *(f"-I{folder}" for folder in includes),
                *(["--include_imports"] if include_imports else []),
                f"--descriptor_set_out={out}",
                name,
            ]
        )
        if code != 0 or not out.is_file():
            raise ProtoError(report or f"exit code {code}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def describe_proto(proto_path: Path | str, include_dirs: Sequence[Path] = ()) -> ProtoDescription:
    """Compile ``proto_path`` with protoc and describe its package, services and messages.

    ``include_dirs`` are searched for imports (in order), then grpcio-tools' well-known protos
    (``google/protobuf/timestamp.proto``, ...). When no include folder holds the file, its own
    folder is searched first.

    Raises:
        ProtoError: with protoc's report, when protoc rejects the file or it does not exist.
    """
    proto_path = Path(proto_path).resolve()
    name, _ = _virtual_name(proto_path, include_dirs)
    descriptor_set = descriptor_set_of(proto_path, include_dirs)
    file = next(f for f in descriptor_set.file if f.name == name)
    services = {
        service.name: tuple(
            Rpc(
                name=method.name,
                input_type=method.input_type.lstrip("."),
                output_type=method.output_type.lstrip("."),
                client_streaming=method.client_streaming,
                server_streaming=method.server_streaming,
            )
            for method in service.method
        )
        for service in file.service
    }
    prefix = f"{file.package}." if file.package else ""
    messages = tuple(f"{prefix}{message.name}" for message in file.message_type)
    return ProtoDescription(file=name, package=file.package, services=services, messages=messages)


def proto_services(
    proto_path: Path | str, include_dirs: Sequence[Path] = ()
) -> dict[str, dict[str, tuple[str, str]]]:
    """{service name: {rpc name: (full input type, full output type)}} of a proto file.

    Types are full names without the leading dot, e.g. ``entrypoint.Request``.

    Raises:
        ProtoError: with protoc's report, when protoc rejects the file.
    """
    description = describe_proto(proto_path, include_dirs)
    return {
        service: {rpc.name: (rpc.input_type, rpc.output_type) for rpc in rpcs}
        for service, rpcs in description.services.items()
    }


def proto_package(proto_path: Path | str, include_dirs: Sequence[Path] = ()) -> str:
    """The ``package`` a proto file declares ("" when it declares none).

    Raises:
        ProtoError: with protoc's report, when protoc rejects the file.
    """
    return describe_proto(proto_path, include_dirs).package


# protoc < 3.19 builds the file's descriptor by a direct call; 3.19+ asks the pool for it.
_LEGACY_GENCODE = re.compile(rb"^DESCRIPTOR = _descriptor\.FileDescriptor\(", re.MULTILINE)


def is_legacy_pb2(source: bytes) -> bool:
    """Whether a ``*_pb2.py`` is in the style of protoc before 3.19, which builds descriptors
    by direct calls: protobuf 3.20 loads it, protobuf 4 and later refuse it at import
    ("Descriptors cannot be created directly")."""
    return _LEGACY_GENCODE.search(source) is not None
