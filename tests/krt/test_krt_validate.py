"""validate_path / validate_files: KRE's rules and ours, on hand-made archives and folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from kedro_krt.formats.archive import KrtArchiveError, extract_krt, scan_krt
from kedro_krt.formats.validate import (
    Problem,
    ValidationReport,
    _keep_for_checks,
    format_report,
    validate_files,
    validate_path,
)
from tests.krt.krt_helpers import GOOD_PROTO, GOOD_YML, MakeKrt, entries_for, good_files


def rules(problems: tuple[Problem, ...] | list[Problem]) -> list[str]:
    return [p.rule for p in problems]


def errors_of(files: dict[str, bytes]) -> list[Problem]:
    return [p for p in validate_files(files) if p.severity == "error"]


def with_yml(text: str, **extra: bytes) -> dict[str, bytes]:
    files = good_files()
    files["krt.yml"] = text.encode()
    files.update(extra)
    return files


# -- a good KRT --------------------------------------------------------------------------------


def test_good_archive_passes(make_krt: MakeKrt) -> None:
    report = validate_path(make_krt())
    assert report.problems == ()
    assert report.ok
    assert report.checked is not None
    assert report.checked.version == "price-estimator-v1"
    assert format_report(report).endswith("is a valid KRT v1 (0 errors, 0 warnings)")


def test_good_folder_and_krt_yml_pass(tmp_path: Path) -> None:
    for name, data in good_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    assert validate_path(tmp_path).problems == ()
    assert validate_path(tmp_path / "krt.yml").problems == ()  # the manifest alone


# -- archive structure (KRE's extractor) -------------------------------------------------------


def test_dot_entry_is_refused(make_krt: MakeKrt) -> None:
    report = validate_path(make_krt([(".", "dir", b""), *entries_for(good_files())]))
    assert rules(report.errors) == ["kre.tar-dot-entry"]
    assert "'./' entry" in report.errors[0].message


def test_dot_prefixed_entries_are_one_warning(make_krt: MakeKrt) -> None:
    # parser.go joins every name with filepath.Join, which cleans './src' to 'src', and
    # '(^|/)krt.ya?ml$' matches './krt.yml': KRE accepts such an archive (without a './' entry).
    entries = [(f"./{name}", kind, data) for name, kind, data in entries_for(good_files())]
    report = validate_path(make_krt(entries))
    assert report.ok
    assert rules(report.warnings) == ["krt.tar-dot-prefix"]
    assert "start with './'" in report.warnings[0].message


def test_file_before_its_folder_is_refused(make_krt: MakeKrt) -> None:
    entries = [e for e in entries_for(good_files()) if e[0] != "src/etl"]
    entries.append(("src/etl", "dir", b""))  # present, but after src/etl/main.py
    report = validate_path(make_krt(entries))
    assert rules(report.errors) == ["kre.tar-folder-order"]
    assert report.errors[0].location == "archive entry src/etl/main.py"
    assert '"src/etl/"' in report.errors[0].message


def test_folder_without_any_entry_is_refused(make_krt: MakeKrt) -> None:
    entries = [e for e in entries_for(good_files()) if e[1] != "dir"]
    report = validate_path(make_krt(entries))
    # one error per missing folder, not one per file
    assert rules(report.errors) == ["kre.tar-folder-order"] * 3


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo", "chardev"])
def test_non_regular_entries_are_refused(make_krt: MakeKrt, kind: str) -> None:
    entries = [*entries_for(good_files()), ("src/etl/link.py", kind, b"main.py")]
    report = validate_path(make_krt(entries))
    assert rules(report.errors) == ["kre.tar-type"]
    assert "uknown type" in report.errors[0].message
    assert kind in report.errors[0].message


def test_symlinked_src_is_refused_and_missing(make_krt: MakeKrt) -> None:
    files = good_files()
    del files["src/model/main.py"]
    entries = [
        *entries_for(files),
        ("src/model", "dir", b""),
        ("src/model/main.py", "symlink", b"../etl/main.py"),
    ]
    report = validate_path(make_krt(entries))
    assert sorted(rules(report.errors)) == ["kre.src-missing", "kre.tar-type"]


def test_wrapping_folder_is_refused_but_content_checked(make_krt: MakeKrt) -> None:
    files = {f"my-krt/{name}": data for name, data in good_files().items()}
    report = validate_path(make_krt(entries_for(files)))
    assert rules(report.errors) == ["kre.tar-wrapping-folder"]
    assert report.checked is not None  # the content inside was still checked


def test_not_gzip_is_reported_not_raised(make_krt: MakeKrt) -> None:
    report = validate_path(make_krt(gzip=False))
    assert rules(report.errors) == ["kre.archive"]
    assert "not a gzip file" in report.errors[0].message


def test_missing_path_is_reported(tmp_path: Path) -> None:
    report = validate_path(tmp_path / "nope.krt")
    assert rules(report.errors) == ["krt.path"]


def test_krt_yml_missing(make_krt: MakeKrt) -> None:
    files = good_files()
    del files["krt.yml"]
    report = validate_path(make_krt(entries_for(files)))
    assert rules(report.errors) == ["kre.krt-yml-missing"]
    assert report.errors[0].message.startswith("error krt.yml file missing")


def test_krt_yml_not_at_root(make_krt: MakeKrt) -> None:
    files = good_files()
    files["conf/krt.yml"] = files.pop("krt.yml")
    report = validate_path(make_krt(entries_for(files)))
    assert rules(report.errors) == ["kre.krt-yml-missing"]
    assert "conf/krt.yml" in report.errors[0].message


# -- KRE's manifest rules ---------------------------------------------------------------------


def test_missing_src(make_krt: MakeKrt) -> None:
    files = good_files()
    del files["src/model/main.py"]
    report = validate_path(make_krt(entries_for(files)))
    assert rules(report.errors) == ["kre.src-missing"]
    assert report.errors[0].message.startswith(
        "error src File src/model/main.py for node model not exists"
    )
    assert report.errors[0].location == "krt.yml:14 nodes[1].src"


def test_src_pointing_to_a_folder() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("src/etl/main.py", "src/etl")))
    assert rules(problems) == ["kre.src-missing"]
    assert "is a folder" in problems[0].message


def test_bad_node_name() -> None:
    text = GOOD_YML.replace("name: etl", "name: My_Node").replace("[etl,", "[My_Node,")
    problems = errors_of(with_yml(text))
    assert rules(problems) == ["kre.name"]
    assert problems[0].message.startswith('Invalid resource name "My_Node" at "Nodes[0].Name"')
    assert '"my-node"' in problems[0].message
    assert problems[0].location == "krt.yml:9 nodes[0].name"


def test_twenty_character_name() -> None:
    name = "a" * 20
    problems = errors_of(with_yml(GOOD_YML.replace("estimate", name)))
    assert rules(problems) == ["kre.name"]
    assert f'"{name}" at "Workflows[0].Name"' in problems[0].message
    assert "20 characters" in problems[0].message
    assert errors_of(with_yml(GOOD_YML.replace("estimate", "a" * 19))) == []


def test_bad_version_name() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("price-estimator-v1", "-v1")))
    assert rules(problems) == ["kre.name"]
    assert 'at "Version"' in problems[0].message


def test_required_field() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("    entrypoint: Predict\n", "")))
    assert rules(problems) == ["kre.required"]
    assert problems[0].message.startswith('The field "Workflows[0].Entrypoint" is required')


def test_proto_must_end_with_proto() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("proto: public_input.proto", "proto: api")))
    assert "kre.proto-suffix" in rules(problems)


def test_sequential_node_not_found() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("[etl, model]", "[etl, modle]")))
    assert rules(problems) == ["kre.sequential-node"]
    assert problems[0].message.startswith("node in sequential not found: modle")
    assert 'did you mean "model"' in problems[0].message


def test_bad_config_variable_name() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("OUTPUT_CURRENCY", "output-currency")))
    assert rules(problems) == ["kre.variable-name"]
    assert 'at "Config.Variables[0]"' in problems[0].message
    assert '"OUTPUT_CURRENCY"' in problems[0].message


# -- our rules --------------------------------------------------------------------------------


def test_unknown_key_with_suggestion() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("sequential:", "sequencial:")))
    assert sorted(rules(problems)) == ["kre.required", "krt.unknown-key"]
    unknown = next(p for p in problems if p.rule == "krt.unknown-key")
    assert 'Unknown key "sequencial" at "workflows[0]"' in unknown.message
    assert 'did you mean "sequential"?' in unknown.message
    assert unknown.location == "krt.yml:18 workflows[0].sequencial"


def test_unknown_top_level_key() -> None:
    problems = errors_of(with_yml(GOOD_YML + "descripton: typo\n"))
    assert rules(problems) == ["krt.unknown-key"]
    assert 'did you mean "description"?' in problems[0].message


def test_duplicate_node_names() -> None:
    text = GOOD_YML.replace("name: model", "name: etl").replace("[etl, model]", "[etl]")
    problems = errors_of(with_yml(text))
    assert rules(problems) == ["krt.duplicate-node"]
    assert "nodes[0]" in problems[0].message


def test_duplicate_workflow_names_and_rpcs() -> None:
    text = GOOD_YML + "  - name: estimate\n    entrypoint: Predict\n    sequential: [etl]\n"
    problems = errors_of(with_yml(text))
    assert sorted(rules(problems)) == ["krt.duplicate-rpc", "krt.duplicate-workflow"]


def test_rpc_missing_from_proto() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("entrypoint: Predict", "entrypoint: Predikt")))
    assert rules(problems) == ["krt.rpc-missing"]
    assert '"Predikt"' in problems[0].message
    assert 'did you mean "Predict"?' in problems[0].message


def test_service_entrypoint_missing() -> None:
    files = good_files()
    files["public_input.proto"] = GOOD_PROTO.replace("service Entrypoint", "service Api").encode()
    assert rules(errors_of(files)) == ["krt.service-missing"]


def test_streaming_rpc_is_refused() -> None:
    files = good_files()
    proto = GOOD_PROTO.replace("returns (Response)", "returns (stream Response)")
    files["public_input.proto"] = proto.encode()
    assert rules(errors_of(files)) == ["krt.rpc-streaming"]


def test_wrong_proto_name() -> None:
    files = with_yml(GOOD_YML.replace("proto: public_input.proto", "proto: api.proto"))
    files["api.proto"] = files.pop("public_input.proto")
    problems = errors_of(files)
    assert rules(problems) == ["krt.proto-name"]
    assert "hard-coded" in problems[0].message


def test_proto_missing() -> None:
    files = good_files()
    del files["public_input.proto"]
    assert rules(errors_of(files)) == ["krt.proto-missing"]


def test_proto_that_protoc_rejects() -> None:
    files = good_files()
    files["public_input.proto"] = GOOD_PROTO.replace(
        "double price = 1;", "double price = ;"
    ).encode()
    problems = errors_of(files)
    assert rules(problems) == ["krt.proto-compile"]
    assert "public_input.proto:12:18: Expected field number" in problems[0].message
    assert "krt-validate-" not in problems[0].message  # no temp folder leaks into the message


def test_proto_imports_from_the_krt_folder() -> None:
    files = good_files()
    files["internal_nodes.proto"] = (
        b'syntax = "proto3";\npackage entrypoint;\nmessage Mid { int32 a = 1; }\n'
    )
    proto = GOOD_PROTO.replace(
        'import "google/protobuf/timestamp.proto";',
        'import "google/protobuf/timestamp.proto";\nimport "internal_nodes.proto";',
    ).replace("double surface = 1;", "double surface = 1;\n  Mid mid = 3;")
    files["public_input.proto"] = proto.encode()
    assert validate_files(files) == []


def test_empty_sequential() -> None:
    problems = validate_files(with_yml(GOOD_YML.replace("[etl, model]", "[]")))
    assert [p.rule for p in problems if p.severity == "error"] == ["krt.sequential-empty"]


def test_unused_node_is_a_warning() -> None:
    problems = validate_files(with_yml(GOOD_YML.replace("[etl, model]", "[etl]")))
    assert [(p.severity, p.rule) for p in problems] == [("warning", "krt.node-unused")]
    assert '"model"' in problems[0].message


def test_blank_description() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("Estimates prices", '"   "')))
    assert rules(problems) == ["krt.description-empty"]
    problems = errors_of(with_yml(GOOD_YML.replace("Estimates prices", '""')))
    assert rules(problems) == ["kre.required"]


def test_yaml_syntax_error_has_line_and_column() -> None:
    problems = errors_of(with_yml(GOOD_YML.replace("[etl, model]", "[etl, model")))
    assert rules(problems) == ["krt.yaml-syntax"]
    assert "line 19" in problems[0].message
    assert "column" in problems[0].message


def test_all_problems_reported_together(make_krt: MakeKrt) -> None:
    # three faults of three kinds: a bad name, a missing src, an rpc missing from the proto
    files = good_files()
    files["krt.yml"] = (
        GOOD_YML.replace("name: etl", "name: My_Node")
        .replace("[etl, model]", "[My_Node, model]")
        .replace("entrypoint: Predict", "entrypoint: Nope")
        .encode()
    )
    del files["src/model/main.py"]
    report = validate_path(make_krt(entries_for(files)))
    assert sorted(rules(report.errors)) == ["kre.name", "kre.src-missing", "krt.rpc-missing"]
    assert report.checked is None
    text = format_report(report)
    # + the warning that rpc Predict is now used by no workflow
    assert len(text.splitlines()) == 5
    assert text.splitlines()[-1].endswith("3 errors, 1 warning")


def test_structure_and_manifest_problems_together(make_krt: MakeKrt) -> None:
    files = good_files()
    files["krt.yml"] = GOOD_YML.replace("name: etl", "name: ETL").replace("[etl,", "[ETL,").encode()
    entries = [(".", "dir", b""), *entries_for(files), ("x", "symlink", b"krt.yml")]
    report = validate_path(make_krt(entries))
    assert sorted(rules(report.errors)) == [
        "kre.name",
        "kre.tar-dot-entry",
        "kre.tar-type",
    ]


def test_report_properties() -> None:
    warn = Problem("warning", "x", "y", "krt.z")
    err = Problem("error", "x", "y", "kre.z")
    report = ValidationReport("s", (warn, err), None)
    assert not report.ok
    assert report.errors == (err,)
    assert report.warnings == (warn,)
    assert ValidationReport("s", (warn,), None).ok


# -- entries that extract_krt (so serve) refuses: one problem each, in its words -------------


def extract_refusal(path: Path, tmp_path: Path) -> str:
    with pytest.raises(KrtArchiveError) as info:
        extract_krt(path, tmp_path / "out")
    return str(info.value)


def test_absolute_entries_are_one_error_each_as_serve_refuses_them(
    make_krt: MakeKrt, tmp_path: Path
) -> None:
    # KRE writes /x/y/f at x/y/f in its folder and accepts the archive: the rule is ours.
    entries = [("/x", "dir", b""), ("/x/y", "dir", b""), ("/x/y/f", "file", b"f")]
    path = make_krt([*entries_for(good_files()), *entries])
    report = validate_path(path)
    assert [(p.location, p.rule) for p in report.errors] == [
        ("archive entry /x", "krt.tar-absolute"),
        ("archive entry /x/y", "krt.tar-absolute"),
        ("archive entry /x/y/f", "krt.tar-absolute"),
    ]
    assert "KRE itself accepts it and writes it at x/y/f" in report.errors[2].message
    refused = extract_refusal(path, tmp_path)
    assert refused.startswith("entry '/x': absolute paths are not allowed")
    assert report.errors[0].message.startswith(refused.removeprefix("entry '/x': "))


def test_an_absolute_file_without_folder_entries_is_one_error(make_krt: MakeKrt) -> None:
    path = make_krt([*entries_for(good_files()), ("/x/y/f", "file", b"f")])
    report = validate_path(path)
    assert rules(report.problems) == ["krt.tar-absolute"]
    message = report.errors[0].message
    assert message.startswith("absolute paths are not allowed")
    # KRE fails on it for want of its folders: said in the same message, not once per folder.
    assert "KRE fails on it too" in message and "no such file or directory" in message


def test_dot_dot_is_one_error_saying_kre_writes_it_outside(
    make_krt: MakeKrt, tmp_path: Path
) -> None:
    path = make_krt([*entries_for(good_files()), ("../evil.txt", "file", b"x")])
    report = validate_path(path)
    assert rules(report.problems) == ["krt.tar-path"]
    assert "outside its folder" in report.errors[0].message
    assert "'..'" in extract_refusal(path, tmp_path)


def test_a_file_twice_is_one_error_and_a_folder_twice_is_kres(make_krt: MakeKrt) -> None:
    twice = [*entries_for(good_files()), ("src/etl/main.py", "file", b"again")]
    assert rules(validate_path(make_krt(twice)).problems) == ["krt.tar-duplicate"]
    folder = [*entries_for(good_files()), ("src", "dir", b"")]
    # KRE's Mkdir fails on it: reported in KRE's words, not once more in ours.
    assert rules(validate_path(make_krt(folder)).problems) == ["kre.tar-folder-twice"]


def test_large_files_are_not_held_but_named(make_krt: MakeKrt, tmp_path: Path) -> None:
    big = bytes(range(256)) * 100_000  # 25.6 MB, over the 16 MiB the validator holds
    files = {**good_files(), "models/model.bin": big, "src/etl/notes.txt": b"n"}
    scan = scan_krt(make_krt(entries_for(files)), _keep_for_checks)
    assert set(scan.files) == set(files)
    assert scan.files.sizes["models/model.bin"] == len(big)
    assert scan.files.is_kept("krt.yml") and scan.files.is_kept("src/etl/main.py")
    assert not scan.files.is_kept("models/model.bin")
    # A check that reads it anyway gets it, from the archive.
    assert scan.files["models/model.bin"] == big
    assert scan.files["src/etl/notes.txt"] == b"n"


# -- what `validate` is given (issue 21) ----------------------------------------------------------

#: The shape of a KAI product's krt.yaml (Konstellation's platform after KRE): workflows of
#: processes, no nodes.
KAI_YAML = """\
version: v1.0.0
description: a KAI product
workflows:
  - name: training
    type: training
    config: {key: value}
    processes:
      - name: entrypoint
        type: trigger
        image: konstellation/kai-grpc-trigger:latest
        subscriptions: []
      - name: etl
        type: task
        image: konstellation/kai-etl-task:latest
        subscriptions: [entrypoint]
