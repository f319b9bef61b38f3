"""A lazy, validating safetensors reader and a deterministic streaming writer.

Written here rather than taken from the ``safetensors`` package so that the
checks are ours and visible (BAD_INPUTS B1): the u64 header length is capped
before anything is read, the JSON header rejects duplicate keys (the
parser-differential attack), every tensor's byte range must match its dtype and
shape, and the ranges must tile the data buffer exactly (no holes, no
overlaps, no trailing bytes: no polyglots). Tensors are read one at a time, so
packing a model needs memory for its largest tensor, not for the model.

BF16 (which dcformat does not store) is widened to float32 exactly on import.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping, Sequence

import numpy as np

from ..errors import (
    FormatError,
    LayoutError,
    LimitError,
    MetadataError,
    TrailingDataError,
    TruncatedError,
    UnsupportedFeatureError,
)
from .. import safejson
from ..atomic import atomic_output

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's MAX_HEADER_SIZE
MAX_RANK = 64
_READ_CHUNK = 1 << 24

# safetensors dtype name -> little-endian NumPy dtype. BF16 has no NumPy dtype:
# it is read as raw uint16 and widened (see _bf16_to_f32).
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}
_NAMES_BY_DTYPE = {dt: name for name, dt in DTYPES.items() if name != "BF16"}
# The reference writer orders tensors by its Dtype enum, descending, then by
# name; reproducing that makes our files byte-identical to its output.
_DTYPE_RANK = {n: i for i, n in enumerate(["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"])}


@dataclass(frozen=True)
class Entry:
    """One header entry: where a tensor's bytes are and how to read them."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def parse_header(raw: bytes, buffer_len: int) -> tuple[list[Entry], dict[str, str]]:
    """Validate a header's JSON against a data buffer of ``buffer_len`` bytes."""
    if not raw.startswith(b"{"):
        raise MetadataError("safetensors header must start with '{'", offset=8)
    # Strict JSON (duplicate keys, NaN/Infinity, huge numbers, deep nesting rejected): the reference safetensors
    # parser keeps the last of duplicate keys, so two readers could see different tensors.
    doc = safejson.loads(raw, error=MetadataError, max_bytes=len(raw), max_nesting=64, field="header", offset=8)
    if not isinstance(doc, dict):
        raise MetadataError("safetensors header must be a JSON object")
    metadata = doc.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise MetadataError("safetensors __metadata__ must map strings to strings")
    entries = [_entry(name, info) for name, info in doc.items()]
    running = 0
    for e in sorted(entries, key=lambda e: (e.begin, e.end)):
        if e.begin != running:
            kind = "overlaps the previous tensor" if e.begin < running else "leaves a hole before it"
            raise LayoutError(f"data_offsets [{e.begin}, {e.end}] {kind} (expected start {running})", tensor=e.name)
        running = e.end
    if running != buffer_len:
        if running > buffer_len:
            raise TruncatedError(f"tensors need {running} data bytes but the file holds {buffer_len}")
        raise TrailingDataError(f"{buffer_len - running} data bytes are not covered by any tensor")
    return entries, metadata


def _entry(name: str, info: Any) -> Entry:
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise MetadataError("entry must have exactly the keys dtype, shape, data_offsets", tensor=name)
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str):
        raise MetadataError("dtype must be a string", tensor=name)
    if dtype not in DTYPES:
        raise UnsupportedFeatureError(f"dtype {dtype!r} is not supported (known: {', '.join(DTYPES)})", tensor=name)
    if not isinstance(shape, list) or len(shape) > MAX_RANK:
        raise MetadataError(f"shape must be a list of at most {MAX_RANK} dimensions", tensor=name)
    if not all(type(d) is int and d >= 0 for d in shape):
        raise MetadataError(f"shape {shape!r} must hold non-negative integers", tensor=name)
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)):
        raise MetadataError("data_offsets must be two non-negative integers", tensor=name)
    begin, end = offsets
    numel = 1
    for d in shape:  # Python ints: no silent wrap-around (BAD_INPUTS B2)
        numel *= d
    nbytes = numel * DTYPES[dtype].itemsize
    if end < begin or end - begin != nbytes:
        raise LayoutError(
            f"data_offsets [{begin}, {end}] hold {end - begin} bytes but {dtype}{shape} needs {nbytes}", tensor=name
        )
    return Entry(name, dtype, tuple(shape), begin, end)


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32, so widening is an exact shift."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


