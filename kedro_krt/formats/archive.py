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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

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


FaultKind = Literal["absolute", "path", "type", "duplicate"]


@dataclass(frozen=True)
class EntryFault:
    """An entry a KRT may not hold, and why: what :func:`extract_krt` refuses, and what the
    validator reports (one fault per entry, in archive order).

    Attributes:
        entry: the entry's name as stored in the archive.
        kind: ``absolute`` (``/x``), ``path`` (``..``, empty or ``.`` parts, ``\\``, spaces
            around it), ``type`` (a link, a device, a fifo...), ``duplicate`` (a second entry of
            one name).
        reason: what is wrong and what to change, without the entry's name.
    """

    entry: str
    kind: FaultKind
    reason: str

    @property
    def message(self) -> str:
        """The reason, naming the entry: what :class:`KrtArchiveError` says."""
        return f"entry {self.entry!r}: {self.reason}"


def _name_fault(name: str) -> tuple[FaultKind, str] | None:
    """Why ``name`` is not a safe root-relative posix path, or ``None`` when it is."""
    if not name or name.strip() != name:
        return "path", "the path is empty or has spaces around it"
    if "\\" in name:
        return "path", "use '/' to separate folders, not '\\'"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute", (
            "absolute paths are not allowed; use a path relative to the KRT root, e.g. "
            "'src/etl/main.py'"
        )
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "path", (
            "every path must be root-relative without '.', '..' or empty parts, e.g. "
            "'src/etl/main.py'"
        )
    return None


def _check_name(name: str, what: str = "file") -> PurePosixPath:
    """A safe, root-relative posix path for ``name``, or :class:`KrtArchiveError`."""
    fault = _name_fault(name)
    if fault is not None:
        raise KrtArchiveError(f"{what} {name!r}: {fault[1]}")
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


@dataclass
class KrtEntry:
    """One entry of a ``.krt`` as :func:`iter_krt` reads it.

    Attributes:
        raw: the name as stored.
        name: the root-relative name (a leading ``./`` stripped); the raw name when faulted.
        type: ``file``, ``dir``, ``symlink``, ... (see :func:`list_krt`).
        size: the size of a file's content (0 for anything else).
        mode: the permission bits as stored.
        fault: why the KRT may not hold this entry, or ``None``.
    """

    raw: str
    name: str
    type: str
    size: int
    mode: int
    fault: EntryFault | None
    _tar: tarfile.TarFile | None = field(default=None, repr=False)
    _member: tarfile.TarInfo | None = field(default=None, repr=False)

    def chunks(self) -> Iterator[bytes]:
        """The content of a file, in chunks of at most 1 MiB; never more than its header
        announced. Readable only until the iterator moves to the next entry."""
        if self._tar is None or self._member is None or self.type != "file":
            raise KrtArchiveError(f"entry {self.raw!r}: has no content to read")
        stream = self._tar.extractfile(self._member)
        if stream is None:  # pragma: no cover - regular files always have a stream
            raise KrtArchiveError(f"entry {self.raw!r}: cannot be read")
        read = 0
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise KrtArchiveError(f"entry {self.raw!r}: corrupt content: {exc}") from exc
            if not chunk:
                break
            read += len(chunk)
            if read > self.size:  # pragma: no cover - tarfile stops at the size; a guard
                raise KrtArchiveError(f"entry {self.raw!r}: holds more bytes than its header says")
            yield chunk
        if read != self.size:
            raise KrtArchiveError(f"entry {self.raw!r}: truncated ({read} of {self.size} bytes)")

    def read(self) -> bytes:
        """The whole content of a file (mind its :attr:`size` first)."""
        return b"".join(self.chunks())


