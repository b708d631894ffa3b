"""Malformed requests against the example's ``Inference`` rpc: a seeded generator of many kinds,
and a run that sends them and counts the answers by status code.

Each case says which codes may answer it and what a refusal must name (the field, or the
message type when the bytes do not parse). A malformed request is never INTERNAL: a refusal is
INVALID_ARGUMENT (RESOURCE_EXHAUSTED for a request too large to send on), and the kinds that are
valid protobuf with values the model takes (int64 extremes, an unknown category, NaN for a rating
that may be missing, huge strings) may answer OK.

Used by tests/serve/test_malformed_served.py, and by hand for the figures in the docs::

    python -m tests.serve.malformed --krt dist/shuttle-prices.krt --count 1000 --seed 20 \\
        --threads 4 [--mode in-process|nats|both]

which serves the .krt (``kedro-krt serve``, in-process or ``--nats``), sends the valid sample,
then ``--count`` malformed requests from ``--threads`` threads, then the valid sample again, and
prints the counts by code and kind, every answer that broke a rule, and whether the sample still
answers byte for byte.
"""

from __future__ import annotations

import argparse
import collections
import math
import random
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
from google.protobuf import json_format
from google.protobuf.message import Message

#: The example's sample request rows (what the trained project's sample_shuttles.csv holds).
SAMPLE_CSV = (
    Path(__file__).parents[2] / "example_project" / "data" / "01_raw" / "sample_shuttles.csv"
)
#: The deadline of each call: a call that reaches it "hung".
CALL_DEADLINE_S = 30.0
REFUSED = frozenset({"INVALID_ARGUMENT"})
#: Valid protobuf whose values the model takes: may answer, may be refused; never INTERNAL.
TAKEN = frozenset({"OK", "INVALID_ARGUMENT"})

# The columns of a ShuttlesRow (public_input.proto of the example), by kind.
INT_COLUMNS = ("engines", "passenger_capacity", "crew")
REQUIRED = (
    "shuttle_id", "shuttle_type", "engine_type", "engines", "passenger_capacity", "crew",
    "d_check_complete", "moon_clearance_complete", "iata_approved", "launched_at",
)
#: The largest Timestamp seconds proto3 JSON allows (9999-12-31T23:59:59Z).
MAX_SECONDS = 253402300799


@dataclass(frozen=True)
class Case:
    """One malformed request: its bytes, the codes that may answer it, and the words one of
    which a refusal's details must hold."""

    kind: str
    data: bytes
    codes: frozenset[str]
    names: tuple[str, ...]


# -- protobuf's wire format, by hand (for what a generated class cannot write) --------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


class Requests:
    """Builds requests of the ``Inference`` rpc from the sample rows (proto3 JSON)."""

    def __init__(
        self, request_cls: type[Message], response_cls: type[Message], sample: Mapping[str, Any]
    ) -> None:
        self.request_cls = request_cls
        self.response_cls = response_cls
        self.sample = sample
        row_desc = request_cls.DESCRIPTOR.fields_by_name["shuttles"].message_type
        self.row_fields = row_desc.fields_by_name

    def message(self, body: Mapping[str, Any] | None = None) -> Any:
        body = self.sample if body is None else body
        return json_format.ParseDict(dict(body), self.request_cls())

    def valid(self) -> bytes:
        return bytes(self.message().SerializeToString())

    def with_rows(self, rows: list[bytes], parameters: bytes = b"") -> bytes:
        """A request of raw row bytes (field 1) and raw parameters (field 2)."""
        out = b"".join(length_delimited(1, row) for row in rows)
        return out + (length_delimited(2, parameters) if parameters else b"")

    def rows(self) -> list[bytes]:
        return [bytes(r.SerializeToString()) for r in self.message().shuttles]


def _rows_json(requests: Requests) -> list[dict[str, Any]]:
    return [dict(r) for r in requests.sample["shuttles"]]