class SafetensorsReader:
    """Lazy reader: ``keys()``, ``tensor(name)``, ``entry(name)``, ``metadata``; a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._f: BinaryIO = open(self.path, "rb")
        try:
            size = os.fstat(self._f.fileno()).st_size
            if size < 8:
                raise TruncatedError(f"file has {size} bytes; a safetensors file starts with an 8-byte header length")
            (n,) = struct.unpack("<Q", self._f.read(8))
            if n > MAX_HEADER_BYTES:
                raise LimitError(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte cap", offset=0)
            if 8 + n > size:
                raise TruncatedError(f"header length {n} runs past the end of the {size}-byte file", offset=0)
            raw = self._f.read(n)
            if len(raw) != n:
                raise TruncatedError("file shrank while reading the header", offset=8)
            entries, self.metadata = parse_header(raw, size - 8 - n)
        except BaseException:
            self._f.close()
            raise
        self._data_start = 8 + n
        self._entries = {e.name: e for e in sorted(entries, key=lambda e: (e.begin, e.end, e.name))}

    def keys(self) -> list[str]:
        """Tensor names in storage order (deterministic for a given file)."""
        return list(self._entries)

    def entry(self, name: str) -> Entry:
        return self._entries[name]

    def spec(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and the dtype ``tensor(name)`` will return (BF16 reads as float32)."""
        e = self._entries[name]
        return e.shape, np.dtype(np.float32) if e.dtype == "BF16" else DTYPES[e.dtype].newbyteorder("=")

    def tensor(self, name: str) -> np.ndarray:
        """Read one tensor (BF16 widened to float32), independent of the others."""
        e = self._entries[name]
        raw_dtype = DTYPES[e.dtype]
        flat = np.empty(e.end - e.begin, dtype=np.uint8)
        self._f.seek(self._data_start + e.begin)
        view = memoryview(flat)
        got = 0
        while got < len(flat):
            n = self._f.readinto(view[got : got + _READ_CHUNK])
            if not n:
                raise TruncatedError("file ended while reading tensor data", tensor=name,
                                     offset=self._data_start + e.begin + got)
            got += n
        arr = flat.view(raw_dtype).reshape(e.shape)
        if e.dtype == "BF16":
            return _bf16_to_f32(arr)
        return arr.astype(raw_dtype.newbyteorder("="), copy=False)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "SafetensorsReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    with SafetensorsReader(path) as r:
        return {k: r.tensor(k) for k in r.keys()}


def _dtype_name(dtype: np.dtype) -> str:
    dt = np.dtype(dtype)
    key = dt.newbyteorder("<") if dt.itemsize > 1 else dt
    try:
        return _NAMES_BY_DTYPE[key]
    except KeyError:
        raise ValueError(f"dtype {dt} cannot be stored in safetensors") from None


def write_safetensors(
    path: str | os.PathLike[str],
    specs: Sequence[tuple[str, np.dtype, Sequence[int]]],
    fetch: Callable[[str], np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Stream tensors to ``path``: the header is built from ``specs``, then each
    array is fetched, written and dropped, so memory holds one tensor at a time.

    Layout matches the reference writer (sorted by dtype rank, then name; header
    space-padded to a multiple of 8), so equal inputs give equal bytes.
    """
    order = sorted(specs, key=lambda s: (-_DTYPE_RANK[_dtype_name(s[1])], s[0]))
    header: dict[str, Any] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, shape in order:
        if name in header:
            raise ValueError(f"duplicate tensor name {name!r}")
        numel = 1
        for d in shape:
            numel *= int(d)
        nbytes = numel * np.dtype(dtype).itemsize
        header[name] = {"dtype": _dtype_name(dtype), "shape": [int(d) for d in shape], "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with atomic_output(path) as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, dtype, shape in order:
            arr = np.asarray(fetch(name))
            if arr.shape != tuple(shape) or np.dtype(arr.dtype).newbyteorder("=") != np.dtype(dtype).newbyteorder("="):
                raise ValueError(f"tensor {name!r}: got {arr.dtype}{arr.shape}, header says {np.dtype(dtype)}{tuple(shape)}")
            le = arr.astype(np.dtype(dtype).newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype, copy=False)
            if le.size:
                f.write(np.ascontiguousarray(le).reshape(-1).view(np.uint8).data)


def save_safetensors(
    path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> None:
    arrays = {k: np.asarray(v) for k, v in tensors.items()}
    write_safetensors(path, [(k, a.dtype, a.shape) for k, a in arrays.items()], arrays.__getitem__, metadata)


__all__ = ["SafetensorsReader", "load_safetensors", "save_safetensors", "write_safetensors", "parse_header", "DTYPES", "Entry", "FormatError"]
