"""The compiled relative-index kernels (numba), imported only when the sparse stage picks them.

``positions`` rebuilds CSR from row counts and gap symbols; ``dense`` fuses
that with the scatter into a dense float32 array. Module level so numba's
on-disk cache finds them again; each returns a status instead of raising (the
caller falls back to the checked NumPy path, which raises the library's error).
Imports nothing from dcformat.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True, inline="always")
def next_column(gaps, j, col, stride):  # pragma: no cover
    # One entry of spec §5.3: fillers (symbol 0) advance by 2**b - 1 columns,
    # the entry's own gap ends the run. Returns (next symbol, column), or
    # j = -1 when the stream ends first.
    while j < gaps.size:
        g = gaps[j]
        j += 1
        if g != 0:
            return j, col + g
        col += stride
    return -1, col


@njit(cache=True, nogil=True)
def positions(counts, gaps, cols, stride, indptr, indices, rows):  # pragma: no cover
    # Returns 0 when every entry was placed and every rule of spec §5.3
    # holds, 1 otherwise (the caller then lets the NumPy path say why).
    j = 0
    e = 0
    for r in range(counts.size):
        c = counts[r]
        indptr[r] = e
        col = -1
        for _ in range(c):
            j, col = next_column(gaps, j, col, stride)
            if j < 0:
                return 1
            indices[e] = col
            rows[e] = r
            e += 1
        if c and col >= cols:
            return 1
    indptr[counts.size] = e
    return 0 if j == gaps.size else 1


@njit(cache=True, nogil=True)
def dense(out, cols, stride, indptr, class_rows, gaps, symbols, codebook):  # pragma: no cover
    # positions() and the scatter into the dense array for the rows of one class, writing
    # straight into the dense output: no CSR arrays in between. Same rules,
    # checked before every write (columns only grow along a row, so
    # "col < cols" per entry is the spec's "last col < cols").
    j = 0
    n_sym = gaps.size
    size = codebook.size
    for r in class_rows:
        base = r * cols
        col = -1
        for e in range(indptr[r], indptr[r + 1]):
            j, col = next_column(gaps, j, col, stride)
            if j < 0:
                return 1
            s = symbols[e]
            if col >= cols or s >= size:
                return 1
            out[base + col] = codebook[s]
    if j != n_sym:
        return 1
    return 0
