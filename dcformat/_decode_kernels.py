"""The numba kernels behind :mod:`dcformat.accel` (imported only when they are used; see there for the why).

Module-level functions, so numba's on-disk cache finds them again in the next
process (kernels defined inside a function close over each other and miss the
cache every time). Each returns a status instead of raising: the caller falls
back to the checked NumPy path, which raises the library's error.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .accel import MULTI


@njit(cache=True, nogil=True)
def huffman(data, n, table, tbits, limit, first_code, first_rank, order, max_len, m_syms, m_count, m_bits, m_width):  # pragma: no cover
    # Bit reader: a 64-bit accumulator refilled a byte at a time, big-endian
    # bit order (spec §6.1); bytes past the buffer read as zero, and the
    # `pos + length > total` tests stop at the first codeword that does not
    # end inside the buffer. While at least MULTI symbols remain, one
    # m_width-bit peek yields up to MULTI short codewords at once
    # (m_count[p] of them, m_bits[p] bits; 0 = take the one-codeword path).
    total = data.size * 8
    out = np.empty(n + MULTI, np.uint32)
    acc = np.uint64(0)
    nbits = 0
    bp = 0
    pos = 0
    peek_mask = np.uint64((1 << max_len) - 1)
    m_mask = np.uint64((1 << m_width) - 1)
    i = 0
    while i < n:
        while nbits <= 56:
            b = data[bp] if bp < data.size else 0
            acc = (acc << np.uint64(8)) | np.uint64(b)
            bp += 1
            nbits += 8
        if m_width and i + MULTI <= n:
            p = (acc >> np.uint64(nbits - m_width)) & m_mask
            c = m_count[p]
            if c and pos + m_bits[p] <= total:
                for t in range(MULTI):
                    out[i + t] = m_syms[p, t]
                i += c
                nbits -= m_bits[p]
                pos += m_bits[p]
                continue
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
            sym = order[e >> 5]
        if pos + length > total:
            return out[:i], i, pos
        out[i] = sym
        nbits -= length
        pos += length
        i += 1
    return out[:n], n, pos


@njit(cache=True, nogil=True, inline="always")
def next_column(gaps, j, col, stride):  # pragma: no cover
    # One entry of spec §5.2: fillers (symbol 0) advance by 2**b - 1 columns,
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
    # Returns 0 when every entry was placed and every rule of spec §5.2
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
