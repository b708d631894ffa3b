"""Reading and writing ``.krt`` archives (gzip-compressed tar), safely and reproducibly.

Writing follows KRE's extractor (konstellation-io/kre @ kre-7.0.0, ``krt/parser.go``, replayed
by :mod:`kedro_krt.formats.upload`): the root ``krt.yml`` is the only entry named like a manifest
and comes first, every folder has one entry before the files in it (KRE uses ``Mkdir`` and
``Create``), entries are root-relative, there is no ``./`` entry and no PAX global header.
Each archive written is replayed through both passes before it is moved into place. The same
files always give the same bytes, so that a ``.krt`` can be compared by its hash.

Reading never trusts the archive: it refuses absolute paths, ``..``, links, devices and
fifos, and counts the bytes it decompresses while it streams, so a gzip bomb or a lying
header stops at the cap instead of filling the disk or the memory.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any

from kedro_krt.formats.upload import emulate_upload, is_manifest_name, read_headers
from kedro_krt.node.errors import KrtError

#: KRE's upload limit, used as the default cap on the bytes a KRT may unpack to.
MAX_KRT_BYTES = 500 * 1024 * 1024
#: Default cap on the number of entries in a KRT.
MAX_KRT_MEMBERS = 100_000
#: The gzip level we write with; fixed, because the level changes the bytes.
COMPRESS_LEVEL = 9

_CHUNK = 1024 * 1024
# Decompressed bytes allowed per entry on top of file contents: its header, an optional
# PAX or GNU long-name header with its data, and block padding.
_OVERHEAD_PER_MEMBER = 4096
_OVERHEAD_FIXED = 1024 * 1024

_TYPE_NAMES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.FIFOTYPE: "fifo",
    tarfile.CONTTYPE: "contiguous",
    tarfile.GNUTYPE_SPARSE: "sparse",
}


class KrtArchiveError(KrtError):
    """A ``.krt`` that cannot be written or read safely; the message names the entry."""


def _check_name(name: str, what: str = "file") -> PurePosixPath:
    """A safe, root-relative posix path for ``name``, or :class:`KrtArchiveError`."""
    if not name or name.strip() != name:
        raise KrtArchiveError(f"{what} {name!r}: the path is empty or has spaces around it")
    if "\\" in name:
        raise KrtArchiveError(f"{what} {name!r}: use '/' to separate folders, not '\\'")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise KrtArchiveError(
            f"{what} {name!r}: absolute paths are not allowed; use a path relative to the "
            "KRT root, e.g. 'src/etl/main.py'"
        )
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise KrtArchiveError(
            f"{what} {name!r}: every path must be root-relative without '.', '..' or empty "
            "parts, e.g. 'src/etl/main.py'"
        )
    return PurePosixPath(name)


def write_krt(files: Mapping[str, bytes], dest: Path, executable: Collection[str] = ()) -> Path:
    """Write ``files`` (relative posix path -> content) as a ``.krt`` at ``dest``.

    The same files give the same bytes whatever the order of ``files``: entries are sorted,
    each folder's entry comes before anything in it, entries are root-relative (no ``./``),
    owner, group and mtime are zeroed, modes are 0o755 for folders and for the files named in
    ``executable``, 0o644 for the others, and the gzip header has no name and mtime 0. The
    archive is written to a temporary file beside ``dest`` and renamed, so a failure never
    leaves a half-written ``.krt``.

    Returns:
        ``dest``.

    Raises:
        KrtArchiveError: for an unsafe path, a path that is both a file and a folder, or an
            ``executable`` name that is not in ``files``.
    """
    dest = Path(dest)
    paths = {name: _check_name(name) for name in files}
    stray = sorted(n for n in files if n != "krt.yml" and is_manifest_name(n))
    if stray:
        raise KrtArchiveError(
            f"file {stray[0]!r}: KRE takes the first entry whose name matches "
            "'(^|/)krt.ya?ml$' as the manifest and never extracts the others; only the root "
            "krt.yml may be named so: leave it out or rename it"
        )
    missing = sorted(set(executable) - set(files))
    if missing:
        raise KrtArchiveError(f"executable file {missing[0]!r} is not among the files to write")
    folders: set[PurePosixPath] = set()
    for path in paths.values():
        folders.update(p for p in path.parents if p != PurePosixPath("."))
    clashes = sorted(str(p) for p in folders if str(p) in files)
    if clashes:
        raise KrtArchiveError(
            f"file {clashes[0]!r} is also a folder of other files; rename one of them"
        )
    # Sorting by path parts puts a folder right before its content ("src" < "src/etl"),
    # which a plain string sort does not ("src-x" < "src/etl"). The manifest goes first:
    # KRE's first pass reads up to it.
    entries: list[tuple[tuple[str, ...], str, bytes | None]] = [
        (p.parts, str(p), None) for p in folders
    ]
    entries += [(paths[name].parts, name, bytes(data)) for name, data in files.items()]
    entries.sort(key=lambda entry: (entry[1] != "krt.yml", entry[0]))

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            # filename="" and mtime=0 keep the gzip header free of the name and the time.
            with (
                gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=0
                ) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for _, name, data in entries:
                    info = tarfile.TarInfo(name)
                    info.mtime = 0
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    if data is None:
                        info.type = tarfile.DIRTYPE
                        info.mode = 0o755
                        tar.addfile(info)
                    else:
                        info.type = tarfile.REGTYPE
                        info.mode = 0o755 if name in executable else 0o644
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp_name, 0o644)
        refused = emulate_upload(read_headers(tmp_name), keep_going=False).kre_errors()
        if refused:  # pragma: no cover - the rules above make this unreachable
            raise KrtArchiveError(f"KRE would refuse this archive: {refused[0]}")
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dest


class _CappedReader(io.RawIOBase):
    """Decompresses a gzip file, refusing to produce more than ``limit`` bytes."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__()
        # Closed in close(): this object is the file that tarfile reads.
        self._gz = gzip.open(path, "rb")  # noqa: SIM115
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self._gz.read(len(view))
        self.count += len(data)
        if self.count > self._limit:
            raise KrtArchiveError(
                f"the archive unpacks to more than {self._limit} bytes (with tar headers); "
                "refusing it: KRE accepts at most 500 MiB"
            )
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._gz.close()
        super().close()


