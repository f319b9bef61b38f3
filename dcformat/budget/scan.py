"""Per-tensor sensitivity scan: estimated bytes and weight error for every candidate (density, code bits).

The paper's Fig. 6 idea, made cheap: for each density the keep-mask comes from
``dcformat.prune.prune_to_density`` and, for each code width, the codebook from
``dcformat.quantize.kmeans_1d`` (the functions the encoder uses, with its
initialisation and seed), so the error of a candidate is the error the encoder
will make. Bytes come from ``sizes`` (symbol histograms, no encoding), with the
best index width for the mask. Tensors larger than ``sample`` values are
scanned on evenly spaced rows and scaled up; the pack that follows measures the
real error of what it writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..prune import prune_to_density
from ..quantize import kmeans_1d
from . import sizes

DENSITIES: tuple[float | None, ...] = (None, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.07, 0.05)
CODE_BITS: tuple[int, ...] = tuple(range(1, 11))
INDEX_BITS: tuple[int, ...] = tuple(range(2, 9))
SAMPLE = 1 << 17


@dataclass(frozen=True)
class Candidate:
    """One setting of one tensor: what it costs (estimated payload bytes) and what it loses.

    ``error`` is the relative squared error, error energy / signal energy (so SNR = -10·log10(error)).
    ``encoding`` "raw" stores the tensor exactly (density and bits then do not apply).
    """

    density: float | None
    code_bits: int
    index_bits: int
    bytes: int
    error: float
    encoding: str = "sparse"

    @property
    def snr_db(self) -> float:
        return math.inf if self.error <= 0 else -10.0 * math.log10(self.error)

    def settings(self) -> dict:
        """The config override that selects this candidate."""
        if self.encoding == "raw":
            return {"encoding": "raw"}
        if self.encoding == "dense":
            return {"encoding": "dense", "code_bits": self.code_bits}
        return {"encoding": "sparse", "density": self.density, "threshold": None, "code_bits": self.code_bits,
                "index_bits": self.index_bits}

    def to_json(self) -> dict:
        snr = self.snr_db
        return {"encoding": self.encoding, "density": self.density, "code_bits": self.code_bits,
                "index_bits": self.index_bits, "bytes": self.bytes, "error": self.error,
                "snr_db": snr if math.isfinite(snr) else None}


def matrix(array: np.ndarray) -> np.ndarray:
    """The (rows, cols) view the sparse encoding indexes: first axis by the rest (spec §5.3)."""
    a = np.asarray(array)
    return a.reshape(a.shape[0], -1) if a.ndim >= 2 else a.reshape(1, -1)


def sample_rows(mat: np.ndarray, limit: int) -> np.ndarray:
    """At most about ``limit`` values: every row if it fits, else evenly spaced rows (deterministic)."""
    idx = _sample_index(mat.shape, limit)
    return mat if idx is None else mat[idx]


def _sample_index(shape: tuple[int, int], limit: int) -> np.ndarray | None:
    rows, cols = shape
    if rows * cols <= limit or rows < 16:
        return None
    take = max(8, min(rows, limit // max(cols, 1)))
    return np.unique(np.linspace(0, rows - 1, take).round().astype(np.int64))


def tensor_curve(array: np.ndarray, *, densities=DENSITIES, code_bits=CODE_BITS, index_bits=INDEX_BITS,
                 init: str = "linear", seed: int = 0, prefer_index_bits: int = 5, sample: int = SAMPLE,
                 with_raw: bool = True, min_snr_db: float | None = None, stop_at_target: bool = False,
                 importance: np.ndarray | None = None, prune_by: str = "magnitude",
                 kmeans_weights: str = "none", hessian: np.ndarray | None = None,
                 rounding: str = "nearest") -> list[Candidate]:
    """Candidates' estimated bytes and relative squared error for one float tensor (ndim >= 2).

    With ``importance`` (broadcastable to the tensor, e.g. E[x_j²] of a layer's inputs) the error is the
    importance-weighted relative squared error Σ imp·(w - ŵ)² / Σ imp·w² (the diagonal-Fisher proxy of the
    output error), and ``prune_by`` / ``kmeans_weights`` = "importance" prune and cluster as the encoder
    will with those settings.

    Densities whose pruning alone leaves less than ``min_snr_db`` are skipped. With
    ``stop_at_target``, each density stops at the first code width that reaches
    ``min_snr_db`` (what a per-tensor SNR target needs) and starts near the width
    that 6 dB per bit predicts; otherwise it stops once more bits no longer lower the
    error by 2 % (pruning error dominates).
    """
    from ..compress import kmeans_weights as positive_weights  # noqa: PLC0415
    from ..prune import importance_weights, prune_by_importance  # noqa: PLC0415

    a = np.asarray(array)
    full = matrix(a)
    idx = _sample_index(full.shape, sample)
    sub = full if idx is None else full[idx]
    scale = full.size / sub.size if sub.size else 1.0
    flat = np.ascontiguousarray(sub).reshape(-1)
    x64 = flat.astype(np.float64)
    imp = None
    if importance is not None:
        imp = importance_weights(importance, a.shape).reshape(full.shape)
        imp = np.ascontiguousarray(imp if idx is None else imp[idx]).reshape(-1)
        if prune_by == "importance" or kmeans_weights == "importance":
            # the encoder floors k-means weights over the whole tensor: same floor here (mean of the full tensor)
            kw_full = positive_weights(importance_weights(importance, a.shape))
            kw = kw_full.reshape(full.shape)
            kw = np.ascontiguousarray(kw if idx is None else kw[idx]).reshape(-1)
    signal = float(np.dot(x64, x64)) if imp is None else float(np.dot(imp * x64, x64))
    factor = None
    from ..quantize.gptq import compensable, compensated_labels, hessian_factor  # noqa: PLC0415

    if hessian is not None and compensable(a.shape):  # relative output error (and GPTQ rounding) from the full H
        sub64 = np.asarray(sub, np.float64)
        h64 = np.asarray(hessian, np.float64)
        signal = float(np.einsum("ij,ij->", sub64 @ h64, sub64))
        if rounding == "gptq":
            factor = hessian_factor(h64)
    else:
        hessian = None
    out: list[Candidate] = []
    if with_raw:
        out.append(Candidate(None, 0, 0, 8 + a.size * a.dtype.itemsize, 0.0, "raw"))
    if signal == 0.0 or flat.size == 0:
        out.append(Candidate(None, 1, prefer_index_bits, 16, 0.0))
        return out
    nnz = int(np.count_nonzero(flat))
    seen_counts = set()
    for d in densities:
        if d is None:
            keep = flat != 0
        elif imp is not None and prune_by == "importance":
            keep = prune_by_importance(flat, d, imp)  # on the sampled rows: the count scales, the rule is the same
        else:
            keep = prune_to_density(flat, d)
        kept = int(np.count_nonzero(keep))
        if d is not None and kept >= nnz:
            continue  # no pruning beyond the zeros already there: the same as density None
        if kept in seen_counts:
            continue
        seen_counts.add(kept)
        values = flat[keep].astype(np.float64)
        w_keep = None if imp is None else imp[keep]
        pruned = signal - (float(np.dot(values, values)) if w_keep is None else float(np.dot(w_keep * values, values)))
        sw = kw[keep] if imp is not None and kmeans_weights == "importance" else None
        if min_snr_db is not None and hessian is None and pruned > signal * 10 ** (-min_snr_db / 10):
            continue  # pruning alone already loses more than allowed
        mask = keep.reshape(sub.shape)
        counts, skips = sizes.row_skips(mask)
        b, idx_bytes = sizes.best_index_bits(counts, skips, sub.shape[1], index_bits, prefer_index_bits)
        # the row-count stream grows with the number of rows, the gap stream with the entries: both scale
        idx_bytes = idx_bytes * scale
        prev_err = None
        bits = list(code_bits)
        if stop_at_target and min_snr_db is not None:
            q0 = max(bits[0], int((min_snr_db - 6.0) // 6.02))
            bits = [q for q in bits if q >= q0]
        for q in bits:
            km = kmeans_1d(values, 1 << q, init=init, seed=seed, sample_weight=sw)
            cents = km.centroids.astype(a.dtype).astype(np.float64)  # as the encoder rounds them
            labels = np.asarray(km.labels, dtype=np.int64)
            if hessian is not None:
                stored = np.zeros(sub.size)
                if factor is not None:  # GPTQ labels against the same codebook
                    lab2 = compensated_labels(sub, mask, cents, None, factor=factor).reshape(-1)
                    kept = lab2 >= 0
                    stored[kept] = cents[lab2[kept]]
                    labels = lab2[kept][cents[lab2[kept]] != 0]
                else:
                    stored[np.flatnonzero(keep)] = cents[labels]
                d2 = sub64 - stored.reshape(sub.shape)
                err = float(np.einsum("ij,ij->", d2 @ h64, d2)) / signal
            else:
                diff = values - cents[labels]
                err = (pruned + (float(np.dot(diff, diff)) if w_keep is None else float(np.dot(w_keep * diff, diff)))) / signal
            hist = np.bincount(labels, minlength=cents.size)
            k = int(np.count_nonzero(hist))
            head = 2 + sizes.varint_len(k) + 4 * k
            stream = sizes.stream_bytes(hist[hist > 0], max(k, 1)) * scale
            total = int(round(head + stream + idx_bytes))
            out.append(Candidate(d, q, b, total, max(err, 0.0)))
            if stop_at_target and min_snr_db is not None and err <= 10 ** (-min_snr_db / 10):
                break
            if err <= (0.0 if hessian is not None else pruned / signal) * 1.0000001 or (prev_err is not None and pruned > 0 and err > 0.98 * prev_err):
                break  # the kept values are exact already, or pruning error dominates: more bits buy nothing
            prev_err = err
    return out


def vector_curve(array: np.ndarray, *, code_bits=range(1, 9), init: str = "linear", seed: int = 0) -> list[Candidate]:
    """Raw and codebook-only ("dense") candidates for a small float tensor (BatchNorm vectors, biases).

    Exact, not sampled: the encoder's own quantizer on the whole tensor, bytes from the
    size model. Widths stop once the codebook holds every distinct value (lossless).
    """
    from ..quantize.codebook import quantize_values  # noqa: PLC0415

    a = np.asarray(array)
    flat = a.reshape(-1)
    x64 = flat.astype(np.float64)
    signal = float(np.dot(x64, x64))
    out = [Candidate(None, 0, 0, 8 + a.size * a.dtype.itemsize, 0.0, "raw")]
    if flat.size == 0 or not np.isfinite(flat).all():
        return out
    for q in code_bits:
        cb, labels, _ = quantize_values(flat, q, init, seed, drop_zeros=False)
        labels = np.asarray(labels, dtype=np.int64)
        diff = x64 - cb.astype(a.dtype).astype(np.float64)[labels]
        err = float(np.dot(diff, diff)) / signal if signal else 0.0
        hist = np.bincount(labels, minlength=max(cb.size, 1))
        out.append(Candidate(None, q, 0, sizes.values_bytes(hist, q), err, "dense"))
        if err == 0.0:
            break
    return out


def hessian_error(array: np.ndarray, stored: np.ndarray, hessian: np.ndarray) -> float:
    """Relative output error of a (rows, cols) weight for inputs with second moments H: Σ ΔW H ΔWᵀ / Σ W H Wᵀ."""
    w = matrix(np.asarray(array, np.float64))
    d = w - matrix(np.asarray(stored, np.float64))
    h = np.asarray(hessian, np.float64)
    sig = float(np.einsum("ij,ij->", w @ h, w))
    return max(float(np.einsum("ij,ij->", d @ h, d)), 0.0) / sig if sig > 0 else 0.0


def frontier(cands: list[Candidate]) -> list[Candidate]:
    """Pareto-efficient candidates (no other is both smaller and more accurate), sorted by bytes."""
    best: list[Candidate] = []
    for c in sorted(cands, key=lambda c: (c.bytes, c.error, _order(c))):
        if not best or c.error < best[-1].error:
            best.append(c)
    return best


def _order(c: Candidate) -> tuple:
    return (c.encoding != "sparse", -(c.density or 1.0), c.code_bits, c.index_bits)


__all__ = ["Candidate", "tensor_curve", "vector_curve", "frontier", "matrix", "sample_rows", "DENSITIES", "CODE_BITS",
           "INDEX_BITS", "SAMPLE"]
