"""`kedro krt package`: what the .krt holds, what it never holds, same inputs -> same bytes,
validation, protoc, several workflows in one version, and errors that are messages.

Real Kedro CLI in subprocesses, real tar files, real protoc (grpcio-tools).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from kedro_krt.emit.protoc import compile_protos
from kedro_krt.formats.archive import write_krt
from tests.helpers import copy_example, run_cli

pytestmark = pytest.mark.integration

SECRET = "NOT-A-REAL-KEY"
MODEL_DIR = "data/06_models/price_model.pickle"
OLD_VERSION = "2000-01-01T00.00.00.000Z"


def members(krt: Path) -> dict[str, bytes]:
    """Every regular file of a .krt, read with the standard tarfile module."""
    with tarfile.open(krt) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(example_krt: Path) -> dict[str, bytes]:
    return members(example_krt)


def test_contents_of_the_example_krt(files: dict[str, bytes], trained_project: Path) -> None:
    names = set(files)
    for root_file in ("krt.yml", "public_input.proto", "internal_nodes.proto", "docs/README.md"):
        assert root_file in names
    for node, modules in {
        "etl": ("public_input_pb2.py", "internal_nodes_pb2.py"),
        "model": ("internal_nodes_pb2.py",),
        "output": ("internal_nodes_pb2.py", "public_input_pb2.py"),
    }.items():
        for name in ("main.py", "plan.json", *modules):
            assert f"src/{node}/{name}" in names
        plan = json.loads(files[f"src/{node}/plan.json"])
        assert plan["node"]["name"] == node and plan["package_name"] == "shuttle_prices"
    assert {
        "pyproject.toml",
        "src/shuttle_prices/pipeline_registry.py",
        "src/shuttle_prices/pipelines/inference/nodes.py",
        "conf/base/catalog.yml",
        "conf/base/parameters.yml",
        "lib/kedro_krt/node/runtime/node_v1.py",
        "lib/kedro_krt/node/plan.py",
        "requirements.txt",
        "Dockerfile",
    } <= names
    # The runtime only: no compiler build step, CLI or server in the image.
    assert not any(
        n.startswith(("lib/kedro_krt/serve/", "lib/kedro_krt/cli", "lib/kedro_krt/compiler/"))
        for n in names
    )
    # The model: its one (latest) version, byte for byte.
    (version,) = [p.name for p in (trained_project / MODEL_DIR).iterdir()]
    model = f"{MODEL_DIR}/{version}/price_model.pickle"
    assert [n for n in names if n.startswith("data/")] == [model]
    assert files[model] == (trained_project / model).read_bytes()
    manifest = yaml.safe_load(files["krt.yml"])
    assert [n["src"] for n in manifest["nodes"]] == [
        "src/etl/main.py",
        "src/model/main.py",
        "src/output/main.py",
    ]
    assert manifest["workflows"] == [
        {"name": "inference", "entrypoint": "Inference", "sequential": ["etl", "model", "output"]}
    ]
    # Nothing names the machine it was built on.
    assert [n for n, data in files.items() if str(trained_project).encode() in data] == []
    requirements = files["requirements.txt"].decode()
    assert "kedro" in requirements and "protobuf" in requirements


def test_no_local_conf_and_no_credentials(files: dict[str, bytes], trained_project: Path) -> None:
    # The example has conf/local/credentials.yml holding a fake key: it must never leave.
    assert SECRET in (trained_project / "conf/local/credentials.yml").read_text()
    assert not [n for n in files if n.startswith("conf/local") or "credentials" in n]
    leaking = [name for name, data in files.items() if SECRET.encode() in data]
    assert leaking == []


@pytest.fixture(scope="module")
def second_package(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same project copied elsewhere, with a credentials file in conf/base and an older
    model version added: none of that may change a byte of the .krt."""
    copy = Path(shutil.copytree(trained_project, tmp_path_factory.mktemp("copy") / "elsewhere"))
    (copy / "conf/base/credentials.yml").write_text(f"prod_s3:\n  key: {SECRET}\n")
    old = copy / MODEL_DIR / OLD_VERSION / "price_model.pickle"
    old.parent.mkdir()
    old.write_bytes(b"an older model")
    out = tmp_path_factory.mktemp("dist2")
    run_cli(["kedro", "krt", "package", "--pipeline", "inference", "-o", str(out)], cwd=copy)
    (krt,) = out.glob("*.krt")
    return krt


def test_credentials_in_conf_base_are_excluded(second_package: Path) -> None:
    files = members(second_package)
    assert "conf/base/credentials.yml" not in files
    assert [name for name, data in files.items() if SECRET.encode() in data] == []


def test_only_the_latest_model_version_is_packaged(second_package: Path) -> None:
    assert not [n for n in members(second_package) if OLD_VERSION in n]


def test_same_inputs_give_the_same_bytes(example_krt: Path, second_package: Path) -> None:
    assert second_package.name == example_krt.name == "shuttle-prices.krt"
    assert sha256(second_package) == sha256(example_krt)


def test_validate_accepts_the_example(example_krt: Path, tmp_path: Path) -> None:
    proc = run_cli(["kedro-krt", "validate", str(example_krt)], cwd=tmp_path)
    assert proc.returncode == 0
    assert "OK:" in proc.stdout and "is a valid KRT v1" in proc.stdout


