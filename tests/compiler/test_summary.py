"""`compile`'s default output, the summary: within 100 columns, each request field once.

The example project's summary is a golden file (tests/compiler/test_example_golden.py); here, a
wider project (tests/fixtures/flights_project, shaped like Kedro's spaceflights starter), a KRT
v2 plan, and names longer than a line.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from kedro_krt.compiler.compile import compile_project
from kedro_krt.compiler.krt_v2 import to_v2
from kedro_krt.compiler.project import KedroProject, open_project
from kedro_krt.compiler.report import SUMMARY_WIDTH, render_report, render_summary
from kedro_krt.node.plan import Plan

FLIGHTS = Path(__file__).resolve().parents[1] / "fixtures" / "flights_project"


@pytest.fixture(scope="module")
def flights(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    project = shutil.copytree(FLIGHTS, tmp_path_factory.mktemp("flights") / "flights_project")
    return compile_project(open_project(project), ["flights"])


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_a_spaceflights_shaped_project_fits_100_columns(flights: Plan) -> None:
    assert _widest(render_report(flights)) > SUMMARY_WIDTH  # the full report does not
    summary = render_summary(flights)
    assert _widest(summary) <= SUMMARY_WIDTH, summary
    assert len(summary.splitlines()) < len(render_report(flights).splitlines())
    request = flights.workflows[0].request
    for field in request.fields:  # each request field once, under Request
        assert sum(line.lstrip().startswith(f"{field.name} ") for line in summary.splitlines()) == 1


def test_a_v2_plan_names_what_each_node_hears(tiny: KedroProject) -> None:
    plan = to_v2(compile_project(tiny, ["alpha"], version="tiny"))
    summary = render_summary(plan)
    assert _widest(summary) <= SUMMARY_WIDTH, summary
    assert "KRT v2; the exitpoint is" in summary
    assert any(line.strip().startswith("from ") for line in summary.splitlines()), summary


def test_names_longer_than_a_line_are_cut_not_overflowing(flights: Plan) -> None:
    w = flights.workflows[0]
    long_nodes = tuple(f"a_namespace_long_enough.node_{i}_{'x' * 40}" for i in range(12))
    node = dataclasses.replace(w.nodes[0], kedro_nodes=long_nodes, writes=("y" * 150,))
    wide = dataclasses.replace(
        flights,
        project_name="p" * 120,
        warnings=("a warning " * 40,),
        workflows=(dataclasses.replace(w, nodes=(node, *w.nodes[1:])),),
    )
    summary = render_summary(wide)
    assert _widest(summary) <= SUMMARY_WIDTH, summary
    assert "y" * 150 in "".join(line.strip() for line in summary.splitlines())  # cut, not lost