def _one_row(requests: Requests, rng: random.Random, **values: Any) -> tuple[bytes, int]:
    """The sample with row ``i`` changed (``values`` set on it); the bytes and ``i``."""
    msg = requests.message()
    i = rng.randrange(len(msg.shuttles))
    for name, value in values.items():
        setattr(msg.shuttles[i], name, value)
    return bytes(msg.SerializeToString()), i


# -- the kinds -------------------------------------------------------------------------------------


def truncated(requests: Requests, rng: random.Random) -> Case:
    # Cut at a row's boundary the rest is a valid, shorter request: it may answer.
    data = requests.valid()
    return Case("truncated", data[: rng.randrange(1, len(data))], TAKEN, ("InferenceRequest",))


def garbage(requests: Requests, rng: random.Random) -> Case:
    data = rng.randbytes(rng.randrange(1, 400))
    return Case("garbage bytes", data, REFUSED, ("InferenceRequest",))


def bit_flips(requests: Requests, rng: random.Random) -> Case:
    data = bytearray(requests.valid())
    for _ in range(rng.randrange(1, 4)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return Case(
        "bit flips", bytes(data), TAKEN, ("InferenceRequest", "row", "shuttles", "markup")
    )


def wrong_wire_type(requests: Requests, rng: random.Random) -> Case:
    """A defined field of a row sent with another wire type (an int64 as a string, ...)."""
    rows = requests.rows()
    i = rng.randrange(len(rows))
    name = rng.choice(["engines", "crew", "company_rating", "shuttle_id", "launched_at"])
    number = requests.row_fields[name].number
    bad = {
        "engines": length_delimited(number, b"two"),
        "crew": tag(number, 1) + bytes(8),
        "company_rating": tag(number, 0) + varint(5),
        "shuttle_id": tag(number, 0) + varint(7),
        "launched_at": tag(number, 5) + bytes(4),
    }[name]
    rows[i] += bad
    return Case("wrong wire type", requests.with_rows(rows), REFUSED, (f"'{name}'",))


def unknown_field(requests: Requests, rng: random.Random) -> Case:
    number = rng.choice([12, 50, 999, 536870911])
    extra = tag(number, 0) + varint(rng.randrange(1 << 20))
    if rng.random() < 0.5:
        rows = requests.rows()
        i = rng.randrange(len(rows))
        rows[i] += extra
        return Case("unknown field", requests.with_rows(rows), REFUSED, (str(number),))
    return Case("unknown field", requests.valid() + extra, REFUSED, (str(number),))


def empty(requests: Requests, rng: random.Random) -> Case:
    only_parameters = requests.message({"parameters": {"output": {"markup": 0.2}}})
    data = b"" if rng.random() < 0.5 else only_parameters.SerializeToString()
    return Case("no rows", bytes(data), REFUSED, ("shuttles",))


def missing_required(requests: Requests, rng: random.Random) -> Case:
    rows = _rows_json(requests)
    i = rng.randrange(len(rows))
    column = rng.choice(REQUIRED)
    rows[i].pop(column, None)
    data = requests.message({"shuttles": rows}).SerializeToString()
    return Case("missing required column", bytes(data), REFUSED, (f"'{column}'",))


def empty_row(requests: Requests, rng: random.Random) -> Case:
    rows = requests.rows()
    rows.insert(rng.randrange(len(rows) + 1), b"")
    return Case("empty row", requests.with_rows(rows), REFUSED, ("row",))


def nan_rating(requests: Requests, rng: random.Random) -> Case:
    # company_rating may be missing (optional): NaN is read as missing, as in the CSV.
    data, _ = _one_row(requests, rng, company_rating=math.nan)
    return Case("NaN rating", data, frozenset({"OK"}), ())


def inf_rating(requests: Requests, rng: random.Random) -> Case:
    data, _ = _one_row(requests, rng, company_rating=rng.choice([math.inf, -math.inf]))
    return Case("infinite rating", data, REFUSED, ("'company_rating'",))


def int64_extremes(requests: Requests, rng: random.Random) -> Case:
    # Valid int64s: what the model makes of them is the model's business.
    column = rng.choice(INT_COLUMNS)
    data, _ = _one_row(requests, rng, **{column: rng.choice([2**63 - 1, -(2**63), 0, -1])})
    return Case("int64 extremes", data, TAKEN, (f"'{column}'",))


def _stamp(requests: Requests, rng: random.Random, seconds: int, nanos: int, kind: str) -> Case:
    msg = requests.message()
    row = msg.shuttles[rng.randrange(len(msg.shuttles))]
    row.launched_at.seconds, row.launched_at.nanos = seconds, nanos
    return Case(kind, bytes(msg.SerializeToString()), REFUSED, ("'launched_at'",))


def timestamp_far(requests: Requests, rng: random.Random) -> Case:
    seconds = rng.choice([MAX_SECONDS + 1, 2**63 - 1, -(2**63), -62135596801])
    return _stamp(requests, rng, seconds, 0, "Timestamp seconds out of range")


def timestamp_negative_nanos(requests: Requests, rng: random.Random) -> Case:
    return _stamp(requests, rng, 1_600_000_000, -rng.randrange(1, 10**9), "Timestamp nanos < 0")


def timestamp_big_nanos(requests: Requests, rng: random.Random) -> Case:
    nanos = rng.choice([10**9, 2**31 - 1])
    return _stamp(requests, rng, 1_600_000_000, nanos, "Timestamp nanos > 999,999,999")


def huge_string(requests: Requests, rng: random.Random) -> Case:
    # A string is a string: taken, or too large to send on (--nats: over 1 MiB after gzip).
    size = rng.choice([10_000, 300_000, 1_500_000])
    text = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=size))
    data, _ = _one_row(requests, rng, shuttle_id=text)
    return Case("huge string", data, frozenset({"OK", "RESOURCE_EXHAUSTED"}), ("KB",))


