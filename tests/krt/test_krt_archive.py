"""write_krt / read_krt / list_krt / extract_krt on real tar files."""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from pathlib import Path

import pytest

from kedro_krt.formats.archive import (
    KrtArchiveError,
    extract_krt,
    list_krt,
    read_krt,
    write_krt,
)
from kedro_krt.formats.validate import validate_path
from tests.krt.krt_helpers import MakeKrt, entries_for, good_files, make_tar


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# -- writing ----------------------------------------------------------------------------------


def test_write_twice_gives_identical_bytes(tmp_path: Path) -> None:
    first = write_krt(good_files(), tmp_path / "a.krt")
    second = write_krt(good_files(), tmp_path / "b.krt")
    assert sha256(first) == sha256(second)


def test_insertion_order_does_not_matter(tmp_path: Path) -> None:
    files = good_files()
    reversed_files = dict(reversed(list(files.items())))
    assert list(reversed_files) != list(files)
    a = write_krt(files, tmp_path / "a.krt")
    b = write_krt(reversed_files, tmp_path / "b.krt")
    assert sha256(a) == sha256(b)


def test_written_archive_follows_kre_structure(tmp_path: Path) -> None:
    files = {**good_files(), "src-x/a.py": b"", "src/etl/deep/er/x.txt": b"x"}
    path = write_krt(files, tmp_path / "x.krt")
    entries = list_krt(path)
    names = [name for name, _ in entries]
    assert not any(name.startswith(("./", "/")) or name == "." for name in names)
    seen_dirs: set[str] = set()
    for name, kind in entries:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            assert "/".join(parts[:depth]) in seen_dirs, f"{name} before its folder"
        if kind == "dir":
            seen_dirs.add(name)
    assert validate_path(path).problems == ()


def test_written_headers_are_normalized(tmp_path: Path) -> None:
    path = write_krt(good_files(), tmp_path / "x.krt", executable=["src/etl/main.py"])
    raw = path.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime
    assert not raw[3] & 0x08  # no FNAME flag: no file name in the header
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            assert (member.mtime, member.uid, member.gid) == (0, 0, 0)
            assert (member.uname, member.gname) == ("", "")
            if member.isdir() or member.name == "src/etl/main.py":
                assert member.mode == 0o755
            else:
                assert member.mode == 0o644


def test_round_trip(tmp_path: Path) -> None:
    files = {**good_files(), "models/big.bin": os.urandom(300_000), "docs/é.md": "é".encode()}
    assert read_krt(write_krt(files, tmp_path / "x.krt")) == files


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../b", "./a", "a//b", "a\\b", ""])
def test_write_refuses_bad_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(KrtArchiveError):
        write_krt({name: b""}, tmp_path / "x.krt")
    assert list(tmp_path.iterdir()) == []  # no half archive, no temp file left behind


def test_write_refuses_file_that_is_also_a_folder(tmp_path: Path) -> None:
    with pytest.raises(KrtArchiveError, match="'src'"):
        write_krt({"src": b"", "src/a.py": b""}, tmp_path / "x.krt")


def test_write_failure_keeps_the_old_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = write_krt(good_files(), tmp_path / "x.krt")
    before = sha256(dest)
    # A full disk cannot be made here (tests run as root, no quota): fail the 3rd entry.
    real_addfile = tarfile.TarFile.addfile
    calls = iter(range(100))

    def failing_addfile(self: tarfile.TarFile, *args: object, **kwargs: object) -> None:
        if next(calls) == 2:
            raise OSError("No space left on device")
        real_addfile(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tarfile.TarFile, "addfile", failing_addfile)
    with pytest.raises(OSError, match="No space"):
        write_krt({**good_files(), "more.txt": b"x"}, dest)
    assert sha256(dest) == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.krt"]


# -- reading and listing ------------------------------------------------------------------------


def test_list_shows_raw_entries(make_krt: MakeKrt) -> None:
    path = make_krt([(".", "dir", b""), ("./krt.yml", "file", b"x"), ("l", "symlink", b"krt.yml")])
    assert list_krt(path) == [(".", "dir"), ("./krt.yml", "file"), ("l", "symlink")]


def test_read_strips_dot_prefix(make_krt: MakeKrt) -> None:
    path = make_krt([(".", "dir", b""), ("./krt.yml", "file", b"x")])
    assert read_krt(path) == {"krt.yml": b"x"}


def test_read_refuses_symlink_but_lenient_read_skips_it(make_krt: MakeKrt) -> None:
    path = make_krt([("krt.yml", "file", b"x"), ("link", "symlink", b"/etc/passwd")])
    with pytest.raises(KrtArchiveError, match=r"'link'.*symlink"):
        read_krt(path)
    assert read_krt(path, strict=False) == {"krt.yml": b"x"}


def test_not_a_tar_inside_gzip(tmp_path: Path) -> None:
    path = tmp_path / "x.krt"
    path.write_bytes(gzip.compress(b"hello, not a tar" * 100))
    with pytest.raises(KrtArchiveError):
        read_krt(path)


