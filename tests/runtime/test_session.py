"""`KrtSession`: the inference pipeline in-process, loaded once, run many times, against Kedro."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kedro_krt.node.runtime import InvalidRequest, KrtSession
from tests.e2e.e2e_helpers import as_parsed, generated_shuttles, kedro_reference


@pytest.fixture(scope="module")
def session(trained_project: Path) -> KrtSession:
    return KrtSession(trained_project, pipeline="inference")


@pytest.fixture(scope="module")
def shuttles(trained_project: Path) -> pd.DataFrame:
    sample = as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))
    generated = generated_shuttles(trained_project, 20, seed=3)
    return pd.concat([sample, generated], ignore_index=True)


def test_roles(session: KrtSession) -> None:
    assert session.inputs == ("etl.shuttles",)
    assert session.outputs == ("output.quotes",)
    assert set(session.parameters) == {
        "params:model.clip_negative", "params:output.currency", "params:output.markup",
    }
    assert "price_model" in session.artifacts


def test_run_equals_kedro(
    session: KrtSession, shuttles: pd.DataFrame, trained_project: Path
) -> None:
    quotes = session.run(inputs={"etl.shuttles": shuttles})["output.quotes"]
    pd.testing.assert_frame_equal(quotes, kedro_reference(trained_project, shuttles))


@pytest.mark.parametrize(
    "parameters, runtime_params, changes",
    [
        ({"output.markup": 0.0}, {"output": {"markup": 0.0}}, True),
        # No negative prediction in these rows: see the test below for the effect.
        ({"model.clip_negative": False}, {"model": {"clip_negative": False}}, False),
        ({"params:output.currency": ""}, {"output": {"currency": ""}}, True),
    ],
)
def test_falsy_parameters_are_honoured(
    session: KrtSession, shuttles: pd.DataFrame, trained_project: Path,
    parameters: dict, runtime_params: dict, changes: bool,
) -> None:
    quotes = session.run({"etl.shuttles": shuttles}, parameters)["output.quotes"]
    expected = kedro_reference(trained_project, shuttles, runtime_params)
    pd.testing.assert_frame_equal(quotes, expected)
    default = session.run({"etl.shuttles": shuttles})["output.quotes"]
    assert quotes.equals(default) is not changes, "the override changed nothing: ignored?"


def test_clip_negative_false_lets_negative_predictions_through(
    session: KrtSession, shuttles: pd.DataFrame
) -> None:
    # A shuttle far outside the training data: the linear model predicts below zero.
    cheap = shuttles.head(1).assign(
        engines=0, passenger_capacity=0, crew=0, company_rating=0.0,
        launched_at=pd.Timestamp("1900-01-01"),
    )
    clipped = session.run({"etl.shuttles": cheap})["output.quotes"]["price"].iloc[0]
    raw = session.run({"etl.shuttles": cheap}, {"model.clip_negative": False})["output.quotes"]
    assert clipped == 0.0
    assert raw["price"].iloc[0] < 0.0


def test_unknown_input_is_named(session: KrtSession, shuttles: pd.DataFrame) -> None:
    with pytest.raises(InvalidRequest, match=r"unknown etl\.shuttle") as info:
        session.run({"etl.shuttle": shuttles})
    assert "missing etl.shuttles" in str(info.value)


def test_unknown_parameter_is_named(session: KrtSession, shuttles: pd.DataFrame) -> None:
    with pytest.raises(InvalidRequest, match=r"'output\.mark_up'.*params:output\.markup"):
        session.run({"etl.shuttles": shuttles}, {"output.mark_up": 0.0})
    # A global parameter is an artifact: fixed, not per run.
    with pytest.raises(InvalidRequest, match="'price_bands'"):
        session.run({"etl.shuttles": shuttles}, {"price_bands": {"budget": 0, "premium": 1}})


def test_many_runs_do_not_leak_state(session: KrtSession, shuttles: pd.DataFrame) -> None:
    given = shuttles.copy()
    baseline = session.run({"etl.shuttles": given})["output.quotes"]
    for i in range(30):
        params = {"output.markup": 0.0, "output.currency": f"X{i}"} if i % 2 else None
        session.run({"etl.shuttles": given}, params)
    again = session.run({"etl.shuttles": given})["output.quotes"]
    pd.testing.assert_frame_equal(again, baseline)
    pd.testing.assert_frame_equal(given, shuttles)  # the caller's frame is untouched
    assert session._shared["params:output.markup"] == 0.1


def test_roles_and_rules_are_the_compilers(session: KrtSession, trained_project: Path) -> None:
    """The library and the packaged nodes decide with the same rules and catalog facts: every
    dataset the session sees gets the role and the rule text `kedro krt compile` reports."""
    from kedro_krt.compiler.compile import compile_project
    from kedro_krt.compiler.project import open_project

    plan = compile_project(open_project(trained_project), ["inference"])
    (workflow,) = plan.workflows
    compiled = {
        d.name: (d.role, d.rule)
        for d in workflow.datasets
        if d.role not in ("carried", "intermediate")  # between KRT nodes: no session has them
    }
    seen = {d: x for d, x in session.decisions.items() if x[0] != "intermediate"}
    assert seen == compiled
    report = session.report()
    for name, (_, rule) in compiled.items():
        assert name in report and rule in report
