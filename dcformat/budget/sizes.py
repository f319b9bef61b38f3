"""A size model for one quantized tensor: the bytes its payload will take, from symbol histograms.

Streams are priced by the entropy coder's own ``stream_size`` (no bit packing),
the payload layout (spec §5) around them here, so the budget search can price
dozens of (density, code bits, index bits) candidates per tensor cheaply. It
differs from the encoder in one small way: the gap stream is priced as one row
class (the encoder may split rows into classes and save a little more), and
sampled tensors are scaled up from their sampled rows. ``tests/test_budget.py`` and
``benchmarks/bench_budget.py`` check it
against real encodes.
"""

from __future__ import annotations

import numpy as np

from ..entropy.streams import stream_size


def varint_len(v: int) -> int:
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def stream_bytes(hist: np.ndarray, alphabet: int) -> int:
    """Bytes of one stream carrying symbols with histogram ``hist`` (index = symbol) over ``alphabet``.

    The writer's own ``stream_size`` (length-limited Huffman vs fixed width vs constant),
    fed the symbols the histogram stands for: one place prices streams, so the size model
    follows the entropy coder when it changes.
    """
    hist = np.asarray(hist, dtype=np.int64).ravel()
    syms = np.repeat(np.arange(hist.size, dtype=np.uint32), hist)
    return stream_size(syms, max(int(alphabet), hist.size, 1))


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
           "varint_len"]
