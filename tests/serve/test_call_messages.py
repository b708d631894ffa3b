"""What `call` says about request JSON that does not fit the request message: the field names as
the proto has them (snake_case) with the closest one, the path to the field, and one period.

Before: protobuf's own text, e.g. ``... has no field named "shuttle_idd" at
"InferenceRequest.shuttles[0]".\\n Available Fields(except extensions): "['shuttleId', ...]"``
(JSON camelCase names), and ``invalid literal for int() with base 10: 'x'..``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor

from kedro_krt.emit.protoc import descriptor_set
from kedro_krt.serve.client import request_data_problem

PROTO = Path(__file__).resolve().parents[1] / "golden" / "example" / "public_input.proto"


@pytest.fixture(scope="module")
def request_desc() -> Descriptor:
    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_set({"public_input.proto": PROTO.read_text()}).file:
        pool.Add(f)
    return pool.FindMessageTypeByName("entrypoint.InferenceRequest")


def _problem(request_desc: Descriptor, data: str) -> str:
    with pytest.raises(json_format.ParseError) as info:
        json_format.Parse(data, message_factory.GetMessageClass(request_desc)())
    return request_data_problem("Inference", request_desc, str(info.value))


COLUMNS = (
    "shuttle_id, shuttle_type, engine_type, engines, passenger_capacity, crew, d_check_complete, "
    "moon_clearance_complete, iata_approved, company_rating, launched_at"
)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            '{"shutles": []}',
            "the data for Inference has no field 'shutles'; did you mean 'shuttles'? "
            "(entrypoint.InferenceRequest has: shuttles, parameters)",
        ),
        (
            '{"shuttles": [{}, {"companyrating": 0.5}]}',
            "the data for Inference has no field 'companyrating' in shuttles[1]; did you mean "
            f"'company_rating'? (entrypoint.InferenceRequest.ShuttlesRow has: {COLUMNS})",
        ),
        (
            '{"parameters": {"model": {"clip_negatve": true}}}',
            "the data for Inference has no field 'clip_negatve' in parameters.model; did you "
            "mean 'clip_negative'? (entrypoint.InferenceRequest.Parameters.Model has: "
            "clip_negative)",
        ),
        (
            '{"zzz": 1}',
            "the data for Inference has no field 'zzz' "
            "(entrypoint.InferenceRequest has: shuttles, parameters)",
        ),
        (
            '{"shuttles": [{"engines": "x"}]}',
            "the data for Inference is not a valid entrypoint.InferenceRequest at "
            "shuttles.engines: invalid literal for int() with base 10: 'x'",
        ),
        (
            '{"shuttles": [{"shuttle_id": "x",}]}',
            "the data for Inference is not JSON: Expecting property name enclosed in double "
            "quotes: line 1 column 34 (char 33)",
        ),
    ],
)
def test_a_request_that_does_not_fit_is_named_in_proto_names(
    request_desc: Descriptor, data: str, says: str
) -> None:
    text = _problem(request_desc, data)
    assert text == says
    assert ".." not in text and "Available Fields" not in text
