"""`kedro-krt build` on the repository's examples, with a trained copy of the example project,
real protoc and real tar files: what the archive holds, that it is the same every time, the
golden main.py and report of the generated node, and the errors a wrong mapping gives.

Regenerate the golden files after an intended change with
`KRT_UPDATE_GOLDEN=1 pytest tests/handwritten`, then read the diff before committing it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kedro_krt.cli import main
from kedro_krt.formats.archive import read_krt
from kedro_krt.formats.validate import validate_path
from kedro_krt.handwritten import BuildError, BuildResult, build_krt
from kedro_krt.handwritten.report import render_kedro_node
from tests.handwritten.build_helpers import example_copy

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "build"
UPDATE = os.environ.get("KRT_UPDATE_GOLDEN") == "1"
FLEET = "kedro_between_handwritten"


@pytest.fixture(scope="module")
def fleet_source(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_copy(FLEET, tmp_path_factory.mktemp("fleet") / FLEET, trained_project)


@pytest.fixture(scope="module")
def fleet(fleet_source: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build_krt(fleet_source, tmp_path_factory.mktemp("fleet-dist") / "fleet.krt")


@pytest.fixture(scope="module")
def fleet_files(fleet: BuildResult) -> dict[str, bytes]:
    return read_krt(fleet.path)


def _golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run with KRT_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), (
        f"{name} differs from {golden}; if the change is intended, rerun with KRT_UPDATE_GOLDEN=1"
    )


def test_the_archive_holds_the_folder_the_project_and_the_runtime(
    fleet: BuildResult, fleet_files: dict[str, bytes]
) -> None:
    names = set(fleet_files)
    # The folder as kli packs it: .krtignore's README.md and the build's own files left out.
    assert {"krt.yml", "public_input.proto", "internal_nodes.proto", "docs/README.md"} <= names
    assert not names & {"README.md", "krt-build.yml", ".krtignore"}
    # Protos compiled into every Python node folder, not into the Go node's.
    for node in ("intake", "price", "present"):
        assert {f"src/{node}/public_input_pb2.py", f"src/{node}/internal_nodes_pb2.py"} <= names
    assert not any(n.startswith("src/audit/") and n.endswith("_pb2.py") for n in names)
    # The Go node as given: its source, and its binary, executable.
    assert {"src/audit/main.go", "src/audit/go.mod", "bin/audit"} <= names
    with tarfile.open(fleet.path) as tar:
        assert tar.getmember("bin/audit").mode == 0o755
        assert tar.getmember("src/intake/main.py").mode == 0o644
    # The generated node and the project it runs, without conf/local or the plugin's krt.yml.
    assert {"src/price/main.py", "src/price/plan.json"} <= names
    project = "kedro/shuttle_prices"
    assert {f"{project}/pyproject.toml", f"{project}/conf/base/catalog.yml"} <= names
    assert not any(n.startswith(f"{project}/conf/local") for n in names)
    assert f"{project}/conf/base/krt.yml" not in names
    (model,) = [n for n in names if n.startswith(f"{project}/data/06_models/")]
    assert model.endswith("/price_model.pickle")
    assert not any(n.startswith(f"{project}/data/01_raw") for n in names)
    assert "lib/kedro_krt/node/runtime/node_v1.py" in names
    requirements = fleet_files["requirements.txt"].decode().splitlines()
    assert "scikit-learn>=1.4" in requirements and "kedro~=1.7" in requirements
    assert requirements[-1].startswith("protobuf>=")
    assert b"registry.example.com/team/shuttle-fleet-runtime:0.1.0" in fleet_files["Dockerfile"]
    # intake and present stay on kre-py's image: the portable code; price keeps protoc's.
    for node in ("intake", "present"):
        assert b"runtime_version" not in fleet_files[f"src/{node}/public_input_pb2.py"]
    assert b"runtime_version" in fleet_files["src/price/public_input_pb2.py"]
    assert "src/intake/   internal_nodes_pb2, public_input_pb2  portable (kre-py image)" in (
        fleet.report
    )
    report = validate_path(fleet.path)
    assert report.ok, report.problems


def test_the_same_folder_gives_the_same_bytes(
    fleet: BuildResult, fleet_source: Path, tmp_path: Path
) -> None:
    again = build_krt(fleet_source, tmp_path / "again.krt")
    assert again.path.read_bytes() == fleet.path.read_bytes()


def test_generated_main_py_and_report_match_golden(
    fleet: BuildResult, fleet_files: dict[str, bytes]
) -> None:
    _golden("price-main.py.txt", fleet_files["src/price/main.py"].decode())
    (price,) = fleet.nodes
    _golden("price_report.txt", render_kedro_node(price))
    assert "Copied from the input message: customer" in fleet.report
    assert "4.  audit    bin/audit (executable)  not Python: packaged as given" in fleet.report


def test_version_is_written_into_the_shipped_krt_yml_only(
    fleet_source: Path, tmp_path: Path
) -> None:
    result = build_krt(fleet_source, tmp_path / "v2.krt", version="fleet-v2")
    shipped = read_krt(result.path)["krt.yml"].decode()
    assert re.search(r"^version: fleet-v2$", shipped, re.MULTILINE)
    assert shipped.startswith("# A KRT written by hand")  # the comments are kept
    assert "version: shuttle-fleet" in (fleet_source / "krt.yml").read_text(encoding="utf-8")
    with pytest.raises(BuildError, match="--version 'Fleet_2' is not valid for KRE"):
        build_krt(fleet_source, tmp_path / "bad.krt", version="Fleet_2")


def _variant(source: Path, dest: Path, edits: dict[str, tuple[str, str]]) -> Path:
    import shutil

    shutil.copytree(source, dest)
    for name, (old, new) in edits.items():
        text = (dest / name).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {name}"
        (dest / name).write_text(text.replace(old, new), encoding="utf-8")
    return dest


def test_a_mapping_that_does_not_type_check_names_field_dataset_and_types(
    fleet_source: Path, tmp_path: Path
) -> None:
    source = _variant(
        fleet_source,
        tmp_path / "wrong",
        {"public_input.proto": ("  int64 engines = 4;", "  string engines = 4;")},
    )
    source_text = (source / "public_input.proto").read_text(encoding="utf-8")
    source_text = source_text.replace("  double price = 2;", "  string price = 2;")
    (source / "public_input.proto").write_text(source_text, encoding="utf-8")
    with pytest.raises(BuildError) as info:
        build_krt(source, tmp_path / "wrong.krt")
    message = str(info.value)
    assert "node 'price' (krt-build.yml nodes.price.kedro): the mapping does not type-check" in (
        message
    )
    assert (
        "field 'shuttles' of entrypoint.Fleet is repeated Shuttle, dataset 'etl.shuttles' is "
        "table (11 columns) (typed from catalog (CSVDataset)): column 'engines' is int64 in the "
        "dataset, Shuttle.engines is string"
    ) in message
    assert "field 'quotes' of entrypoint.Priced is repeated Quote, dataset 'output.quotes'" in (
        message
    )
    assert "column 'price' is double in the dataset, Quote.price is string" in message
    assert not (tmp_path / "wrong.krt").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("shuttles: etl.shuttles", "shuttles: etl.shutles"),
            "inputs: 'etl.shutles' is not a free input of pipeline 'inference'; did you mean "
            "'etl.shuttles'?",
        ),
        (
            ("output.quotes: quotes", "output.quotes: quote"),
            "outputs: entrypoint.Priced has no field 'quote'; did you mean 'quotes'?",
        ),
        (
            ("shuttles: etl.shuttles", "customer: params:output.markup"),
            "compile's rules read 'etl.shuttles' (free input under namespace 'etl') from each "
            "message: map it under `inputs:` to a field of entrypoint.Fleet, or list it under "
            "`artifacts:`",
        ),
        (
            ("input: Fleet", "input: Priced"),
            "inputs: entrypoint.Priced has no field 'shuttles' (its fields: customer, quotes)",
        ),
    ],
    ids=["unknown-dataset", "unknown-field", "unmapped-input", "wrong-message"],
)
def test_mapping_mistakes_say_what_to_change(
    fleet_source: Path, tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    source = _variant(fleet_source, tmp_path / "variant", {"krt-build.yml": edit})
    with pytest.raises(BuildError) as info:
        build_krt(source, tmp_path / "x.krt")
    assert message in str(info.value)


def test_a_hand_written_main_py_and_a_mapping_are_refused_together(
    fleet_source: Path, tmp_path: Path
) -> None:
    source = _variant(fleet_source, tmp_path / "both", {})
    (source / "src" / "price").mkdir()
    (source / "src" / "price" / "main.py").write_text("async def handler(ctx, data): ...\n")
    with pytest.raises(BuildError, match=r"delete src/price/main\.py to let the build generate"):
        build_krt(source, tmp_path / "x.krt")


def test_the_command(fleet_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.krt"
    result = CliRunner().invoke(main, ["build", str(fleet_source), "--output", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert f"KRT file: {out} (" in result.output
    assert out.is_file()
    broken = _variant(fleet_source, tmp_path / "broken", {"krt-build.yml": ("pipeline: inference",
                                                                              "pipeline: infer")})
    result = CliRunner().invoke(main, ["build", str(broken), "-o", str(tmp_path / "b.krt")])
    assert result.exit_code == 1
    assert "Error: node 'price' (krt-build.yml nodes.price.kedro): pipeline 'infer' is not " in (
        result.output
    )
    assert "Traceback" not in result.output


@pytest.mark.integration
def test_python_m_kedro_krt_cli_build_runs_the_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kedro_krt.cli", "build", "--help"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage: kedro-krt build [OPTIONS] DIR" in proc.stdout


def test_a_krt_without_kedro_nodes_builds_as_kli_would(tmp_path: Path) -> None:
    """No krt-build.yml: the folder, its protos compiled, nothing added."""
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "handwritten_krt"
    result = build_krt(fixture, tmp_path / "plain.krt")
    files = read_krt(result.path)
    assert not any(n.startswith("lib/") for n in files)
    assert "requirements.txt" not in files and "Dockerfile" not in files
    manifest = yaml.safe_load(files["krt.yml"])
    for node in manifest["nodes"]:
        folder = node["src"].rsplit("/", 1)[0]
        assert f"{folder}/public_input_pb2.py" in files  # every node imports it
    assert "src/prep/internal_nodes_pb2.py" in files and "src/prep/utils.py" in files
    # Every node is on kre-py 2.1.5: the portable code, which its protobuf 3.20.1 imports.
    assert not any(b"runtime_version" in d for n, d in files.items() if n.endswith("_pb2.py"))
    assert not result.warnings, result.warnings


def test_the_default_output_is_never_packed_into_the_next_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "handwritten_krt"
    source = tmp_path / "plain"
    shutil.copytree(fixture, source)
    monkeypatch.chdir(source)
    first = build_krt(Path("."))
    assert first.path == Path("dist/handwritten-v1.krt")
    data = first.path.read_bytes()
    second = build_krt(Path("."))
    assert "dist/handwritten-v1.krt" not in read_krt(second.path)
    assert second.path.read_bytes() == data


def test_stale_generated_code_is_replaced_and_krt_yml_cannot_be_left_out(tmp_path: Path) -> None:
    import shutil

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "handwritten_krt"
    source = tmp_path / "plain"
    shutil.copytree(fixture, source)
    (source / "src" / "prep" / "public_input_pb2.py").write_text("# protoc 3.6 made this\n")
    result = build_krt(source, tmp_path / "plain.krt")
    assert b"protoc 3.6" not in read_krt(result.path)["src/prep/public_input_pb2.py"]
    assert any(w.startswith("src/prep/public_input_pb2.py: replaced by protoc") for w in
               result.warnings)
    (source / ".krtignore").write_text("*.yml\n")
    with pytest.raises(BuildError, match=r"krt\.yml is missing .* left out by \.krtignore"):
        build_krt(source, tmp_path / "none.krt")
