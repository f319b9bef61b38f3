"""Compression policy: one tensor and its settings -> a typed payload (prune, quantize, index, coding choice).

Everything a writer *chooses* lives here (which weights to keep, the codebook,
the row classes, Huffman or fixed-width streams); ``container.payload`` only
turns the result into bytes. Reading a file never imports this module (nor
k-means or pruning).
"""

from __future__ import annotations

import numpy as np

from .config import TensorSettings
from .container.format import Compression
from .container.payload import DensePayload, Payload, RawPayload, SparsePayload, row_class_size
from .container.table import TableEntry
from .prune import importance_weights, prune_by_importance, prune_by_threshold, prune_to_density
from .quantize.codebook import quantize_values
from .quantize.gptq import compensable
from .sparse import encode_positions, matrix_shape
from .sparse.relative_index import SparseStreams, candidate_class_mins, split_gaps

ROW_CLASS_CANDIDATES = (1, 2, 4, 8)
ROW_CLASS_MIN_GAIN = 0.002  # more classes must save >= 0.2 % of the class section: each one costs decode time


def compress(entry: TableEntry, array: np.ndarray, s: TensorSettings) -> Payload:
    """The payload of one tensor (``array`` already validated; ``entry`` is its planned table row)."""
    if s.encoding == "raw":
        comp = Compression.ZSTD if s.raw_compression == "zstd" else Compression.NONE
        return RawPayload(entry, comp, array)
    flat = np.ascontiguousarray(array).reshape(-1)
    if not np.isfinite(flat).all():
        raise ValueError(f"tensor {entry.name!r}: NaN or Inf weights cannot be quantized (encoding={s.encoding!r})")
    q = s.code_bits
    imp = element_importance(entry.name, array.shape, s)
    weights = None if imp is None or s.kmeans_weights != "importance" else kmeans_weights(imp)
    if s.encoding == "dense":
        cb, labels, _ = quantize_values(flat, q, s.init, s.seed, drop_zeros=False, weights=weights)
        return DensePayload(entry, q, cb, labels, s.huffman, rans=s.entropy == "rans")
    rows, cols = matrix_shape(array.shape)
    b = s.index_bits
    mask = _prune_mask(flat, s, imp)
    positions = np.flatnonzero(mask)
    if s.rounding == "gptq" and compensable(array.shape) and positions.size:
        cb, labels, kept = gptq_quantize(entry.name, array, mask, q, s, weights)
    else:
        cb, labels, keep = quantize_values(flat[positions], q, s.init, s.seed, drop_zeros=True,
                                           weights=None if weights is None else weights[positions])
        kept = positions[keep]
    streams = encode_positions(kept, rows, cols, b)
    class_min, fillers, gaps = _row_classes(streams, s.huffman, b)
    return SparsePayload(entry, q, b, cb, streams.counts, class_min, fillers, gaps, labels, int(labels.size), s.huffman,
                         rans=s.entropy == "rans")


def element_importance(name: str, shape: tuple[int, ...], s: TensorSettings) -> np.ndarray | None:
    """The tensor's importance, flat per element (float64), when a setting uses it; an error if one needs it
    and the config carries none (a file planned with calibration data cannot silently be packed without)."""
    if s.prune_by != "importance" and s.kmeans_weights != "importance":
        return None
    if s.importance is None:
        raise ValueError(f"tensor {name!r}: prune_by/kmeans_weights = 'importance' need an importance array "
                         "(CompressionConfig.importance; on the command line: --calib with a graph)")
    try:
        return importance_weights(s.importance, tuple(shape))
    except ValueError as exc:
        raise ValueError(f"tensor {name!r}: {exc}") from None


def gptq_quantize(name: str, array: np.ndarray, mask: np.ndarray, q: int, s: TensorSettings,
                  weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codebook (k-means of the kept values, as without GPTQ), labels and flat positions of the stored
    nonzeros, with the labels chosen by error-compensating rounding against ``s.hessian``."""
    from .quantize.gptq import compensated_quantize  # noqa: PLC0415

    if s.hessian is None:
        raise ValueError(f"tensor {name!r}: rounding='gptq' needs a hessian (CompressionConfig.hessian[{name!r}], "
                         "the (in, in) second moments of the layer's inputs)")
    flat = np.ascontiguousarray(array).reshape(-1)
    positions = np.flatnonzero(mask)
    cb, _, _ = quantize_values(flat[positions], q, s.init, s.seed, drop_zeros=False,
                               weights=None if weights is None else weights[positions])
    try:
        return compensated_quantize(array, mask.reshape(array.shape), cb, np.asarray(s.hessian, np.float64))
    except ValueError as exc:
        raise ValueError(f"tensor {name!r}: {exc}") from None


def kmeans_weights(imp: np.ndarray) -> np.ndarray:
    """k-means weights from importance: strictly positive (a floor of 1e-6 of the mean, so a weight whose
    input was never active in the calibration data still counts a little)."""
    mean = float(imp.mean()) if imp.size else 0.0
    floor = 1e-6 * mean if mean > 0 else 1.0
    return np.maximum(imp, floor)


def _prune_mask(flat: np.ndarray, s: TensorSettings, imp: np.ndarray | None = None) -> np.ndarray:
    if s.density is not None:
        if s.prune_by == "importance" and imp is not None:
            return prune_by_importance(flat, s.density, imp)
        return prune_to_density(flat, s.density)
    if s.threshold is not None:
        return prune_by_threshold(flat, s.threshold)
    return flat != 0


def _row_classes(streams: SparseStreams, huffman: bool, b: int) -> tuple[np.ndarray, tuple[int, ...], tuple[np.ndarray, ...]]:
    """Class thresholds, fillers and gap symbols per class: the smallest of a few splits of the rows.

    Several classes are kept only when they save at least ROW_CLASS_MIN_GAIN over
    one class (random-like rows gain nothing and would only decode slower). The
    fixed-width layout always uses one class (classes only help entropy coding).
    """
    single_size = best_size = 0
    single = best = None
    for n in ROW_CLASS_CANDIDATES if huffman else (1,):
        class_min = candidate_class_mins(streams.counts, n)
        if n > 1 and class_min.size + 1 < n:
            continue  # too few distinct counts for this many classes; a smaller candidate covers it
        gaps = tuple(split_gaps(streams, class_min))
        fillers = tuple(int(g.size - np.count_nonzero(g)) for g in gaps)
        size = row_class_size(class_min, fillers, gaps, b, huffman)
        if n == 1:
            single = best = (class_min, fillers, gaps)
            single_size = best_size = size
        elif size < best_size:
            best, best_size = (class_min, fillers, gaps), size
    if best_size > single_size * (1 - ROW_CLASS_MIN_GAIN):
        return single
    return best


__all__ = ["compress", "element_importance", "kmeans_weights", "ROW_CLASS_CANDIDATES", "ROW_CLASS_MIN_GAIN"]
