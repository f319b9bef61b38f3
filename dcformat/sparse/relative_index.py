"""Relative sparse indexing with filler escapes (spec §5.3).

A matrix is split into rows (``shape[0]``) of ``cols`` entries. Each row stores
its kept entries in column order. Per entry, one *gap symbol* says how far it
is from the previous entry of the same row (or from the row start):

* symbol ``s`` in ``1 .. 2**b - 1``: skip ``s - 1`` zeros, then the entry;
* symbol ``0`` (the filler): skip ``2**b - 1`` zeros, no entry.

So a gap that does not fit in ``b`` bits becomes a run of fillers followed by
one entry, as in the paper's Fig. 2, but fillers carry no value: they cost a
gap symbol only, never a codebook index. Row counts (entries per row, fillers
excluded) give CSR's ``indptr`` directly, so any row is reachable without
walking the tensor from its start.

Everything here is vectorised: no Python loop runs per entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import accel
from ..errors import SparseIndexError


@dataclass(frozen=True)
class SparseStreams:
    """The three symbol sequences of a sparse tensor, plus the flat order of its entries."""

    counts: np.ndarray  # uint32[rows]: entries per row (fillers excluded)
    gaps: np.ndarray  # uint32[nnz + n_fillers]: gap symbols, 0 = filler
    positions: np.ndarray  # int64[nnz]: flat C-order positions of the entries, ascending

    @property
    def n_fillers(self) -> int:
        return int(self.gaps.size - self.positions.size)


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of a tensor seen as a matrix: (shape[0], prod(shape[1:])); ndim <= 1 is one row."""
    if len(shape) <= 1:
        n = 1
        for d in shape:
            n *= int(d)
        return 1, n
    cols = 1
    for d in shape[1:]:
        cols *= int(d)
    return int(shape[0]), cols


def encode_positions(positions: np.ndarray, rows: int, cols: int, index_bits: int) -> SparseStreams:
    """Turn ascending flat positions of kept entries into row counts and gap symbols."""
    positions = np.asarray(positions, dtype=np.int64)
    nnz = positions.size
    if nnz == 0:
        return SparseStreams(np.zeros(rows, np.uint32), np.zeros(0, np.uint32), positions)
    row = positions // cols
    col = positions - row * cols
    counts = np.bincount(row, minlength=rows).astype(np.uint32)
    prev_col = np.empty(nnz, np.int64)
    prev_col[0] = -1
    prev_col[1:] = col[:-1]
    row_start = np.ones(nnz, bool)
    row_start[1:] = row[1:] != row[:-1]
    prev_col[row_start] = -1
    skip = col - prev_col - 1  # zeros between this entry and the previous one of its row
    stride = (1 << index_bits) - 1
    n_esc = skip // stride
    rem = skip - n_esc * stride
    total = nnz + int(n_esc.sum())
    gaps = np.zeros(total, np.uint32)  # fillers are symbol 0
    real_at = np.arange(nnz, dtype=np.int64) + np.cumsum(n_esc)
    gaps[real_at] = (rem + 1).astype(np.uint32)
    return SparseStreams(counts, gaps, positions)


class Positions(NamedTuple):
    """CSR structure of the entries, plus each entry's row (needed anyway, kept for the dense scatter)."""

    indptr: np.ndarray  # int64[rows + 1]
    indices: np.ndarray  # int64[nnz]: column of each entry
    rows: np.ndarray  # int64[nnz]: row of each entry


def decode_positions(
    counts: np.ndarray,
    gaps: np.ndarray,
    cols: int,
    index_bits: int,
    *,
    tensor: str | None = None,
) -> Positions:
    """Rebuild CSR ``(indptr, indices)`` (and entry rows) from row counts and gap symbols, validating every position.

    Raises :class:`SparseIndexError` if the symbols do not describe exactly
    ``sum(counts)`` entries, if fillers trail the last entry, or if any entry
    falls at or beyond column ``cols`` of its row.
    """
    fast = _positions_compiled(counts, gaps, cols, index_bits)  # the compiled kernel, when the switch picks it
    if fast is not None:
        return fast
    # NumPy path (also the one that explains what is wrong when the kernel reports an invalid stream).
    rows = counts.size
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(counts, dtype=np.int64, out=indptr[1:])
    nnz = int(indptr[-1])
    real = gaps != 0
    real_at = np.flatnonzero(real)
    if real_at.size != nnz:
        raise SparseIndexError(
            f"gap stream holds {real_at.size} entries but the row counts sum to {nnz}",
            tensor=tensor,
            field="gaps",
        )
    if nnz == 0:
        if gaps.size:
            raise SparseIndexError("fillers without a following entry", tensor=tensor, field="gaps")
        return Positions(indptr, np.zeros(0, np.int64), np.zeros(0, np.int64))
    if real_at[-1] != gaps.size - 1:
        raise SparseIndexError(
            f"{gaps.size - 1 - int(real_at[-1])} fillers after the last entry", tensor=tensor, field="gaps"
        )
    stride = (1 << index_bits) - 1
    advance = gaps.astype(np.int64)
    advance[~real] = stride
    cursor = np.cumsum(advance)  # columns advanced since the start of the stream
    at_entry = cursor[real_at]
    # Each row restarts at column 0: subtract the cursor value after the previous row's last entry.
    before = np.zeros(nnz + 1, np.int64)
    before[1:] = at_entry
    row_of_entry = np.repeat(np.arange(rows, dtype=np.int64), counts.astype(np.int64))
    indices = at_entry - before[indptr[row_of_entry]] - 1
    nonempty = np.flatnonzero(counts)
    last = indices[indptr[nonempty + 1] - 1]
    bad = np.flatnonzero(last >= cols)
    if bad.size:
        r = int(nonempty[bad[0]])
        raise SparseIndexError(
            f"row {r}: column index {int(last[bad[0]])} >= n_cols {cols}", tensor=tensor, field="gaps"
        )
    return Positions(indptr, indices, row_of_entry)


