"""A size model for one quantized tensor: the bytes its payload will take, from symbol histograms.

Written from the format's layout (spec §5, streams: FIXED / HUFFMAN / CONSTANT,
the smaller one wins) without calling the encoder, so the budget search can
price dozens of (density, code bits, index bits) candidates per tensor for the
cost of a few histograms. It differs from the encoder in two ways, both small:
Huffman code lengths here are not length-limited, and the gap stream is priced
as one row class (the encoder may split rows into classes and save a little
more). ``tests/test_budget.py`` and ``benchmarks/bench_budget.py`` check it
against real encodes.
"""

from __future__ import annotations

import heapq

import numpy as np


def varint_len(v: int) -> int:
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def huffman_bits(counts: np.ndarray) -> int:
    """Total bits of a Huffman code (unlimited lengths) for symbols with these counts (zeros ignored)."""
    c = [int(x) for x in np.asarray(counts).ravel() if x > 0]
    if len(c) <= 1:
        return 0
    heapq.heapify(c)
    total = 0
    while len(c) > 1:
        a = heapq.heappop(c)
        b = heapq.heappop(c)
        total += a + b  # every merge adds one bit to each symbol below it
        heapq.heappush(c, a + b)
    return total


def huffman_lengths_max(counts: np.ndarray) -> int:
    """Longest code length of the Huffman code for ``counts`` (for the size of the length table)."""
    c = [(int(x), 0) for x in np.asarray(counts).ravel() if x > 0]
    if len(c) <= 1:
        return 1
    heapq.heapify(c)
    while len(c) > 1:
        a, da = heapq.heappop(c)
        b, db = heapq.heappop(c)
        heapq.heappush(c, (a + b, max(da, db) + 1))
    return c[0][1]


def stream_bytes(hist: np.ndarray, alphabet: int) -> int:
    """Bytes of one stream carrying symbols with histogram ``hist`` (index = symbol) over ``alphabet``."""
    hist = np.asarray(hist, dtype=np.int64)
    n = int(hist.sum())
    used = np.flatnonzero(hist)
    if n == 0 or used.size == 1:
        return 1 + varint_len(int(used[0]) if used.size else 0)  # CONSTANT
    width = max(1, int(alphabet - 1).bit_length())
    fixed = 2 + (n * width + 7) // 8
    bits = huffman_bits(hist[used])
    top = int(used[-1]) + 1
    lw = max(1, int(huffman_lengths_max(hist[used])).bit_length())
    nbytes = (bits + 7) // 8
    huff = 1 + 1 + varint_len(top) + varint_len(nbytes) + (top * lw + 7) // 8 + nbytes
    return min(fixed, huff)


def gap_histogram(skips: np.ndarray, index_bits: int) -> np.ndarray:
    """Histogram of gap symbols (0 = filler, r+1 = r zeros skipped) for entries that skip ``skips`` zeros."""
    stride = (1 << index_bits) - 1
    skips = np.asarray(skips, dtype=np.int64)
    hist = np.bincount(skips % stride + 1, minlength=1 << index_bits).astype(np.int64)
    hist[0] = int((skips // stride).sum())
    return hist


def row_skips(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row counts and, per kept entry, the zeros skipped since the previous kept entry of its row."""
    rows, cols = mask.shape
    counts = mask.sum(axis=1).astype(np.int64)
    r, c = np.nonzero(mask)
    prev = np.empty(c.size, np.int64)
    if c.size:
        prev[0] = -1
        prev[1:] = c[:-1]
        start = np.ones(c.size, bool)
        start[1:] = r[1:] != r[:-1]
        prev[start] = -1
    return counts, c - prev - 1


def index_bytes(counts: np.ndarray, skips: np.ndarray, cols: int, index_bits: int) -> int:
    """Bytes of the row-count stream and one class of gaps (n_classes byte, n_fillers, stream)."""
    count_hist = np.bincount(counts, minlength=1)
    gaps = gap_histogram(skips, index_bits)
    return stream_bytes(count_hist, cols + 1) + 1 + varint_len(int(gaps[0])) + stream_bytes(gaps, 1 << index_bits)


def best_index_bits(counts: np.ndarray, skips: np.ndarray, cols: int, choices: range | tuple[int, ...],
                    prefer: int) -> tuple[int, int]:
    """(index bits, bytes) of the cheapest gap width among ``choices``; ties go to ``prefer``, then the smaller."""
    priced = [(index_bytes(counts, skips, cols, b), 0 if b == prefer else 1, b) for b in choices]
    cost, _, b = min(priced)
    return b, cost


def values_bytes(labels_hist: np.ndarray, code_bits: int) -> int:
    """Bytes of the quantization header (q, b, K, codebook) and the value stream."""
    k = int(np.count_nonzero(labels_hist))
    return 2 + varint_len(k) + 4 * k + stream_bytes(labels_hist[labels_hist > 0], max(k, 1))


__all__ = ["stream_bytes", "gap_histogram", "row_skips", "index_bytes", "best_index_bits", "values_bytes",
           "huffman_bits", "varint_len"]