def iter_krt(
    path: Path | str, *, max_bytes: int = MAX_KRT_BYTES, max_members: int = MAX_KRT_MEMBERS
) -> Iterator[KrtEntry]:
    """Every entry of a ``.krt``, in archive order, each with its fault if it has one.

    The one reading of an archive that :func:`extract_krt`, :func:`read_krt` and the validator
    share, so that they refuse the same entries with the same words. It streams: the archive
    is decompressed once, in order, and a file's content is read only when asked for
    (:meth:`KrtEntry.chunks`), so memory does not grow with the size of the files.

    The root folder entry (``.`` or ``./``) is skipped: it is harmless here (KRE's rule on it
    is the validator's). Faults, one per entry, in this order: a type other than file and
    folder, an unsafe name (absolute, ``..``, ...), a name already seen.

    Raises:
        KrtArchiveError: for what makes the whole archive unreadable: not a gzip tar, corrupt,
            more than ``max_members`` entries, more than ``max_bytes`` of file content.
    """
    seen: set[str] = set()
    total = 0
    for member, tar in _iter_tar(Path(path), max_bytes, max_members):
        raw = member.name
        # A leading "./" is harmless to us (KRE's own rule on it is the validator's job).
        name = raw[2:] if raw.startswith("./") else raw
        if name in ("", ".") and member.isdir():
            continue
        kind = _TYPE_NAMES.get(member.type, "other")
        regular = member.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE)
        fault: EntryFault | None = None
        if not regular:
            shown = _TYPE_NAMES.get(member.type, f"type {member.type!r}")
            target = f" (-> {member.linkname})" if member.linkname else ""
            fault = EntryFault(
                raw,
                "type",
                f"is a {shown}{target}; a KRT may hold only regular files and folders (KRE "
                "fails with 'uknown type'); replace it with the file it stands for",
            )
        elif (problem := _name_fault(name)) is not None:
            fault = EntryFault(raw, problem[0], problem[1])
        elif name in seen:
            fault = EntryFault(raw, "duplicate", "appears twice in the archive; keep one")
        if fault is None:
            seen.add(name)
        else:
            name = raw
        size = member.size if member.isfile() else 0
        if member.isfile():
            total += size
            if total > max_bytes:
                raise KrtArchiveError(
                    f"entry {raw!r}: the files unpack to more than {max_bytes} bytes; refusing it"
                )
        yield KrtEntry(raw, name, kind, size, member.mode, fault, tar, member)


def read_krt(
    path: Path | str,
    *,
    max_bytes: int = MAX_KRT_BYTES,
    max_members: int = MAX_KRT_MEMBERS,
    strict: bool = True,
) -> dict[str, bytes]:
    """Read every file of a ``.krt`` into memory: {root-relative posix path: content}.

    Folders are implied by the paths. A leading ``./`` is stripped. With ``strict=False``,
    the entries :func:`iter_krt` finds a fault in are skipped instead of refused (the first
    of two entries of one name is kept). For a large archive, prefer :func:`scan_krt`.

    Raises:
        KrtArchiveError: naming the entry, for an absolute path, ``..``, a link, a device, a
            fifo, a duplicate entry, more than ``max_members`` entries or more than
            ``max_bytes`` of content.
    """
    files: dict[str, bytes] = {}
    for entry in iter_krt(path, max_bytes=max_bytes, max_members=max_members):
        if entry.fault is not None:
            if strict:
                raise KrtArchiveError(entry.fault.message)
            continue
        if entry.type == "file":
            files[entry.name] = entry.read()
    return files


