"""Compile proto text with the real protoc (grpcio-tools) and import what it generates.

Every proto we write goes through :func:`compile_protos` first: a proto that protoc rejects
raises :class:`ProtoCompileError` and is never shipped in a KRT.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from google.protobuf import descriptor_pb2

from kedro_krt.node.errors import KrtError
from kedro_krt.node.runtime.imports import exec_module_file
from kedro_krt.scratch import scratch_folder

__all__ = ["ProtoCompileError", "compile_protos", "descriptor_set", "import_generated"]

class ProtoCompileError(KrtError):
    """protoc refused a proto file; carries protoc's own message."""

    def __init__(self, files: list[str], stderr: str) -> None:
        self.files = files
        self.stderr = stderr
        super().__init__(
            f"protoc rejected {', '.join(files)}:\n{stderr.strip() or '(no message)'}\n"
            "This is a bug in kedro-krt's proto generation if the proto was generated; "
            "if you wrote it, fix the line protoc names."
        )


def _run_protoc(args: list[str]) -> tuple[int, str]:
    # Imported here: this module is vendored into every .krt (schema/ goes whole), and
    # kedro_krt.formats is not.
    from kedro_krt.formats.proto import run_protoc

    return run_protoc(args)


def compile_protos(sources: Mapping[str, str], out_dir: Path, *, pyi: bool = True) -> list[Path]:
    """Compile ``{"public_input.proto": text, ...}`` into ``*_pb2.py`` (and ``.pyi``) files.

    The sources may import each other by file name and the well-known types bundled with
    grpcio-tools. Returns the generated files, sorted. Raises :class:`ProtoCompileError` when
    protoc rejects any of them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sorted(sources)
    with scratch_folder("krt-proto-") as tmp:
        src = tmp / "src"
        gen = tmp / "gen"
        src.mkdir()
        gen.mkdir()
        for name in names:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(sources[name], encoding="utf-8")
        args = [f"-I{src}", f"--python_out={gen}"]
        if pyi:
            args.append(f"--pyi_out={gen}")
        code, stderr = _run_protoc([*args, *names])
        if code != 0:
            raise ProtoCompileError(names, stderr.replace(str(src) + "/", ""))
        written = []
        for path in sorted(gen.rglob("*")):
            if path.is_file():
                target = out_dir / path.relative_to(gen)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
                written.append(target)
    return written


def descriptor_set(sources: Mapping[str, str]) -> descriptor_pb2.FileDescriptorSet:
    """protoc's descriptors of ``{"public_input.proto": text, ...}`` and of what they import.

    The same rules as :func:`compile_protos`; nothing is generated. Raises
    :class:`ProtoCompileError` when protoc rejects any of them.
    """
    names = sorted(sources)
    with scratch_folder("krt-proto-") as tmp:
        src = tmp / "src"
        src.mkdir()
        for name in names:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(sources[name], encoding="utf-8")
        out = tmp / "descriptors.pb"
        args = [
            f"-I{src}",
            "--include_imports",
            f"--descriptor_set_out={out}",
        ]
        code, stderr = _run_protoc([*args, *names])
        if code != 0:
            raise ProtoCompileError(names, stderr.replace(str(src) + "/", ""))
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def import_generated(module_path: Path, module_name: str | None = None) -> ModuleType:
    """Import a generated ``*_pb2.py`` without leaving its folder on ``sys.path``.

    A ``*_pb2`` module imports its sibling protos by bare module name (``import public_input_pb2``),
    so the folder is on ``sys.path`` only while the module executes. The module is registered in
    ``sys.modules`` under ``module_name`` (default: the file's stem) like a normal import.
    """
    module_path = Path(module_path)
    name = module_name or module_path.stem
    folder = str(module_path.parent.resolve())
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        return exec_module_file(module_path, name)
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)
