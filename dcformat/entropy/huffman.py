"""Length-limited canonical Huffman codes: build, validate, encode, strictly decode.

Code lengths come from package-merge (optimal under a length limit; equal in
cost to plain Huffman when the limit does not bind). Codes are canonical as in
DEFLATE, so a stream stores only the lengths. Decoding is strict: the length
table must be a complete prefix code (integer Kraft sum exactly 1) before any
bit is read, because bitarray's C decoder does not check Kraft itself
(BAD_INPUTS B5.1).

Errors raised here carry ``offset`` **relative to the buffer passed in**;
:mod:`dcformat.entropy.streams` rebases them to absolute file offsets.
"""

from __future__ import annotations

from collections import deque
from itertools import count as _count
from itertools import islice

import numpy as np
from bitarray import bitarray
from bitarray.util import canonical_decode

from .. import accel
from ..errors import BitstreamError, HuffmanTableError, LimitError
from .bitpack import _as_bytes_array, check_padding, pack_codes

from ..container.format import MAX_CODE_LEN

_KRAFT_ONE = 1 << MAX_CODE_LEN

__all__ = [
    "MAX_CODE_LEN",
    "code_lengths",
    "validate_lengths",
    "canonical_codes",
    "huffman_encode",
    "huffman_decode",
]


# ----------------------------------------------------------------------------
# Building code lengths
# ----------------------------------------------------------------------------


def code_lengths(freqs: np.ndarray, max_len: int = MAX_CODE_LEN) -> np.ndarray:
    """Optimal code lengths (uint8, 0 = unused) for ``freqs`` with no length above ``max_len``.

    Package-merge (Larmore & Hirschberg), vectorised per level. Ties are broken
    by (frequency, symbol value), so the result is deterministic. Needs at least
    two symbols with non-zero frequency (a single-symbol stream is written as
    CONSTANT instead) and at most ``2**max_len`` of them.
    """
    f = np.asarray(freqs).reshape(-1)
    if f.dtype.kind not in "iu":
        raise ValueError(f"frequencies must be integers, got {f.dtype}")
    if not 1 <= max_len <= 32:
        raise ValueError(f"max_len {max_len} outside 1..32")
    if f.size and int(f.min()) < 0:
        raise ValueError("negative frequency")
    used = np.flatnonzero(f)
    m = len(used)
    if m < 2:
        raise ValueError(f"a prefix code needs at least 2 used symbols, got {m}")
    if m > (1 << max_len):
        raise ValueError(f"{m} symbols cannot have codes of at most {max_len} bits")
    w = f[used].astype(np.int64)
    if int(w.max()) > (1 << 57) // m:  # keeps every package weight inside int64
        raise ValueError("frequencies too large (total may reach 2**57)")
    order = np.argsort(w, kind="stable")  # by (frequency, symbol)
    ws = w[order]
    levels = min(max_len, m - 1)  # an optimal code never needs more than m-1 bits

    # Bottom-up: the list at the deepest level holds only leaves; each level up
    # merges the leaves with packages (pairs) of the level below. Keep where
    # each leaf landed; leaves precede equal-weight packages.
    leaf_pos = [np.arange(m)]
    items = ws
    ar = np.arange(m)
    for _ in range(levels - 1):
        half = len(items) // 2
        pk = items[0 : 2 * half : 2] + items[1 : 2 * half : 2]
        lp = ar + np.searchsorted(pk, ws, side="left")
        pp = np.arange(half) + np.searchsorted(ws, pk, side="right")
        merged = np.empty(m + half, dtype=np.int64)
        merged[lp] = ws
        merged[pp] = pk
        leaf_pos.append(lp)
        items = merged

    # Top-down: select the 2m-2 cheapest items of the top list; a selected
    # prefix holds the first x leaves and packages that expand to a prefix
    # twice as long one level down. A leaf's length = levels it is selected in.
    diff = np.zeros(m + 1, dtype=np.int64)
    take = 2 * m - 2
    for lp in reversed(leaf_pos):
        x = int(np.searchsorted(lp, take, side="left"))
        diff[0] += 1
        diff[x] -= 1
        take = 2 * (take - x)
    lens_sorted = np.cumsum(diff[:m])
    out = np.zeros(f.size, dtype=np.uint8)
    out[used[order]] = lens_sorted
    return out