# -- safe extraction ----------------------------------------------------------------------------


def test_extract_good_archive(make_krt: MakeKrt, tmp_path: Path) -> None:
    dest = extract_krt(make_krt(), tmp_path / "out")
    for name, data in good_files().items():
        assert (dest / name).read_bytes() == data
    assert oct((dest / "src/etl/main.py").stat().st_mode & 0o777) == oct(0o644)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (("/tmp/evil.txt", "file", b"x"), "absolute"),
        (("../evil.txt", "file", b"x"), r"'\.\.'"),
        (("src/../../evil.txt", "file", b"x"), r"'\.\.'"),
        (("evil", "symlink", b"/tmp"), "symlink"),
        (("evil", "hardlink", b"krt.yml"), "hardlink"),
        (("evil", "chardev", b""), "chardev"),
        (("evil", "fifo", b""), "fifo"),
    ],
)
def test_extract_refuses_unsafe_entries(
    make_krt: MakeKrt, tmp_path: Path, entry: tuple[str, str, bytes], message: str
) -> None:
    path = make_krt([("krt.yml", "file", b"x"), entry, ("zzz", "file", b"after")])
    outside = set(tmp_path.parent.iterdir())
    dest = tmp_path / "sub" / "out"
    with pytest.raises(KrtArchiveError, match=message) as info:
        extract_krt(path, dest)
    assert repr(entry[0]) in str(info.value)  # the message names the entry
    assert not dest.exists()
    assert list((tmp_path / "sub").iterdir()) == []  # staging folder removed
    assert set(tmp_path.parent.iterdir()) == outside
    assert not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/evil.txt").exists()


def test_extract_symlink_then_write_through_it_is_refused(
    make_krt: MakeKrt, tmp_path: Path
) -> None:
    # The classic attack: a symlink to outside, then a file "through" it.
    target = tmp_path / "victim"
    target.mkdir()
    path = make_krt([("d", "symlink", str(target).encode()), ("d/pwned", "file", b"x")])
    with pytest.raises(KrtArchiveError):
        extract_krt(path, tmp_path / "out")
    assert list(target.iterdir()) == []


def test_extract_refuses_oversized_member(make_krt: MakeKrt, tmp_path: Path) -> None:
    path = make_krt([("krt.yml", "file", b"x"), ("big.bin", "file", b"\0" * 10_000)])
    with pytest.raises(KrtArchiveError, match=r"'big\.bin'"):
        extract_krt(path, tmp_path / "out", max_bytes=5_000)
    assert not (tmp_path / "out").exists()
    with pytest.raises(KrtArchiveError, match=r"'big\.bin'"):
        read_krt(path, max_bytes=5_000)


def test_huge_metadata_is_caught_while_streaming(tmp_path: Path) -> None:
    # A PAX header that claims 40 MB: tarfile would read it all into memory before any
    # member size check could see it. The cap on decompressed bytes stops it while streaming.
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = 40_000_000
    raw = pax.tobuf(format=tarfile.USTAR_FORMAT) + b"9 a=b\n" * (40_000_000 // 6 + 1)
    path = tmp_path / "bomb.krt"
    path.write_bytes(gzip.compress(raw, compresslevel=1))
    with pytest.raises(KrtArchiveError, match="unpacks to more than"):
        read_krt(path, max_bytes=1_000_000, max_members=10)
    # With room for it, the same archive gets further (and fails for another reason): it was
    # the cap that stopped the first read.
    with pytest.raises(KrtArchiveError) as info:
        read_krt(path, max_bytes=100_000_000, max_members=10)
    assert "unpacks to more than" not in str(info.value)


def test_extract_refuses_too_many_members(make_krt: MakeKrt, tmp_path: Path) -> None:
    path = make_krt([(f"f{i}", "file", b"") for i in range(20)])
    with pytest.raises(KrtArchiveError, match="more than 10 entries"):
        extract_krt(path, tmp_path / "out", max_members=10)
    assert not (tmp_path / "out").exists()
    assert len(read_krt(path, max_members=20)) == 20


def test_extract_refuses_duplicate_entries(make_krt: MakeKrt, tmp_path: Path) -> None:
    path = make_krt([("a", "file", b"1"), ("a", "file", b"2")])
    with pytest.raises(KrtArchiveError, match="twice"):
        extract_krt(path, tmp_path / "out")


def test_extract_refuses_non_empty_dest(make_krt: MakeKrt, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(KrtArchiveError, match="not an empty folder"):
        extract_krt(make_krt(), dest)
    assert files_under(dest) == {"keep"}


def test_extract_into_existing_empty_folder(make_krt: MakeKrt, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    extract_krt(make_krt(), dest)
    assert "src/etl/main.py" in files_under(dest)


def test_extract_not_gzip(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "x.krt", entries_for(good_files()), gzip=False)
    with pytest.raises(KrtArchiveError, match="not a gzip file"):
        extract_krt(path, tmp_path / "out")
