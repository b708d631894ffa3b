"""Vectorised protobuf wire encoding of table rows (numpy), for the codec's encode path.

Setting 12 fields on 100,000 upb row messages from Python costs ~1.2 million attribute writes.
Instead, every column is turned into its wire bytes with numpy in a few array operations, the rows
are laid out in one buffer, and the parent message parses that buffer with ``MergeFromString``
(C speed). Only the encodings a table needs are here: varint (int64, bool, lengths), fixed 64-bit
(double), length-delimited (string, bytes, google.protobuf.Timestamp).

The bytes are what any protobuf encoder would produce for the same values, except that zero
values of non-optional fields are written explicitly (valid proto3; parsers read them the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ColumnWire",
    "encode_rows",
    "length_delimited",
    "packed_doubles",
    "packed_varints",
    "repeated_bytes",
    "tag_bytes",
    "varint_bytes",
]

_WT_VARINT, _WT_I64, _WT_LEN = 0, 1, 2
_U64 = np.uint64


def varint_bytes(value: int) -> bytes:
    """The varint encoding of a non-negative int (for tags and constants)."""
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag_bytes(number: int, wire_type: int) -> bytes:
    """The key of a field: ``(number << 3) | wire_type`` as a varint."""
    return varint_bytes((number << 3) | wire_type)


def _varint_matrix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-value varint lengths and an (n, width) byte matrix (negative int64 -> 10 bytes)."""
    u = values.astype(np.int64, copy=False).view(_U64)
    lens = np.ones(len(u), dtype=np.int64)
    for k in range(1, 10):
        lens += (u >> _U64(7 * k)) != 0
    width = int(lens.max()) if len(lens) else 1
    mat = np.empty((len(u), width), dtype=np.uint8)
    for j in range(width):
        byte = ((u >> _U64(7 * j)) & _U64(0x7F)).astype(np.uint8)
        if j < width - 1:
            byte |= np.where(lens - 1 > j, 0x80, 0).astype(np.uint8)
        mat[:, j] = byte
    return lens, mat


@dataclass
class _Piece:
    lens: np.ndarray  # bytes per present row
    kind: str  # "const" | "matrix" | "raw"
    data: Any  # const: bytes; matrix: (n, w) uint8; raw: uint8 array
    offsets: np.ndarray | None = None  # raw: (n + 1) offsets into data


@dataclass
class ColumnWire:
    """The wire pieces of one column for the rows where it is present (``mask``)."""

    mask: np.ndarray | None  # None: present in every row
    pieces: list[_Piece]

    @staticmethod
    def _const(n: int, data: bytes) -> _Piece:
        return _Piece(np.full(n, len(data), dtype=np.int64), "const", data)

    @classmethod
    def double(cls, number: int, values: np.ndarray, mask: np.ndarray | None) -> ColumnWire:
        """A ``double`` field: key + 8 little-endian bytes."""
        present = values if mask is None else values[mask]
        mat = np.ascontiguousarray(present, dtype="<f8").view(np.uint8).reshape(-1, 8)
        n = len(present)
        return cls(
            mask,
            [
                cls._const(n, tag_bytes(number, _WT_I64)),
                _Piece(np.full(n, 8, dtype=np.int64), "matrix", mat),
            ],
        )

    @classmethod
    def varint(cls, number: int, values: np.ndarray, mask: np.ndarray | None) -> ColumnWire:
        """An ``int64`` / ``bool`` field: key + varint."""
        present = values if mask is None else values[mask]
        lens, mat = _varint_matrix(present)
        return cls(
            mask,
            [cls._const(len(present), tag_bytes(number, _WT_VARINT)), _Piece(lens, "matrix", mat)],
        )

    @classmethod
    def raw(
        cls, number: int, data: np.ndarray, offsets: np.ndarray, mask: np.ndarray | None
    ) -> ColumnWire:
        """A ``string`` / ``bytes`` field: key + varint length + bytes (``offsets`` per row)."""
        sizes = np.diff(offsets).astype(np.int64)
        lens, mat = _varint_matrix(sizes)
        return cls(
            mask,
            [
                cls._const(len(sizes), tag_bytes(number, _WT_LEN)),
                _Piece(lens, "matrix", mat),
                _Piece(sizes, "raw", data, offsets.astype(np.int64)),
            ],
        )

    @classmethod
    def timestamp(
        cls, number: int, seconds: np.ndarray, nanos: np.ndarray, mask: np.ndarray | None
    ) -> ColumnWire:
        """A ``google.protobuf.Timestamp`` field: key + length + {1: seconds, 2: nanos}."""
        secs = seconds if mask is None else seconds[mask]
        nns = nanos if mask is None else nanos[mask]
        n = len(secs)
        s_lens, s_mat = _varint_matrix(secs)
        n_lens, n_mat = _varint_matrix(nns)
        sub_lens, sub_mat = _varint_matrix(s_lens + n_lens + 2)
        return cls(
            mask,
            [
                cls._const(n, tag_bytes(number, _WT_LEN)),
                _Piece(sub_lens, "matrix", sub_mat),
                cls._const(n, tag_bytes(1, _WT_VARINT)),
                _Piece(s_lens, "matrix", s_mat),
                cls._const(n, tag_bytes(2, _WT_VARINT)),
                _Piece(n_lens, "matrix", n_mat),
            ],
        )


