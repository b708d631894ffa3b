"""`call --example` prints a KRT's example request, and `call --help` ends with the example
requests of the .krt in dist/ (the ones package made of the project's sample rows). In-process,
with click's CliRunner, on a KRT made of the example's golden files.

Before: neither existed; a caller had to find the example in /endpoints or in the .krt's
docs/README.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kedro_krt.cli.commands import main
from kedro_krt.formats.archive import write_krt

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "example"
EXAMPLE = GOLDEN / "docs" / "examples" / "Inference.json"


def _krt_folder(dest: Path) -> Path:
    (dest / "docs" / "examples").mkdir(parents=True)
    for name in ("krt.yml", "public_input.proto"):
        shutil.copy(GOLDEN / name, dest / name)
    shutil.copy(EXAMPLE, dest / "docs" / "examples" / "Inference.json")
    return dest


def test_example_prints_the_packaged_example(tmp_path: Path) -> None:
    folder = _krt_folder(tmp_path / "krt")
    result = CliRunner().invoke(main, ["call", "Inference", "--example", "--krt", str(folder)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(EXAMPLE.read_text())
    assert json.loads(result.output)["shuttles"][0]["shuttle_id"] == "SH-90001"


def test_without_a_packaged_example_one_is_made_from_the_types(tmp_path: Path) -> None:
    folder = _krt_folder(tmp_path / "krt")
    (folder / "docs" / "examples" / "Inference.json").unlink()
    result = CliRunner().invoke(main, ["call", "Inference", "--example", "--krt", str(folder)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["shuttles"][0]["engines"] == "1"


def test_help_ends_with_the_examples_of_the_newest_krt_in_dist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _krt_folder(tmp_path / "krt")
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}
    (tmp_path / "dist").mkdir()
    write_krt(files, tmp_path / "dist" / "shuttle-prices.krt")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["call", "--help"])
    assert result.exit_code == 0, result.output
    epilog = result.output.split("Example requests:", 1)[1]
    assert "dist/shuttle-prices.krt" in epilog and '"shuttle_id": "SH-90001"' in epilog
    body = epilog.split("Inference:", 1)[1]
    assert json.loads(body) == json.loads(EXAMPLE.read_text())
    # --example reads the same .krt by default.
    printed = CliRunner().invoke(main, ["call", "Inference", "--example"])
    assert json.loads(printed.output) == json.loads(EXAMPLE.read_text())


def test_help_without_a_krt_says_where_examples_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["call", "--help"])
    assert result.exit_code == 0, result.output
    assert "--example --krt FILE" in result.output and "/endpoints" in result.output


def test_mistakes_are_one_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = _krt_folder(tmp_path / "krt")
    cases = {
        ("call", "Inference", "--example"): "no .krt in dist/",
        ("call", "Nope", "--example", "--krt", str(folder)): "has no rpc 'Nope'; it has: Inference",
        ("call", "Inference", "--example", "--data", "{}"): "without --data or --file",
        ("call", "Inference", "--krt", str(folder)): "add --example",
    }
    for args, says in cases.items():
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 2 and says in result.output, (args, result.output)
        assert "Traceback" not in result.output
