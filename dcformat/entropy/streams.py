"""Symbol streams: one coding byte, then FIXED, HUFFMAN, CONSTANT or (format 1.1) RANS data.

A stream carries ``n`` symbols in ``[0, alphabet)``; both numbers come from the
caller's context (tensor header), never from the stream. The writer picks the
coding deterministically (smallest total bytes, ties to FIXED) and the reader
validates every header field and table before it touches the payload, so no
count read here makes the reader allocate or loop beyond the bytes present.

Layout (all multi-byte integers are minimal LEB128 varints)::

    coding  u8        0 FIXED | 1 HUFFMAN | 2 CONSTANT | 3 RANS
    FIXED:    width u8 (1..32), ceil(n*width/8) bytes of width-bit symbols
    CONSTANT: symbol varint (< alphabet)
    HUFFMAN:  lw u8 (1..5), T varint (2..alphabet), nbytes varint,
              ceil(T*lw/8) bytes of lw-bit code lengths, nbytes of codewords
    RANS:     params u8 (K-10 | j << 3 | model << 6), T varint, nwords varint,
              bit-packed frequency tables, 2**j u32 states, nwords u16 words (§6.1; entropy.rans)

RANS streams are written only when the caller asks (``rans=True``); the
reader accepts them only where the context allows their model, and only in a
file whose header announces them (``rans_allowed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field as _field

import numpy as np

from ..binary import Cursor, varint
from ..errors import (
    BitstreamError,
    FormatError,
    HuffmanTableError,
    LimitError,
    RansTableError,
    UnsupportedFeatureError,
)
from ..container.format import (
    CONSTANT,
    FIXED,
    HUFFMAN,
    MAX_RANS_RATIO,
    RANS,
    RANS_K_MAX,
    RANS_K_MIN,
    RANS_LOG2_LANES_MAX,
    RANS_PARAM_K_MASK,
    RANS_PARAM_K_SHIFT,
    RANS_PARAM_LANES_MASK,
    RANS_PARAM_LANES_SHIFT,
    RANS_PARAM_MODEL_MASK,
    RANS_PARAM_MODEL_SHIFT,
    RANS_STATE_BYTES,
    RANS_STATE_LOW,
    RANS_WORD_BYTES,
    RANS_WRITER_K,
    RANS_WRITER_KS_SHORT,
    RANS_WRITER_SHORT_STREAM,
    MAX_ALPHABET,
    MAX_CODE_LEN,
    MAX_LW,
    MAX_WIDTH,
    FixedStreamHeader,
    HuffmanStreamHeader,
    RansModel,
    RansStreamHeader,
    StreamHeader,
)
from . import rans as _rans
from .bitpack import pack_bits, unpack_bits
from .huffman import code_lengths, huffman_decode, huffman_encode, validate_lengths


__all__ = ["RansContext", "StreamInfo", "parse_stream", "read_stream", "skip_stream", "stream_size", "write_stream",
           "FIXED", "HUFFMAN", "CONSTANT", "RANS"]


@dataclass(frozen=True)
class RansContext:
    """What the container tells a stream about RANS (§6.1.3): which context models this stream may use, the
    number of row classes (ROW_CLASS) and, when decoding or writing a ROW_CLASS stream, each symbol's row class."""

    models: tuple[int, ...] = (RansModel.NONE,)
    n_classes: int = 1
    row_class: np.ndarray | None = None
    allowed: bool = True  # False: the file header does not announce RANS streams (flag bit 0 clear)


PLAIN = RansContext()


@dataclass(frozen=True)
class StreamInfo:
    """What a stream costs in the file, without decoding its payload."""

    coding: str  # "fixed" | "huffman" | "constant" | "rans"
    nbytes: int  # whole stream, coding byte included
    table_bytes: int  # Huffman code-length table (0 otherwise)
    data_bytes: int  # payload: fixed-width symbols or codeword data
    width: int | None = None  # FIXED only
    code_lengths: np.ndarray | None = _field(default=None, repr=False, compare=False)  # HUFFMAN (T entries)
    constant: int | None = None  # CONSTANT only
    rans: "_RansParsed | None" = _field(default=None, repr=False, compare=False)  # RANS only


