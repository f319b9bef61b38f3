"""The tensor table (TABL section, spec §4): its entries, their parsing and building, and tensor-name rules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..binary import Cursor, varint
from ..errors import LimitError, MetadataError, TruncatedError, UnsupportedFeatureError
from ..limits import Limits
from ..names import name_problem
from .format import FLOAT_DTYPES, MAX_NDIM, NUMPY_DTYPES, TABLE_MIN_ENTRY_BYTES, DType, Encoding, TableEntryHead


@dataclass(frozen=True)
class TableEntry:
    """One row of the tensor table (spec §4)."""

    name: str
    dtype: DType
    encoding: Encoding
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def np_dtype(self) -> np.dtype:
        return NUMPY_DTYPES[self.dtype]




def build_table(entries: list[TableEntry]) -> bytes:
    out = [varint(len(entries))]
    for e in entries:
        raw = e.name.encode("utf-8")
        out += [varint(len(raw)), raw, TableEntryHead.build(dtype=e.dtype, encoding=e.encoding, ndim=len(e.shape))]
        out += [varint(d) for d in e.shape]
    return b"".join(out)


def _enum(cur: Cursor, kind, field: str, code: int, at: int):
    """A u8 enum code; an unknown one is must-understand (spec §4.2)."""
    try:
        return kind(code)
    except ValueError:
        raise cur.error(UnsupportedFeatureError, field, f"unknown {field} code {code}", at=at) from None


def parse_table(cur: Cursor, limits: Limits) -> list[TableEntry]:
    at = cur.offset
    count = cur.varint("tensor_count")
    if count > limits.max_tensors:
        raise cur.error(LimitError, "tensor_count", f"{count} tensors > Limits.max_tensors={limits.max_tensors}", at=at)
    if count * TABLE_MIN_ENTRY_BYTES > cur.remaining:
        raise cur.error(TruncatedError, "tensor_count", f"{count} entries cannot fit in {cur.remaining} bytes", at=at)
    entries: list[TableEntry] = []
    seen: set[str] = set()
    for i in range(count):
        at = cur.offset
        n = cur.varint(f"tensor[{i}].name_len")
        raw = bytes(cur.take(n, f"tensor[{i}].name"))
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise cur.error(MetadataError, f"tensor[{i}].name", "name is not valid UTF-8", at=at) from None
        problem = name_problem(name)
        if problem:
            raise cur.error(MetadataError, f"tensor[{i}].name", f"name {name!r} {problem}", at=at)
        if name in seen:
            raise cur.error(MetadataError, f"tensor[{i}].name", f"duplicate tensor name {name!r}", at=at)
        seen.add(name)
        cur.tensor = name
        head = cur.fields(TableEntryHead)
        dtype = _enum(cur, DType, "dtype", *next(head))
        encoding = _enum(cur, Encoding, "encoding", *(field := next(head)))
        if encoding != Encoding.RAW and dtype not in FLOAT_DTYPES:
            raise cur.error(MetadataError, "encoding", f"{encoding.name} needs a float dtype, got {dtype.name}", at=field[1])
        ndim, at = next(head)
        if ndim > MAX_NDIM:
            raise cur.error(LimitError, "ndim", f"ndim {ndim} > {MAX_NDIM}", at=at)
        shape = []
        numel = 1
        for d in range(ndim):
            at = cur.offset
            dim = cur.varint(f"shape[{d}]")
            numel *= dim  # Python int: never wraps
            if numel > limits.max_tensor_elements:
                raise cur.error(
                    LimitError,
                    f"shape[{d}]",
                    f"element count exceeds Limits.max_tensor_elements={limits.max_tensor_elements}",
                    at=at,
                )
            shape.append(dim)
        cur.tensor = None
        entries.append(TableEntry(name, dtype, encoding, tuple(shape)))
    cur.expect_end("table")
    return entries