"""


@pytest.mark.parametrize("name", ["krt.yml", "krt.yaml"])
def test_a_kai_manifest_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(KAI_YAML)
    for given in (tmp_path, tmp_path / name):
        report = validate_path(given)
        (problem,) = report.problems
        assert problem.rule == "krt.kai-manifest" and problem.severity == "error"
        assert f"{name} is a product manifest of Konstellation's KAI platform" in problem.message
        assert "does not check, build or serve KAI products" in problem.message


def test_a_krt_yml_given_as_a_file_is_checked_alone_and_says_so(tmp_path: Path) -> None:
    """`validate DIR/krt.yml` reads the manifest the user named, not the folder around it (a
    venv there gave symlink warnings), and says how to check the files too."""
    (tmp_path / "krt.yml").write_bytes(good_files()["krt.yml"])  # no src/, no proto
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    report = validate_path(tmp_path / "krt.yml")
    assert report.problems == ()
    assert report.manifest_only
    text = format_report(report)
    assert text.splitlines()[0] == (
        f"OK: {tmp_path / 'krt.yml'} is a valid KRT v1 manifest (0 errors, 0 warnings)"
    )
    assert f"validate the folder ({tmp_path}) or the .krt" in text
    # The folder, asked for, is checked whole.
    folder = validate_path(tmp_path)
    assert {p.rule for p in folder.problems} >= {"kre.tar-type", "kre.src-missing"}