KERNELS = "dcformat.sparse._kernels"


def _positions_compiled(counts: np.ndarray, gaps: np.ndarray, cols: int, index_bits: int) -> Positions | None:
    """CSR from the compiled kernel; None when the switch declines it (or numba is missing) or the stream breaks a
    rule (the NumPy path then says which).

    The caller has already checked that the stream holds at least ``sum(counts)``
    symbols, so the allocations are backed by file bytes.
    """
    k = accel.load(KERNELS, gaps.size)
    if k is None:
        return None
    nnz = int(counts.sum(dtype=np.int64))
    if nnz > gaps.size:  # every entry needs a symbol: nothing is allocated for counts the stream cannot back
        return None
    indptr = np.empty(counts.size + 1, np.int64)
    indices = np.empty(nnz, np.int64)
    rows = np.empty(nnz, np.int64)
    status = k.positions(counts.astype(np.int64), gaps, int(cols), (1 << index_bits) - 1, indptr, indices, rows)
    return None if status else Positions(indptr, indices, rows)


def dense_compiled(
    counts: np.ndarray,
    cls_of_row: np.ndarray,
    gap_streams: list[np.ndarray],
    symbols: np.ndarray,
    codebook: np.ndarray,
    cols: int,
    index_bits: int,
) -> np.ndarray | None:
    """The dense float32 matrix (flat, rows * cols) in one compiled pass per row class: positions and scatter fused,
    no CSR arrays in between. None when the switch declines the kernels (or numba is missing) or when the streams
    break a rule; the caller then takes the checked path on the same decoded streams.
    """
    k = accel.load(KERNELS, symbols.size)
    if k is None or codebook.dtype != np.float32:
        return None
    counts = counts.astype(np.int64)
    indptr = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    if int(indptr[-1]) != symbols.size:
        return None
    out = np.zeros(counts.size * int(cols), np.float32)
    stride = (1 << index_bits) - 1
    single = len(gap_streams) == 1
    for c, gaps in enumerate(gap_streams):
        class_rows = np.arange(counts.size, dtype=np.int64) if single else np.flatnonzero(cls_of_row == c)
        if k.dense(out, int(cols), stride, indptr, class_rows, gaps, symbols, codebook):
            return None
    return out


# --------------------------------------------------------------------------- row classes (spec §5.3)



def row_classes(counts: np.ndarray, class_min: np.ndarray) -> np.ndarray:
    """Class of each row: the number of thresholds its entry count reaches (0 = below the first)."""
    return np.searchsorted(np.asarray(class_min, np.int64), counts.astype(np.int64), side="right")


def candidate_class_mins(counts: np.ndarray, n_classes: int) -> np.ndarray:
    """Thresholds that split the non-empty rows into ``n_classes`` groups of similar size (quantiles of the counts).

    Why: a row's gap distribution depends on its density, which the decoder
    knows from the row counts before it reads any gap; one Huffman table per
    density class codes the gaps closer to their entropy than one table for all.
    """
    nonempty = np.sort(counts[counts > 0].astype(np.int64))
    if n_classes <= 1 or nonempty.size == 0:
        return np.zeros(0, np.int64)
    picks = nonempty[(np.arange(1, n_classes) * nonempty.size) // n_classes]
    return np.unique(np.maximum(picks, 1))


def split_gaps(streams: SparseStreams, class_min: np.ndarray) -> list[np.ndarray]:
    """The gap symbols of each class's rows, in row order (fillers travel with the entry they precede)."""
    cls_of_row = row_classes(streams.counts, class_min)
    nnz = streams.positions.size
    if nnz == 0:
        return [np.zeros(0, np.uint32) for _ in range(class_min.size + 1)]
    real = streams.gaps != 0
    entry_of_symbol = np.cumsum(real) - real  # index of the entry each symbol belongs to (fillers: the next one)
    rows = np.repeat(np.arange(streams.counts.size, dtype=np.int64), streams.counts.astype(np.int64))
    cls_of_symbol = cls_of_row[rows[entry_of_symbol]]
    return [streams.gaps[cls_of_symbol == c] for c in range(class_min.size + 1)]


def merge_class_positions(
    counts: np.ndarray, cls_of_row: np.ndarray, per_class: list[Positions]
) -> Positions:
    """Interleave per-class CSR pieces back into one row-major CSR."""
    rows = counts.size
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(counts, dtype=np.int64, out=indptr[1:])
    nnz = int(indptr[-1])
    indices = np.empty(nnz, np.int64)
    entry_rows = np.empty(nnz, np.int64)
    for c, part in enumerate(per_class):
        if part.indices.size == 0:
            continue
        class_rows = np.flatnonzero(cls_of_row == c)
        global_row = class_rows[part.rows]
        dest = indptr[global_row] + (np.arange(part.indices.size, dtype=np.int64) - part.indptr[part.rows])
        indices[dest] = part.indices
        entry_rows[dest] = global_row
    return Positions(indptr, indices, entry_rows)
