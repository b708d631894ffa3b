"""The example requests of a KRT on disk (a ``.krt`` or a KRT folder), for ``call --example``
and ``call --help``: the ones ``package`` wrote into ``docs/examples/`` (made of the project's
sample rows), else ones made from the types of ``public_input.proto``.

The local server's ``/endpoints`` shows the same examples (:func:`kedro_krt.serve.web.example_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kedro_krt.emit.examples import EXAMPLES_DIR, example_requests
from kedro_krt.emit.protoc import descriptor_set
from kedro_krt.formats.archive import scan_krt
from kedro_krt.node.errors import KrtError
from kedro_krt.node.plan import PUBLIC_PROTO
from kedro_krt.serve.errors import ServeError

__all__ = ["krt_examples", "newest_krt"]


def _wanted(name: str) -> bool:
    path = PurePosixPath(name)
    at_root = len(path.parts) == 1 and path.suffix == ".proto"
    return at_root or (str(path.parent) == EXAMPLES_DIR and path.suffix == ".json")


def _files(source: Path) -> dict[str, bytes]:
    if source.is_dir():
        return {
            p.relative_to(source).as_posix(): p.read_bytes()
            for p in (*source.glob("*.proto"), *source.glob(f"{EXAMPLES_DIR}/*.json"))
        }
    try:
        files = scan_krt(source, lambda name, _size: _wanted(name)).files
    except KrtError as exc:
        raise ServeError(f"cannot read {source}: {exc}") from None
    return {name: files[name] for name in files if files.is_kept(name)}


def krt_examples(source: Path) -> Mapping[str, dict[str, Any]]:
    """Each rpc's example request in the KRT at ``source``, by rpc name.

    Raises:
        ServeError: when the KRT has no ``public_input.proto``, or protoc rejects its protos.
    """
    files = _files(source)
    if PUBLIC_PROTO not in files:
        raise ServeError(f"{source} has no {PUBLIC_PROTO}: is it a KRT?")
    protos = {n: b.decode("utf-8") for n, b in files.items() if n.endswith(".proto")}
    given = {
        PurePosixPath(n).stem: b.decode("utf-8") for n, b in files.items() if n.endswith(".json")
    }
    try:
        descriptors = descriptor_set(protos)
    except KrtError as exc:  # ProtoCompileError, with protoc's words
        raise ServeError(f"the protos of {source} do not compile: {exc}") from None
    return example_requests(descriptors, given)


def newest_krt(folder: Path) -> Path | None:
    """The ``.krt`` in ``folder`` written last (``package`` writes ``dist/<version>.krt``)."""
    krts = sorted(folder.glob("*.krt"), key=lambda p: (p.stat().st_mtime, p.name))
    return krts[-1] if krts else None
