"""serve and validate read a .krt the same way (issue 20.5): an entry one refuses, the other
refuses too, in the same words. In-process: the loading functions, no server."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kedro_krt.formats.validate import validate_path
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.loader import prepare_krt, resolve_source

ABSOLUTE = (("/x", "dir"), ("/x/y", "dir"), ("/x/y/f", "file"))


def with_entries(krt: Path, dest: Path, entries: tuple[tuple[str, str], ...]) -> Path:
    """The good .krt with ``entries`` (name, "dir" or "file") added at its end."""
    with tarfile.open(krt, "r:gz") as src, tarfile.open(dest, "w:gz") as out:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                out.addfile(info)
            else:
                info.size = 1
                out.addfile(info, io.BytesIO(b"f"))
    return dest


def test_absolute_entries_are_refused_by_serve_as_by_validate(
    krt_file: Path, tmp_path: Path
) -> None:
    archive = with_entries(krt_file, tmp_path / "abs.krt", ABSOLUTE)
    report = validate_path(archive)
    assert [p.rule for p in report.errors] == ["krt.tar-absolute"] * 3
    with pytest.raises(ServeError) as served:
        prepare_krt(archive, work_dir=tmp_path / "work", config={"GREETING": "Hi"})
    assert "archive entry /x: absolute paths are not allowed" in str(served.value)
    # The unpacking alone refuses it too, at the first entry, in the words validate uses.
    with pytest.raises(ServeError) as unpacked:
        resolve_source(archive, tmp_path / "work2")
    refused = str(unpacked.value).split("refused to unpack this KRT archive: ")[1]
    assert refused.startswith("entry '/x': absolute paths are not allowed")
    assert report.errors[0].message.startswith(refused.removeprefix("entry '/x': "))
    assert not Path("/x/y/f").exists()


def test_the_good_archive_still_loads(krt_file: Path, tmp_path: Path) -> None:
    prepared = prepare_krt(krt_file, work_dir=tmp_path / "work", config={"GREETING": "Hi"})
    assert (prepared.root / "src" / "prep" / "main.py").is_file()


def test_a_krt_of_another_kedro_krt_says_to_serve_it_with_nats(
    krt_dir: Path, tmp_path: Path
) -> None:
    # A node of a .krt packaged by kedro-krt 0.1 imports its runtime from a module this one has
    # moved (kedro_krt.runtime.node); in-process the server's own kedro_krt is the one loaded.
    import shutil

    from kedro_krt.serve.loader import load_nodes

    old = shutil.copytree(krt_dir, tmp_path / "old")
    main = old / "src" / "prep" / "main.py"
    main.write_text("from kedro_krt.runtime.node import KrtNode\n" + main.read_text())
    prepared = prepare_krt(old, work_dir=tmp_path / "work", config={"GREETING": "Hi"})
    with pytest.raises(ServeError) as refused:
        load_nodes(prepared, state_dir=tmp_path / "state")
    text = str(refused.value)
    assert "No module named 'kedro_krt.runtime'" in text
    assert "serve it with --nats" in text and "package it again" in text
