"""Interleaved rANS with static tables: the RANS stream coding of format 1.1 (spec/FORMAT.md §6.1).

Why: static Huffman pays up to one bit per symbol of rounding loss on skewed
alphabets (gap streams, 5-bit codebooks); rANS with a 2**K-normalised table
codes each symbol in ``K - log2(f)`` bits. ``N = 2**j`` states ("lanes") each
decode one contiguous segment of the stream, so the NumPy decoder advances all
lanes per step and the compiled kernel runs independent lanes back to back.

This module knows nothing about containers: it builds and validates tables,
encodes and decodes symbol arrays, and raises ``FormatError`` subclasses with
offsets relative to the buffer it was given (``entropy.streams`` rebases them).
Every constant comes from ``container.format``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import accel
from ..errors import BitstreamError, RansTableError, TruncatedError
from ..container.format import (
    PREV_GAP_CONTEXTS,
    RANS_LOG2_LANES_MAX,
    RANS_STATE_LOW,
    RANS_WORD_BITS,
    RANS_WRITER_MIN_PER_LANE,
    RansModel,
    prev_gap_class,
)

__all__ = [
    "RansTables", "decode", "encode", "lanes_for", "normalise", "pack_tables", "prev_gap_classes", "read_tables",
    "segment_length",
]

_WORD_MASK = (1 << RANS_WORD_BITS) - 1
# Lane counts from which the NumPy step decoder (all lanes per step) serves instead of the per-symbol Python loop.
# Measured (loaded 2-core machine, 2**18 symbols): Python loop 0.48-0.53 M symbols/s at 8-32 lanes, NumPy steps
# 0.12 / 0.18 / 0.38 M/s at 8 / 16 / 32 lanes: ~15 us of call overhead per step only pays beyond the format's 32
# lanes, so by default the loop serves. The NumPy decoder stays the vectorised reference (tests run both paths).
NUMPY_MIN_LANES = 64
# The compiled kernel saves ~1 us per rANS symbol over the reference paths, ~60x what it saves per Huffman symbol,
# so accel's cost model (calibrated on Huffman symbols) is asked with the symbol count scaled by this factor.
KERNEL_WORK_FACTOR = 64


def segment_length(n: int, lanes: int) -> int:
    """S = ceil(n / N): symbols per lane segment (the last lane may own fewer)."""
    return -(-n // lanes)


def lanes_ok(n: int, lanes: int) -> bool:
    """§6.1.1: every lane owns at least one symbol, i.e. (N - 1) * S < n."""
    return (lanes - 1) * segment_length(n, lanes) < n


def lanes_for(n: int) -> int:
    """Writer rule (§11): the largest power of two N <= 32 with floor(n / N) >= 4096 (1 for short streams)."""
    lanes = 1
    while lanes * 2 <= 1 << RANS_LOG2_LANES_MAX and n // (lanes * 2) >= RANS_WRITER_MIN_PER_LANE:
        lanes *= 2
    return lanes


def prev_gap_classes(t: int) -> np.ndarray:
    """Context after each gap symbol 0..t-1 under the PREV_GAP model (format.prev_gap_class, tabulated)."""
    return np.array([prev_gap_class(g) for g in range(min(t, 16))] + [prev_gap_class(16)] * max(0, t - 16), np.int64)


# ----------------------------------------------------------------------------------------------- tables


def normalise(counts: np.ndarray, k: int) -> np.ndarray:
    """Frequencies summing to 2**k, >= 1 for every symbol that occurs (§11 obligation 1: largest remainder,
    ties to the lower symbol; overshoot from the minimum-1 bumps taken from the largest f, ties to the lower)."""
    m = 1 << k
    counts = np.asarray(counts, np.int64)
    n = int(counts.sum())
    present = counts > 0
    if int(present.sum()) > m:
        raise ValueError(f"{int(present.sum())} distinct symbols do not fit a 2**{k} table")
    num = counts * m  # exact: counts * 2**k fits int64 for any stream this library writes (n < 2**48)
    f = num // n
    frac = num - f * n  # fractional part, scaled by n (exact integer comparison)
    f[present & (f == 0)] = 1
    rem = m - int(f.sum())
    if rem > 0:
        order = np.lexsort((np.arange(f.size), -frac))
        order = order[present[order]]
        f[order[:rem]] += 1
    while rem < 0:
        order = np.lexsort((np.arange(f.size), -f))
        take = order[f[order] > 1][: -rem]
        f[take] -= 1
        rem = m - int(f.sum())
    return f


def table_bits(f: np.ndarray, k: int) -> int:
    """Bits of one used table's frequency fields (the used bit not included)."""
    remaining, bits = 1 << k, 0
    for v in np.asarray(f[:-1]).tolist():
        bits += remaining.bit_length()
        remaining -= v
    return bits


