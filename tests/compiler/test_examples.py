"""The example request made of sample rows: values as a caller sends them in proto3 JSON, rows
that the request can carry, and only when the workflow answers them.

Before: there was no such example; every field was made from its type and name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor
from kedro.pipeline import node

from kedro_krt.compiler.compile import _example
from kedro_krt.compiler.datatypes import TypeResolver
from kedro_krt.compiler.examples import example_request, sample_rows
from kedro_krt.compiler.project import KedroProject
from kedro_krt.emit.examples import given_example
from kedro_krt.emit.proto import render_proto
from kedro_krt.emit.protoc import descriptor_set
from kedro_krt.node.schema.infer import infer_type
from kedro_krt.node.schema.types import Field, Message, TypeSpec


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "n": pd.array([3, 4, 5], dtype="int64"),
            "score": [0.25, float("nan"), 1.5],
            "ok": [True, False, True],
            "at": pd.to_datetime(
                ["2021-06-01T00:00:00", "2016-03-14T09:30:00.5", "2024-11-20T16:45:00"],
                format="ISO8601",
            ),
        }
    )


def _request(frame: pd.DataFrame, layout: str = "rows") -> Message:
    spec = infer_type(frame)
    assert spec is not None
    columns = tuple(c if c.optional else replace(c, required=True) for c in spec.columns)
    spec = replace(spec, columns=columns, layout=layout)  # type: ignore[arg-type]
    return Message("PredictRequest", (Field("rows", "ns.rows", spec, 1),))


def test_rows_are_written_as_a_caller_sends_them() -> None:
    frame = _frame()
    request = _request(frame)
    example = example_request(request, {"ns.rows": frame.iloc[:2]})
    assert example == {
        "rows": [
            {"id": "a", "n": "3", "score": 0.25, "ok": True, "at": "2021-06-01T00:00:00Z"},
            # A null in an optional column is left out, as a caller leaves it out.
            {"id": "b", "n": "4", "ok": False, "at": "2016-03-14T09:30:00.500Z"},
        ]
    }
    # It is what protobuf's JSON parser reads and prints back for the generated message.
    (desc,) = _descriptors(request)
    assert given_example(desc, json.dumps(example)) == example


def test_rows_without_a_required_cell_are_not_taken() -> None:
    frame = _frame()
    spec = TypeSpec(
        kind="table",
        columns=tuple(
            replace(c, optional=False, required=True)
            for c in _request(frame).fields[0].type.columns
        ),
        container="dataframe",
    )
    # `score` is declared required (schemas:), yet the second sample row has no score.
    assert list(sample_rows(spec, frame)["id"]) == ["a", "c"]


def test_the_columns_layout_has_one_list_per_column_and_its_validity() -> None:
    frame = _frame()
    request = _request(frame, layout="columns")
    example = example_request(request, {"ns.rows": frame.iloc[:2]})
    assert example is not None
    rows = example["rows"]
    assert rows["id"] == ["a", "b"] and rows["n"] == ["3", "4"]
    assert rows["score"] == [0.25, 0.0] and rows["score_valid"] == [True, False]
    (desc,) = _descriptors(request)
    assert given_example(desc, json.dumps(example)) == example


def _descriptors(request: Message) -> list[Descriptor]:
    text = render_proto([request])
    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_set({"public_input.proto": text}).file:
        pool.Add(f)
    return [pool.FindMessageTypeByName("entrypoint.PredictRequest")]


def _double(rows: pd.DataFrame) -> pd.DataFrame:
    if len(rows) < 3:
        raise ValueError("needs three rows")
    return rows


def test_no_example_of_rows_the_workflow_does_not_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frame = _frame()
    request = _request(frame)

    def resolver(func: object) -> TypeResolver:
        return TypeResolver(
            schemas={},
            samples={},
            project_path=Path("."),
            load_from_catalog=lambda name: (True, frame, "catalog"),
            nodes=[node(func, "ns.rows", "ns.out", name="model")],
            request=["ns.rows"],
            preloaded={},
        )

    # The node answers the two example rows: they are the example.
    warnings: list[str] = []
    answered = json.loads(_example(request, ["ns.rows"], resolver(lambda rows: rows), warnings))
    assert [r["id"] for r in answered["rows"]] == ["a", "b"] and warnings == []
    # It fails on them (a model that needs more rows): no example, the emitter makes one from
    # the types, rather than show one that does not answer; a warning says what to do.
    with caplog.at_level(logging.DEBUG):
        assert _example(request, ["ns.rows"], resolver(_double), warnings) == ""
    # Kedro's own ERROR line for the failed node is not shown: the warning says it all.
    assert not [r for r in caplog.records if r.name == "kedro.pipeline.node"]
    (warning,) = warnings
    assert "the first 2 rows of 'ns.rows' do not answer (node 'model' fails on them: " in warning
    assert "ValueError: needs three rows" in warning and "`samples:`" in warning


def test_the_readme_says_where_its_example_comes_from(tiny: KedroProject) -> None:
    from kedro_krt.compiler.compile import compile_project
    from kedro_krt.compiler.config import parse_config
    from kedro_krt.emit.files import docs_readme, example_files

    config = parse_config({"workflows": [{"name": "alpha"}]})
    plan = compile_project(replace(tiny, config=config), version="tiny")
    (workflow,) = plan.workflows
    assert json.loads(workflow.example)["rows"][0] == {"name": "x", "value": 1.5}
    assert "Made of the project's sample rows" in docs_readme(plan)
    # The .krt keeps the same example as a file to send.
    files = example_files(plan)
    assert json.loads(files[f"docs/examples/{workflow.rpc}.json"])["rows"][0]["name"] == "x"
    # Without sample rows that answer, the README says the values are made up.
    made_up = replace(plan, workflows=(replace(workflow, example=""),))
    readme = docs_readme(made_up)
    assert "Made from the field types (no sample rows that answer)" in readme
    assert '"name": "name"' in readme