def invalid_utf8(requests: Requests, rng: random.Random) -> Case:
    rows = requests.rows()
    i = rng.randrange(len(rows))
    rows[i] += length_delimited(requests.row_fields["shuttle_type"].number, b"\xff\xfe\xc3")
    return Case("invalid UTF-8", requests.with_rows(rows), REFUSED, ("InferenceRequest",))


def bad_markup(requests: Requests, rng: random.Random) -> Case:
    markup = rng.choice([-0.5, -1e300, -math.inf, math.inf, math.nan, -1e-9])
    body = {**requests.sample, "parameters": {"output": {"markup": markup}}}
    msg = requests.request_cls()
    msg.CopyFrom(requests.message({"shuttles": body["shuttles"]}))
    msg.parameters.output.markup = markup  # type: ignore[attr-defined]
    return Case("bad markup", bytes(msg.SerializeToString()), REFUSED, ("markup",))


def wrong_parameter_type(requests: Requests, rng: random.Random) -> Case:
    """parameters.model.clip_negative (a bool) sent as a string."""
    model = length_delimited(1, b"yes")
    parameters = length_delimited(1, model)
    return Case(
        "parameter of the wrong type", requests.with_rows(requests.rows(), parameters), REFUSED,
        ("'clip_negative'",),
    )


def another_message(requests: Requests, rng: random.Random) -> Case:
    """A valid message of another type: the response, sent as the request."""
    response = json_format.ParseDict(
        {"quotes": [{"shuttle_id": "SH-1", "price": 4200.5, "currency": "EUR"}]},
        requests.response_cls(),
    )
    data = bytes(response.SerializeToString())
    return Case("another message type", data, REFUSED, ("InferenceRequest",))


def unknown_category(requests: Requests, rng: random.Random) -> Case:
    # Categories the model never saw: its encoder ignores them (the model's business).
    data, _ = _one_row(requests, rng, shuttle_type=rng.choice(["", "Type ZZ", "\u00e9\u00e8"]))
    return Case("unknown category", data, frozenset({"OK"}), ())