@dataclass(frozen=True)
class _RansParsed:
    model: int
    tables: "_rans.RansTables"
    states: np.ndarray  # uint32, one per lane
    words: np.ndarray  # uint16
    states_at: int  # offsets within the stream's payload view (for errors)
    words_at: int


def _rebased(cur: Cursor, field: str, err: FormatError, base: int) -> FormatError:
    """Re-raise a buffer-relative error from bitpack/huffman at its absolute offset."""
    at = base + (err.offset or 0)
    return cur.error(type(err), field, err.reason, at=at)


def _check_context(cur: Cursor, n: int, alphabet: int, field: str) -> None:
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise cur.error(LimitError, field, f"symbol count {n} is not a non-negative integer")
    if not 1 <= alphabet <= MAX_ALPHABET:
        raise cur.error(LimitError, field, f"alphabet size {alphabet} outside 1..2**32")


def _parse(cur: Cursor, n: int, alphabet: int, field: str, rc: RansContext = PLAIN
           ) -> tuple[StreamInfo, memoryview, int]:
    """Read and validate header and table; take the payload bytes.

    Returns the info, the payload view and the payload's absolute offset.
    """
    _check_context(cur, n, alphabet, field)
    start = cur.pos
    coding, at = next(cur.fields(StreamHeader, field))
    if coding == FIXED:
        width, at = next(cur.fields(FixedStreamHeader, field))
        if not 1 <= width <= MAX_WIDTH:
            raise cur.error(LimitError, field, f"FIXED width {width} outside 1..{MAX_WIDTH}", at=at)
        nbytes = (n * width + 7) >> 3
        base = cur.offset
        payload = cur.take(nbytes, field)
        info = StreamInfo("fixed", cur.pos - start, 0, nbytes, width=width)
        return info, payload, base
    if coding == CONSTANT:
        at = cur.offset
        sym = cur.varint(field)
        if sym >= alphabet:
            raise cur.error(
                BitstreamError, field, f"CONSTANT symbol {sym} >= alphabet size {alphabet}", at=at
            )
        info = StreamInfo("constant", cur.pos - start, 0, 0, constant=sym)
        return info, cur.take(0, field), cur.offset
    if coding == HUFFMAN:
        lw, at = next(cur.fields(HuffmanStreamHeader, field))
        if not 1 <= lw <= MAX_LW:
            raise cur.error(HuffmanTableError, field, f"length-field width {lw} outside 1..{MAX_LW}", at=at)
        at = cur.offset
        t = cur.varint(field)
        if t < 2:
            raise cur.error(HuffmanTableError, field, f"table has {t} entries; at least 2 are needed", at=at)
        if t > alphabet:
            raise cur.error(
                HuffmanTableError,
                field,
                f"table has {t} entries but the alphabet has {alphabet} symbols",
                at=at,
            )
        at_nbytes = cur.offset
        data_bytes = cur.varint(field)
        table_bytes = (t * lw + 7) >> 3
        table_at = cur.offset
        table = cur.take(table_bytes, field)  # bounds T by the bytes present before unpacking
        try:
            lengths = unpack_bits(table, t, lw).astype(np.uint8)
            if lengths[-1] == 0:
                raise HuffmanTableError(
                    f"last table entry (symbol {t - 1}) is unused; the table must be trimmed",
                    offset=table_bytes - 1,
                )
            validate_lengths(lengths)
        except FormatError as err:
            raise _rebased(cur, field, err, table_at) from None
        if n > 8 * data_bytes:
            raise cur.error(
                LimitError,
                field,
                f"{n} symbols need at least {n} bits but nbytes is {data_bytes} ({8 * data_bytes} bits)",
                at=at_nbytes,
            )
        base = cur.offset
        payload = cur.take(data_bytes, field)
        info = StreamInfo("huffman", cur.pos - start, table_bytes, data_bytes, code_lengths=lengths)
        return info, payload, base
    if coding == RANS:
        return _parse_rans(cur, n, alphabet, field, rc, start, at)
    raise cur.error(UnsupportedFeatureError, field, f"unknown stream coding {coding}", at=at)