class LazyFiles(Mapping[str, bytes]):
    """Files named up front whose content is read only when asked for: the mapping's keys are
    the names, in order; a subclass says how one content is read (``__getitem__``)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._keys = tuple(names)
        self._key_set = frozenset(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._key_set


class KrtFiles(LazyFiles):
    """The files of a ``.krt`` as a mapping {root-relative path: content}, with the content
    held only for the files :func:`scan_krt` was told to keep.

    Every file is there, with its size (:attr:`sizes`); the content of a file not kept is read
    from the archive again when asked for (streaming up to it), so a check that reads it still
    gets it, at the cost of one more pass over the archive. Entries with a fault are not files
    here (as :func:`read_krt` with ``strict=False``).
    """

    def __init__(
        self,
        path: Path,
        names: dict[str, str],
        sizes: dict[str, int],
        kept: dict[str, bytes],
        limits: tuple[int, int],
    ) -> None:
        super().__init__(names)
        self.path = path
        self._names = names  # key -> name in the archive
        self.sizes = sizes  # key -> size
        self._kept = kept  # name in the archive -> content
        self._limits = limits

    def __getitem__(self, key: str) -> bytes:
        name = self._names[key]
        data = self._kept.get(name)
        if data is not None:
            return data
        max_bytes, max_members = self._limits
        for entry in iter_krt(self.path, max_bytes=max_bytes, max_members=max_members):
            if entry.fault is None and entry.name == name:
                return entry.read()
        raise KeyError(key)  # pragma: no cover - the archive changed under us

    def is_kept(self, key: str) -> bool:
        """Whether the content of ``key`` is held in memory."""
        return self._names[key] in self._kept

    def under(self, prefix: str) -> KrtFiles:
        """The files under the folder ``prefix`` (ending with ``/``), named relative to it."""
        names = {k[len(prefix) :]: n for k, n in self._names.items() if k.startswith(prefix)}
        sizes = {k[len(prefix) :]: s for k, s in self.sizes.items() if k.startswith(prefix)}
        return KrtFiles(self.path, names, sizes, self._kept, self._limits)


@dataclass(frozen=True)
class KrtScan:
    """What one streaming pass over a ``.krt`` found: its files and its faulty entries."""

    files: KrtFiles
    faults: tuple[EntryFault, ...]


def scan_krt(
    path: Path | str,
    keep: Callable[[str, int], bool],
    *,
    max_bytes: int = MAX_KRT_BYTES,
    max_members: int = MAX_KRT_MEMBERS,
) -> KrtScan:
    """Read a ``.krt`` once, streaming: every entry's fault, every file's name and size, and
    the content of the files for which ``keep(name, size)`` is true.

    The memory this takes is that of the kept contents, whatever the size of the others.

    Raises:
        KrtArchiveError: as :func:`iter_krt`, for an archive that cannot be read at all.
    """
    path = Path(path)
    names: dict[str, str] = {}
    sizes: dict[str, int] = {}
    kept: dict[str, bytes] = {}
    faults: list[EntryFault] = []
    for entry in iter_krt(path, max_bytes=max_bytes, max_members=max_members):
        if entry.fault is not None:
            faults.append(entry.fault)
        elif entry.type == "file":
            names[entry.name] = entry.name
            sizes[entry.name] = entry.size
            if keep(entry.name, entry.size):
                kept[entry.name] = entry.read()
    return KrtScan(KrtFiles(path, names, sizes, kept, (max_bytes, max_members)), tuple(faults))


def extract_krt(
    path: Path | str,
    dest: Path | str,
    *,
    max_bytes: int = MAX_KRT_BYTES,
    max_members: int = MAX_KRT_MEMBERS,
) -> Path:
    """Unpack a ``.krt`` into the folder ``dest`` (which must be absent or empty), safely.

    The archive is read with :func:`iter_krt` and refused at the first entry with a fault, in
    the words the validator uses for it. Files are streamed to disk in chunks, so memory does
    not grow with their size. Everything is unpacked into a temporary folder beside ``dest``
    and moved into place only when the whole archive passed, so a refused archive leaves
    nothing behind, and nothing is ever written outside ``dest``. Files get mode 0o644 (0o755
    when executable in the archive), folders 0o755; owners and times from the archive are
    ignored.

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
        for entry in iter_krt(path, max_bytes=max_bytes, max_members=max_members):
            if entry.fault is not None:
                raise KrtArchiveError(entry.fault.message)
            name = entry.name
            target = (root / name).resolve()
            # iter_krt already refused '..' and absolute paths; this guards the guard.
            if root not in target.parents:
                raise KrtArchiveError(f"entry {name!r}: would be written outside {dest}")
            for parent in reversed(target.parents):
                if root in parent.parents and parent.exists() and not parent.is_dir():
                    raise KrtArchiveError(f"entry {name!r}: its folder {parent.name!r} is a file")
            if entry.type == "dir":
                if target.exists() and not target.is_dir():
                    raise KrtArchiveError(f"entry {name!r}: a file of that name already exists")
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            if target.is_dir():
                raise KrtArchiveError(f"entry {name!r}: a folder of that name already exists")
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            # O_EXCL|O_NOFOLLOW: never write through something that is already there.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            mode = 0o755 if entry.mode & 0o111 else 0o644
            with os.fdopen(os.open(target, flags, mode), "wb") as out:
                for chunk in entry.chunks():
                    out.write(chunk)
            os.chmod(target, mode)
        if dest.exists():
            dest.rmdir()
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