KINDS: tuple[Callable[[Requests, random.Random], Case], ...] = (
    truncated, garbage, bit_flips, wrong_wire_type, unknown_field, empty, missing_required,
    empty_row, nan_rating, inf_rating, int64_extremes, timestamp_far, timestamp_negative_nanos,
    timestamp_big_nanos, huge_string, invalid_utf8, bad_markup, wrong_parameter_type,
    another_message, unknown_category,
)


def cases(requests: Requests, count: int, seed: int) -> list[Case]:
    """``count`` cases, every kind in turn, each drawn from one generator seeded by ``seed``."""
    rng = random.Random(seed)
    return [KINDS[i % len(KINDS)](requests, rng) for i in range(count)]


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the server answered, by code and kind, and the answers that broke a rule."""

    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    by_kind: dict[str, collections.Counter[str]] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)


def send(call: Callable[..., bytes], batch: list[Case], threads: int) -> Outcome:
    """Send every case (``threads`` at a time) and check each answer against its case."""
    outcome = Outcome()
    lock = threading.Lock()

    def one(case: Case) -> None:
        try:
            call(case.data, timeout=CALL_DEADLINE_S)
            code, details = "OK", ""
        except grpc.RpcError as exc:
            code, details = exc.code().name, exc.details() or ""
        problem = ""
        if code == "DEADLINE_EXCEEDED":
            problem = "hung"
        elif code not in case.codes:
            problem = f"answered {code}, expected {'/'.join(sorted(case.codes))}"
        elif code != "OK" and case.names and not any(n in details for n in case.names):
            problem = f"{code} without naming any of {case.names}"
        with lock:
            outcome.codes[code] += 1
            outcome.by_kind.setdefault(case.kind, collections.Counter())[code] += 1
            if problem:
                outcome.broken.append(f"{case.kind}: {problem}: {details[:300]}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, batch))
    return outcome


def sample_request() -> dict[str, Any]:
    """The sample rows as a proto3 JSON request (as a caller sends them)."""
    from tests.e2e.e2e_helpers import as_parsed, request_json

    return request_json(as_parsed(pd.read_csv(SAMPLE_CSV)))


def run_mode(krt: Path, mode: str, count: int, seed: int, threads: int) -> bool:
    """Serve ``krt`` in ``mode``, send the batch, print the figures; True when no rule broke."""
    from tests.e2e.e2e_helpers import ReflectedRpc, ServedKrt

    with tempfile.TemporaryDirectory() as folder:
        args = ("--nats",) if mode == "nats" else ()
        server = ServedKrt(krt, Path(folder), *args)
        try:
            server.wait_serving(timeout=300)
            rpc = ReflectedRpc(server.address, "Inference")
            requests = Requests(rpc.request_cls, rpc.response_cls, sample_request())
            before = rpc.call_bytes(requests.valid())
            outcome = send(rpc.call_bytes, cases(requests, count, seed), threads)
            after = rpc.call_bytes(requests.valid())
            rpc.close()
        finally:
            server.stop()
    print(f"{mode}: {count} malformed requests, {len(KINDS)} kinds, seed {seed}, {threads} threads")
    print("  by code:", dict(sorted(outcome.codes.items())))
    for kind, codes in outcome.by_kind.items():
        print(f"    {kind}: {dict(sorted(codes.items()))}")
    print("  rules broken:", len(outcome.broken))
    for line in outcome.broken[:20]:
        print("   ", line)
    print("  valid sample byte-identical after:", before == after)
    return not outcome.broken and before == after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--krt", type=Path, required=True, help="the example's packaged .krt")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--mode", choices=["in-process", "nats", "both"], default="both")
    args = parser.parse_args()
    modes = ["in-process", "nats"] if args.mode == "both" else [args.mode]
    ok = all([run_mode(args.krt, mode, args.count, args.seed, args.threads) for mode in modes])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