def _write(buf: np.ndarray, starts: np.ndarray, piece: _Piece) -> None:
    if not len(starts):
        return
    if piece.kind == "const":
        const = np.frombuffer(piece.data, dtype=np.uint8)
        buf[starts[:, None] + np.arange(len(const))] = const
    elif piece.kind == "matrix":
        mat = piece.data
        width = mat.shape[1]
        pos = starts[:, None] + np.arange(width)
        if bool((piece.lens == width).all()):
            buf[pos] = mat
        else:
            keep = np.arange(width) < piece.lens[:, None]
            buf[pos[keep]] = mat[keep]
    else:
        offsets = piece.offsets
        assert offsets is not None
        first, last = int(offsets[0]), int(offsets[-1])
        if last == first:
            return
        dest = np.repeat(starts - offsets[:-1], piece.lens) + np.arange(first, last)
        buf[dest] = piece.data[first:last]


def encode_rows(field_number: int, n_rows: int, columns: Sequence[ColumnWire]) -> bytes:
    """Bytes of ``n_rows`` occurrences of the repeated message field ``field_number``."""
    row_len = np.zeros(n_rows, dtype=np.int64)
    cell_lens: list[np.ndarray] = []
    for col in columns:
        n_present = n_rows if col.mask is None else int(col.mask.sum())
        present_len = np.zeros(n_present, dtype=np.int64)
        for p in col.pieces:
            present_len += p.lens
        if col.mask is None:
            full = present_len
        else:
            full = np.zeros(n_rows, dtype=np.int64)
            full[col.mask] = present_len
        cell_lens.append(full)
        row_len += full
    tag = tag_bytes(field_number, _WT_LEN)
    len_lens, len_mat = _varint_matrix(row_len)
    total = len(tag) + len_lens + row_len
    starts = np.zeros(n_rows, dtype=np.int64)
    if n_rows:
        np.cumsum(total[:-1], out=starts[1:])
    buf = np.empty(int(total.sum()), dtype=np.uint8)
    _write(buf, starts, ColumnWire._const(n_rows, tag))
    cursor = starts + len(tag)
    _write(buf, cursor, _Piece(len_lens, "matrix", len_mat))
    cursor = cursor + len_lens
    for col, full in zip(columns, cell_lens, strict=True):
        at = cursor if col.mask is None else cursor[col.mask]
        for piece in col.pieces:
            _write(buf, at, piece)
            at = at + piece.lens
        cursor = cursor + full
    return buf.tobytes()


# --- the columns layout: one repeated field per column -----------------------------------------


def length_delimited(number: int, body: bytes) -> bytes:
    """Field ``number`` holding ``body`` (a message, or a packed repeated field)."""
    return tag_bytes(number, _WT_LEN) + varint_bytes(len(body)) + body


def packed_doubles(number: int, values: np.ndarray) -> bytes:
    """A packed ``repeated double``: 8 little-endian bytes per value (nothing when empty)."""
    if not len(values):
        return b""
    return length_delimited(number, np.ascontiguousarray(values, dtype="<f8").tobytes())


def packed_varints(number: int, values: np.ndarray) -> bytes:
    """A packed ``repeated int64`` / ``repeated bool`` (nothing when empty)."""
    if not len(values):
        return b""
    if values.dtype == np.bool_:
        return length_delimited(number, values.astype(np.uint8).tobytes())
    lens, mat = _varint_matrix(values)
    if mat.shape[1] == 1:
        return length_delimited(number, mat.tobytes())
    keep = np.arange(mat.shape[1]) < lens[:, None]
    return length_delimited(number, mat[keep].tobytes())


def repeated_bytes(number: int, data: np.ndarray, offsets: np.ndarray) -> bytes:
    """A ``repeated string`` / ``repeated bytes``: key + length + bytes per element.

    ``offsets`` (n + 1) delimit each element in ``data``. Not packed (proto3 packs only scalars
    of fixed or varint width): each element is the same key, length and bytes as a row.
    """
    n = len(offsets) - 1
    if n <= 0:
        return b""
    sizes = np.diff(offsets).astype(np.int64)
    piece = _Piece(sizes, "raw", data, offsets.astype(np.int64))
    return encode_rows(number, n, [ColumnWire(None, [piece])])
