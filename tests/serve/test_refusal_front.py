"""The ``--nats`` front of each KRT format tells a node's refusal from its failure by what our
runner adds after the error envelope (envelope_base.with_refusal), and answers the refusal as the
in-process server does: INVALID_ARGUMENT with the node's own words. Without it (KRE's own runners,
or a failure) the error is INTERNAL with KRE's text, as KRE's entrypoints answer it
(kre-entrypoint 1.8.1 and 3.3.6, ``_create_grpc_response``: ``GRPCError(Status.INTERNAL,
error)``)."""

from __future__ import annotations

from typing import Any

import pytest

from kedro_krt.node.runner.envelope_base import refusal_in, with_refusal
from kedro_krt.node.runner.envelope_v1 import KreNatsMessage, decode
from kedro_krt.node.runner.envelope_v2 import ERROR, KreNatsMessageV2, decode_v2
from kedro_krt.serve.errors import NodeError
from kedro_krt.serve.serving_v1 import V1NatsFront
from kedro_krt.serve.serving_v2 import V2NatsFront, V2NodeError

WORDS = "entrypoint.InferenceRequest: row 1, column 'launched_at' is not sent"


def _v1(refusal: str) -> Any:
    error = KreNatsMessage(error=f"error in 'etl': {WORDS}", reply="r1", tracking_id="t")
    return decode(with_refusal(error.SerializeToString(), refusal))


def _v2(refusal: str) -> Any:
    error = KreNatsMessageV2(
        request_id="r1", from_node="exit", message_type=ERROR,
        error="Error in node 'exit' executing handler for node 'etl': upstream failed",
    )
    return decode_v2(with_refusal(error.SerializeToString(), refusal))


def _raised(front: Any, result: Any) -> NodeError:
    with pytest.raises(NodeError) as info:
        front.answered_by(None, None, result)
    return info.value


def test_v1_a_refusal_is_invalid_argument_with_the_node_s_words() -> None:
    front = V1NatsFront(None, {})  # type: ignore[arg-type]
    refused = _raised(front, _v1(WORDS))
    assert refused.invalid_request and refused.node == "etl" and refused.detail == WORDS
    failed = _raised(front, _v1(""))
    assert not failed.invalid_request and str(failed) == f"error in 'etl': {WORDS}"


def test_v2_a_refusal_is_invalid_argument_with_the_refusing_node_s_words() -> None:
    front = V2NatsFront(None, {})  # type: ignore[arg-type]
    refused = _raised(front, _v2(WORDS))
    assert refused.invalid_request and refused.detail == WORDS
    failed = _raised(front, _v2(""))
    assert isinstance(failed, V2NodeError) and not failed.invalid_request
    assert str(failed) == "Error in node 'exit' executing handler for node 'etl': upstream failed"


def test_the_refusal_is_a_field_neither_envelope_declares() -> None:
    """Field 100 after the envelope: each format's KreNatsMessage keeps it as an unknown field,
    its own fields read as before, and an envelope without it has no refusal."""
    v1 = _v1(WORDS)
    assert v1.error == f"error in 'etl': {WORDS}" and v1.reply == "r1"
    assert 100 not in KreNatsMessage.DESCRIPTOR.fields_by_number
    assert 100 not in KreNatsMessageV2.DESCRIPTOR.fields_by_number
    assert refusal_in(v1) == WORDS and refusal_in(_v2(WORDS)) == WORDS
    assert refusal_in(KreNatsMessage(error="x")) == ""
    assert with_refusal(b"abc", "") == b"abc"
