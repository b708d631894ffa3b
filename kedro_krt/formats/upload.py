"""KRE's upload, read exactly as KRE reads it: the two passes of its admin-api over a ``.krt``.

Source: konstellation-io/kre @ kre-7.0.0, ``engine/admin-api/domain/usecase/krt/parser.go``
(``extractKrtYaml``, ``extractKrtFile``, ``processFile``) and ``version_interactor.go`` (both
passes write into one fresh temporary folder). KRE 8 reads every archive, v1 or v2, with the
same two passes (konstellation-io/kre @ v8.0.0 and v8.2.0:
``engine/admin-api/domain/usecase/krt/parser/parser.go``, the same functions, the same
messages); only the src check words its error differently there
(``validator/fields_validator.go``, ``ValidateSrcPaths``), and at 8.2 it checks the nodes of
every workflow (a v2 manifest's): ``emulate_upload(..., kre="8.2")`` says it that way.

- **Pass 1** walks the entries in order and takes the *first* whose name matches
  ``(^|/)krt.ya?ml$`` (an unescaped dot: ``krt_yml`` matches too) as the manifest; it writes it
  with ``os.Mkdir`` / ``os.Create`` at ``filepath.Join(tmp, name)`` into the empty folder and
  stops. No match: ``error krt.yml file missing``.
- **Pass 2** walks every entry again, skips each one whose name matches, and for the others:
  a folder is ``os.Mkdir`` (its parent must exist and it must not), a regular file is
  ``os.Create`` (its folder must exist), anything else fails with ``uknown type [N]`` (sic),
  ``N`` being the type byte in decimal. Go's ``archive/tar`` folds PAX ``x`` and GNU ``L``/``K``
  headers into the next entry but returns a PAX *global* header (``g``) as an entry, so a
  global header fails here, although Python's :mod:`tarfile` never shows it.
- Then every ``nodes[].src`` must be a file in that folder (``validateSrcPaths``).

:func:`emulate_upload` replays this on the raw tar headers, on a model of the folder, and
returns each failure with the message KRE gives (the temporary folder written ``<tmp>``).
KRE stops at the first failure of a pass; ``keep_going`` goes on, so that a validator can
report every problem at once, while ``failures[0]`` of each pass is KRE's own answer.
"""

from __future__ import annotations

import gzip
import posixpath
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

__all__ = [
    "MANIFEST_RE",
    "TMP",
    "TarHeader",
    "UploadFailure",
    "UploadOutcome",
    "emulate_upload",
    "is_manifest_name",
    "kre_path",
    "read_headers",
]

#: The pattern KRE matches entry names against, verbatim (its dot is a wildcard).
MANIFEST_RE = re.compile(r"(^|/)krt.ya?ml$")
#: How KRE's temporary folder (``ioutil.TempDir("", "version")``) is written in messages.
TMP = "<tmp>"

_BLOCK = 512
_MAX_META = 1024 * 1024  # a PAX record block or GNU long name larger than this is refused

# Go's archive/tar type bytes that matter here.
_REG = b"0"
_DIR = b"5"
_PAX_LOCAL = b"x"
_PAX_GLOBAL = b"g"
_GNU_LONGNAME = b"L"
_GNU_LONGLINK = b"K"
_HEADER_ONLY = (b"1", b"2", b"3", b"4", b"5", b"6")


def is_manifest_name(name: str) -> bool:
    """Whether KRE takes an entry of this name for a manifest (and pass 2 skips it)."""
    return MANIFEST_RE.search(name) is not None


def kre_path(name: str) -> str | None:
    """Where KRE writes an entry of this name: ``filepath.Join(tmp, name)`` relative to its
    temporary folder (``""`` for the folder itself), or ``None`` when that leaves the folder.

    Join cleans ``tmp + "/" + name``: an absolute name lands *inside* the folder (``/x/y`` at
    ``x/y``), and ``..`` climbs out of it, even after a leading ``/`` (``/../x``).
    """
    rel = posixpath.normpath(name.lstrip("/") or ".")
    if rel == ".":
        return ""
    if rel == ".." or rel.startswith("../"):
        return None
    return rel


@dataclass(frozen=True)
class TarHeader:
    """One entry as Go's ``tar.Reader.Next`` returns it: name as stored, type byte, size."""

    name: str
    typeflag: bytes
    size: int

    @property
    def type_number(self) -> int:
        """The type byte as Go's ``%v`` prints a byte: in decimal."""
        return self.typeflag[0]


class TarFormatError(Exception):
    """The stream is not a tar that Go's reader can read."""


def _octal(field_: bytes) -> int:
    if field_ and field_[0] & 0x80:  # GNU base-256
        value = field_[0] & 0x7F
        for byte in field_[1:]:
            value = (value << 8) | byte
        return value
    text = field_.split(b"\0", 1)[0].strip(b" \0")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarFormatError(f"invalid number {field_!r} in a tar header") from None