def _open_tar(path: Path, limit: int) -> tuple[_CappedReader, tarfile.TarFile]:
    path = Path(path)
    if not path.is_file():
        raise KrtArchiveError(f"{path}: no such file; give the path of a .krt archive")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic != b"\x1f\x8b":
        raise KrtArchiveError(
            f"{path}: not a gzip file; a .krt is a gzip-compressed tar (tar -czf)"
        )
    reader = _CappedReader(path, limit)
    try:
        # Stream mode ("r|") reads each entry once, in order, and never seeks.
        tar = tarfile.open(  # noqa: SIM115 - closed by _iter_tar, which owns it
            fileobj=io.BufferedReader(reader, _CHUNK), mode="r|"
        )
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        reader.close()
        raise KrtArchiveError(f"{path}: not a valid gzip-compressed tar: {exc}") from exc
    return reader, tar


def _iter_tar(
    path: Path, max_bytes: int, max_members: int
) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Every entry of the archive, with the caps on count and decompressed size enforced."""
    limit = max_bytes + max_members * _OVERHEAD_PER_MEMBER + _OVERHEAD_FIXED
    reader, tar = _open_tar(path, limit)
    count = 0
    try:
        while True:
            try:
                member = tar.next()
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise KrtArchiveError(
                    f"{path}: corrupt archive after entry {count}: {exc}"
                ) from exc
            if member is None:
                return
            count += 1
            if count > max_members:
                raise KrtArchiveError(
                    f"entry {member.name!r}: the archive has more than {max_members} entries; "
                    "refusing it"
                )
            yield member, tar
    finally:
        tar.close()
        reader.close()


def list_krt(path: Path | str, *, max_members: int = MAX_KRT_MEMBERS) -> list[tuple[str, str]]:
    """The entries of a ``.krt`` as (name as stored, type), in archive order.

    Types: ``file``, ``dir``, ``symlink``, ``hardlink``, ``chardev``, ``blockdev``, ``fifo``,
    ``contiguous``, ``sparse`` or ``other``. Nothing is refused here but a file that is not a
    gzip tar or breaks the caps: this is the raw view the validator checks KRE's rules on.
    Folder names come without their trailing ``/``; a ``./`` entry shows as ``.``.
    """
    return [
        (member.name, _TYPE_NAMES.get(member.type, "other"))
        for member, _ in _iter_tar(Path(path), MAX_KRT_BYTES, max_members)
    ]


def _safe_members(
    path: Path, max_bytes: int, max_members: int, strict: bool = True
) -> Iterator[tuple[str, tarfile.TarInfo, IO[bytes] | None]]:
    """(safe name, entry, content stream or None for a folder), refusing anything unsafe.

    With ``strict=False``, unsafe names and entries that are neither files nor folders are
    skipped instead (the caps still raise).
    """
    seen: set[str] = set()
    total = 0
    for member, tar in _iter_tar(path, max_bytes, max_members):
        raw = member.name
        # A leading "./" is harmless to us (KRE's own rule on it is the validator's job).
        name = raw[2:] if raw.startswith("./") else raw
        if name in ("", ".") and member.isdir():
            continue
        if not strict:
            try:
                _check_name(name, "entry")
            except KrtArchiveError:
                continue
            if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
                continue
            if name in seen:
                continue
        kind = _TYPE_NAMES.get(member.type, f"type {member.type!r}")
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
            target = f" -> {member.linkname}" if member.linkname else ""
            raise KrtArchiveError(
                f"entry {raw!r}{target}: is a {kind}; a KRT may hold only regular files and "
                "folders (KRE fails with 'uknown type'); replace it with the file it stands for"
            )
        _check_name(name, "entry")
        if name in seen:
            raise KrtArchiveError(f"entry {raw!r}: appears twice in the archive; keep one")
        seen.add(name)
        if member.isdir():
            yield name, member, None
            continue
        total += member.size
        if total > max_bytes:
            raise KrtArchiveError(
                f"entry {raw!r}: the files unpack to more than {max_bytes} bytes; refusing it"
            )
        stream = tar.extractfile(member)
        if stream is None:  # pragma: no cover - regular files always have a stream
            raise KrtArchiveError(f"entry {raw!r}: cannot be read")
        yield name, member, stream


def _read_capped(stream: IO[bytes], name: str, size: int) -> Iterator[bytes]:
    """The content of one entry in chunks; never more than its header announced."""
    read = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        read += len(chunk)
        if read > size:  # pragma: no cover - tarfile stops at the size; kept as a guard
            raise KrtArchiveError(f"entry {name!r}: holds more bytes than its header says")
        yield chunk
    if read != size:
        raise KrtArchiveError(f"entry {name!r}: truncated ({read} of {size} bytes)")


def read_krt(
    path: Path | str,
    *,
    max_bytes: int = MAX_KRT_BYTES,
    max_members: int = MAX_KRT_MEMBERS,
    strict: bool = True,
) -> dict[str, bytes]:
    """Read every file of a ``.krt`` into memory: {root-relative posix path: content}.

    Folders are implied by the paths. A leading ``./`` is stripped. With ``strict=False``
    (for a validator that reports them from :func:`list_krt`), links, devices, unsafe names
    and repeated entries are skipped instead of refused.

    Raises:
        KrtArchiveError: naming the entry, for an absolute path, ``..``, a link, a device, a
            fifo, a duplicate entry, more than ``max_members`` entries or more than
            ``max_bytes`` of content.
    """
    files: dict[str, bytes] = {}
    for name, member, stream in _safe_members(Path(path), max_bytes, max_members, strict):
        if stream is not None:
            files[name] = b"".join(_read_capped(stream, name, member.size))
    return files


def extract_krt(
    path: Path | str,
    dest: Path | str,
    *,
    max_bytes: int = MAX_KRT_BYTES,
    max_members: int = MAX_KRT_MEMBERS,
) -> Path:
    """Unpack a ``.krt`` into the folder ``dest`` (which must be absent or empty), safely.

    Everything is unpacked into a temporary folder beside ``dest`` and moved into place only
    when the whole archive passed, so a refused archive leaves nothing behind, and nothing is
    ever written outside ``dest``. Files get mode 0o644 (0o755 when executable in the archive),
    folders 0o755; owners and times from the archive are ignored.

    Returns:
        ``dest``.

    Raises:
        KrtArchiveError: as :func:`read_krt`, or when ``dest`` is a non-empty folder or a file.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise KrtArchiveError(f"{dest}: exists and is not an empty folder; choose a new folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    root = staging.resolve()
    try:
        for name, member, stream in _safe_members(Path(path), max_bytes, max_members):
            target = (root / name).resolve()
            # _check_name already refused '..' and absolute paths; this guards the guard.
            if root not in target.parents:
                raise KrtArchiveError(f"entry {name!r}: would be written outside {dest}")
            for parent in reversed(target.parents):
                if root in parent.parents and parent.exists() and not parent.is_dir():
                    raise KrtArchiveError(f"entry {name!r}: its folder {parent.name!r} is a file")
            if stream is None:
                if target.exists() and not target.is_dir():
                    raise KrtArchiveError(f"entry {name!r}: a file of that name already exists")
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            if target.is_dir():
                raise KrtArchiveError(f"entry {name!r}: a folder of that name already exists")
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            # O_EXCL|O_NOFOLLOW: never write through something that is already there.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            mode = 0o755 if member.mode & 0o111 else 0o644
            with os.fdopen(os.open(target, flags, mode), "wb") as out:
                for chunk in _read_capped(stream, name, member.size):
                    out.write(chunk)
            os.chmod(target, mode)
        if dest.exists():
            dest.rmdir()
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