def test_validate_rejects_a_broken_krt(files: dict[str, bytes], tmp_path: Path) -> None:
    broken = {k: v for k, v in files.items() if k != "src/model/main.py"}
    bad = write_krt(broken, tmp_path / "broken.krt")
    proc = run_cli(["kedro-krt", "validate", str(bad)], cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "src/model/main.py" in proc.stdout
    assert "FAILED:" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_every_generated_proto_compiles_with_protoc(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    protos = {n: files[n].decode() for n in ("public_input.proto", "internal_nodes.proto")}
    generated = compile_protos(protos, tmp_path, pyi=False)
    assert sorted(p.name for p in generated) == ["internal_nodes_pb2.py", "public_input_pb2.py"]
    # What the nodes import is what protoc makes from the protos in the archive.
    assert files["src/etl/public_input_pb2.py"] == (tmp_path / "public_input_pb2.py").read_bytes()


# --- several workflows, and errors -------------------------------------------------------------


def test_two_workflows_in_one_version(tiny_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    dist = str(out)
    proc = run_cli(
        ["kedro", "krt", "package", "-p", "alpha", "-p", "beta", "--version", "two", "-o", dist],
        cwd=tiny_path,
    )
    assert "workflow alpha (rpc Alpha): prep -> score" in proc.stdout
    assert "workflow beta (rpc Beta): beta-prep -> beta-score" in proc.stdout
    files = members(out / "two.krt")
    manifest = yaml.safe_load(files["krt.yml"])
    names = [n["name"] for n in manifest["nodes"]]
    assert names == ["prep", "score", "beta-prep", "beta-score"]
    assert len(set(names)) == len(names)
    assert [w["entrypoint"] for w in manifest["workflows"]] == ["Alpha", "Beta"]
    public = files["public_input.proto"].decode()
    assert public.count("service Entrypoint") == 1
    assert "rpc Alpha (AlphaRequest) returns (AlphaResponse)" in public
    assert "rpc Beta (BetaRequest) returns (BetaResponse)" in public
    for name in names:
        assert f"src/{name}/main.py" in files
    ok = run_cli(["kedro-krt", "validate", str(out / "two.krt")], cwd=tmp_path)
    assert ok.returncode == 0


def test_invalid_version_name_is_a_clear_error(tiny_path: Path) -> None:
    proc = run_cli(
        ["kedro", "krt", "compile", "-p", "alpha", "--version", "My_Version"],
        cwd=tiny_path,
        check=False,
    )
    assert proc.returncode == 1
    assert "version name 'My_Version' is not valid for KRE" in proc.stderr
    assert "e.g. 'my-version'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_untrained_project_says_to_run_training(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "untrained")
    proc = run_cli(
        ["kedro", "krt", "package", "-p", "inference", "-o", str(tmp_path / "dist")],
        cwd=project,
        check=False,
    )
    assert proc.returncode == 1
    assert "artifact 'price_model' is versioned but has no saved version" in proc.stderr
    assert "kedro run --pipelines training" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def test_archive_listing_matches_golden_and_kre_accepts_it(
    example_krt: Path, trained_project: Path
) -> None:
    """The entries as KRE's Go reader sees them, replayed through both upload passes.

    KRE (konstellation-io/kre @ kre-7.0.0, engine/admin-api/domain/usecase/krt/parser.go) takes
    the first entry matching (^|/)krt.ya?ml$ as the manifest: it must be the root krt.yml, and
    the only one. Regenerate with KRT_UPDATE_GOLDEN=1 after an intended change.
    """
    import os

    from kedro_krt.formats.upload import emulate_upload, is_manifest_name, read_headers

    headers = read_headers(example_krt)
    manifest = yaml.safe_load(members(example_krt)["krt.yml"])
    srcs = tuple((n["name"], n["src"]) for n in manifest["nodes"])
    outcome = emulate_upload(headers, srcs, keep_going=False)
    assert outcome.kre_errors() == []
    assert outcome.manifest == "krt.yml" and outcome.skipped == ()
    assert [h.name for h in headers if is_manifest_name(h.name)] == ["krt.yml"]
    (version,) = [p.name for p in (trained_project / MODEL_DIR).iterdir()]
    listing = "".join(
        f"{'d' if h.typeflag == b'5' else '-'} {h.name.replace(version, '<version>')}\n"
        for h in headers
        if not h.name.startswith("lib/kedro_krt/") or h.typeflag == b"5"
    )
    golden = Path(__file__).resolve().parents[1] / "golden" / "example" / "archive.txt"
    if os.environ.get("KRT_UPDATE_GOLDEN") == "1":
        golden.write_text(listing, encoding="utf-8")
    assert listing == golden.read_text(encoding="utf-8"), (
        "the archive's entries differ from tests/golden/example/archive.txt; if intended, "
        "rerun with KRT_UPDATE_GOLDEN=1"
    )


def test_an_env_that_held_only_krt_yml_is_still_in_the_krt(
    trained_project: Path, tmp_path: Path
) -> None:
    """conf/<env>/krt.yml is not shipped (KRE would take it for the manifest); the env folder
    must stay, or Kedro refuses to start the nodes in that env."""
    from kedro_krt.formats.archive import extract_krt
    from kedro_krt.node.runtime.node_v1 import KrtNode

    project = copy_example(tmp_path / "project")
    shutil.copytree(trained_project / "data", project / "data", dirs_exist_ok=True)
    (project / "conf" / "single").mkdir()
    (project / "conf" / "single" / "krt.yml").write_text(
        "workflows:\n  - {name: inference, pipeline: inference, grouping: single}\n"
    )
    out = tmp_path / "dist"
    run_cli(["kedro", "krt", "package", "--env", "single", "-o", str(out)], cwd=project)
    (krt,) = out.glob("*.krt")
    names = set(members(krt))
    assert "conf/single/krt.yml" not in names and "conf/single/.kedro-krt-env" in names
    root = extract_krt(krt, tmp_path / "krt")
    (node_dir,) = [p.parent for p in (root / "src").glob("*/plan.json")]
    KrtNode(node_dir).init(None)  # Kedro starts in env 'single'
