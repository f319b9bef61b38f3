"""The compiled Huffman kernel (numba), imported only when :func:`dcformat.entropy.huffman.huffman_decode` picks it.

Module level, so numba's on-disk cache finds it again in the next process. It
returns a status instead of raising: on anything unexpected the caller falls back
to the checked NumPy path, which raises the library's error. Imports nothing from
dcformat (the stage imports it, never the reverse).
"""

from __future__ import annotations

import numpy as np
from numba import njit

MULTI = 4  # codewords per multi-symbol lookup; a module constant, so numba unrolls the copy loop

@njit(cache=True, nogil=True)
def huffman(data, n, table, tbits, limit, first_code, first_rank, order, max_len, m_syms, m_count, m_bits, m_width):  # pragma: no cover
    # Bit reader: a 64-bit accumulator refilled a byte at a time, big-endian
    # bit order (spec §1, §6); bytes past the buffer read as zero, and the
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


@njit(cache=True, nogil=True)
def rans(states, words, n, k, model, ctx, prev_cls, used, sym, freq, bias):  # pragma: no cover
    # Interleaved rANS (spec §6.1.4): step t decodes symbol j*seg + t of every lane j that still has one, lanes in
    # ascending order, each reading at most one 16-bit word. model 0: table 0; 1: the class of the lane's previous
    # symbol (0 at its segment start); 2: ctx[i] per symbol. Status 0 = done and every end rule holds; 1 = the
    # input breaks a rule (the NumPy decoder then says which).
    lanes = states.size
    seg = (n + lanes - 1) // lanes
    m = np.uint32(1 << k)
    mask = np.uint32((1 << k) - 1)
    kk = np.uint32(k)
    out = np.empty(n, np.uint32)
    x = states.copy()
    c = np.zeros(lanes, np.uint32)
    nwords = words.size
    ptr = 0
    for t in range(seg):
        live = min(lanes, (n - 1 - t) // seg + 1)
        for j in range(live):
            i = j * seg + t
            xj = x[j]
            if model == 0:
                cj = np.uint32(0)
            elif model == 2:
                cj = np.uint32(ctx[i])
            else:
                cj = c[j]
                if used[cj] == 0:
                    return out, 1
            idx = cj * m + (xj & mask)
            s = sym[idx]
            xj = freq[idx] * (xj >> kk) + bias[idx]
            if xj < 65536:
                if ptr == nwords:
                    return out, 1
                xj = (xj << np.uint32(16)) | words[ptr]
                ptr += 1
            x[j] = xj
            out[i] = s
            if model == 1:
                c[j] = prev_cls[s]
    if ptr != nwords:
        return out, 1
    for j in range(lanes):
        if x[j] != 65536:
            return out, 1
    return out, 0


@njit(cache=True, nogil=True)
def rans_encode(fs, cs, n, lanes, k):  # pragma: no cover
    # The spec's informative encoder (§6.1.4): every lane starts at L and runs backwards through its segment, steps
    # S-1..0, lanes N-1..0; fs/cs hold each symbol's frequency and cumulative frequency in its context. Returns the
    # final states and the emitted words in emission order (the caller reverses them into read order).
    seg = (n + lanes - 1) // lanes
    x = np.full(lanes, 65536, np.uint64)
    words = np.empty(n, np.uint16)
    nw = 0
    shift = 32 - k
    for t in range(seg - 1, -1, -1):
        for j in range(lanes - 1, -1, -1):
            i = j * seg + t
            if i >= n:
                continue
            f = np.uint64(fs[i])
            xj = x[j]
            if xj >= (f << np.uint64(shift)):
                words[nw] = np.uint16(xj & np.uint64(0xFFFF))
                nw += 1
                xj >>= np.uint64(16)
            q = xj // f
            x[j] = (q << np.uint64(k)) + (xj - q * f) + np.uint64(cs[i])
    return x.astype(np.uint32), words[:nw]
