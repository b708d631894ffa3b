"""`layout:` in krt.yml: a table dataset travels as rows (default) or as columns.

The generated protos of a columns dataset are golden files (tests/golden/columns/); regenerate
them after an intended change with `KRT_UPDATE_GOLDEN=1 pytest tests/compiler/test_layout.py`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from kedro_krt.compiler.compile import compile_project
from kedro_krt.compiler.config import ConfigError, parse_config
from kedro_krt.compiler.project import KedroProject
from kedro_krt.emit.files import docs_readme, node_plans, protos
from kedro_krt.node.analysis import CompileError
from kedro_krt.node.plan import NodeRuntimePlan

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "columns"
UPDATE = os.environ.get("KRT_UPDATE_GOLDEN") == "1"


def _compile(tiny: KedroProject, layout: dict[str, str]) -> object:
    config = parse_config({"workflows": [{"name": "alpha"}], "layout": layout})
    return compile_project(dataclasses.replace(tiny, config=config), version="tiny")


def test_columns_layout_flows_into_protos_plan_and_docs(tiny: KedroProject) -> None:
    plan = _compile(tiny, {"prep.rows": "columns", "prep.scaled": "columns"})
    texts = protos(plan)  # type: ignore[arg-type]
    for name, text in texts.items():
        golden = GOLDEN / name
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert text == golden.read_text(encoding="utf-8"), f"{name} differs from {golden}"
    assert '  RowsColumns rows = 1;  // "prep.rows"' in texts["public_input.proto"]
    # Plans that use the columns layout are format 2; a format-1 runtime refuses them.
    node_plan = node_plans(plan)["prep"]  # type: ignore[arg-type]
    data = json.loads(node_plan.dumps())
    assert data["format"] == 2
    rows_field = next(f for f in data["input"]["fields"] if f["original"] == "prep.rows")
    assert rows_field["type"]["layout"] == "columns"
    assert NodeRuntimePlan.loads(node_plan.dumps()).input == node_plan.input
    # docs/README.md of the .krt: the column fields, and the example request as columns.
    readme = docs_readme(plan)  # type: ignore[arg-type]
    assert "| `rows` | RowsColumns (2 columns) | `prep.rows` |" in readme
    assert "|   `rows.value` | repeated double | column `value` |" in readme
    # Made of the sample rows, one list per column.
    example = readme.split("### Example request", 1)[1].split("```json\n", 1)[1]
    assert json.loads(example.split("```", 1)[0]) == {
        "rows": {"name": ["x", "y"], "value": [1.5, 2.5]}
    }


def test_rows_stay_the_default_and_keep_plan_format_1(tiny: KedroProject) -> None:
    plan = _compile(tiny, {})
    assert "repeated RowsRow rows = 1;" in protos(plan)["public_input.proto"]  # type: ignore[arg-type]
    assert json.loads(node_plans(plan)["prep"].dumps())["format"] == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("layout", "match"),
    [
        (
            {"prep.rowz": "columns"},
            r"no compiled workflow has a dataset 'prep.rowz'; did you mean 'prep.rows'",
        ),
        (
            {"params:prep.factor": "columns"},
            r"'params:prep.factor' is a per-message parameter that no message carries",
        ),
    ],
)
def test_unknown_or_non_table_dataset_is_a_clear_error(
    tiny: KedroProject, layout: dict[str, str], match: str
) -> None:
    with pytest.raises(CompileError, match=match):
        _compile(tiny, layout)


def test_unknown_layout_value_is_a_clear_error() -> None:
    with pytest.raises(
        ConfigError, match=r"'layout.prep.rows' is 'cols'; expected one of rows, columns"
    ):
        parse_config({"layout": {"prep.rows": "cols"}})
