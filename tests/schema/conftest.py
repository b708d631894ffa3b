"""Helpers for the schema tests: render, compile with real protoc, import, build a codec."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from kedro_krt.emit.proto import render_proto
from kedro_krt.emit.protoc import compile_protos, import_generated
from kedro_krt.node.schema.codec import MessageCodec
from kedro_krt.node.schema.types import Field, Message

_counter = itertools.count()


@pytest.fixture
def build(tmp_path: Path) -> Callable[[Sequence[Field]], tuple[Any, MessageCodec]]:
    """Compile a message ``Req`` with these fields and return (its class, a codec for it).

    Every call uses its own proto package and file name: generated modules share protobuf's
    default descriptor pool, which refuses a second definition of the same symbol.
    """

    def _build(fields: Sequence[Field]) -> tuple[Any, MessageCodec]:
        n = next(_counter)
        text = render_proto([Message("Req", tuple(fields))], package=f"krt_test_{n}")
        out = tmp_path / f"gen{n}"
        compile_protos({f"codec_test_{n}.proto": text}, out)
        module = import_generated(out / f"codec_test_{n}_pb2.py")
        return module.Req, MessageCodec(module.Req, fields)

    return _build