# ----------------------------------------------------------------------------
# Validating and canonical codes
# ----------------------------------------------------------------------------


def _lengths_array(lengths: np.ndarray) -> np.ndarray:
    ls = np.asarray(lengths).reshape(-1)
    if ls.dtype.kind not in "iu":
        raise HuffmanTableError(f"code lengths must be integers, got {ls.dtype}")
    return ls


def validate_lengths(lengths: np.ndarray) -> None:
    """Raise :class:`HuffmanTableError` unless ``lengths`` is a complete prefix code.

    Rules (spec, entropy stage): every length <= MAX_CODE_LEN; at least two
    symbols used; Kraft sum exactly 1, checked in integers as
    ``sum(2**(24 - len)) == 2**24``. Over-subscribed codes are not prefix-free
    and incomplete ones leave bit patterns that decode to nothing.
    """
    ls = _lengths_array(lengths)
    bad = np.flatnonzero((ls > MAX_CODE_LEN) | (ls < 0)) if ls.size else ls[:0]
    if bad.size:
        s = int(bad[0])
        raise HuffmanTableError(f"code length {int(ls[s])} > MAX_CODE_LEN {MAX_CODE_LEN} for symbol {s}")
    counts = np.bincount(ls.astype(np.int64), minlength=MAX_CODE_LEN + 1)
    used = int(ls.size - counts[0])
    if used < 2:
        raise HuffmanTableError(f"only {used} symbol(s) have a code; a Huffman table needs at least 2")
    kraft = sum(int(counts[ln]) << (MAX_CODE_LEN - ln) for ln in range(1, MAX_CODE_LEN + 1))
    if kraft > _KRAFT_ONE:
        raise HuffmanTableError(f"over-subscribed code: Kraft sum {kraft}/2**24 > 1")
    if kraft < _KRAFT_ONE:
        raise HuffmanTableError(f"incomplete code: Kraft sum {kraft}/2**24 < 1")


def _canonical_order(ls: np.ndarray) -> np.ndarray:
    """Used symbols sorted by (length, symbol value): the canonical order."""
    used = np.flatnonzero(ls)
    return used[np.argsort(ls[used], kind="stable")]


def _first_codes(counts: np.ndarray) -> np.ndarray:
    """First (numerically smallest) canonical code of each length, from the number of codes per length (index 0 unused)."""
    first = np.zeros(counts.size, dtype=np.int64)
    code = 0
    for ln in range(1, counts.size):
        code = (code + int(counts[ln - 1])) << 1 if ln > 1 else 0
        first[ln] = code
    return first


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """DEFLATE-style canonical codes (uint32; 0 for unused symbols).

    The first code of the shortest length is all zeros and each next code is
    ``(previous + 1) << (length difference)``. Does not validate; call
    :func:`validate_lengths` first for untrusted tables.
    """
    ls = _lengths_array(lengths).astype(np.int64)
    codes = np.zeros(ls.size, dtype=np.uint32)
    if ls.size == 0 or not ls.any():
        return codes
    max_l = int(ls.max())
    counts = np.bincount(ls, minlength=max_l + 1)
    counts[0] = 0
    first = _first_codes(counts)
    order = _canonical_order(ls)
    sl = ls[order]
    group_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(order.size) - group_start[sl]
    codes[order] = (first[sl] + rank).astype(np.uint32)
    return codes


# ----------------------------------------------------------------------------
# Encoding
# ----------------------------------------------------------------------------


def huffman_encode(symbols: np.ndarray, lengths: np.ndarray) -> tuple[bytes, int]:
    """Concatenate the canonical codewords of ``symbols`` MSB first.

    Returns ``(zero-padded bytes, total bits)``. ``lengths`` must be a valid
    table and every symbol must have a code (``ValueError`` otherwise).
    """
    ls = _lengths_array(lengths)
    validate_lengths(ls)
    syms = np.asarray(symbols).reshape(-1)
    if syms.size == 0:
        return b"", 0
    if syms.dtype.kind not in "iu":
        raise ValueError(f"symbols must be integers, got {syms.dtype}")
    if int(syms.min()) < 0 or int(syms.max()) >= ls.size:
        raise ValueError(f"symbol outside the {ls.size}-entry code table")
    sl = ls.astype(np.int64)[syms]
    if not sl.all():
        i = int(np.argmin(sl))
        raise ValueError(f"symbol {int(syms[i])} at index {i} has no code")
    return pack_codes(canonical_codes(ls)[syms], sl)


