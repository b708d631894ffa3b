"""InfluxDB line protocol for the runner's ``ctx.measurement`` points, without building an
influxdb-client ``Point`` for each (about 12 us a point to build and serialise; the runner
writes one elapsed-time point per message).

:func:`line` gives the line influxdb-client's ``Point.to_line_protocol`` gives, byte for byte,
for the points the runner makes and most a node makes: a ``str`` measurement, ``str``, ``int``,
``float`` or ``bool`` fields and tags, a ``datetime`` time. For anything else (numpy or Decimal
values, a measurement starting with ``#``, no field left) it answers ``None`` and the caller
uses influxdb-client's ``Point``, so what reaches InfluxDB never differs
(tests/runtime/test_line_protocol.py checks both against influxdb-client).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["line"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# influxdb-client's escapes (client/write/point.py).
_ESCAPE_MEASUREMENT = str.maketrans(
    {",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_ESCAPE_KEY = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_ESCAPE_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})
_DIVISORS = {"us": 1e3, "ms": 1e6, "s": 1e9}
_PLAIN = (str, int, float, bool)


def _timestamp(when: dt.datetime, precision: str) -> int | None:
    """influxdb-client's ``_convert_timestamp`` of a datetime (float division included)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    delta = when.astimezone(dt.timezone.utc) - _EPOCH
    ns = delta.days * 86400 * 10**9 + delta.seconds * 10**9 + delta.microseconds * 1000
    if precision == "ns":
        return ns
    divisor = _DIVISORS.get(precision)
    return None if divisor is None else int(ns / divisor)


def line(
    measurement: Any,
    fields: Mapping[Any, Any],
    tags: Mapping[Any, Any],
    when: Any,
    precision: str,
) -> str | None:
    """The point's line, as influxdb-client writes it; ``None`` where that needs its ``Point``."""
    if type(measurement) is not str or not isinstance(when, dt.datetime):
        return None
    name = measurement.translate(_ESCAPE_MEASUREMENT)
    if name.startswith("#"):  # influxdb-client warns about it: let it
        return None
    try:
        tag_items = sorted(tags.items())
        field_items = sorted(fields.items())
    except TypeError:  # keys that do not sort: influxdb-client says so
        return None
    parts = [name]
    for key, value in tag_items:
        if value is None:
            continue
        if type(key) not in _PLAIN or type(value) not in _PLAIN:
            return None
        tag = str(key).translate(_ESCAPE_KEY)
        text = str(value).translate(_ESCAPE_KEY)
        if text.endswith("\\"):
            text += " "
        if tag and text:
            parts.append(f",{tag}={text}")
    out: list[str] = []
    for key, value in field_items:
        if value is None:
            continue
        kind = type(value)
        if type(key) not in _PLAIN:
            return None
        field = str(key).translate(_ESCAPE_KEY)
        if kind is float:
            if not math.isfinite(value):
                continue
            text = str(value)
            if text.endswith(".0"):
                text = text[:-2]
            out.append(f"{field}={text}")
        elif kind is bool:
            out.append(f"{field}={str(value).lower()}")
        elif kind is int:
            out.append(f"{field}={value}i")
        elif kind is str:
            out.append(f'{field}="{value.translate(_ESCAPE_STRING)}"')
        else:
            return None
    if not out:
        return None
    stamp = _timestamp(when, precision)
    if stamp is None:
        return None
    return f"{''.join(parts)} {','.join(out)} {stamp}"
