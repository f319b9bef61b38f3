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

When they run: the first use in a process costs ~0.3 s (importing numba and
loading the cached machine code), while they save ~30 ns per stored entry, so
a one-shot load of a typical model is faster without them. By default
(``DCFORMAT_ACCEL`` unset or ``auto``) they serve every stream once numba is
imported anyway (by the inference kernels, a ``Model`` with convolutions, or
the application), and otherwise only streams of at least ``MIN_SYMBOLS``.
``DCFORMAT_ACCEL=1`` uses them for every stream (long-running services that
decode many files); ``DCFORMAT_ACCEL=0`` never (numba is not imported).
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import Any, Callable

import numpy as np

__all__ = ["available", "huffman_decode", "positions", "sparse_to_dense"]


def _mode() -> str:
    """DCFORMAT_ACCEL as "off", "on" or "auto" (unset or anything else)."""
    value = os.environ.get("DCFORMAT_ACCEL", "auto").strip().lower()
    if value in ("0", "false", "no", "off"):
        return "off"
    return "on" if value in ("1", "true", "yes", "on") else "auto"


def _wanted() -> bool:
    return _mode() != "off"


@lru_cache(maxsize=1)
def _kernels() -> tuple[Callable[..., Any], ...] | None:
    """The compiled kernels, or None without numba. Callers check DCFORMAT_ACCEL first (it is read on every call,
    this import only once)."""
    try:
        from . import _decode_kernels as k
    except Exception:  # numba not installed, or broken (e.g. an llvmlite mismatch): NumPy does the work
        return None
    return k.huffman, k.positions, k.dense


def available() -> bool:
    """True when the compiled kernels are in use (numba installed and DCFORMAT_ACCEL not 0)."""
    return _wanted() and _kernels() is not None


# A stream this long saves (~15 ns per symbol) about the one-time cost of loading numba (see the module docstring).
MIN_SYMBOLS = 1 << 24


def wants(n_symbols: int) -> bool:
    """Whether a stream of this length should go to the kernels (see the module docstring)."""
    return _for(n_symbols) is not None


def _for(n_symbols: int):
    """The kernels for a stream of this length, or None when NumPy is the better choice (or the only one)."""
    mode = _mode()
    if mode == "on" or (mode == "auto" and (n_symbols >= MIN_SYMBOLS or "numba" in sys.modules)):
        return _kernels()
    return None


_TABLE_BITS = 16  # first-level table: 2**16 uint32 (256 KiB); longer codes take the canonical search
MULTI = 4  # codewords per multi-symbol lookup
_MULTI_BITS = 12  # multi-symbol table: 2**12 peeks (~0.2 ms to build, so only for long streams)
_MULTI_MIN_SYMBOLS = 1 << 15


def _multi_table(code: Any, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every ``width``-bit peek: the up to MULTI whole codewords it starts with, their count and total bits.

    Why: short codes (4-6 bits for 5-bit codebooks) leave most of a peek
    unused; decoding 2-3 codewords per lookup doubles the kernel's speed.
    Built greedily for all peeks at once, one codeword position per round.
    """
    one_rank, one_len = code.peek_table(width)
    one_sym = code.order.astype(np.uint32)[one_rank]
    peeks = np.arange(1 << width, dtype=np.int64)
    syms = np.zeros((1 << width, MULTI), np.uint32)
    count = np.zeros(1 << width, np.int64)
    used = np.zeros(1 << width, np.int64)
    alive = np.ones(1 << width, bool)
    for t in range(MULTI):
        rest = (peeks << used) & ((1 << width) - 1)  # the unread bits, left-aligned
        ln = one_len[rest]
        alive &= (ln > 0) & (ln <= width - used)  # the whole codeword lies inside the peek
        syms[alive, t] = one_sym[rest[alive]]
        used[alive] += ln[alive]
        count += alive
    return syms, count.astype(np.uint8), used.astype(np.uint8)


_NO_MULTI = (np.zeros((1, MULTI), np.uint32), np.zeros(1, np.uint8), np.zeros(1, np.uint8))


def huffman_decode(data: np.ndarray, n: int, code: Any) -> tuple[np.ndarray, int, int] | None:
    """Decode up to ``n`` codewords of a validated complete canonical code; None without the kernels.

    Same contract as ``entropy.huffman._decode_sequential``: returns
    ``(symbols, m, end_bits)`` with ``m = min(n, complete codewords)``.
    ``code`` is the ``entropy.huffman._Code`` of the stream's length table.
    """
    k = _for(n)
    if k is None:
        return None
    tbits = min(code.max_len, _TABLE_BITS)
    ranks, lens = code.peek_table(tbits)
    table = (ranks << np.uint32(5)) | lens.astype(np.uint32)  # length 0 = "longer than tbits": canonical search
    first_code, limit, first_rank = code.limits()
    multi, m_width = (_multi_table(code, _MULTI_BITS), _MULTI_BITS) if n >= _MULTI_MIN_SYMBOLS else (_NO_MULTI, 0)
    syms, m, end = k[0](data, n, table, tbits, limit, first_code, first_rank, code.order.astype(np.uint32), code.max_len,
                        *multi, m_width)
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
    if nnz > gaps.size:  # every entry needs a symbol: nothing is allocated for counts the stream cannot back
        return None
    indptr = np.empty(counts.size + 1, np.int64)
    indices = np.empty(nnz, np.int64)
    rows = np.empty(nnz, np.int64)
    status = k[1](counts.astype(np.int64), gaps, int(cols), (1 << index_bits) - 1, indptr, indices, rows)
    return None if status else (indptr, indices, rows)


def sparse_to_dense(
    out: np.ndarray,
    counts: np.ndarray,
    cls_of_row: np.ndarray,
    gap_streams: list[np.ndarray],
    symbols: np.ndarray,
    codebook: np.ndarray,
    cols: int,
    index_bits: int,
) -> bool:
    """Fill the zeroed float32 ``out`` (rows * cols) from row counts, per-class gaps and value symbols.

    False when the kernels are off or the streams break a rule (``out`` is
    then partly written and must be discarded).
    """
    k = _for(symbols.size)
    if k is None or out.dtype != np.float32 or codebook.dtype != np.float32:
        return False
    counts = counts.astype(np.int64)
    if out.size != counts.size * int(cols):
        return False
    indptr = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    if int(indptr[-1]) != symbols.size:
        return False
    stride = (1 << index_bits) - 1
    single = len(gap_streams) == 1
    for c, gaps in enumerate(gap_streams):
        class_rows = np.arange(counts.size, dtype=np.int64) if single else np.flatnonzero(cls_of_row == c)
        if k[2](out, int(cols), stride, indptr, class_rows, gaps, symbols, codebook):
            return False
    return True