def _parse_rans(cur: Cursor, n: int, alphabet: int, field: str, rc: RansContext, start: int, at: int
                ) -> tuple[StreamInfo, memoryview, int]:
    """§6.1.1 header and tables, every bound checked before a state or word is read."""
    if not rc.allowed:
        raise cur.error(UnsupportedFeatureError, field,
                        "RANS stream in a file whose header does not set flag bit 0 (RANS_STREAMS)", at=at)
    params, params_at = next(cur.fields(RansStreamHeader, field))
    at = params_at
    k = RANS_K_MIN + ((params >> RANS_PARAM_K_SHIFT) & RANS_PARAM_K_MASK)
    log2_lanes = (params >> RANS_PARAM_LANES_SHIFT) & RANS_PARAM_LANES_MASK
    model = (params >> RANS_PARAM_MODEL_SHIFT) & RANS_PARAM_MODEL_MASK
    if k > RANS_K_MAX:
        raise cur.error(RansTableError, field, f"precision K = {k} outside {RANS_K_MIN}..{RANS_K_MAX}", at=at)
    if log2_lanes > RANS_LOG2_LANES_MAX:
        raise cur.error(LimitError, field, f"2**{log2_lanes} lanes exceed the limit of {1 << RANS_LOG2_LANES_MAX}",
                        at=at)
    if model not in rc.models:
        what = "reserved" if model > max(RansModel) else "not allowed for this stream"
        raise cur.error(UnsupportedFeatureError, field, f"context model {model} is {what}", at=at)
    lanes = 1 << log2_lanes
    at = cur.offset
    t = cur.varint(field)
    if not 2 <= t <= min(alphabet, 1 << k):
        raise cur.error(RansTableError, field, f"T = {t} outside 2..min(alphabet {alphabet}, 2**K = {1 << k})",
                        at=at)
    nwords = cur.varint(field)
    n_ctx = _rans.n_contexts(model, rc.n_classes)
    table_at = cur.offset
    try:
        tables = _rans.read_tables(cur.buf[cur.pos:cur.end], n_ctx, t, k)
    except FormatError as err:
        raise _rebased(cur, field, err, table_at) from None
    cur.take(tables.nbytes, field)
    if not _rans.lanes_ok(n, lanes):
        raise cur.error(BitstreamError, field, f"{lanes} lanes for {n} symbols leave a lane without symbols",
                        at=params_at)
    base = cur.offset
    payload = cur.take(RANS_STATE_BYTES * lanes + RANS_WORD_BYTES * nwords, field)
    if n > MAX_RANS_RATIO * (cur.pos - start):
        raise cur.error(LimitError, field, f"{n} symbols from a {cur.pos - start}-byte stream exceed the ratio cap "
                        f"{MAX_RANS_RATIO}", at=start + cur.base)
    states = np.frombuffer(payload, "<u4", lanes).astype(np.uint32)
    low = np.flatnonzero(states < RANS_STATE_LOW)
    if low.size:
        j = int(low[0])
        raise cur.error(BitstreamError, field, f"initial state of lane {j} is {int(states[j])} < L = {RANS_STATE_LOW}",
                        at=base + 4 * j)
    words = np.frombuffer(payload, "<u2", nwords, RANS_STATE_BYTES * lanes).astype(np.uint16)
    parsed = _RansParsed(model, tables, states, words, 0, RANS_STATE_BYTES * lanes)
    info = StreamInfo("rans", cur.pos - start, tables.nbytes, len(payload), rans=parsed)
    return info, payload, base


def parse_stream(
    cur: Cursor, n: int, alphabet: int, field: str, *, decode: bool = True, rans: RansContext = PLAIN
) -> tuple[StreamInfo, np.ndarray | None]:
    """The stream at the cursor: its info and, when ``decode``, its ``n`` symbols in ``[0, alphabet)`` (uint32).

    Header and table are always validated and the payload is always stepped
    over; ``decode=False`` skips only the symbol checks (FIXED ranges, Huffman
    codewords and padding), so the symbols are None. Every failure is a
    :class:`FormatError` subclass naming ``field`` and an absolute byte offset.
    """
    info, payload, base = _parse(cur, n, alphabet, field, rans)
    if not decode:
        return info, None
    try:
        if info.coding == "constant":
            return info, np.full(n, info.constant, dtype=np.uint32)
        if info.coding == "fixed":
            syms = unpack_bits(payload, n, info.width)
            if info.width < 32 and alphabet >= 1 << info.width:
                return info, syms
            bad = np.flatnonzero(syms >= alphabet)
            if bad.size:
                i = int(bad[0])
                raise BitstreamError(
                    f"symbol {i} is {int(syms[i])} >= alphabet size {alphabet}", offset=(i * info.width) >> 3
                )
            return info, syms
        if info.coding == "rans":
            r = info.rans
            return info, _rans.decode(r.states, r.words, n, r.tables, r.model, rans.row_class,
                                      words_at=r.words_at, states_at=r.states_at)
        return info, huffman_decode(payload, n, info.code_lengths)
    except FormatError as err:
        raise _rebased(cur, field, err, base) from None


