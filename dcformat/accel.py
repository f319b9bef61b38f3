"""Optional compiled kernels for the two sequential hot loops of decoding (``pip install dcformat[fast]``).

Why: a Huffman bit stream and a relative-index gap stream are inherently
sequential (each codeword starts where the previous one ended; each column is
the previous one plus a gap). NumPy can only vectorise them with tricks that
cost several passes (the self-synchronising lane decoder in
``entropy/huffman.py``; cumulative sums in ``sparse/relative_index.py``). When
numba is installed, these kernels do one compiled pass instead, about 3x
faster for Huffman and 5x for positions.

They are accelerators, not a second definition of the format: each kernel
either returns exactly what the NumPy path returns or reports that the input
is invalid, in which case the caller runs the NumPy path, which raises the
library's error with its usual message. Tests run both paths on the same
valid and corrupt inputs.

Set ``DCFORMAT_ACCEL=0`` to force the pure NumPy path (numba is never
imported then). Streams shorter than ``MIN_SYMBOLS`` always take the NumPy path.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import Any, Callable

import numpy as np

__all__ = ["available", "huffman_decode", "positions", "scatter"]


def _wanted() -> bool:
    return os.environ.get("DCFORMAT_ACCEL", "1").strip().lower() not in ("0", "false", "no", "off")


@lru_cache(maxsize=1)
def _kernels() -> tuple[Callable[..., Any], ...] | None:
    """Compile-on-first-use kernels, or None without numba (or when disabled)."""
    if not _wanted():
        return None
    try:
        from numba import njit
    except Exception:  # not installed, or broken (e.g. an llvmlite mismatch): NumPy does the work
        return None

    @njit(cache=True, nogil=True)
    def huffman_kernel(data, n, table, tbits, limit, first_code, first_rank, order, max_len):  # pragma: no cover
        # Bit reader: a 64-bit accumulator refilled a byte at a time, big-endian
        # bit order (spec §6.1); bytes past the buffer read as zero, and the
        # `pos + length > total` test below stops at the first codeword that
        # does not end inside the buffer.
        total = data.size * 8
        out = np.empty(n, np.uint32)
        acc = np.uint64(0)
        nbits = 0
        bp = 0
        pos = 0
        peek_mask = np.uint64((1 << max_len) - 1)
        for i in range(n):
            while nbits <= 56:
                b = data[bp] if bp < data.size else 0
                acc = (acc << np.uint64(8)) | np.uint64(b)
                bp += 1
                nbits += 8
            peek = (acc >> np.uint64(nbits - max_len)) & peek_mask
            e = table[peek >> np.uint64(max_len - tbits)]
            length = e & 31
            if length == 0:
                # Longer than the table: canonical search. For a complete
                # canonical code the first length whose prefix is below
                # limit[L] = first_code[L] + count[L] is the codeword's length.
                length = tbits + 1
                while True:
                    if length > max_len:  # impossible for a validated complete code
                        return out[:i], i, -1
                    pre = peek >> np.uint64(max_len - length)
                    if pre < limit[length]:
                        sym = order[first_rank[length] + np.int64(pre - first_code[length])]
                        break
                    length += 1
            else:
                sym = e >> 5
            if pos + length > total:
                return out[:i], i, pos
            out[i] = sym
            nbits -= length
            pos += length
        return out, n, pos

    @njit(cache=True, nogil=True)
    def positions_kernel(counts, gaps, cols, stride, indptr, indices, rows):  # pragma: no cover
        # Returns 0 when every entry was placed and every rule of spec §5.2
        # holds, 1 otherwise (the caller then lets the NumPy path say why).
        j = 0
        e = 0
        n_sym = gaps.size
        for r in range(counts.size):
            c = counts[r]
            indptr[r] = e
            col = -1
            for _ in range(c):
                while True:
                    if j >= n_sym:
                        return 1
                    g = gaps[j]
                    j += 1
                    if g == 0:
                        col += stride
                    else:
                        col += g
                        break
                indices[e] = col
                rows[e] = r
                e += 1
            if c and col >= cols:
                return 1
        indptr[counts.size] = e
        if j != n_sym:
            return 1
        return 0

    @njit(cache=True, nogil=True)
    def scatter_kernel(out, rows, indices, symbols, codebook, cols):  # pragma: no cover
        # One pass instead of NumPy's gather + flat-index + scatter (three arrays of nnz).
        size = codebook.size
        for e in range(symbols.size):
            s = symbols[e]
            if s >= size:
                return 1
            at = rows[e] * cols + indices[e]
            if at < 0 or at >= out.size:  # positions were validated; never trust that blindly here
                return 1
            out[at] = codebook[s]
        return 0

    return huffman_kernel, positions_kernel, scatter_kernel


def available() -> bool:
    """True when the compiled kernels are in use (numba installed and DCFORMAT_ACCEL not 0)."""
    return _kernels() is not None


# Below this many symbols the NumPy paths take well under a millisecond, far less than
# importing numba (~0.35 s once per process): small files alone never import it.
# Once numba is imported (by us or anyone) the kernels serve every stream.
MIN_SYMBOLS = 1 << 16



def _for(n_symbols: int):
    """The kernels for a stream of this length, or None when NumPy is the better choice (or the only one)."""
    if n_symbols >= MIN_SYMBOLS or "numba" in sys.modules:
        return _kernels()
    return None


_TABLE_BITS = 16  # first-level table: 2**16 uint32 (256 KiB); longer codes take the canonical search


def huffman_decode(data: np.ndarray, n: int, order: np.ndarray, used_lengths: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """Decode up to ``n`` codewords of a validated complete canonical code; None without the kernels.

    Same contract as ``entropy.huffman._decode_sequential``: returns
    ``(symbols, m, end_bits)`` with ``m = min(n, complete codewords)``.
    ``order`` is rank -> symbol and ``used_lengths`` the (non-decreasing)
    length of each rank.
    """
    k = _for(n)
    if k is None:
        return None
    max_len = int(used_lengths[-1])
    tbits = min(max_len, _TABLE_BITS)
    short = used_lengths <= tbits
    entries = (order[short].astype(np.uint32) << np.uint32(5)) | used_lengths[short].astype(np.uint32)
    table = np.zeros(1 << tbits, np.uint32)  # 0 = "longer than tbits"
    filled = np.repeat(entries, np.left_shift(1, tbits - used_lengths[short]))
    table[: filled.size] = filled  # canonical: short codes take the lowest peeks, in rank order
    counts = np.bincount(used_lengths, minlength=max_len + 2).astype(np.int64)
    first_code = np.zeros(max_len + 2, np.uint64)
    limit = np.zeros(max_len + 2, np.uint64)
    first_rank = np.zeros(max_len + 2, np.int64)
    code = rank = 0
    for length in range(1, max_len + 1):
        code = (code + int(counts[length - 1])) << 1 if length > 1 else 0
        first_code[length], limit[length], first_rank[length] = code, code + int(counts[length]), rank
        rank += int(counts[length])
    syms, m, end = k[0](data, n, table, tbits, limit, first_code, first_rank, order.astype(np.uint32), max_len)
    return None if end < 0 else (syms, int(m), int(end))


def positions(counts: np.ndarray, gaps: np.ndarray, cols: int, index_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """CSR ``(indptr, indices, rows)`` from row counts and gap symbols; None without the kernels or if invalid.

    The caller has already checked that the stream holds at least
    ``sum(counts)`` symbols, so the allocations are backed by file bytes.
    """
    k = _for(gaps.size)
    if k is None:
        return None
    nnz = int(counts.sum(dtype=np.int64))
    indptr = np.empty(counts.size + 1, np.int64)
    indices = np.empty(nnz, np.int64)
    rows = np.empty(nnz, np.int64)
    if nnz > gaps.size:
        return None
    status = k[1](counts.astype(np.int64), gaps, int(cols), (1 << index_bits) - 1, indptr, indices, rows)
    return None if status else (indptr, indices, rows)


def scatter(out: np.ndarray, rows: np.ndarray, indices: np.ndarray, symbols: np.ndarray, codebook: np.ndarray, cols: int) -> bool:
    """``out[rows * cols + indices] = codebook[symbols]`` for a float32 ``out``; False when not done here.

    The caller's positions were validated (every index < cols, rows in range),
    so every write lands inside ``out``; symbols are re-checked against the
    codebook size.
    """
    k = _for(symbols.size)
    if k is None or out.dtype != np.float32 or codebook.dtype != np.float32:
        return False
    return k[2](out, rows, indices, symbols, codebook, int(cols)) == 0