def _cstr(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        length = int(data[pos:space])
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _read_exact(stream: IO[bytes] | gzip.GzipFile, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise TarFormatError("unexpected EOF")
    return data


def _skip(stream: IO[bytes] | gzip.GzipFile, size: int) -> None:
    padded = (size + _BLOCK - 1) // _BLOCK * _BLOCK
    while padded:
        chunk = stream.read(min(padded, 1 << 20))
        if not chunk:
            raise TarFormatError("unexpected EOF")
        padded -= len(chunk)


def iter_headers(stream: IO[bytes] | gzip.GzipFile) -> Iterator[TarHeader]:
    """The entries of an uncompressed tar stream, as Go's reader returns them, in order."""
    pending_name: str | None = None
    while True:
        block = stream.read(_BLOCK)
        if len(block) < _BLOCK or block == b"\0" * _BLOCK:
            return
        stored = _octal(block[148:156])
        computed = sum(block[:148]) + 8 * 32 + sum(block[156:])
        if stored != computed:
            raise TarFormatError("archive/tar: invalid tar header")
        typeflag = block[156:157]
        size = _octal(block[124:136])
        name = _cstr(block[0:100])
        if block[257:262] == b"ustar" and block[257:263] == b"ustar\0":
            prefix = _cstr(block[345:500])
            if prefix:
                name = f"{prefix}/{name}"
        if typeflag in (_PAX_LOCAL, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK):
            if size > _MAX_META:
                raise TarFormatError(f"a {typeflag.decode()} header of {size} bytes")
            data = _read_exact(stream, size)
            rest = (-size) % _BLOCK
            if rest:
                _read_exact(stream, rest)
            if typeflag == _PAX_GLOBAL:
                yield TarHeader(name, typeflag, size)
            elif typeflag == _PAX_LOCAL:
                path = _pax_records(data).get("path")
                if path is not None:
                    pending_name = path
            elif typeflag == _GNU_LONGNAME:
                pending_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            continue
        if pending_name is not None:
            name, pending_name = pending_name, None
        yield TarHeader(name, typeflag, size)
        # Go's reader, like tar itself, reads no data for header-only types.
        _skip(stream, 0 if typeflag in _HEADER_ONLY else size)


def read_headers(path: Path | str, *, max_members: int = 100_000) -> list[TarHeader]:
    """The entries of a ``.krt`` (gzip tar) as KRE's Go reader sees them.

    Raises:
        TarFormatError: for a stream that is not gzip, not tar, or has too many entries.
    """
    headers: list[TarHeader] = []
    try:
        with gzip.open(path, "rb") as stream:
            for header in iter_headers(stream):
                headers.append(header)
                if len(headers) > max_members:
                    raise TarFormatError(f"more than {max_members} entries")
    except (OSError, EOFError, zlib.error) as exc:
        raise TarFormatError(str(exc)) from exc
    return headers


Kind = Literal[
    "manifest-missing",  # pass 1 found no krt.ya?ml entry
    "parent-missing",  # Mkdir/Create in a folder that does not exist (ENOENT)
    "exists",  # Mkdir of a folder that exists (EEXIST); './' is one
    "not-a-folder",  # a path through a file (ENOTDIR)
    "is-a-folder",  # Create over a folder (EISDIR)
    "unknown-type",  # neither a regular file nor a folder; PAX global headers included
    "outside",  # the joined path leaves KRE's folder ('..', also after a leading '/')
    "src-missing",  # a node's src is not a file after pass 2
]


@dataclass(frozen=True)
class UploadFailure:
    """One failure of KRE's upload.

    Attributes:
        step: ``1`` (manifest extraction), ``2`` (content extraction) or ``3`` (src check).
        entry: the entry's name as stored (for ``src-missing``, the node's src).
        kind: what went wrong, see :data:`Kind`.
        message: KRE's own message, with its temporary folder written ``<tmp>``.
        missing: for ``parent-missing``, every missing folder on the way (root-relative).
    """

    step: int
    entry: str
    kind: Kind
    message: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class UploadOutcome:
    """What KRE's upload does with an archive.

    Attributes:
        manifest: the entry pass 1 took as the manifest (``None``: none matched).
        skipped: the other entries pass 2 skips because their name matches the manifest
            pattern: KRE never extracts them.
        failures: every failure, in the order KRE meets them; KRE reports the first of pass 1
            and, when pass 1 succeeded, the first of pass 2.
        files: the root-relative files the extracted version holds.
    """

    manifest: str | None
    skipped: tuple[str, ...]
    failures: tuple[UploadFailure, ...]
    files: frozenset[str] = field(default_factory=frozenset)

    @property
    def accepted(self) -> bool:
        """Whether KRE accepts and extracts the archive."""
        return not self.failures

    def kre_errors(self) -> list[str]:
        """The errors KRE itself reports: the first of each pass that ran."""
        first: dict[int, UploadFailure] = {}
        for failure in self.failures:
            first.setdefault(failure.step, failure)
        if 1 in first:
            return [first[1].message]
        return [f.message for step, f in sorted(first.items())]


class _Folder:
    """A model of KRE's temporary folder: which root-relative paths are folders and files."""

    def __init__(self) -> None:
        self.dirs: set[str] = {""}
        self.files: set[str] = set()

    @staticmethod
    def join(name: str) -> str | None:
        """``filepath.Join(tmp, name)`` relative to tmp, or ``None`` when it leaves tmp."""
        return kre_path(name)

    def _path_error(self, rel: str) -> tuple[Kind, str] | None:
        parent = posixpath.dirname(rel)
        parts = parent.split("/") if parent else []
        for depth in range(1, len(parts) + 1):
            ancestor = "/".join(parts[:depth])
            if ancestor in self.files:
                return "not-a-folder", "not a directory"
            if ancestor not in self.dirs:
                return "parent-missing", "no such file or directory"
        return None

    def mkdir(self, rel: str) -> tuple[Kind, str] | None:
        if rel in self.dirs or rel in self.files:
            return "exists", "file exists"
        problem = self._path_error(rel)
        if problem is None:
            self.dirs.add(rel)
        return problem

    def create(self, rel: str) -> tuple[Kind, str] | None:
        if rel in self.dirs:
            return "is-a-folder", "is a directory"
        problem = self._path_error(rel)
        if problem is None:
            self.files.add(rel)
        return problem

    def missing_folders(self, rel: str) -> tuple[str, ...]:
        parts = posixpath.dirname(rel).split("/")
        ancestors = ("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
        return tuple(a for a in ancestors if a and a not in self.dirs)


def _tmp(rel: str) -> str:
    return f"{TMP}/{rel}" if rel else TMP


def _process(
    folder: _Folder, header: TarHeader, step: int, wrap: str
) -> UploadFailure | None:
    """``processFile`` on one entry: Mkdir, Create, or the unknown-type error."""
    rel = folder.join(header.name)
    shown = _tmp(rel) if rel is not None else f"{TMP}/{header.name}"
    if header.typeflag not in (_REG, _DIR):
        message = (
            f"{wrap}: error extracting krt files: uknown type [{header.type_number}] in [{shown}]"
        )
        return UploadFailure(step, header.name, "unknown-type", message)
    if rel is None:
        return UploadFailure(
            step, header.name, "outside", f"{wrap}: {header.name} would be written outside {TMP}"
        )
    if header.typeflag == _DIR:
        problem = folder.mkdir(rel)
        if problem is None:
            return None
        kind, errno_text = problem
        message = f"{wrap}: error creating krt dir {shown}: mkdir {shown}: {errno_text}"
    else:
        problem = folder.create(rel)
        if problem is None:
            return None
        kind, errno_text = problem
        message = f"{wrap}: error creating krt file {shown}: open {shown}: {errno_text}"
    missing = folder.missing_folders(rel) if kind == "parent-missing" else ()
    return UploadFailure(step, header.name, kind, message, missing)


def emulate_upload(
    headers: list[TarHeader],
    srcs: tuple[tuple[str, str], ...] = (),
    *,
    keep_going: bool = True,
    kre: str = "7",
) -> UploadOutcome:
    """Replay KRE's two passes over ``headers``, in order, then its src check.

    ``srcs`` holds ``(node name, src)`` of each node of the manifest, for the src check;
    ``kre`` (``"7"``, ``"8.0"``, ``"8.2"``, ...) chooses the words of its error.

    With ``keep_going=False`` the emulation stops where KRE stops.
    """
    failures: list[UploadFailure] = []
    folder = _Folder()
    manifest = next((h for h in headers if is_manifest_name(h.name)), None)

    # Pass 1 (extractKrtYaml): the first match is written into the empty folder.
    if manifest is None:
        message = "error on KRT Yaml extraction: error krt.yml file missing"
        failures.append(UploadFailure(1, "", "manifest-missing", message))
    else:
        failure = _process(folder, manifest, 1, "error on KRT Yaml extraction")
        if failure is not None:
            failures.append(failure)
        elif manifest.typeflag == _DIR:
            shown = _tmp(folder.join(manifest.name) or "")
            failures.append(
                UploadFailure(
                    1,
                    manifest.name,
                    "is-a-folder",
                    f"error on KRT Yaml parsing: error reading file {shown}: read {shown}: "
                    "is a directory",
                )
            )
    if failures and not keep_going:
        return UploadOutcome(manifest.name if manifest else None, (), tuple(failures))

    # Pass 2 (extractKrtFile): every other entry, in order, into the same folder.
    skipped = tuple(h.name for h in headers if is_manifest_name(h.name) and h is not manifest)
    for header in headers:
        if is_manifest_name(header.name):
            continue
        failure = _process(folder, header, 2, "error on KRT content extraction")
        if failure is not None:
            failures.append(failure)
            if not keep_going:
                break

    # validateSrcPaths: path.Join(tmp, src) must be a file.
    if keep_going or not failures:
        for node, src in srcs:
            rel = folder.join(src)
            if rel is None or rel not in folder.files:
                message = (
                    f'error src file "{src}" for node "{node}" does not exists '
                    if kre.startswith("8")
                    else f"error src File {src} for node {node} not exists"
                )
                failures.append(UploadFailure(3, src, "src-missing", message))
    files = frozenset(folder.files)
    return UploadOutcome(manifest.name if manifest else None, skipped, tuple(failures), files)
