"""KRE's upload replayed: the two passes of its admin-api over hand-made and written archives.

Every expectation here is read off konstellation-io/kre @ kre-7.0.0,
``engine/admin-api/domain/usecase/krt/parser.go``:

- ``extractKrtYaml`` (pass 1): the first entry matching ``(^|/)krt.ya?ml$`` goes through
  ``processFile`` into the empty temporary folder, and the pass stops there;
- ``extractKrtFile`` (pass 2): every entry that does not match goes through ``processFile``;
- ``processFile``: ``tar.TypeDir`` -> ``os.Mkdir``, ``tar.TypeReg`` -> ``os.Create``, anything
  else -> ``uknown type [%v] in [%s]`` (the type byte printed in decimal);
- ``version_interactor.go``: both passes write into the same ``ioutil.TempDir("", "version")``,
  whose path KRE's messages show (``<tmp>`` here).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kedro_krt.formats.archive import KrtArchiveError, write_krt
from kedro_krt.formats.upload import emulate_upload, is_manifest_name, kre_path, read_headers
from kedro_krt.formats.validate import validate_path
from tests.krt.krt_helpers import MakeKrt, entries_for, good_files

SRCS = (("etl", "src/etl/main.py"), ("model", "src/model/main.py"))


def upload(path: Path) -> list[str]:
    """What KRE answers for this archive: [] when it accepts it."""
    return emulate_upload(read_headers(path), SRCS, keep_going=False).kre_errors()


def test_a_good_archive_is_accepted_and_extracted(make_krt: MakeKrt) -> None:
    outcome = emulate_upload(read_headers(make_krt()), SRCS)
    assert outcome.accepted
    assert outcome.manifest == "krt.yml"
    assert outcome.files == set(good_files())


def test_a_nested_krt_yml_before_the_root_one_is_the_manifest_and_fails(
    make_krt: MakeKrt,
) -> None:
    # What every .krt of kedro-krt 0.1 got: conf/ sorts before krt.yml.
    files = {**good_files(), "conf/base/krt.yml": b"workflows: []\n"}
    path = make_krt(entries_for(files))
    assert upload(path) == [
        "error on KRT Yaml extraction: error creating krt file <tmp>/conf/base/krt.yml: "
        "open <tmp>/conf/base/krt.yml: no such file or directory"
    ]
    report = validate_path(path)
    assert [p.rule for p in report.errors] == ["kre.manifest-first"]
    assert "conf/base/krt.yml" in report.errors[0].message


def test_a_krt_yml_after_the_root_one_is_skipped_not_extracted(make_krt: MakeKrt) -> None:
    entries = [*entries_for(good_files()), ("src/etl/krt.yaml", "file", b"x: 1\n")]
    outcome = emulate_upload(read_headers(make_krt(entries)), SRCS)
    assert outcome.accepted
    assert outcome.skipped == ("src/etl/krt.yaml",)
    assert "src/etl/krt.yaml" not in outcome.files
    report = validate_path(make_krt(entries))
    assert [p.rule for p in report.warnings] == ["kre.manifest-skipped"]


def test_the_manifest_pattern_has_an_unescaped_dot() -> None:
    # regexp.MustCompile("(^|/)krt.ya?ml$"): '.' matches any character.
    assert is_manifest_name("krt.yml")
    assert is_manifest_name("./krt.yaml")
    assert is_manifest_name("src/x/krt_yml")
    assert not is_manifest_name("src/mykrt.yml")
    assert not is_manifest_name("krt.yml.bak")


def test_a_pax_global_header_is_an_unknown_type(tmp_path: Path) -> None:
    # Python's tarfile hides a global header; Go's tar.Reader returns it (Typeflag 'g' = 103).
    path = tmp_path / "global.krt"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT, pax_headers={"c": "x"}) as tar:
        for name, kind, data in entries_for(good_files()):
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    (error,) = upload(path)
    assert error.startswith("error on KRT content extraction: error extracting krt files: ")
    assert "uknown type [103]" in error
    assert [p.rule for p in validate_path(path).errors] == ["kre.tar-global-header"]


def test_pax_and_gnu_long_names_are_folded_into_their_entry(tmp_path: Path) -> None:
    long = "src/etl/" + "n" * 120 + ".py"
    files = {**good_files(), long: b"x = 1\n"}
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        path = tmp_path / f"long-{fmt}.krt"
        with tarfile.open(path, "w:gz", format=fmt) as tar:
            for name, kind, data in entries_for(files):
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE if kind == "dir" else tarfile.REGTYPE
                info.size = len(data) if kind == "file" else 0
                tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
        headers = read_headers(path)
        assert [h.name.rstrip("/") for h in headers] == [e[0] for e in entries_for(files)]
        assert upload(path) == []


def test_a_symlink_is_an_unknown_type_with_its_byte_in_decimal(make_krt: MakeKrt) -> None:
    path = make_krt([*entries_for(good_files()), ("src/etl/l.py", "symlink", b"main.py")])
    assert upload(path) == [
        "error on KRT content extraction: error extracting krt files: uknown type [50] in "
        "[<tmp>/src/etl/l.py]"
    ]


def test_a_file_before_its_folder(make_krt: MakeKrt) -> None:
    entries = [e for e in entries_for(good_files()) if e[0] != "src/etl"]
    entries.append(("src/etl", "dir", b""))
    assert upload(make_krt(entries)) == [
        "error on KRT content extraction: error creating krt file <tmp>/src/etl/main.py: "
        "open <tmp>/src/etl/main.py: no such file or directory"
    ]


def test_a_folder_twice_and_a_dot_entry_fail_on_mkdir(make_krt: MakeKrt) -> None:
    twice = [*entries_for(good_files()), ("src", "dir", b"")]
    assert upload(make_krt(twice)) == [
        "error on KRT content extraction: error creating krt dir <tmp>/src: mkdir <tmp>/src: "
        "file exists"
    ]
    assert [p.rule for p in validate_path(make_krt(twice)).errors] == ["kre.tar-folder-twice"]
    dot = [(".", "dir", b""), *entries_for(good_files())]
    assert upload(make_krt(dot)) == [
        "error on KRT content extraction: error creating krt dir <tmp>: mkdir <tmp>: file exists"
    ]


def test_a_name_used_as_file_and_folder(make_krt: MakeKrt) -> None:
    entries = [*entries_for(good_files()), ("docs", "file", b"x"), ("docs", "dir", b"")]
    assert upload(make_krt(entries)) == [
        "error on KRT content extraction: error creating krt dir <tmp>/docs: mkdir <tmp>/docs: "
        "file exists"
    ]
    entries = [*entries_for(good_files()), ("docs", "file", b"x"), ("docs/a.md", "file", b"")]
    (error,) = upload(make_krt(entries))
    assert error.endswith("open <tmp>/docs/a.md: not a directory")
    assert [p.rule for p in validate_path(make_krt(entries)).errors] == ["kre.tar-file-folder"]


def test_no_manifest_at_all(make_krt: MakeKrt) -> None:
    files = good_files()
    del files["krt.yml"]
    assert upload(make_krt(entries_for(files))) == [
        "error on KRT Yaml extraction: error krt.yml file missing"
    ]


def test_a_src_that_pass_two_did_not_extract(make_krt: MakeKrt) -> None:
    files = good_files()
    del files["src/model/main.py"]
    assert upload(make_krt(entries_for(files))) == [
        "error src File src/model/main.py for node model not exists"
    ]


def test_kre_8_words_the_src_check_its_own_way(make_krt: MakeKrt) -> None:
    # konstellation-io/kre @ v8.2.0: validator/fields_validator.go, ValidateSrcPaths (the
    # trailing space is KRE's); the two passes are parser/parser.go's, unchanged since 7.0.
    files = good_files()
    del files["src/model/main.py"]
    outcome = emulate_upload(read_headers(make_krt(entries_for(files))), SRCS, kre="8.2")
    assert outcome.kre_errors() == [
        'error src file "src/model/main.py" for node "model" does not exists '
    ]


def test_write_krt_puts_the_manifest_first_and_passes_both_passes(tmp_path: Path) -> None:
    files = {**good_files(), "conf/base/parameters.yml": b"a: 1\n", "docs/README.md": b"#\n"}
    path = write_krt(files, tmp_path / "ok.krt")
    headers = read_headers(path)
    assert headers[0].name == "krt.yml"
    assert [h.name for h in headers if is_manifest_name(h.name)] == ["krt.yml"]
    assert upload(path) == []


@pytest.mark.parametrize("name", ["conf/base/krt.yml", "src/etl/krt.yaml", "krt.yaml"])
def test_write_krt_refuses_a_second_manifest_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(KrtArchiveError, match=r"only the root krt\.yml"):
        write_krt({**good_files(), name: b"x"}, tmp_path / "bad.krt")
    assert not (tmp_path / "bad.krt").exists()


def test_an_absolute_name_lands_inside_kres_folder_and_dot_dot_climbs_out() -> None:
    # filepath.Join(tmp, name) cleans tmp + "/" + name: the leading '/' is only a separator,
    # and '..' climbs out of tmp even after it.
    assert kre_path("/x/y/f") == "x/y/f"
    assert kre_path("//x") == "x"
    assert kre_path("./") == ""
    assert kre_path("/../x") is None
    assert kre_path("a/../../x") is None


def test_absolute_entries_with_their_folders_are_accepted_by_kre(make_krt: MakeKrt) -> None:
    entries = [*entries_for(good_files()), ("/x", "dir", b""), ("/x/y", "dir", b"")]
    path = make_krt([*entries, ("/x/y/f", "file", b"f")])
    outcome = emulate_upload(read_headers(path), SRCS)
    assert outcome.accepted
    assert "x/y/f" in outcome.files
    outside = make_krt([*entries_for(good_files()), ("/../evil", "file", b"x")])
    assert [f.kind for f in emulate_upload(read_headers(outside), SRCS).failures] == ["outside"]
