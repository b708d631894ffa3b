"""The packaged example served by `kedro-krt serve`, called over real gRPC, against Kedro itself.

Every reply is compared with what Kedro's SequentialRunner gives for the same rows (parsed as the
catalog's CSVDataset parses them) and the same runtime parameters.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import grpc
import pandas as pd
import pytest
from google.protobuf import json_format, timestamp_pb2

from tests.e2e.e2e_helpers import (
    ReflectedRpc,
    as_parsed,
    assert_same_quotes,
    generated_shuttles,
    kedro_reference,
    quotes_frame,
    request_json,
    rpc_error,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample(trained_project: Path) -> pd.DataFrame:
    """The committed sample request rows, as the catalog loads them."""
    return as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))


@pytest.fixture(scope="module")
def with_null_rating() -> pd.DataFrame:
    """requests/inference.json: two rows, the second without company_rating."""
    body = json.loads((REPO / "example_project" / "requests" / "inference.json").read_text())
    df = pd.DataFrame(body["shuttles"])
    df["launched_at"] = pd.to_datetime(df["launched_at"]).dt.tz_localize(None)
    assert df["company_rating"].isna().sum() == 1
    return as_parsed(df)


def _served(inference: ReflectedRpc, df: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
    return quotes_frame(inference.call(request_json(df, params)))


def test_one_row_equals_kedro(
    inference: ReflectedRpc, sample: pd.DataFrame, trained_project: Path
) -> None:
    one = sample.head(1).reset_index(drop=True)
    served = _served(inference, one)
    assert len(served) == 1
    assert_same_quotes(served, kedro_reference(trained_project, one))


def test_rows_with_a_null_rating_equal_kedro(
    inference: ReflectedRpc, with_null_rating: pd.DataFrame, trained_project: Path
) -> None:
    served = _served(inference, with_null_rating)
    assert_same_quotes(served, kedro_reference(trained_project, with_null_rating))
    # The null rating was filled by the pipeline, not turned into 0.0 on the way: 0.0 would
    # give another price.
    zeroed = with_null_rating.fillna({"company_rating": 0.0})
    assert list(kedro_reference(trained_project, zeroed)["price"]) != list(served["price"])


def test_fifty_generated_rows_equal_kedro(
    inference: ReflectedRpc, trained_project: Path
) -> None:
    rows = generated_shuttles(trained_project, 50, seed=11)
    served = _served(inference, rows)
    assert len(served) == 50
    assert_same_quotes(served, kedro_reference(trained_project, rows))
    assert set(served["price_band"]) >= {"budget", "standard"}


def test_falsy_parameter_overrides_are_values(
    inference: ReflectedRpc, with_null_rating: pd.DataFrame, trained_project: Path
) -> None:
    params = {"output": {"markup": 0.0, "currency": ""}, "model": {"clip_negative": False}}
    served = _served(inference, with_null_rating, params)
    reference = kedro_reference(trained_project, with_null_rating, params)
    assert_same_quotes(served, reference)
    assert list(served["currency"]) == ["", ""]  # not the default "EUR"
    # markup 0.0: the price is the model's prediction rounded, nothing added.
    raw = kedro_reference(trained_project, with_null_rating, {"output": {"markup": 0.1}})
    assert list(served["price"]) != list(raw["price"])


def test_markup_zero_gives_the_rounded_prediction(
    inference: ReflectedRpc, sample: pd.DataFrame, trained_project: Path
) -> None:
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(trained_project)  # puts the project's src/ on sys.path
    from shuttle_prices.features import make_features

    (model_file,) = (trained_project / "data" / "06_models").glob("price_model.pickle/*/*")
    model = pickle.loads(model_file.read_bytes())
    predictions = model.predict(make_features(sample.copy())).clip(0.0)
    served = _served(inference, sample, {"output": {"markup": 0.0}})
    assert list(served["price"]) == [round(float(p), 2) for p in predictions]


def test_clip_negative_false_is_honoured(
    inference: ReflectedRpc, sample: pd.DataFrame, trained_project: Path
) -> None:
    params = {"model": {"clip_negative": False}}
    assert_same_quotes(
        _served(inference, sample, params), kedro_reference(trained_project, sample, params)
    )


def test_no_state_leaks_between_messages(
    inference: ReflectedRpc, sample: pd.DataFrame, trained_project: Path
) -> None:
    overrides = {"output": {"markup": 0.0, "currency": "USD"}, "model": {"clip_negative": False}}
    first = _served(inference, sample, overrides)
    assert set(first["currency"]) == {"USD"}
    second = _served(inference, sample)
    assert_same_quotes(second, kedro_reference(trained_project, sample))
    assert set(second["currency"]) == {"EUR"}
    # Only one parameter overridden: the others are the defaults, not the last message's.
    third = _served(inference, sample, {"output": {"currency": "GBP"}})
    reference = kedro_reference(trained_project, sample, {"output": {"currency": "GBP"}})
    assert_same_quotes(third, reference)


def test_same_request_twice_same_reply(inference: ReflectedRpc, sample: pd.DataFrame) -> None:
    data = inference.request_cls()
    json_format.ParseDict(request_json(sample), data)
    payload = data.SerializeToString()
    assert inference.call_bytes(payload) == inference.call_bytes(payload)


def test_another_message_type_is_invalid_argument(
    inference: ReflectedRpc, sample: pd.DataFrame
) -> None:
    """In both modes: under --nats our runner adds the refusal after KRE's error envelope and the
    front reads it (KRE's own entrypoint skips it and answers INTERNAL with the same text:
    kre-entrypoint 1.8.1, src/kre_entrypoint.py)."""
    reply = inference.call(request_json(sample))  # a valid InferenceResponse
    err = rpc_error(inference, reply.SerializeToString())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert "entrypoint.InferenceRequest" in (err.details() or "")
    assert "another message type" in (err.details() or "")

    err = rpc_error(inference, timestamp_pb2.Timestamp(seconds=5).SerializeToString())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()


def test_missing_required_column_is_a_clear_error(
    inference: ReflectedRpc, sample: pd.DataFrame
) -> None:
    body = request_json(sample)
    del body["shuttles"][1]["launched_at"]
    with pytest.raises(grpc.RpcError) as info:
        inference.call(body)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    details = info.value.details() or ""
    assert "launched_at" in details and "row 1" in details


def test_a_value_the_node_refuses_is_invalid_argument_in_its_words(
    inference: ReflectedRpc, sample: pd.DataFrame
) -> None:
    """make_quotes raises InvalidRequest for a negative markup (the example's way to say "the
    caller's mistake"): INVALID_ARGUMENT with its message, in-process and under --nats."""
    with pytest.raises(grpc.RpcError) as info:
        inference.call(request_json(sample, {"output": {"markup": -0.5}}))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith("output.markup must be a fraction >= 0")
