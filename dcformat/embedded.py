"""A second, independent decoder for dcformat 1.x files, in one file (spec/FORMAT.md only).

Why it exists: it was written from the text of ``spec/FORMAT.md`` without
looking at, or importing, the reference reader, so that every place where the
two disagree is a question about the spec, not about one implementation.
Tests run both on every vector and on fuzzed files.

How an application embeds it
----------------------------
Copy this one file into your source tree (for example as
``yourapp/_dcformat_embedded.py``); it imports nothing from ``dcformat``.
Requirements: Python >= 3.10 and NumPy. The ``zstandard`` package is imported
only when a file holds a RAW tensor stored with zstd (spec §5.1); files without
one decode without it. Then::

    from yourapp._dcformat_embedded import EmbeddedFormatError, load

    try:
        weights = load("model.dc")        # {name: np.ndarray}, in table order
    except EmbeddedFormatError as exc:    # the only error a malformed file raises
        print(exc.kind, exc)              # kind is the spec's bracket name, e.g. "Checksum"

``decode(data)`` does the same for bytes; ``decode_file(data)`` also returns
the metadata object and the raw graph payload. Pass ``limits=Limits(...)`` to
tighten the caps of spec §9 for small devices.

What it checks: everything spec/FORMAT.md calls invalid, and the rules of
spec/GRAPH.md §2-§4 for a GRPH payload (strict JSON, structure, names and
references, operators and their attribute types and ranges; shape consistency is
left to whoever executes the graph, as GRAPH.md says). Unknown ancillary sections are skipped, after their CRC is
checked (spec §3: so that no single flipped bit goes unnoticed).
No value in a file is ever evaluated; nothing is allocated before the size was
checked against the bytes present or against ``Limits``.
"""

from __future__ import annotations

import json
import math
import os
import re
import bisect
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["EmbeddedFormatError", "Limits", "Decoded", "decode", "decode_file", "load"]

FORMAT_MAJOR = 1
SIGNATURE = b"\x89DCF\r\n\x1a\n"
PREAMBLE = 24
MAX_CODE_LEN = 24
ZSTD_MAGIC = 0xFD2FB528

# §4.2: dtype code -> little-endian NumPy dtype.
_DTYPES = {
    1: "<f4", 2: "<f2", 3: "<f8", 4: "i1", 5: "<i2", 6: "<i4",
    7: "<i8", 8: "u1", 9: "<u2", 10: "<u4", 11: "<u8", 12: "u1",
}
_BOOL = 12
_FLOATS = (1, 2, 3)
_RAW, _DENSE, _SPARSE = 0, 1, 2
_FIXED, _HUFFMAN, _CONSTANT, _RANS = 0, 1, 2, 3
_RANS_FLAG = 1  # §2.2 header flag bit 0 (format 1.1): the file holds RANS streams
_RANS_LOW = 1 << 16  # §6.1: L
_RANS_RATIO = 4096  # §6.1.1 check 5
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly (§4.1)

KINDS = (
    "BadMagic", "UnsupportedVersion", "UnsupportedFeature", "Truncated", "TrailingData", "Layout",
    "Checksum", "Limit", "Decompression", "HuffmanTable", "RansTable", "Bitstream", "SparseIndex", "Codebook",
    "Metadata", "Graph",
)


class EmbeddedFormatError(ValueError):
    """The file is invalid per spec/FORMAT.md. ``kind`` is the spec's bracket name (e.g. "Truncated")."""

    def __init__(self, kind: str, message: str, *, offset: int | None = None, tensor: str | None = None) -> None:
        self.kind = kind
        self.offset = offset
        self.tensor = tensor
        where = []
        if tensor is not None:
            where.append(f"tensor {tensor!r}")
        if offset is not None:
            where.append(f"byte {offset}")
        text = f"[{kind}] " + (", ".join(where) + ": " if where else "") + message
        super().__init__(text)


@dataclass(frozen=True)
class Limits:
    """The caps of spec §9 (same defaults as the spec's table)."""

    max_file_bytes: int = 1 << 40
    max_sections: int = 1 << 20
    max_tensors: int = 1 << 20
    max_tensor_elements: int = 1 << 32
    max_tensor_bytes: int = 1 << 34
    max_total_bytes: int = 1 << 36
    max_metadata_bytes: int = 16 << 20
    max_json_depth: int = 64
    max_zstd_ratio: int = 1024
    max_zstd_window: int = 1 << 27


@dataclass
class Decoded:
    """Everything a file holds: tensors in table order, metadata, and the GRPH payload (or None)."""

    tensors: dict[str, np.ndarray]
    metadata: dict[str, Any]
    graph: bytes | None


# ---------------------------------------------------------------------------------------------
# Byte reading: every read checks the bytes left first.
# ---------------------------------------------------------------------------------------------