# ----------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------


class _Code:
    """Decoder tables derived once from a validated length table."""

    def __init__(self, ls: np.ndarray) -> None:
        self.lengths = ls.astype(np.int64)
        self.order = _canonical_order(self.lengths)  # rank -> symbol
        self.used_lengths = self.lengths[self.order]  # non-decreasing
        self.max_len = int(self.used_lengths[-1])
        self.min_len = int(self.used_lengths[0])
        counts = np.bincount(self.used_lengths, minlength=self.max_len + 1)
        self.count = [int(c) for c in counts]

    def bitarray_tables(self) -> tuple[list[int], list[int]]:
        return self.count, self.order.tolist()

    def peek_table(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Canonical rank and length of the codeword each ``width``-bit peek starts with (length 0: longer than
        ``width``); ``self.order[rank]`` is the symbol.

        In canonical order the codes cover consecutive peek ranges, so this is
        one np.repeat over the codes that fit. Ranks stay below 2**24 (a
        complete code of lengths <= 24 has at most 2**24 codes), so they can
        share a uint32 with a 5-bit length, which symbols (up to 2**32 - 1) cannot.
        """
        fits = self.used_lengths <= width
        span = np.left_shift(1, width - self.used_lengths[fits])
        covered = int(span.sum())
        ranks = np.zeros(1 << width, dtype=np.uint32)
        lens = np.zeros(1 << width, dtype=np.int64)
        ranks[:covered] = np.repeat(np.arange(int(fits.sum()), dtype=np.uint32), span)
        lens[:covered] = np.repeat(self.used_lengths[fits], span)
        return ranks, lens

    def limits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per length L: first code, first code + number of codes (the first L-bit prefix that is no codeword), first rank.

        A decoder finds a codeword's length as the smallest L whose L-bit
        prefix is below limit[L] (complete canonical codes only).
        """
        counts = np.asarray(self.count + [0], dtype=np.int64)
        first = _first_codes(counts)
        rank = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return first.astype(np.uint64), (first + counts).astype(np.uint64), rank.astype(np.int64)


def _decode_sequential(
    data: np.ndarray, n: int, code: _Code, start_bit: int = 0
) -> tuple[np.ndarray, int, int]:
    """Reference path: bitarray's C canonical decoder from ``start_bit``.

    Returns ``(symbols, m, end_bits)``: the first ``m = min(n, complete
    codewords)`` symbols and the absolute bit position after them.
    """
    a = bitarray(endian="big")
    a.frombytes(data.tobytes())
    if start_bit:
        a = a[start_bit:]
    count, symbol = code.bitarray_tables()
    try:
        syms = np.fromiter(islice(canonical_decode(a, count, symbol), n), dtype=np.uint32, count=n)
    except ValueError:
        # Fewer than n complete codewords: count them at C speed (zip stops
        # before advancing the counter when the decoder raises or ends).
        counter = _count()
        try:
            deque(zip(islice(canonical_decode(a, count, symbol), n), counter), maxlen=0)
        except ValueError:
            pass
        m = next(counter)
        syms = np.fromiter(islice(canonical_decode(a, count, symbol), m), dtype=np.uint32, count=m)
    end = start_bit + int(code.lengths[syms].sum())
    return syms, len(syms), end


# ----------------------------------------------------------------------------
# Parallel-lane decoder: same results as _decode_sequential, about 2x faster
#
# A stream is one bit sequence, so its codeword boundaries are inherently
# sequential. The lane decoder splits a batch of bits into chunks of about
# _LANE_BITS and starts one lane per chunk *as if* a codeword began there; all
# lanes step together, one table lookup per lane per step (NumPy vectorises
# across lanes). Huffman codes self-synchronise: a lane started at a wrong bit
# soon lands on a true codeword boundary and from then on decodes exactly what
# the true path decodes. Lane j runs a sync window past its chunk end; the
# first bit position that lanes j and j+1 both visit proves their trails equal
# from there on (decoding from a position is deterministic), so the true path
# is stitched from lane 0, which starts at a proven position, through each
# meeting point (lane j up to it, lane j+1 from it). Nothing is guessed: a
# lane pair that does not meet cuts the batch short there (the next batch
# starts at a proven position), frequent cuts widen the window, and past
# _LANE_BITS // 2 the sequential decoder takes over from the last proven
# position. Output and errors are therefore those of the sequential path; the
# tests compare both on valid and corrupt streams.
# ----------------------------------------------------------------------------

_LANE_BITS = 1024
_BATCH_BITS = 1 << 22  # bits per batch: bounds the step matrices to ~10 MiB
_SYNC_BITS = 128  # first sync window; doubled when lanes keep failing to meet
_MAX_TABLE_BITS = 20  # peek table of 2**max_len uint32 entries, at most 4 MiB
_MAX_RESCUES = 32  # unmet lane pairs per batch searched exhaustively before cutting
_LANE_MIN_BITS = 1 << 21  # below ~2000 lanes NumPy call overhead beats the gain


def _lane_table(code: _Code) -> tuple[np.ndarray, bool]:
    """Table over every max_len-bit peek: (symbol-or-rank << 5) | code length.

    In canonical order the codes cover consecutive peek ranges, so the table
    is one np.repeat. Symbols are stored directly when they fit in 27 bits,
    else ranks (mapped to symbols at the end).
    """
    direct = int(code.order.max()) < (1 << 27)
    ranks, lens = code.peek_table(code.max_len)
    val = code.order.astype(np.uint32)[ranks] if direct else ranks
    return (val << np.uint32(5)) | lens.astype(np.uint32), direct


def _first_at_or_after(flat: np.ndarray, k: int, s: int, values: np.ndarray) -> np.ndarray:
    """Per lane j < len(values): first step < s whose position >= values[j] (s if none).

    Vectorised binary search down the step-major matrix ``flat`` (k lanes);
    each lane's positions increase with the step.
    """
    lo = np.zeros(values.size, dtype=np.int64)
    hi = np.full(values.size, s, dtype=np.int64)
    lane = np.arange(values.size, dtype=np.int64)
    while True:
        act = lo < hi
        if not act.any():
            return lo
        mid = (lo + hi) >> 1
        v = flat[np.minimum(mid, s - 1) * k + lane]
        go = act & (v < values)
        lo = np.where(go, mid + 1, lo)
        hi = np.where(go | ~act, hi, mid)


class _Lanes:
    """Tables and scratch state shared by the batches of one decode."""

    def __init__(self, code: _Code) -> None:
        self.code = code
        self.table, self.direct = _lane_table(code)
        self.shift = np.uint32(32 - code.max_len)
        ul = code.used_lengths
        self.avg = float((ul * np.exp2(-ul.astype(np.float64))).sum())  # mean length on random bits
        self.sync = _SYNC_BITS
        # Generation-stamped marks of lane heads, indexed j * sync + (p - ends[j]).
        self.marker = np.zeros(0, dtype=np.int64)
        self.gen = 0

    def step(
        self, w: np.ndarray, starts: np.ndarray, target: np.ndarray, s_cap: int
    ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Decode all lanes in lockstep until every lane has reached its target.

        Returns (positions, entries, steps) as step-major uint32 matrices, or
        None after ``s_cap`` steps.
        """
        k = starts.size
        p_mat = np.empty((s_cap, k), dtype=np.uint32)  # position before each step
        e_mat = np.empty((s_cap, k), dtype=np.uint32)  # table entry decoded there
        pos = starts.astype(np.uint32)
        tgt = target.astype(np.uint32)
        tmp = np.empty(k, dtype=np.uint32)
        win = np.empty(k, dtype=np.uint32)
        table, shift = self.table, self.shift
        s = 0
        while True:
            if s == s_cap:
                return None
            p_mat[s] = pos
            np.right_shift(pos, 3, out=tmp)
            w.take(tmp, mode="clip", out=win)
            np.bitwise_and(pos, 7, out=tmp)
            np.left_shift(win, tmp, out=win)  # drops the bits before pos
            np.right_shift(win, shift, out=win)
            row = e_mat[s]
            table.take(win, mode="clip", out=row)
            np.bitwise_and(row, 31, out=tmp)
            np.add(pos, tmp, out=pos)
            s += 1
            if not s & 7 and (p_mat[s - 1] >= tgt).all():
                return p_mat, e_mat, s

    def meet(self, p_mat: np.ndarray, s: int, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each lane pair (j, j+1): steps a[j], b[j] at their first common position.

        Returns (a, b, met). Only positions below ``ends[j + 1]`` are compared,
        and the caller guarantees those were decoded from real bytes.
        """
        k = p_mat.shape[1]
        sync, flat = self.sync, p_mat.reshape(-1)
        pair = np.arange(k - 1, dtype=np.int64)
        q = min(s, sync // self.code.min_len + 2)  # steps that cover `sync` bits
        hlim = np.minimum(ends[1:], ends[:-1] + sync)
        size = (k - 1) * sync
        if self.marker.size <= size:
            self.marker = np.zeros(size + 1, dtype=np.int64)
            self.gen = 0
        # Stamp lane j+1's first positions (inside [ends[j], hlim[j]), so no two
        # lanes share a mark) with gen + step + 1; older stamps are <= gen.
        slot = pair * sync - ends[:-1]
        head = p_mat[:q, 1:].astype(np.int64)
        self.marker[np.where(head < hlim, head + slot, size)] = self.gen + 1 + np.arange(q)[:, None]
        # Look lane j's positions up from where it crosses its chunk end.
        cross = _first_at_or_after(flat, k, s, ends[:-1])
        qstep = np.minimum(cross[None, :] + np.arange(q)[:, None], s - 1)
        qpos = flat[qstep * k + pair].astype(np.int64)
        ok = qpos < hlim
        got = self.marker[np.where(ok, qpos + slot, size)]
        hit = ok & (got > self.gen)
        base_gen = self.gen
        self.gen += q + 1
        met = hit.any(axis=0)
        first = hit.argmax(axis=0)
        a = qstep[first, pair]
        b = got[first, pair] - base_gen - 1
        unmet = np.flatnonzero(~met)
        if unmet.size <= _MAX_RESCUES:
            # Rare slow pairs: search every recorded step of both lanes.
            for j in unmet.tolist():
                tail = p_mat[cross[j] : s, j]
                tail = tail[tail < ends[j + 1]]  # a prefix: positions increase
                _, ia, ib = np.intersect1d(tail, p_mat[:s, j + 1], assume_unique=True, return_indices=True)
                if ia.size:
                    met[j] = True
                    a[j] = cross[j] + ia[0]
                    b[j] = ib[0]
        return a, b, met

    def batch(self, w: np.ndarray, g0: int, g1: int) -> tuple[np.ndarray, int, int] | None:
        """Decode the true path that starts at g0 while its positions are < g1.

        Positions are relative to the batch's first byte; ``w[j]`` is the
        big-endian 32-bit window at byte j. The caller makes ``w`` hold real
        bytes for every peek that starts below g1 (and zeros past the stream's
        end). Returns (table entries on the path, first path position >= cut,
        cut): ``cut`` is g1, or the end of the last lane whose successor failed
        to meet it (the batch is then cut short there). None means give up
        (far more steps than the code's statistics predict).
        """
        code, sync = self.code, self.sync
        k = max(1, (g1 - g0) // _LANE_BITS)
        cb = (g1 - g0) // k
        starts = g0 + np.arange(k, dtype=np.int64) * cb
        ends = starts + cb
        ends[-1] = g1
        target = ends + sync
        target[-1] = g1
        s_max = (2 * cb + sync) // code.min_len + 16  # every step advances >= min_len bits
        run = self.step(w, starts, target, min(s_max, int(3 * (cb + sync) / self.avg) + 64))
        if run is None:
            return None
        p_mat, e_mat, s = run
        cut = g1
        lo = np.zeros(1, dtype=np.int64)  # step where the true path enters each lane
        hi = np.zeros(1, dtype=np.int64)  # step where it leaves
        if k > 1:
            a, b, met = self.meet(p_mat, s, ends)
            if not met.all():
                k = int(np.argmin(met)) + 1  # keep lanes up to the first unmet pair
                cut = int(ends[k - 1])
            # The path enters lane j+1 at step b[j] and leaves lane j at a[j].
            # b[j] sits below ends[j+1] and a[j+1] at or above it, so every
            # segment is non-empty and ordered; check it anyway.
            lo = np.concatenate([[0], b[: k - 1]])
            hi = np.empty(k, dtype=np.int64)
            hi[:-1] = a[: k - 1]
            if (lo[:-1] >= hi[:-1]).any() or (p_mat[hi[:-1], np.arange(k - 1)] >= cut).any():
                return None
        last = p_mat[:s, k - 1]
        e_last = int(np.searchsorted(last, cut))  # first step at or past the cut
        if e_last >= s or lo[-1] > e_last:
            return None
        hi[-1] = e_last
        grid = np.arange(s, dtype=np.int64)[:, None]
        take = (grid >= lo) & (grid < hi)
        return e_mat[:s, :k].T[take.T], int(last[e_last]), cut


def _lanes_apply(data: np.ndarray, n: int, code: _Code) -> bool:
    """Whether the lane decoder beats the sequential one: long streams with a peek table of reasonable size."""
    return 8 * len(data) >= _LANE_MIN_BITS and code.max_len <= _MAX_TABLE_BITS and (1 << code.max_len) <= 16 * n


def _decode_lanes(data: np.ndarray, n: int, code: _Code) -> tuple[np.ndarray, int, int] | None:
    """Parallel-lane decode with sequential fallback; same contract as _decode_sequential.

    Returns None when the lane decoder does not apply (short stream, or a
    peek table that would be too large).
    """
    if not _lanes_apply(data, n, code):
        return None
    total = 8 * len(data)
    lanes = _Lanes(code)
    parts: list[np.ndarray] = []
    got = 0
    pos = 0  # absolute bit position proven to start a codeword of the true path
    done = False
    while lanes.sync <= _LANE_BITS // 2:
        if pos >= total:
            done = True  # every codeword that starts in the buffer is decoded
            break
        g1 = min(total, pos + _BATCH_BITS)
        if total - g1 < _BATCH_BITS // 2:
            g1 = total
        byte0 = pos >> 3
        base = 8 * byte0
        # Real bytes for every peek starting below g1 (max_len <= 24 bits),
        # then zeros: past the stream's end they stand for the padding, and
        # completeness is checked below.
        end_byte = min(len(data), (g1 + 7) // 8 + 3)
        chunk = np.zeros(end_byte - byte0 + 4, dtype=np.uint32)
        chunk[: end_byte - byte0] = data[byte0:end_byte]
        w = (chunk[:-3] << 24) | (chunk[1:-2] << 16) | (chunk[2:-1] << 8) | chunk[3:]
        res = lanes.batch(w, pos - base, g1 - base)
        if res is None:
            break
        ent, nxt, cut = res
        if 2 * (cut + base - pos) < g1 - pos:
            lanes.sync *= 2  # lanes met too rarely: widen the window
        if cut + base == total or got + ent.size >= n:
            # Keep at most n symbols, and only codewords that end in the buffer.
            ent = ent[: n - got]
            ends = pos + np.cumsum((ent & np.uint32(31)).astype(np.int64))
            complete = int(np.searchsorted(ends, total, side="right"))
            parts.append(ent[:complete])
            got += complete
            pos = int(ends[complete - 1]) if complete else pos
            done = True
            break
        parts.append(ent)
        got += ent.size
        pos = base + nxt
    ent = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)
    ent >>= np.uint32(5)
    syms = ent if lanes.direct else code.order.astype(np.uint32)[ent]
    if done:
        return syms, got, pos
    # Lanes gave up: finish from the last position proven to be on the true path.
    tail, m_tail, end = _decode_sequential(data, n - got, code, start_bit=pos)
    return np.concatenate([syms, tail]), got + m_tail, end


def _finish(data: np.ndarray, n: int, syms: np.ndarray, m: int, end_bits: int) -> np.ndarray:
    """Shared end-of-stream rules, so every decoder path fails identically."""
    total = 8 * len(data)
    if m < n:
        where = "inside a codeword " if end_bits < total else ""
        raise BitstreamError(
            f"bit stream ends {where}after {m} of {n} symbols", offset=end_bits >> 3
        )
    check_padding(data, end_bits)
    return syms


def huffman_decode(buf: bytes | memoryview | np.ndarray, n: int, lengths: np.ndarray) -> np.ndarray:
    """Decode exactly ``n`` symbols (uint32) from canonical codewords in ``buf``.

    Strict: the table must pass :func:`validate_lengths`; ``n <= 8 * len(buf)``
    is checked before decoding (:class:`LimitError`); the stream must hold ``n``
    complete codewords followed by fewer than 8 zero padding bits and nothing
    else (:class:`BitstreamError`).
    """
    ls = _lengths_array(lengths)
    validate_lengths(ls)
    if n < 0:
        raise ValueError("n must be >= 0")
    data = _as_bytes_array(buf)
    if n > 8 * len(data):
        raise LimitError(
            f"{n} symbols need at least {n} bits but the codeword data has only {8 * len(data)}",
            offset=0,
        )
    return _finish(data, n, *_decode(data, n, _Code(ls)))


def _decode(data: np.ndarray, n: int, code: _Code) -> tuple[np.ndarray, int, int]:
    """The one place that picks the Huffman decoder: compiled kernel, NumPy lanes, or bitarray's C decoder.

    All three return ``(symbols, m, end_bits)`` with the same meaning, so
    :func:`_finish` applies the same end-of-stream rules whichever ran.
    """
    kernels = accel.load("dcformat.entropy._kernels", n)
    if kernels is not None:
        return _decode_compiled(kernels, data, n, code)
    if _lanes_apply(data, n, code):
        return _decode_lanes(data, n, code)
    return _decode_sequential(data, n, code)


# ----------------------------------------------------------------------------
# Compiled decoder (entropy/_kernels.py): tables built here, one pass in numba
# ----------------------------------------------------------------------------

_TABLE_BITS = 16  # first-level table: 2**16 uint32 (256 KiB); longer codes take the canonical search
_MULTI_BITS = 12  # multi-symbol table: 2**12 peeks (~0.2 ms to build, so only for long streams)
_MULTI_MIN_SYMBOLS = 1 << 15


def _multi_table(code: _Code, width: int, multi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every ``width``-bit peek: the up to ``multi`` whole codewords it starts with, their count and total bits.

    Why: short codes (4-6 bits for 5-bit codebooks) leave most of a peek
    unused; decoding 2-3 codewords per lookup doubles the kernel's speed.
    Built greedily for all peeks at once, one codeword position per round.
    """
    one_rank, one_len = code.peek_table(width)
    one_sym = code.order.astype(np.uint32)[one_rank]
    peeks = np.arange(1 << width, dtype=np.int64)
    syms = np.zeros((1 << width, multi), np.uint32)
    count = np.zeros(1 << width, np.int64)
    used = np.zeros(1 << width, np.int64)
    alive = np.ones(1 << width, bool)
    for t in range(multi):
        rest = (peeks << used) & ((1 << width) - 1)  # the unread bits, left-aligned
        ln = one_len[rest]
        alive &= (ln > 0) & (ln <= width - used)  # the whole codeword lies inside the peek
        syms[alive, t] = one_sym[rest[alive]]
        used[alive] += ln[alive]
        count += alive
    return syms, count.astype(np.uint8), used.astype(np.uint8)


def _decode_compiled(kernels, data: np.ndarray, n: int, code: _Code) -> tuple[np.ndarray, int, int]:
    """The numba kernel; same contract as :func:`_decode_sequential` (which takes over if the kernel balks)."""
    tbits = min(code.max_len, _TABLE_BITS)
    ranks, lens = code.peek_table(tbits)
    table = (ranks << np.uint32(5)) | lens.astype(np.uint32)  # length 0 = "longer than tbits": canonical search
    first_code, limit, first_rank = code.limits()
    if n >= _MULTI_MIN_SYMBOLS:  # the table's width is the kernel's (kernels.MULTI codewords per lookup)
        multi, m_width = _multi_table(code, _MULTI_BITS, kernels.MULTI), _MULTI_BITS
    else:
        multi, m_width = (np.zeros((1, kernels.MULTI), np.uint32), np.zeros(1, np.uint8), np.zeros(1, np.uint8)), 0
    syms, m, end = kernels.huffman(data, n, table, tbits, limit, first_code, first_rank, code.order.astype(np.uint32),
                                   code.max_len, *multi, m_width)
    if end < 0:  # impossible for a validated complete code; the reference decoder says what it finds
        return _decode_sequential(data, n, code)
    return syms, int(m), int(end)