def skip_stream(cur: Cursor, n: int, alphabet: int, field: str, *, rans: RansContext = PLAIN) -> StreamInfo:
    """Validate header and table and step over the payload without decoding it (see :func:`parse_stream`)."""
    return parse_stream(cur, n, alphabet, field, decode=False, rans=rans)[0]


def read_stream(cur: Cursor, n: int, alphabet: int, field: str, *, rans: RansContext = PLAIN) -> np.ndarray:
    """Decode one stream of ``n`` symbols in ``[0, alphabet)`` at the cursor (uint32); see :func:`parse_stream`."""
    return parse_stream(cur, n, alphabet, field, rans=rans)[1]


# ----------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------


def _as_symbols(symbols: np.ndarray, alphabet: int) -> np.ndarray:
    if not 1 <= alphabet <= MAX_ALPHABET:
        raise ValueError(f"alphabet size {alphabet} outside 1..2**32")
    syms = np.asarray(symbols)
    if syms.ndim != 1:
        syms = syms.reshape(-1)
    if syms.size == 0:
        return syms.astype(np.uint32)
    if syms.dtype.kind not in "iu":
        raise ValueError(f"symbols must be integers, got {syms.dtype}")
    lo, hi = int(syms.min()), int(syms.max())
    if lo < 0 or hi >= alphabet:
        raise ValueError(f"symbols must lie in [0, {alphabet}), found [{lo}, {hi}]")
    return syms


def _fixed(syms: np.ndarray, width: int) -> bytes:
    return StreamHeader.build(coding=FIXED) + FixedStreamHeader.build(width=width) + pack_bits(syms, width)


def _huffman_plan(syms: np.ndarray, hi: int, budget: int) -> tuple[np.ndarray, int, int] | None:
    """Code lengths, lw and total size for HUFFMAN, or None if it cannot beat ``budget`` bytes."""
    t = hi + 1
    if 3 + ((t + 7) >> 3) >= budget:  # the table alone (>= 1 bit per entry) is too big
        return None
    freqs = np.bincount(syms.astype(np.int64, copy=False), minlength=t)
    if np.count_nonzero(freqs) > 1 << MAX_CODE_LEN:
        return None
    lengths = code_lengths(freqs, MAX_CODE_LEN)
    lw = int(lengths.max()).bit_length()
    bits = int(np.dot(freqs.astype(np.int64), lengths.astype(np.int64)))
    data_bytes = (bits + 7) >> 3
    size = 2 + len(varint(t)) + len(varint(data_bytes)) + ((t * lw + 7) >> 3) + data_bytes
    return lengths, lw, size


def stream_size(symbols: np.ndarray, alphabet: int) -> int:
    """``len(write_stream(symbols, alphabet))`` without packing a bit: the writer compares candidate layouts
    (row classes) by this, and packing each candidate's codewords only to measure it cost most of an encode."""
    syms = _as_symbols(symbols, alphabet)
    n = syms.size
    if n == 0:
        return 2
    lo, hi = int(syms.min()), int(syms.max())
    if lo == hi:
        return 1 + len(varint(lo))
    fixed_size = 2 + ((n * max(1, hi.bit_length()) + 7) >> 3)
    plan = _huffman_plan(syms, hi, fixed_size)
    return fixed_size if plan is None or plan[2] >= fixed_size else plan[2]


