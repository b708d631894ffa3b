"""validate reads the compiled plan of each node: a plan.json this kedro-krt cannot read is
said, with the direction right (issue 21: serve called a newer KRT "older")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kedro_krt.formats.archive import write_krt
from kedro_krt.formats.validate import format_report, validate_path
from kedro_krt.node.plan import PLAN_FORMATS
from tests.krt.krt_helpers import good_files


def _krt(tmp_path: Path, plan: bytes | None) -> Path:
    files = good_files()
    if plan is not None:
        files["src/etl/plan.json"] = plan
    return write_krt(files, tmp_path / "x.krt")


def _plan(**fields: object) -> bytes:
    return json.dumps({"node": {"name": "etl"}, **fields}).encode()


@pytest.mark.parametrize("fmt", PLAN_FORMATS)
def test_a_plan_this_kedro_krt_reads_is_not_mentioned(tmp_path: Path, fmt: int) -> None:
    report = validate_path(_krt(tmp_path, _plan(format=fmt)))
    assert report.problems == (), format_report(report)


def test_a_newer_plan_says_upgrade(tmp_path: Path) -> None:
    report = validate_path(_krt(tmp_path, _plan(format=max(PLAN_FORMATS) + 1)))
    assert report.ok  # KRE runs it with the KRT's own lib/
    (problem,) = report.problems
    assert problem.rule == "krt.plan-format" and problem.severity == "warning"
    assert problem.location == "src/etl/plan.json"
    assert "written by a newer kedro-krt" in problem.message
    assert "upgrade kedro-krt" in problem.message
    assert "older" not in problem.message
    assert "`kedro-krt serve` in process refuses it" in problem.message


@pytest.mark.parametrize("fields", [{}, {"format": min(PLAN_FORMATS) - 1}])
def test_an_older_plan_says_package_again(tmp_path: Path, fields: dict[str, object]) -> None:
    report = validate_path(_krt(tmp_path, _plan(**fields)))
    (problem,) = report.problems
    assert problem.rule == "krt.plan-format"
    assert "written by an older kedro-krt" in problem.message
    assert "package the KRT again with this kedro-krt" in problem.message
    assert "newer" not in problem.message and "upgrade" not in problem.message


def test_a_plan_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    report = validate_path(_krt(tmp_path, b"{not json"))
    assert not report.ok
    assert report.errors[0].rule == "krt.plan-format"


def test_a_users_own_plan_json_is_left_alone(tmp_path: Path) -> None:
    report = validate_path(_krt(tmp_path, b'{"steps": [1, 2]}'))
    assert report.problems == ()