class _In:
    """A bounded read position over ``data[start:end]``; offsets in errors are absolute."""

    __slots__ = ("data", "pos", "end", "tensor", "rans")

    def __init__(self, data: memoryview, start: int, end: int, tensor: str | None = None, rans: bool = False) -> None:
        self.data, self.pos, self.end, self.tensor = data, start, end, tensor
        self.rans = rans  # the header announces RANS streams (§2.2 flag bit 0)

    def fail(self, kind: str, message: str, at: int | None = None) -> EmbeddedFormatError:
        return EmbeddedFormatError(kind, message, offset=self.pos if at is None else at, tensor=self.tensor)

    def left(self) -> int:
        return self.end - self.pos

    def bytes(self, n: int, what: str) -> memoryview:
        if n > self.end - self.pos:
            raise self.fail("Truncated", f"{what}: needs {n} bytes, {self.end - self.pos} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.bytes(1, what)[0]

    def varint(self, what: str) -> int:
        """§1: unsigned LEB128, minimal, at most 10 bytes, value < 2**64."""
        at, value, shift = self.pos, 0, 0
        for i in range(10):
            if self.pos >= self.end:
                raise self.fail("Truncated", f"{what}: varint runs past the end", at)
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                if byte == 0 and i > 0:
                    raise self.fail("Limit", f"{what}: varint is not minimal", at)
                if value >= 1 << 64:
                    raise self.fail("Limit", f"{what}: varint value >= 2**64", at)
                return value
        raise self.fail("Limit", f"{what}: varint longer than 10 bytes", at)

    def done(self, what: str) -> None:
        if self.pos != self.end:
            raise self.fail("Layout", f"{self.end - self.pos} bytes left after {what}")


def _crc_ok(data: memoryview, start: int, end: int) -> bool:
    return zlib.crc32(data[start:end]) == int.from_bytes(data[end : end + 4], "little")


# ---------------------------------------------------------------------------------------------
# Bit sequences (§1: MSB first, zero padding, fewer than 8 padding bits)
# ---------------------------------------------------------------------------------------------

_BLOCK = 1 << 18


def _check_tail(data: np.ndarray, bits: int) -> str | None:
    """Why ``data`` is not exactly ceil(bits / 8) bytes with zero padding, or None."""
    need = -(-bits // 8)
    if data.size != need:
        return f"{data.size} bytes hold a {bits}-bit sequence, which needs exactly {need}"
    spare = 8 * need - bits
    if spare and int(data[-1]) & ((1 << spare) - 1):
        return "non-zero padding bits"
    return None


def _fixed_symbols(data: np.ndarray, n: int, width: int) -> np.ndarray:
    """n values of ``width`` (1..32) bits each, MSB first; reads a 40-bit window per value."""
    out = np.empty(n, np.uint32)
    padded = np.concatenate([data, np.zeros(5, np.uint8)])
    mask = np.uint64((1 << width) - 1)
    for lo in range(0, n, _BLOCK):
        bit = np.arange(lo, min(n, lo + _BLOCK), dtype=np.int64) * width
        first = bit >> 3
        window = np.zeros(first.size, np.uint64)
        for k in range(5):
            window = (window << np.uint64(8)) | padded[first + k].astype(np.uint64)
        shift = (40 - width - (bit & 7)).astype(np.uint64)
        out[lo : lo + first.size] = (window >> shift) & mask
    return out


def _bit_windows(data: np.ndarray, start_bit: int, count: int, width: int) -> np.ndarray:
    """The ``width`` (<= 24) bits starting at each of ``count`` bit positions from ``start_bit`` (zeros past the end)."""
    b0 = start_bit >> 3
    b1 = (start_bit + count + 7) >> 3
    chunk = np.zeros(b1 - b0 + 4, np.uint32)
    avail = data[b0 : b1 + 3]
    chunk[: avail.size] = avail
    word = (chunk[:-3] << 24) | (chunk[1:-2] << 16) | (chunk[2:-1] << 8) | chunk[3:]
    pos = np.arange(start_bit, start_bit + count, dtype=np.int64)
    w = word[(pos >> 3) - b0]
    shift = (32 - width - (pos & 7)).astype(np.uint32)
    return (w >> shift) & np.uint32((1 << width) - 1)


class _Canonical:
    """Decoding tables of a complete canonical code (§6), for windows of ``L`` bits (L = longest code)."""

    def __init__(self, lengths: np.ndarray) -> None:
        lens = lengths.astype(np.int64)
        used = np.flatnonzero(lens)
        self.symbols = used[np.lexsort((used, lens[used]))]  # by (length, symbol value)
        self.L = int(lens.max())
        count = np.bincount(lens[used], minlength=self.L + 1)
        first = np.zeros(self.L + 1, np.int64)  # code of the first symbol of each length (DEFLATE order)
        rank = np.zeros(self.L + 1, np.int64)  # symbols with shorter codes
        code = seen = 0
        for ln in range(1, self.L + 1):  # at most 24 lengths
            first[ln], rank[ln] = code, seen
            code = (code + int(count[ln])) << 1
            seen += int(count[ln])
        self.first, self.rank = first, rank
        # limit[ln - 1]: one past the largest L-bit window whose code is at most ln bits long.
        self.limit = (first[1:] + count[1:]) << (self.L - np.arange(1, self.L + 1))

    def lengths_at(self, windows: np.ndarray) -> np.ndarray:
        return (np.searchsorted(self.limit, windows, side="right") + 1).astype(np.int64)

    def symbols_at(self, windows: np.ndarray, lens: np.ndarray) -> np.ndarray:
        code = windows.astype(np.int64) >> (self.L - lens)
        return self.symbols[self.rank[lens] + code - self.first[lens]].astype(np.uint32)


_CHAIN_BITS = 1 << 20


def _chain(lens: np.ndarray, ends_past: np.ndarray, want: int) -> np.ndarray:
    """Local positions of the first ``want`` codewords that start at position 0 of a chunk.

    ``lens[p]`` is the length of the codeword starting at p. Pointer doubling:
    after round k the marked set is the first 2**(k+1) codeword starts, so the
    rounds are log2(codewords), each a vectorised gather over the chunk.
    """
    size = lens.size
    jump = np.empty(size + 2, np.int64 if size > (1 << 30) else np.int32)
    nxt = np.arange(size, dtype=np.int64) + lens
    nxt[nxt > size] = size  # leaves the chunk (or the data: then ends_past says so)
    nxt[ends_past] = size + 1  # a codeword that runs past the end of the data
    jump[:size] = nxt
    jump[size], jump[size + 1] = size, size + 1
    marked = np.zeros(size + 2, bool)
    marked[0] = True
    starts = np.zeros(1, np.int64)
    have = 1
    while have < want:
        target = jump[starts]  # the 2**k codeword starts after the ones already marked
        new = target[~marked[target]]
        if new.size == 0:
            break
        marked[new] = True
        have += int(np.count_nonzero(new < size))
        starts = np.concatenate([starts, new.astype(np.int64)])
        jump = jump[jump]
    return np.flatnonzero(marked[:size])[:want]


def _huffman_symbols(data: np.ndarray, n: int, lengths: np.ndarray, fail) -> np.ndarray:
    """Exactly n codewords from ``data``, then at most 7 zero padding bits and nothing else (§6)."""
    total = 8 * data.size
    code = _Canonical(lengths)
    out = np.empty(n, np.uint32)
    done, pos = 0, 0
    while done < n:
        if pos >= total:
            raise fail("Bitstream", f"codeword data ends after {done} of {n} symbols")
        size = min(_CHAIN_BITS, total - pos, (n - done) * code.L)  # n - done codewords fit in this
        win = _bit_windows(data, pos, size, code.L)
        lens = code.lengths_at(win)
        past = np.arange(pos, pos + size, dtype=np.int64) + lens > total
        starts = _chain(lens, past, n - done)
        if starts.size and past[starts[-1]]:
            raise fail("Bitstream", f"codeword data ends inside codeword {done + starts.size - 1} of {n}")
        out[done : done + starts.size] = code.symbols_at(win[starts], lens[starts])
        done += starts.size
        pos += int(starts[-1] + lens[starts[-1]])
    if n == 0:
        pos = 0
    problem = _check_tail(data, pos)
    if problem:
        raise fail("Bitstream", f"after {n} codewords: {problem}")
    return out


# ---------------------------------------------------------------------------------------------
# Symbol streams (§6)
# ---------------------------------------------------------------------------------------------


def _stream(cur: _In, n: int, alphabet: int, what: str, models: tuple[int, ...] = (0,),
            row_class: np.ndarray | None = None, n_classes: int = 1) -> np.ndarray:
    """Decode one stream of n symbols in [0, alphabet) (uint32). ``models``: the RANS context models this stream
    allows (§6.1.3); ``row_class``: the row class of every entry (SPARSE values)."""
    at = cur.pos
    coding = cur.u8(f"{what}.coding")
    if coding == _RANS:
        return _rans_stream(cur, n, alphabet, what, at, models, row_class, n_classes)
    if coding == _CONSTANT:
        at = cur.pos
        sym = cur.varint(f"{what}.symbol")
        if sym >= alphabet:
            raise cur.fail("Bitstream", f"{what}: CONSTANT symbol {sym} >= alphabet {alphabet}", at)
        return np.full(n, sym, np.uint32)
    if coding == _FIXED:
        at = cur.pos
        width = cur.u8(f"{what}.width")
        if not 1 <= width <= 32:
            raise cur.fail("Limit", f"{what}: FIXED width {width} outside 1..32", at)
        at = cur.pos
        raw = np.frombuffer(cur.bytes(-(-(n * width) // 8), f"{what}.data"), np.uint8)
        problem = _check_tail(raw, n * width)
        if problem:
            raise cur.fail("Bitstream", f"{what}: {problem}", at)
        syms = _fixed_symbols(raw, n, width)
        if alphabet < (1 << width):
            bad = np.flatnonzero(syms >= alphabet)
            if bad.size:
                raise cur.fail("Bitstream", f"{what}: symbol {int(bad[0])} is {int(syms[bad[0]])} >= {alphabet}", at)
        return syms
    if coding == _HUFFMAN:
        at = cur.pos
        lw = cur.u8(f"{what}.lw")
        if not 1 <= lw <= 5:
            raise cur.fail("HuffmanTable", f"{what}: length field width {lw} outside 1..5", at)
        at = cur.pos
        t = cur.varint(f"{what}.T")
        if not 2 <= t <= alphabet:
            raise cur.fail("HuffmanTable", f"{what}: T = {t} outside 2..{alphabet}", at)
        at_nbytes = cur.pos
        nbytes = cur.varint(f"{what}.nbytes")
        at = cur.pos
        table = np.frombuffer(cur.bytes(-(-(t * lw) // 8), f"{what}.lengths"), np.uint8)
        problem = _check_tail(table, t * lw)
        if problem:
            raise cur.fail("Bitstream", f"{what}.lengths: {problem}", at)
        lengths = _fixed_symbols(table, t, lw).astype(np.int64)
        if lengths.max() > MAX_CODE_LEN:
            raise cur.fail("HuffmanTable", f"{what}: code length {int(lengths.max())} > {MAX_CODE_LEN}", at)
        if lengths[-1] == 0:
            raise cur.fail("HuffmanTable", f"{what}: lengths[T-1] is 0", at)
        if np.count_nonzero(lengths) < 2:
            raise cur.fail("HuffmanTable", f"{what}: fewer than two used symbols", at)
        per_length = np.bincount(lengths, minlength=MAX_CODE_LEN + 1)
        kraft = sum(int(per_length[ln]) << (MAX_CODE_LEN - ln) for ln in range(1, MAX_CODE_LEN + 1))
        if kraft != 1 << MAX_CODE_LEN:
            raise cur.fail("HuffmanTable", f"{what}: Kraft sum {kraft}/2**24 (the code must be complete)", at)
        if n > 8 * nbytes:
            raise cur.fail("Limit", f"{what}: {n} symbols cannot fit in {nbytes} bytes", at_nbytes)
        at = cur.pos
        data = np.frombuffer(cur.bytes(nbytes, f"{what}.data"), np.uint8)

        def fail(kind: str, message: str) -> EmbeddedFormatError:
            return cur.fail(kind, f"{what}: {message}", at)

        return _huffman_symbols(data, n, lengths, fail)
    raise cur.fail("UnsupportedFeature", f"{what}: unknown stream coding {coding}", at)


def _rans_stream(cur: _In, n: int, alphabet: int, what: str, start: int, models: tuple[int, ...],
                 row_class: np.ndarray | None, n_classes: int) -> np.ndarray:
    """§6.1: an interleaved rANS stream, checked in the order of §6.1.1."""
    if not cur.rans:
        raise cur.fail("UnsupportedFeature", f"{what}: RANS stream but header flag bit 0 is clear", start)
    at = cur.pos
    params = cur.u8(f"{what}.params")
    k, j, model = 10 + (params & 7), (params >> 3) & 7, params >> 6
    if k > 15:
        raise cur.fail("RansTable", f"{what}: K = {k} > 15", at)
    if j > 5:
        raise cur.fail("Limit", f"{what}: 2**{j} lanes > 32", at)
    if model not in models:
        raise cur.fail("UnsupportedFeature", f"{what}: context model {model} not allowed here", at)
    lanes = 1 << j
    at_t = cur.pos
    t = cur.varint(f"{what}.T")
    if t < 2 or t > alphabet or t > 1 << k:
        raise cur.fail("RansTable", f"{what}: T = {t} outside 2..min({alphabet}, 2**{k})", at_t)
    nwords = cur.varint(f"{what}.nwords")
    n_ctx = 1 if model == 0 else (6 if model == 1 else n_classes)
    # Tables: one MSB-first bit string over all contexts. Read bit by bit from the bytes left.
    tab_at = cur.pos
    avail = cur.left() * 8
    bitpos = 0

    def bits(w: int) -> int:
        nonlocal bitpos
        if bitpos + w > avail:
            raise cur.fail("Truncated", f"{what}: frequency tables run past the end", tab_at + (bitpos >> 3))
        v = 0
        for _ in range(w):
            byte = cur.data[tab_at + (bitpos >> 3)]
            v = (v << 1) | ((byte >> (7 - (bitpos & 7))) & 1)
            bitpos += 1
        return v

    tables: list[list[int] | None] = []
    for c in range(n_ctx):
        if not bits(1):
            tables.append(None)
            continue
        budget, freq = 1 << k, []
        for s in range(t - 1):
            f_at = tab_at + (bitpos >> 3)
            f = bits(budget.bit_length())
            if f > budget:
                raise cur.fail("RansTable", f"{what}: table {c}, f[{s}] = {f} > remaining {budget}", f_at)
            freq.append(f)
            budget -= f
        freq.append(budget)
        tables.append(freq)
    if all(tb is None for tb in tables):
        raise cur.fail("RansTable", f"{what}: no table is used", tab_at)
    if not any(tb is not None and tb[-1] > 0 for tb in tables):
        raise cur.fail("RansTable", f"{what}: symbol T-1 never occurs (T is not minimal)", tab_at)
    nbytes = -(-bitpos // 8)
    if bitpos % 8 and cur.data[tab_at + nbytes - 1] & ((1 << (8 - bitpos % 8)) - 1):
        raise cur.fail("Bitstream", f"{what}: table padding bits are not zero", tab_at + nbytes - 1)
    cur.pos = tab_at + nbytes
    seg = -(-n // lanes)
    if not (lanes - 1) * seg < n:
        raise cur.fail("Bitstream", f"{what}: {lanes} lanes for {n} symbols leave one empty", at)
    st_at = cur.pos
    body = cur.bytes(4 * lanes + 2 * nwords, f"{what}.states+words")
    if n > _RANS_RATIO * (cur.pos - start):
        raise cur.fail("Limit", f"{what}: {n} symbols from {cur.pos - start} bytes exceed the ratio 4096", start)
    x = list(struct.unpack_from(f"<{lanes}I", body, 0))
    for lane, v in enumerate(x):
        if v < _RANS_LOW:
            raise cur.fail("Bitstream", f"{what}: lane {lane} starts in state {v} < 2**16", st_at + 4 * lane)
    words = struct.unpack_from(f"<{nwords}H", body, 4 * lanes)
    # Cumulative frequencies per used table; the symbol of a slot is found by bisection over them.
    cums = [None if tb is None else [sum(tb[:i]) for i in range(t + 1)] for tb in tables]
    ctx_of = None if model != 2 else row_class
    mask = (1 << k) - 1
    out = np.empty(n, np.uint32)
    prev = [0] * lanes
    p = 0
    for step in range(seg):
        for lane in range(lanes):
            i = lane * seg + step
            if i >= n:
                break
            c = 0 if model == 0 else (int(ctx_of[i]) if model == 2 else prev[lane])
            cum = cums[c]
            if cum is None:
                raise cur.fail("Bitstream", f"{what}: symbol {i} needs table {c}, which is not used", st_at)
            slot = x[lane] & mask
            s = bisect.bisect_right(cum, slot) - 1
            while tables[c][s] == 0:  # zero-width symbols share their cum with the next: skip them
                s += 1
            v = tables[c][s] * (x[lane] >> k) + slot - cum[s]
            if v < _RANS_LOW:
                if p == nwords:
                    raise cur.fail("Bitstream", f"{what}: renormalisation words exhausted", st_at + 4 * lanes + 2 * p)
                v = (v << 16) | words[p]
                p += 1
            x[lane] = v
            out[i] = s
            if model == 1:
                prev[lane] = 1 + min(s.bit_length(), 4)
    if p != nwords:
        raise cur.fail("Bitstream", f"{what}: {nwords - p} words left over", st_at + 4 * lanes + 2 * p)
    for lane, v in enumerate(x):
        if v != _RANS_LOW:
            raise cur.fail("Bitstream", f"{what}: lane {lane} ends in state {v}, not 2**16", st_at + 4 * lane)
    return out


# ---------------------------------------------------------------------------------------------
# Tensor table (§4)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    name: str
    dtype: int
    encoding: int
    shape: tuple[int, ...]
    numel: int

    @property
    def nbytes(self) -> int:
        return self.numel * np.dtype(_DTYPES[self.dtype]).itemsize


def _table(cur: _In, limits: Limits) -> list[_Entry]:
    at = cur.pos
    count = cur.varint("tensor_count")
    if count > limits.max_tensors:
        raise cur.fail("Limit", f"{count} tensors > limit {limits.max_tensors}", at)
    entries: list[_Entry] = []
    names: set[str] = set()
    for i in range(count):  # each entry consumes at least 4 bytes, so this loop is bounded by the payload
        at = cur.pos
        raw = bytes(cur.bytes(cur.varint(f"tensor[{i}].name_len"), f"tensor[{i}].name"))
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise cur.fail("Metadata", f"tensor[{i}]: name is not UTF-8", at) from None
        if not raw or len(raw) > 1024 or _CONTROL.search(name) or name in names:
            why = "empty" if not raw else "longer than 1024 bytes" if len(raw) > 1024 else (
                "has a control character" if _CONTROL.search(name) else "repeats an earlier name")
            raise cur.fail("Metadata", f"tensor[{i}]: name {name[:80]!r} {why}", at)
        names.add(name)
        cur.tensor = name
        at = cur.pos
        dtype = cur.u8("dtype")
        if dtype not in _DTYPES:
            raise cur.fail("UnsupportedFeature", f"unknown dtype code {dtype}", at)
        at = cur.pos
        encoding = cur.u8("encoding")
        if encoding not in (_RAW, _DENSE, _SPARSE):
            raise cur.fail("UnsupportedFeature", f"unknown encoding {encoding}", at)
        if encoding != _RAW and dtype not in _FLOATS:
            raise cur.fail("Metadata", "DENSE/SPARSE need a float dtype", at)
        at = cur.pos
        ndim = cur.u8("ndim")
        if ndim > 8:
            raise cur.fail("Limit", f"ndim {ndim} > 8", at)
        shape, numel = [], 1
        for _ in range(ndim):
            at = cur.pos
            d = cur.varint("shape")
            numel *= d
            if numel > limits.max_tensor_elements:
                raise cur.fail("Limit", f"more than {limits.max_tensor_elements} elements", at)
            shape.append(d)
        cur.tensor = None
        entries.append(_Entry(name, dtype, encoding, tuple(shape), numel))
    cur.done("the last table entry")
    return entries


# ---------------------------------------------------------------------------------------------
# Metadata (§7)
# ---------------------------------------------------------------------------------------------


def _metadata(payload: bytes, at: int, limits: Limits) -> dict[str, Any]:
    def fail(message: str) -> EmbeddedFormatError:
        return EmbeddedFormatError("Metadata", message, offset=at)

    if len(payload) > limits.max_metadata_bytes:
        raise fail(f"{len(payload)} bytes > limit {limits.max_metadata_bytes}")
    value = _strict_json(payload, fail, limits.max_json_depth)
    if not isinstance(value, dict):
        raise fail("the top level is not a JSON object")
    return value


# ---------------------------------------------------------------------------------------------
# Graph (§8 and spec/GRAPH.md, graph schema version 1)
# ---------------------------------------------------------------------------------------------

_G_MAX_BYTES, _G_MAX_DEPTH, _G_MAX_NODES, _G_MAX_IO, _G_MAX_NAME, _G_MAX_RANK = 16 << 20, 8, 100_000, 64, 1024, 8
_G_MAX_SIZE = (1 << 31) - 1
_G_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_G_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, as tensor names

# op -> (min inputs, max inputs, stored input positions, {attribute: (kind, default or _REQUIRED)})
_REQUIRED = object()
_POOL = {"kernel": ("pair", _REQUIRED), "stride": ("pair", [1, 1]), "padding": ("pads", [0, 0, 0, 0]),
         "ceil_mode": ("bool", False)}
_OPS: dict[str, tuple[int, int, frozenset, dict]] = {
    "Conv2d": (2, 3, frozenset({1, 2}), {"stride": ("pair", [1, 1]), "padding": ("pads", [0, 0, 0, 0]),
                                         "dilation": ("pair", [1, 1]), "groups": ("pos", 1)}),
    "Linear": (2, 3, frozenset({1, 2}), {}),
    "MatMul": (2, 2, frozenset(), {}),
    "BatchNorm": (5, 5, frozenset({1, 2, 3, 4}), {"epsilon": ("unit", 1e-5)}),
    "ReLU": (1, 1, frozenset(), {}),
    "ReLU6": (1, 1, frozenset(), {}),
    "Clip": (1, 1, frozenset(), {"min": ("float?", None), "max": ("float?", None)}),
    "HardSigmoid": (1, 1, frozenset(), {"alpha": ("float", 0.2), "beta": ("float", 0.5)}),
    "HardSwish": (1, 1, frozenset(), {}),
    "Sigmoid": (1, 1, frozenset(), {}),
    "LRN": (1, 1, frozenset(), {"size": ("lrn_size", _REQUIRED), "alpha": ("nonneg", 1e-4), "beta": ("nonneg", 0.75),
                                "bias": ("lrn_bias", 1.0)}),
    "Softmax": (1, 1, frozenset(), {"axis": ("axis7", -1)}),
    "MaxPool": (1, 1, frozenset(), _POOL),
    "AvgPool": (1, 1, frozenset(), _POOL | {"count_include_pad": ("bool", False)}),
    "GlobalAvgPool": (1, 1, frozenset(), {}),
    "Concat": (1, 1024, frozenset(), {"axis": ("axis7", _REQUIRED)}),
    "Split": (1, 1, frozenset(), {"axis": ("axis7", _REQUIRED), "split": ("sizes", _REQUIRED)}),
    "Add": (2, 2, frozenset(), {}),
    "Sub": (2, 2, frozenset(), {}),
    "Mul": (2, 2, frozenset(), {}),
    "Div": (2, 2, frozenset(), {}),
    "ChannelShuffle": (1, 1, frozenset(), {"groups": ("pos", _REQUIRED)}),
    "Flatten": (1, 1, frozenset(), {"axis": ("axis8", 1)}),
    "Reshape": (1, 1, frozenset(), {"shape": ("reshape", _REQUIRED)}),
    "Transpose": (1, 1, frozenset(), {"perm": ("perm", _REQUIRED)}),
    "Dropout": (1, 1, frozenset(), {"ratio": ("unit", 0.5)}),
    "Identity": (1, 1, frozenset(), {}),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ints(v: Any, n: int | None, lo: int) -> bool:
    return (isinstance(v, list) and (n is None or len(v) == n)
            and all(_is_int(x) and lo <= x <= _G_MAX_SIZE for x in v))


def _attr_ok(kind: str, v: Any) -> bool:
    """GRAPH.md §4 attribute types and ranges."""
    if kind == "pair":
        return _ints(v, 2, 1)
    if kind == "pads":
        return _ints(v, 4, 0)
    if kind == "pos":
        return _is_int(v) and 1 <= v <= _G_MAX_SIZE
    if kind == "int":
        return _is_int(v)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "unit":
        return _is_num(v) and 0 <= v <= 1
    if kind == "float":
        return _is_num(v)
    if kind == "nonneg":
        return _is_num(v) and v >= 0
    if kind == "lrn_bias":
        return _is_num(v) and v >= 1e-6
    if kind == "lrn_size":
        return _is_int(v) and 1 <= v <= 1023 and v % 2 == 1
    if kind == "float?":
        return v is None or _is_num(v)
    if kind == "axis7":
        return _is_int(v) and -8 <= v <= 7
    if kind == "axis8":
        return _is_int(v) and -8 <= v <= 8
    if kind == "sizes":
        return _ints(v, None, 0)
    if kind == "reshape":
        return isinstance(v, list) and len(v) <= 8 and all(_is_int(x) and -1 <= x <= _G_MAX_SIZE for x in v) \
            and v.count(-1) <= 1
    if kind == "perm":
        return isinstance(v, list) and 1 <= len(v) <= 8 and all(_is_int(x) for x in v) and sorted(v) == list(range(len(v)))
    raise AssertionError(kind)


def _strict_json(payload: bytes, fail: Callable[[str], EmbeddedFormatError], max_depth: int) -> Any:
    """RFC 8259 JSON with the spec's extra rules (GRAPH.md §2, FORMAT.md §7): no duplicate keys, no NaN/Infinity,
    finite numbers, integers of at most 20 digits, no BOM, no unpaired surrogates, nesting <= max_depth."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            raise fail("duplicated key")
        return obj

    def constant(token: str) -> Any:
        raise fail(f"{token} is not allowed")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise fail(f"number {text[:30]} overflows binary64")
        return value

    def integer(text: str) -> int:
        if len(text.lstrip("-")) > 20:
            raise fail("integer with more than 20 digits")
        return int(text)

    try:
        text = payload.decode("utf-8")
        if text.startswith("\ufeff"):
            raise fail("leading byte-order mark")
        doc = json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_float=number,
                         parse_int=integer)
    except EmbeddedFormatError:
        raise
    except (ValueError, RecursionError) as exc:
        raise fail(f"not strict UTF-8 JSON: {type(exc).__name__}") from None
    level, depth = [doc], 0
    while level:  # nesting depth of arrays/objects, and unpaired surrogates in any string
        depth += any(isinstance(x, (dict, list)) for x in level)
        if depth > max_depth:
            raise fail(f"nesting deeper than {max_depth}")
        nxt = []
        for x in level:
            items = list(x.items()) if isinstance(x, dict) else [(None, v) for v in x] if isinstance(x, list) else []
            for k, v in items:
                for s in (k, v):
                    if isinstance(s, str):
                        try:
                            s.encode("utf-8")
                        except UnicodeEncodeError:
                            raise fail("a string holds an unpaired surrogate") from None
                if isinstance(v, (dict, list)):
                    nxt.append(v)
        level = nxt
    if isinstance(doc, str):
        try:
            doc.encode("utf-8")
        except UnicodeEncodeError:
            raise fail("a string holds an unpaired surrogate") from None

    return doc


def _graph(payload: bytes, tensors: set[str], at: int) -> None:
    """Check a GRPH payload against spec/GRAPH.md §2-§4 (every rule a decoder must check)."""

    def fail(message: str) -> EmbeddedFormatError:
        return EmbeddedFormatError("Graph", message, offset=at)

    if len(payload) > _G_MAX_BYTES:
        raise fail(f"graph payload of {len(payload)} bytes > {_G_MAX_BYTES}")

    doc = _strict_json(payload, fail, _G_MAX_DEPTH)

    def keys(obj: Any, want: set[str], what: str) -> dict:
        if not isinstance(obj, dict) or set(obj) != want:
            raise fail(f"{what} must be an object with exactly the keys {sorted(want)}")
        return obj

    def name(v: Any, what: str) -> str:
        if not isinstance(v, str) or not v or len(v) > _G_MAX_NAME or _G_CONTROL.search(v):
            raise fail(f"{what}: {str(v)[:60]!r} is not a valid name")
        return v

    top = keys(doc, {"graph_version", "inputs", "outputs", "nodes"}, "the graph")
    version = top["graph_version"]
    if not _is_int(version) or version not in (1, 2):
        raise fail(f"unknown graph_version {version!r}")
    for key, cap in (("inputs", _G_MAX_IO), ("outputs", _G_MAX_IO), ("nodes", _G_MAX_NODES)):
        if not isinstance(top[key], list) or len(top[key]) > cap or (key != "nodes" and not top[key]):
            raise fail(f"'{key}' must be a list of 1..{cap} entries" if key != "nodes" else "'nodes' is invalid")
    defined: set[str] = set()

    def value_info(v: Any, what: str, outputs: bool) -> str:
        v = keys(v, {"name", "shape", "dtype"}, what)
        n = name(v["name"], what)
        if v["dtype"] != "float32":
            raise fail(f"{what}: dtype {v['dtype']!r}")
        shape = v["shape"]
        if not isinstance(shape, list) or len(shape) > _G_MAX_RANK:
            raise fail(f"{what}: shape must be a list of at most {_G_MAX_RANK} dims")
        for d in shape:
            ok = (_is_int(d) and 0 <= d <= _G_MAX_SIZE) or (isinstance(d, str) and _G_SYMBOL.match(d)) or (
                d is None and outputs)
            if not ok:
                raise fail(f"{what}: bad dimension {d!r}")
        return n

    for i, v in enumerate(top["inputs"]):
        n = value_info(v, f"input {i}", False)
        if n in tensors or n in defined:
            raise fail(f"input {n!r} is defined twice or shadows a stored tensor")
        defined.add(n)
    node_names: set[str] = set()
    for i, node in enumerate(top["nodes"]):
        node = keys(node, {"op", "name", "inputs", "outputs", "attrs"}, f"node {i}")
        op = node["op"]
        if not isinstance(op, str) or op not in _OPS:
            raise fail(f"node {i}: unknown op {str(op)[:40]!r}")
        lo, hi, stored, spec = _OPS[op]
        if op == "LRN" and version < 2:
            raise fail(f"node {i}: LRN needs graph_version 2")
        nn = name(node["name"], f"node {i}")
        if nn in node_names:
            raise fail(f"node name {nn!r} used twice")
        node_names.add(nn)
        ins, outs, attrs = node["inputs"], node["outputs"], node["attrs"]
        if not isinstance(ins, list) or not lo <= len(ins) <= hi:
            raise fail(f"node {nn!r} ({op}) takes {lo}..{hi} inputs")
        if not isinstance(outs, list) or not isinstance(attrs, dict):
            raise fail(f"node {nn!r}: 'outputs' must be a list and 'attrs' an object")
        unknown = set(attrs) - set(spec)
        if unknown:
            raise fail(f"node {nn!r} ({op}): unknown attribute {sorted(unknown)[0]!r}")
        for attr, (kind, default) in spec.items():
            if attr not in attrs:
                if default is _REQUIRED:
                    raise fail(f"node {nn!r} ({op}): missing attribute {attr!r}")
                continue
            if not _attr_ok(kind, attrs[attr]):
                raise fail(f"node {nn!r} ({op}): bad attribute {attr}={str(attrs[attr])[:40]}")
        n_out = len(attrs["split"]) if op == "Split" else 1
        if len(outs) != n_out or not outs:
            raise fail(f"node {nn!r} ({op}) must have {n_out} output(s)")
        for j, x in enumerate(ins):
            x = name(x, f"node {nn!r} input {j}")
            if j in stored and x not in tensors:
                raise fail(f"node {nn!r} ({op}): input {j} {x!r} must be a stored tensor")
            if x not in defined and x not in tensors:
                raise fail(f"node {nn!r} ({op}): input {x!r} is not a stored tensor or an earlier value")
        for x in outs:
            x = name(x, f"node {nn!r} output")
            if x in tensors or x in defined:
                raise fail(f"node {nn!r}: output {x!r} is defined twice or shadows a stored tensor")
            defined.add(x)
    listed: set[str] = set()
    for i, v in enumerate(top["outputs"]):
        n = value_info(v, f"output {i}", True)
        if n not in defined or n in listed:
            raise fail(f"output {n!r} is not a defined value, or is listed twice")
        listed.add(n)


# ---------------------------------------------------------------------------------------------
# Payloads (§5)
# ---------------------------------------------------------------------------------------------


def _matrix(shape: tuple[int, ...], numel: int) -> tuple[int, int]:
    if len(shape) <= 1:
        return 1, numel
    return shape[0], math.prod(shape[1:])


def _codebook(cur: _In, entry: _Entry, dtype: np.dtype) -> tuple[int, int, np.ndarray]:
    at = cur.pos
    q = cur.u8("code_bits")
    if not 1 <= q <= 16:
        raise cur.fail("Codebook", f"code_bits {q} outside 1..16", at)
    at = cur.pos
    b = cur.u8("index_bits")
    if entry.encoding == _DENSE and b != 0:
        raise cur.fail("Layout", f"DENSE index_bits must be 0, found {b}", at)
    if entry.encoding == _SPARSE and not 1 <= b <= 16:
        raise cur.fail("SparseIndex", f"index_bits {b} outside 1..16", at)
    at = cur.pos
    k = cur.varint("codebook_size")
    if k > 1 << q:
        raise cur.fail("Codebook", f"codebook size {k} > 2**{q}", at)
    at = cur.pos
    book = np.frombuffer(cur.bytes(4 * k, "codebook"), "<f4")
    if not np.isfinite(book).all():
        raise cur.fail("Codebook", "a codebook value is NaN or infinite", at)
    with np.errstate(over="ignore"):
        if not np.isfinite(book.astype(dtype)).all():  # finite after conversion to the tensor's dtype (§5.2)
            raise cur.fail("Codebook", f"a codebook value overflows {np.dtype(dtype).name}", at)
    return q, b, book


def _dense(cur: _In, entry: _Entry, dtype: np.dtype) -> np.ndarray:
    _, _, book = _codebook(cur, entry, dtype)
    if book.size == 0 and entry.numel:
        raise cur.fail("Codebook", f"empty codebook for {entry.numel} elements")
    values = _stream(cur, entry.numel, max(book.size, 1), "values")
    cur.done("the values stream")
    return book[values].astype(dtype)


def _sparse(cur: _In, entry: _Entry, dtype: np.dtype) -> np.ndarray:
    _, b, book = _codebook(cur, entry, dtype)
    rows, cols = _matrix(entry.shape, entry.numel)
    if cols + 1 > 1 << 32:
        raise cur.fail("Limit", f"{cols} columns: the row-count alphabet cols + 1 exceeds 2**32")
    counts = _stream(cur, rows, cols + 1, "row_counts").astype(np.int64)
    nnz = int(counts.sum())
    at = cur.pos
    n_classes = cur.u8("n_classes")
    if not 1 <= n_classes <= 16:
        raise cur.fail("SparseIndex", f"n_classes {n_classes} outside 1..16", at)
    bounds: list[int] = []
    for c in range(n_classes - 1):
        at = cur.pos
        t = cur.varint(f"class_min[{c}]")
        if t < 1 or (bounds and t <= bounds[-1]):
            raise cur.fail("SparseIndex", f"class thresholds must be >= 1 and increasing, got {t}", at)
        bounds.append(t)
    row_class = np.searchsorted(np.array(bounds, np.int64), counts, side="right")
    stride = (1 << b) - 1
    first_entry = np.concatenate(([0], np.cumsum(counts)))  # global index of each row's first entry
    entry_at = np.zeros(nnz, np.int64)  # flat position of every entry, in row-major entry order
    for c in range(n_classes):
        members = np.flatnonzero(row_class == c)
        m_counts = counts[members]
        m_nnz = int(m_counts.sum())
        at = cur.pos
        fillers = cur.varint(f"n_fillers[{c}]")
        if fillers * stride + m_nnz > members.size * cols:
            raise cur.fail("SparseIndex", f"class {c}: {fillers} fillers and {m_nnz} entries overflow its rows", at)
        gaps = _stream(cur, m_nnz + fillers, 1 << b, f"gaps[{c}]", (0, 1))
        local_row, column = _columns(cur, m_counts, gaps, stride, cols)
        row = members[local_row]
        rank = np.arange(m_nnz, dtype=np.int64) - np.concatenate(([0], np.cumsum(m_counts)))[local_row]
        entry_at[first_entry[row] + rank] = row * cols + column
    values = _stream(cur, nnz, max(book.size, 1), "values", (0, 2), np.repeat(row_class, counts), n_classes)
    if book.size == 0 and nnz:
        raise cur.fail("Codebook", f"empty codebook for {nnz} entries")
    cur.done("the values stream")
    out = np.zeros(entry.numel, dtype)
    out[entry_at] = book[values].astype(dtype)
    return out


def _columns(cur: _In, counts: np.ndarray, gaps: np.ndarray, stride: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(row among these rows, column) of every entry of one class's gap stream (§5.3 relative index)."""
    rows, nnz = counts.size, int(counts.sum())
    is_entry = gaps > 0
    where = np.flatnonzero(is_entry)  # index in the gap stream of each entry
    if where.size != nnz:
        raise cur.fail("SparseIndex", f"{where.size} entry symbols in the gap stream, row counts say {nnz}")
    if gaps.size and not is_entry[-1]:
        raise cur.fail("SparseIndex", "fillers after the last entry")
    step = np.where(is_entry, gaps.astype(np.int64), stride)
    reach = np.cumsum(step)  # columns advanced since the start of the stream
    row_end = np.cumsum(counts)  # entries before the end of each row
    row = np.repeat(np.arange(rows, dtype=np.int64), counts)
    start = np.zeros(rows + 1, np.int64)  # reach at the last entry of each row (cumulative)
    if nnz:
        last_of_row = reach[where][row_end - 1]
        last_of_row[row_end == 0] = 0
        start[1:] = np.maximum.accumulate(last_of_row)
    column = reach[where] - start[row] - 1
    if nnz and int(column.max()) >= cols:
        j = int(np.argmax(column >= cols))
        raise cur.fail("SparseIndex", f"row {int(row[j])}: column {int(column[j])} >= {cols}")
    return row, column


def _zstd_frame(frame: memoryview, want: int, limits: Limits, fail) -> None:
    """Check one zstd frame (RFC 8878 §3.1.1) before anything is decompressed."""
    size = len(frame)
    if want > limits.max_zstd_ratio * size:
        raise fail("Limit", f"{want} bytes from a {size}-byte frame exceeds the ratio cap {limits.max_zstd_ratio}")
    if size < 6 or int.from_bytes(frame[:4], "little") != ZSTD_MAGIC:
        raise fail("Decompression", "the data is not a zstd frame (magic 28 B5 2F FD)")
    fhd = frame[4]
    fcs_flag, single, reserved, checksum, dict_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 3) & 1, (fhd >> 2) & 1, fhd & 3
    if reserved:
        raise fail("Decompression", "zstd frame header reserved bit set")
    pos = 5
    window = None
    if not single:
        wd = frame[pos]
        pos += 1
        base = 1 << (10 + (wd >> 3))
        window = base + (base >> 3) * (wd & 7)
        if window > limits.max_zstd_window:
            raise fail("Limit", f"zstd window {window} > limit {limits.max_zstd_window}")
    dict_len = (0, 1, 2, 4)[dict_flag]
    fcs_len = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if pos + dict_len + fcs_len > size:
        raise fail("Decompression", "zstd frame header is truncated")
    if int.from_bytes(frame[pos : pos + dict_len], "little"):
        raise fail("Decompression", "zstd frame needs a dictionary")
    pos += dict_len
    if fcs_len == 0:
        raise fail("Decompression", "zstd frame has no Frame_Content_Size")
    fcs = int.from_bytes(frame[pos : pos + fcs_len], "little") + (256 if fcs_len == 2 else 0)
    pos += fcs_len
    if fcs != want:
        raise fail("Decompression", f"zstd frame declares {fcs} bytes, the tensor needs {want}")
    if window is None:
        window = fcs
    if window > limits.max_zstd_window:
        raise fail("Limit", f"zstd window {window} > limit {limits.max_zstd_window}")
    block_max = min(window, 128 << 10)
    while True:  # each block consumes at least 3 bytes
        if pos + 3 > size:
            raise fail("Decompression", "zstd frame ends inside a block header")
        head = int.from_bytes(frame[pos : pos + 3], "little")
        pos += 3
        kind, length = (head >> 1) & 3, head >> 3
        if kind == 3:
            raise fail("Decompression", "reserved zstd block type")
        if length > block_max:
            raise fail("Decompression", f"zstd block of {length} bytes > Block_Maximum_Size {block_max}")
        pos += 1 if kind == 1 else length
        if pos > size:
            raise fail("Decompression", "zstd frame ends inside a block")
        if head & 1:
            break
    pos += 4 * checksum
    if pos != size:
        raise fail("Decompression", f"{size - pos} bytes after the zstd frame" if pos < size else "zstd checksum missing")


def _raw(cur: _In, entry: _Entry, dtype: np.dtype, limits: Limits) -> np.ndarray:
    at = cur.pos
    head = bytes(cur.bytes(8, "raw header"))
    if head[0] not in (0, 1):
        raise cur.fail("UnsupportedFeature", f"unknown compression {head[0]}", at)
    if any(head[1:]):
        raise cur.fail("UnsupportedFeature", "reserved bytes are not zero", at + 1)
    want = entry.nbytes
    at = cur.pos
    body = cur.bytes(cur.left(), "data")
    if head[0] == 0:
        if len(body) != want:
            raise cur.fail("Layout", f"{len(body)} data bytes, shape and dtype need {want}", at)
        data: bytes | memoryview = body
    else:

        def fail(kind: str, message: str) -> EmbeddedFormatError:
            return cur.fail(kind, message, at)

        _zstd_frame(body, want, limits, fail)
        import zstandard  # only files with zstd tensors need it

        try:
            dctx = zstandard.ZstdDecompressor(max_window_size=limits.max_zstd_window)
            data = dctx.decompress(bytes(body), max_output_size=want, allow_extra_data=False)
        except zstandard.ZstdError as exc:
            raise fail("Decompression", f"zstd: {exc}") from None
        if len(data) != want:
            raise fail("Decompression", f"zstd frame expanded to {len(data)} bytes, not {want}")
    arr = np.frombuffer(data, dtype)
    if entry.dtype == _BOOL:
        if arr.size and int(arr.max()) > 1:
            raise cur.fail("Bitstream", "a bool element is neither 0 nor 1", at)
        return arr.astype(np.bool_)
    return arr.astype(dtype.newbyteorder("="))


def _payload(cur: _In, entry: _Entry, limits: Limits) -> np.ndarray:
    dtype = np.dtype(_DTYPES[entry.dtype])
    if entry.nbytes > limits.max_tensor_bytes:
        raise cur.fail("Limit", f"{entry.nbytes} decoded bytes > limit {limits.max_tensor_bytes}")
    if entry.encoding == _RAW:
        flat = _raw(cur, entry, dtype, limits)
    elif entry.encoding == _DENSE:
        flat = _dense(cur, entry, dtype.newbyteorder("="))
    else:
        flat = _sparse(cur, entry, dtype.newbyteorder("="))
    return flat.reshape(entry.shape)


# ---------------------------------------------------------------------------------------------
# File structure (§2, §3)
# ---------------------------------------------------------------------------------------------


def _sections(data: memoryview, limits: Limits) -> list[tuple[bytes, int, int]]:
    """(kind, payload start, payload length) of every section; they must tile the file."""
    size = len(data)
    if size > limits.max_file_bytes:
        raise EmbeddedFormatError("Limit", f"file of {size} bytes > limit {limits.max_file_bytes}", offset=0)
    head = bytes(data[:8])
    if head != SIGNATURE:
        if size < 8 and SIGNATURE.startswith(head):
            raise EmbeddedFormatError("Truncated", "file ends inside the signature", offset=size)
        raise EmbeddedFormatError("BadMagic", f"signature is {head.hex(' ')}", offset=0)
    if size < PREAMBLE:
        raise EmbeddedFormatError("Truncated", "file ends inside the header", offset=size)
    major, minor, flags, count, crc = struct.unpack_from("<HHIII", data, 8)
    if major != FORMAT_MAJOR:
        raise EmbeddedFormatError("UnsupportedVersion", f"version {major}.{minor}; this decoder reads 1.x", offset=8)
    if zlib.crc32(data[8:20]) != crc:
        raise EmbeddedFormatError("Checksum", "header CRC mismatch", offset=20)
    if flags & 0xFFFF & ~_RANS_FLAG:
        raise EmbeddedFormatError("UnsupportedFeature", f"must-understand flags {flags & 0xFFFF:#x}", offset=12)
    if flags & _RANS_FLAG and minor < 1:
        raise EmbeddedFormatError("UnsupportedFeature", f"flag bit 0 needs version 1.1, file is 1.{minor}", offset=12)
    if count > limits.max_sections:
        raise EmbeddedFormatError("Limit", f"{count} sections > limit {limits.max_sections}", offset=16)
    if count * 20 > size - PREAMBLE:
        raise EmbeddedFormatError("Truncated", f"{count} sections cannot fit in the file", offset=16)
    out = []
    pos = PREAMBLE
    for _ in range(count):  # count * 20 <= file size, checked above
        if pos + 16 > size:
            raise EmbeddedFormatError("Truncated", "file ends before a section header", offset=pos)
        kind = bytes(data[pos : pos + 4])
        sflags, length = struct.unpack_from("<IQ", data, pos + 4)
        if not kind.isalpha() or not kind.isascii():
            raise EmbeddedFormatError("Layout", f"section kind {kind!r} is not four ASCII letters", offset=pos)
        if sflags:
            raise EmbeddedFormatError("UnsupportedFeature", f"section flags {sflags:#x}", offset=pos + 4)
        if length > size - pos - 20:
            raise EmbeddedFormatError("Truncated", f"section length {length} runs past the end", offset=pos + 8)
        end = pos + 20 + length
        padded = end + (-end) % 8
        if padded > size:
            raise EmbeddedFormatError("Truncated", "section padding runs past the end", offset=end)
        if any(data[end:padded]):
            raise EmbeddedFormatError("Layout", "non-zero section padding", offset=end)
        out.append((kind, pos + 16, length))
        pos = padded
    if pos != size:
        raise EmbeddedFormatError("TrailingData", f"{size - pos} bytes after the last section", offset=pos)
    return out


def decode_file(data: bytes | bytearray | memoryview, *, limits: Limits | None = None) -> Decoded:
    """Decode a whole file: tensors (table order), metadata, graph payload. Raises EmbeddedFormatError only."""
    limits = limits or Limits()
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
    try:
        return _decode(view, limits)
    except MemoryError:
        raise EmbeddedFormatError("Limit", "not enough memory to decode this file") from None


def _verified(data: memoryview, start: int, length: int) -> memoryview:
    if not _crc_ok(data, start - 16, start + length):
        raise EmbeddedFormatError("Checksum", "section CRC mismatch", offset=start + length)
    return data[start : start + length]


def _decode(data: memoryview, limits: Limits) -> Decoded:
    sections = _sections(data, limits)
    rans = bool(struct.unpack_from("<I", data, 12)[0] & _RANS_FLAG)
    if not sections or sections[0][0] != b"TABL":
        raise EmbeddedFormatError("Layout", "the first section is not TABL", offset=PREAMBLE)
    _, start, length = sections[0]
    _verified(data, start, length)
    entries = _table(_In(data, start, start + length), limits)
    metadata: dict[str, Any] = {}
    graph: bytes | None = None
    graph_at = 0
    seen: set[bytes] = set()
    payloads: list[tuple[int, int]] = []
    for kind, start, length in sections[1:]:
        if kind == b"DATA":
            payloads.append((start, length))
        elif kind in (b"TABL", b"META", b"GRPH"):
            if kind in seen or kind == b"TABL":
                raise EmbeddedFormatError("Layout", f"a second {kind.decode()} section", offset=start - 16)
            if payloads:
                raise EmbeddedFormatError("Layout", f"{kind.decode()} after a DATA section", offset=start - 16)
            seen.add(kind)
            body = _verified(data, start, length)
            if kind == b"META":
                metadata = _metadata(bytes(body), start, limits)
            else:  # its size cap (16 MiB, [Graph]) is checked with the rest of GRAPH.md §2
                graph, graph_at = bytes(body), start
        elif 0x41 <= kind[0] <= 0x5A:
            raise EmbeddedFormatError("UnsupportedFeature", f"unknown critical section {kind.decode()}", offset=start - 16)
        else:  # unknown ancillary section: skipped (§3), after its CRC so that a flipped case bit in
            _verified(data, start, length)  # "META"/"GRPH" cannot silently drop that section
    if len(payloads) != len(entries):
        raise EmbeddedFormatError("Layout", f"{len(entries)} tensors but {len(payloads)} DATA sections", offset=PREAMBLE)
    if graph is not None:
        _graph(graph, {e.name for e in entries}, graph_at)
    if sum(e.nbytes for e in entries) > limits.max_total_bytes:
        raise EmbeddedFormatError("Limit", f"decoded tensors exceed {limits.max_total_bytes} bytes")
    tensors: dict[str, np.ndarray] = {}
    for entry, (start, length) in zip(entries, payloads):
        if not _crc_ok(data, start - 16, start + length):
            raise EmbeddedFormatError("Checksum", "DATA CRC mismatch", offset=start + length, tensor=entry.name)
        tensors[entry.name] = _payload(_In(data, start, start + length, entry.name, rans), entry, limits)
    return Decoded(tensors, metadata, graph)


def decode(data: bytes | bytearray | memoryview, *, limits: Limits | None = None) -> dict[str, np.ndarray]:
    """Every tensor of a file given as bytes, as {name: array} in table order."""
    return decode_file(data, limits=limits).tensors


def load(path: str | os.PathLike, *, limits: Limits | None = None) -> dict[str, np.ndarray]:
    """Every tensor of the file at ``path`` (its size is checked before it is read)."""
    limits = limits or Limits()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limits.max_file_bytes:
            raise EmbeddedFormatError("Limit", f"file of {size} bytes > limit {limits.max_file_bytes}", offset=0)
        return decode(fh.read(), limits=limits)