def _rans_candidates(syms: np.ndarray, hi: int, rc: RansContext) -> list[bytes]:
    """Every RANS stream the writer may write for these symbols: one per allowed model and writer precision K
    (models ascending, then K ascending, so ``min`` by size breaks ties as §11 says)."""
    n = syms.size
    t = hi + 1
    lanes = _rans.lanes_for(n)
    out = []
    for model in sorted(rc.models):
        ctx = rc.row_class if model == RansModel.ROW_CLASS else None
        if model == RansModel.ROW_CLASS and (ctx is None or rc.n_classes < 2):
            continue
        n_ctx = _rans.n_contexts(model, rc.n_classes)
        contexts = _rans.symbol_contexts(syms, model, lanes, ctx)
        counts = np.bincount(contexts * t + syms.astype(np.int64), minlength=n_ctx * t).reshape(n_ctx, t)
        for k in _writer_ks(n):
            if t > 1 << k:
                continue
            freqs = [_rans.normalise(c, k) if c.any() else None for c in counts]
            states, words = _rans.encode(syms, model, freqs, k, lanes, ctx)
            params = ((k - RANS_K_MIN) << RANS_PARAM_K_SHIFT) | ((lanes.bit_length() - 1) << RANS_PARAM_LANES_SHIFT) \
                | (int(model) << RANS_PARAM_MODEL_SHIFT)
            data = b"".join([
                StreamHeader.build(coding=RANS), RansStreamHeader.build(params=params), varint(t), varint(words.size),
                _rans.pack_tables(freqs, k), states.astype("<u4").tobytes(), words.astype("<u2").tobytes(),
            ])
            if n <= MAX_RANS_RATIO * len(data):  # a stream over the ratio cap would be rejected by readers
                out.append(data)
    return out


def _writer_ks(n: int) -> tuple[int, ...]:
    """Precisions the writer tries for a stream of n symbols (§11)."""
    return RANS_WRITER_KS_SHORT if n <= RANS_WRITER_SHORT_STREAM else (RANS_WRITER_K,)


def write_stream(
    symbols: np.ndarray, alphabet: int, *, mode: str = "auto", width: int | None = None, rans: RansContext | None = None
) -> bytes:
    """Serialise symbols in ``[0, alphabet)`` as one stream.

    ``mode="fixed"`` writes FIXED with the given ``width`` (the paper's fixed
    code/index widths). ``mode="auto"`` writes CONSTANT for n == 0 or one
    distinct symbol, else the smallest of HUFFMAN, FIXED(bit_length(max)) and,
    when ``rans`` is given, RANS with each model it allows; ties go to the lower
    coding number, then the lower model. Output is a pure function of the inputs.
    """
    syms = _as_symbols(symbols, alphabet)
    n = syms.size
    if mode == "fixed":
        if width is None or not 1 <= width <= MAX_WIDTH:
            raise ValueError(f"mode='fixed' needs a width in 1..{MAX_WIDTH}, got {width}")
        if n and int(syms.max()) >> width:
            raise ValueError(f"symbol {int(syms.max())} does not fit in {width} bits")
        return _fixed(syms, width)
    if mode != "auto":
        raise ValueError(f"unknown mode {mode!r}")
    if width is not None:
        raise ValueError("width is only used with mode='fixed'")
    if n == 0:
        return StreamHeader.build(coding=CONSTANT) + varint(0)
    lo, hi = int(syms.min()), int(syms.max())
    if lo == hi:
        return StreamHeader.build(coding=CONSTANT) + varint(lo)
    w = max(1, hi.bit_length())
    fixed_size = 2 + ((n * w + 7) >> 3)
    plan = _huffman_plan(syms, hi, fixed_size)
    best = fixed_size if plan is None or plan[2] >= fixed_size else plan[2]
    if rans is not None:
        candidates = _rans_candidates(syms, hi, rans)
        if candidates:
            cheapest = min(candidates, key=len)  # min keeps the first (lower model) on ties
            if len(cheapest) < best:
                return cheapest
    if plan is None or plan[2] >= fixed_size:
        return _fixed(syms, w)
    lengths, lw, _ = plan
    data, _ = huffman_encode(syms, lengths)
    return (
        StreamHeader.build(coding=HUFFMAN)
        + HuffmanStreamHeader.build(lw=lw)
        + varint(lengths.size)
        + varint(len(data))
        + pack_bits(lengths, lw)
        + data
    )