def pack_tables(freqs: list[np.ndarray | None], k: int) -> bytes:
    """§6.1.2: per context a used bit, then T-1 fields of bit_length(remaining budget) bits, MSB first, zero-padded."""
    acc, nbits = 0, 0
    for f in freqs:
        acc, nbits = (acc << 1) | (f is not None), nbits + 1
        if f is None:
            continue
        remaining = 1 << k
        for v in np.asarray(f[:-1]).tolist():
            w = remaining.bit_length()
            acc, nbits = (acc << w) | v, nbits + w
            remaining -= v
    spare = (-nbits) % 8
    return (acc << spare).to_bytes((nbits + spare) // 8, "big")


@dataclass(frozen=True)
class RansTables:
    """The decoded tables of one stream: per context its frequencies (None = unused) and the slot lookups."""

    k: int
    freqs: tuple[np.ndarray | None, ...]
    nbytes: int  # bytes the tables take in the stream

    @property
    def used(self) -> np.ndarray:
        return np.array([f is not None for f in self.freqs], bool)

    def slot_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per (context, slot): symbol, its frequency and ``slot - cum[symbol]`` (unused contexts: zeros),
        flattened to ``ctx * 2**K + slot`` so one gather per step serves every lane."""
        m = 1 << self.k
        n_ctx = len(self.freqs)
        t = max(f.size for f in self.freqs if f is not None)
        sym = np.zeros(n_ctx * m, np.uint32 if t > 1 << 16 else np.uint16)
        freq = np.zeros(n_ctx * m, np.uint32)
        bias = np.zeros(n_ctx * m, np.uint32)
        slots = np.arange(m, dtype=np.int64)
        for c, f in enumerate(self.freqs):
            if f is None:
                continue
            s = np.repeat(np.arange(f.size), f)
            cum = np.concatenate(([0], np.cumsum(f)[:-1]))
            sym[c * m:(c + 1) * m] = s
            freq[c * m:(c + 1) * m] = f[s]
            bias[c * m:(c + 1) * m] = slots - cum[s]
        return sym, freq, bias


def read_tables(buf: memoryview | bytes, n_ctx: int, t: int, k: int) -> RansTables:
    """Parse and validate the tables at the start of ``buf`` (§6.1.2); errors carry offsets within ``buf``.

    Reads field by field, so a table is never longer than the bytes present
    [Truncated]; checks every field against its budget, the trimmed last
    symbol, at least one used table [RansTable] and zero padding [Bitstream].
    """
    data = bytes(buf[: min(len(buf), n_ctx * (1 + t * (k + 1)) // 8 + 2)])
    total_bits = 8 * len(data)
    pos = 0

    def take(width: int, what: str) -> int:
        nonlocal pos
        if pos + width > total_bits:
            raise TruncatedError(f"RANS tables end inside {what} (need {pos + width} bits, {total_bits} present)",
                                 offset=len(data))
        if width == 0:
            return 0
        first, last = pos >> 3, (pos + width - 1) >> 3
        chunk = int.from_bytes(data[first:last + 1], "big")
        v = (chunk >> (8 * (last + 1) - pos - width)) & ((1 << width) - 1)
        pos += width
        return v

    freqs: list[np.ndarray | None] = []
    last_used = False
    for c in range(n_ctx):
        if not take(1, f"the used bit of table {c}"):
            freqs.append(None)
            continue
        f = np.empty(t, np.int64)
        remaining = 1 << k
        for s in range(t - 1):
            at = pos >> 3
            v = take(remaining.bit_length(), f"table {c} frequency {s}")
            if v > remaining:
                raise RansTableError(f"table {c}: frequency {v} of symbol {s} exceeds the remaining budget "
                                     f"{remaining} (frequencies must sum to 2**{k})", offset=at)
            f[s] = v
            remaining -= v
        f[t - 1] = remaining
        last_used |= remaining > 0
        freqs.append(f)
    if all(f is None for f in freqs):
        raise RansTableError("no table is used (at least one context must have a table)", offset=0)
    if not last_used:
        raise RansTableError(f"symbol T-1 = {t - 1} has frequency 0 in every table; T must be minimal (trimmed)",
                             offset=max(0, (pos - 1) >> 3))
    nbytes = (pos + 7) >> 3
    spare = 8 * nbytes - pos
    if spare and data[nbytes - 1] & ((1 << spare) - 1):
        raise BitstreamError("RANS table padding bits are not zero", offset=nbytes - 1)
    return RansTables(k, tuple(freqs), nbytes)


# ----------------------------------------------------------------------------------------------- contexts


def _fixed_contexts(model: int, n: int, ctx: np.ndarray | None) -> np.ndarray | None:
    if model == RansModel.ROW_CLASS:
        if ctx is None or ctx.size != n:
            raise ValueError("the ROW_CLASS model needs one context per symbol")
        return np.asarray(ctx, np.int64)
    return None


def symbol_contexts(syms: np.ndarray, model: int, lanes: int, ctx: np.ndarray | None) -> np.ndarray:
    """The context of every symbol (encoder side; all symbols are known)."""
    n = syms.size
    if model == RansModel.NONE:
        return np.zeros(n, np.int64)
    if model == RansModel.ROW_CLASS:
        return np.asarray(ctx, np.int64)
    cls = prev_gap_classes(int(syms.max()) + 1)
    out = np.empty(n, np.int64)
    out[1:] = cls[syms[:-1]]
    out[:: segment_length(n, lanes)] = 0  # first symbol of every lane's segment
    return out


def n_contexts(model: int, n_classes: int) -> int:
    return {RansModel.NONE: 1, RansModel.PREV_GAP: PREV_GAP_CONTEXTS, RansModel.ROW_CLASS: n_classes}[model]


# ----------------------------------------------------------------------------------------------- encode


def encode(syms: np.ndarray, model: int, freqs: list[np.ndarray | None], k: int, lanes: int,
           ctx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(states, words) of the decoder's §6.1.4 procedure: u32 initial states per lane, u16 words in read order.

    Lanes run backwards from L through their segments; the words each step
    emits (lanes descending) are collected and reversed at the end. The numba
    kernel serves whenever the compiled kernels are available (DCFORMAT_ACCEL
    not 0): encoding is opt-in work where its import cost always pays.
    """
    syms = np.asarray(syms, np.int64)
    n = syms.size
    contexts = symbol_contexts(syms, model, lanes, ctx)
    f_tab = np.zeros((len(freqs), max(f.size for f in freqs if f is not None)), np.int64)
    c_tab = np.zeros_like(f_tab)
    for c, f in enumerate(freqs):
        if f is not None:
            f_tab[c, : f.size] = f
            c_tab[c, : f.size] = np.concatenate(([0], np.cumsum(f)[:-1]))
    per_f, per_c = f_tab[contexts, syms], c_tab[contexts, syms]
    kernels = accel._import("dcformat.entropy._kernels") if accel.available() else None
    if kernels is not None:  # same integers, ~100x faster than the Python loop
        states, emitted = kernels.rans_encode(per_f.astype(np.uint32), per_c.astype(np.uint32), n, lanes, k)
        return states, emitted[::-1].copy()
    return _encode_scalar(per_f.tolist(), per_c.tolist(), n, lanes, k)


def _encode_scalar(fs: list[int], cs: list[int], n: int, lanes: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The encoder with Python ints (no numba): steps S-1..0, lanes N-1..0, as the kernel."""
    seg = segment_length(n, lanes)
    x = [RANS_STATE_LOW] * lanes
    out: list[int] = []
    shift = 32 - k
    for t in range(seg - 1, -1, -1):
        for j in range(min(lanes, (n - 1 - t) // seg + 1) - 1, -1, -1):
            i = j * seg + t
            f, xj = fs[i], x[j]
            if xj >= f << shift:
                out.append(xj & _WORD_MASK)
                xj >>= RANS_WORD_BITS
            q, r = divmod(xj, f)
            x[j] = (q << k) + r + cs[i]
    out.reverse()
    return np.array(x, np.uint32), np.array(out, np.uint16)


# ----------------------------------------------------------------------------------------------- decode


def decode(states: np.ndarray, words: np.ndarray, n: int, tables: RansTables, model: int,
           ctx: np.ndarray | None = None, *, words_at: int = 0, states_at: int = 0) -> np.ndarray:
    """The §6.1.4 procedure: ``n`` symbols (uint32) from the lanes' initial states and the words.

    ``ctx`` holds the context of every symbol for ROW_CLASS; PREV_GAP derives
    it from the lane's previous symbol. Raises BitstreamError (offsets relative
    to the stream: ``words_at``/``states_at``) for a context without a table,
    words exhausted, words left over, or a lane not ending on L. The compiled
    kernel serves when loaded and returns exactly this or declines.
    """
    lanes = states.size
    fixed = _fixed_contexts(model, n, ctx)
    if fixed is not None:
        unused = np.flatnonzero(~tables.used[fixed])
        if unused.size:
            i = int(unused[0])
            raise BitstreamError(f"symbol {i} has context {int(fixed[i])}, whose table is not used", offset=states_at)
    sym, freq, bias = tables.slot_tables()
    kernels = accel.load("dcformat.entropy._kernels", n * KERNEL_WORK_FACTOR)
    if kernels is not None:
        out = _decode_compiled(kernels, states, words, n, tables, model, fixed, sym, freq, bias)
        if out is not None:
            return out
    return _decode_numpy(states, words, n, tables, model, fixed, sym, freq, bias, words_at, states_at)


def _decode_compiled(kernels, states, words, n, tables, model, fixed, sym, freq, bias) -> np.ndarray | None:
    t = max(f.size for f in tables.freqs if f is not None)
    prev_cls = prev_gap_classes(t).astype(np.uint32)
    used = tables.used.astype(np.uint8)
    ctx = fixed if fixed is not None else np.zeros(1, np.int64)
    out, status = kernels.rans(states.astype(np.uint32), words.astype(np.uint32), n, tables.k, int(model), ctx,
                               prev_cls, used, sym.astype(np.uint32), freq, bias)
    return out if status == 0 else None


def _decode_numpy(states, words, n, tables, model, fixed, sym, freq, bias, words_at, states_at) -> np.ndarray:
    lanes = states.size
    k = tables.k
    m = 1 << k
    seg = segment_length(n, lanes)
    nwords = words.size
    if lanes < NUMPY_MIN_LANES:
        return _decode_scalar(states, words, n, tables, model, fixed, sym, freq, bias, words_at, states_at)
    x = states.astype(np.uint32)
    w = np.concatenate((words.astype(np.uint32), np.zeros(lanes, np.uint32)))
    out = np.empty((lanes, seg), np.uint32)
    mask, kk, low = np.uint32(m - 1), np.uint32(k), np.uint32(RANS_STATE_LOW)
    t_max = max(f.size for f in tables.freqs if f is not None)
    prev_cls = prev_gap_classes(t_max).astype(np.uint32)
    used = tables.used
    ctx = np.zeros(lanes, np.uint32)
    fixed_m = None
    if fixed is not None:
        fixed_m = np.concatenate((fixed, np.zeros(seg * lanes - n, np.int64))).astype(np.uint32).reshape(lanes, seg) * np.uint32(m)
    ptr = 0
    for t in range(seg):
        live = min(lanes, (n - 1 - t) // seg + 1)
        xl = x[:live]
        slot = xl & mask
        if model == RansModel.NONE:
            idx = slot
        elif fixed_m is not None:
            idx = fixed_m[:live, t] + slot
        else:
            c = ctx[:live]
            if not used[c].all():
                j = int(np.flatnonzero(~used[c])[0])
                raise BitstreamError(f"lane {j}, symbol {j * seg + t}: context {int(c[j])} has no table",
                                     offset=states_at)
            idx = c * np.uint32(m) + slot
        s = sym[idx]
        xl = freq[idx] * (xl >> kk) + bias[idx]
        need = xl < low
        got = int(np.count_nonzero(need))
        if got:
            if ptr + got > nwords:
                raise BitstreamError(f"renormalisation words exhausted at step {t} ({nwords} words)",
                                     offset=words_at + 2 * nwords)
            pos = np.cumsum(need, dtype=np.int64) + (ptr - 1)
            xl = np.where(need, (xl << np.uint32(RANS_WORD_BITS)) | w[pos], xl)
            ptr += got
        x[:live] = xl
        out[:live, t] = s
        if model == RansModel.PREV_GAP:
            ctx[:live] = prev_cls[s]
    _check_end(ptr, nwords, x, words_at, states_at)
    return out.reshape(-1)[:n]


def _decode_scalar(states, words, n, tables, model, fixed, sym, freq, bias, words_at, states_at) -> np.ndarray:
    """Lanes one symbol at a time with Python ints, in the spec's order. NumPy steps cost ~20 us whatever the
    lane count, so below ``NUMPY_MIN_LANES`` lanes this is the faster reference path (~1 us per symbol)."""
    k, m = tables.k, 1 << tables.k
    mask = m - 1
    lanes = len(states)
    seg = segment_length(n, lanes)
    sym_l, freq_l, bias_l = sym.tolist(), freq.tolist(), bias.tolist()
    w = words.tolist()
    nwords = len(w)
    t_max = max(f.size for f in tables.freqs if f is not None)
    prev_cls = prev_gap_classes(t_max).tolist()
    used = tables.used.tolist()
    fixed_l = fixed.tolist() if fixed is not None else None
    x = [int(v) for v in states]
    ctx = [0] * lanes
    out = [0] * n
    ptr = 0
    low = RANS_STATE_LOW
    for t in range(seg):
        for j in range(min(lanes, (n - 1 - t) // seg + 1)):
            i = j * seg + t
            if fixed_l is not None:
                c = fixed_l[i]
            else:
                c = ctx[j]
                if not used[c]:
                    raise BitstreamError(f"lane {j}, symbol {i}: context {c} has no table", offset=states_at)
            idx = c * m + (x[j] & mask)
            s = sym_l[idx]
            v = freq_l[idx] * (x[j] >> k) + bias_l[idx]
            if v < low:
                if ptr == nwords:
                    raise BitstreamError(f"renormalisation words exhausted at symbol {i} ({nwords} words)",
                                         offset=words_at + 2 * nwords)
                v = (v << RANS_WORD_BITS) | w[ptr]
                ptr += 1
            x[j] = v
            out[i] = s
            if model == RansModel.PREV_GAP:
                ctx[j] = prev_cls[s]
    _check_end(ptr, nwords, np.array(x, np.int64), words_at, states_at)
    return np.array(out, np.uint32)


def _check_end(ptr: int, nwords: int, x: np.ndarray, words_at: int, states_at: int) -> None:
    if ptr != nwords:
        raise BitstreamError(f"{nwords - ptr} renormalisation words left over after the last symbol",
                             offset=words_at + 2 * ptr)
    bad = np.flatnonzero(x != RANS_STATE_LOW)
    if bad.size:
        j = int(bad[0])
        raise BitstreamError(f"lane {j} ends in state {int(x[j])}, not L = {RANS_STATE_LOW} (corrupt stream)",
                             offset=states_at + 4 * j)
