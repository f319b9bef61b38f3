"""Running pruned Linear / 1x1-conv layers straight from the decoded CSR.

Deep Compression's CPU speed-up comes from skipping zeros in matrix-vector
products. With the optional numba kernels (``dcformat.inference.fast``) the
product runs over a compact layout: the layer's distinct values are its
codebook, and each stored weight is a codebook index plus a column, 3 bytes
for a typical layer instead of 8 for float32 CSR. Without them (or for a
matrix with too many distinct values) scipy.sparse's CSR kernels do it.
Either beats dense BLAS only up to some density and batch size, so
:meth:`Csr.use_for` decides per call from density and the number of rows
being multiplied (thresholds measured by benchmarks/bench_sparse_linear.py
on one thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import kernels as K

# scipy CSR, measured with benchmarks/bench_sparse_linear.py (one thread, 4096x4096): at batch 1
# dense matmul is a memory-bound GEMV and CSR wins up to ~25% density (2.5-3x at 10%);
# for more rows BLAS GEMM catches up, and CSR keeps a clear lead only at <= ~10%
# density for up to ~32 rows (the row limit scales with 1/density).
MAX_DENSITY_BATCH1 = 0.25
MAX_DENSITY = 0.12
CROSSOVER_ROWS_AT_10PCT = 32
# Below ~1 MiB of dense float32 the matrix sits in cache and scipy's per-call overhead
# (~10 us) loses to BLAS (LeNet-300-100's 300x784 layer: 0.8x), so stay dense.
MIN_ELEMENTS = 1 << 18
# The compact numba kernel, same benchmark (4096x4096, 8-bit codebook): batch 1 is 3.2x dense at
# 10% density and breaks even at ~35%; 2-512 rows read each stored weight once per 16 rows and
# stay ahead of BLAS up to ~50% density (10%: 4.7-7.7x; 35%: 1.3-1.8x; 50%: 0.9-1.15x). Rows
# beyond the measured 512 (at 10%; fewer when denser) are left to BLAS, as are cache-resident
# layers (LeNet-300-100's 300x784: 1.0x).
FAST_MAX_DENSITY_BATCH1 = 0.30
FAST_MAX_DENSITY = 0.40
FAST_CROSSOVER_ROWS_AT_10PCT = 512
FAST_MIN_ELEMENTS = 1 << 18
# a codebook index of at most 16 bits: more distinct values than this is not a quantized layer
MAX_CODEBOOK = 1 << 16


@dataclass
class Csr:
    """A weight matrix (out, in) in CSR form, float32 values, plus the cached scipy object."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]
    codebook: np.ndarray | None = None  # the file's codebook, with values == codebook[codes] (None: not known)
    codes: np.ndarray | None = None  # codebook index of each stored value

    def __post_init__(self) -> None:
        self._mat = None
        self._compact: Any = None  # (fast module, fast.SparseRows); False when not possible, None before the first try
        self._base: "Csr | None" = None  # before BatchNorm folding: (unscaled CSR, row scale) keeps the codebook
        self._scale: np.ndarray | None = None

    @property
    def density(self) -> float:
        total = self.shape[0] * self.shape[1]
        return len(self.values) / total if total else 1.0

    def scale_rows(self, s: np.ndarray) -> "Csr":
        """Row i multiplied by s[i] (BatchNorm folding), computed in float64 then rounded like the dense fold."""
        counts = np.diff(self.indptr)
        vals = (self.values.astype(np.float64) * np.repeat(s, counts)).astype(np.float32)
        out = Csr(self.indptr, self.indices, vals, self.shape)
        # the scaled values are no longer a small codebook; the compact kernel applies the scale per row instead
        base = self._base if self._base is not None else self
        out._base = base
        out._scale = s if self._scale is None else self._scale * s
        return out

    def compact(self) -> Any:
        """The numba kernels' packed form (``fast.SparseRows``), or None without numba or for an unquantized matrix.

        Built on first use, from the codebook and symbols the file stored (``Model.open``); a CSR given as
        plain arrays has its distinct values found once instead.
        """
        if self._compact is None:
            self._compact = False
            F = K.fast_kernels()
            base = self._base if self._base is not None else self
            if F is not None and len(base.values) > 0:
                if base.codebook is not None and base.codes is not None:
                    codebook, q = base.codebook, base.codes
                else:
                    codebook, q = np.unique(base.values, return_inverse=True)
                if codebook.size <= MAX_CODEBOOK:
                    try:
                        self._compact = (F, F.SparseRows(base.indptr, base.indices, q.reshape(-1), codebook, self.shape, self._scale))
                    except ValueError:  # inconsistent arrays: the scipy path (or dense) it is
                        pass
        return self._compact[1] if self._compact else None

    def use_for(self, rows: int) -> bool:
        """Whether the sparse kernel (compact or scipy) beats dense BLAS for ``rows`` input rows at this density."""
        d = self.density
        fast = self.shape[0] * self.shape[1] >= FAST_MIN_ELEMENTS and self.compact() is not None
        if fast:
            max1, maxd, cross = FAST_MAX_DENSITY_BATCH1, FAST_MAX_DENSITY, FAST_CROSSOVER_ROWS_AT_10PCT
        elif self.shape[0] * self.shape[1] < MIN_ELEMENTS:
            return False
        else:
            max1, maxd, cross = MAX_DENSITY_BATCH1, MAX_DENSITY, CROSSOVER_ROWS_AT_10PCT
        if rows <= 1:
            return d <= max1
        return d <= maxd and rows <= int(cross * 0.1 / max(d, 1e-6))

    def matrix(self):  # -> scipy.sparse.csr_matrix
        if self._mat is None:
            import scipy.sparse as sp  # lazy: only needed when a sparse path is taken

            self._mat = sp.csr_matrix((self.values, self.indices, self.indptr), shape=self.shape)
            self._mat.has_sorted_indices = True
        return self._mat

    def matmul_t(self, x: np.ndarray) -> np.ndarray:
        """x @ W.T for x (M, in) -> (M, out) float32, C-contiguous."""
        sr = self.compact()
        if sr is not None:
            return self._compact[0].sparse_matmul_t(sr, x)
        if x.shape[0] == 1:  # matrix-vector product: no transposes
            return np.asarray(self.matrix() @ x[0], dtype=np.float32).reshape(1, -1)
        y = self.matrix() @ np.ascontiguousarray(x.T)
        return np.ascontiguousarray(np.asarray(y, dtype=np.float32).T)


def csr_from_reader(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, ...],
                    codebook: np.ndarray | None = None, codes: np.ndarray | None = None) -> Csr | None:
    """Wrap the reader's CSR of a weight as (out, prod(rest)); None if the arrays are inconsistent.

    ``codebook`` and ``codes`` (the payload's codebook and value symbols) let the compact kernel skip its
    search for the distinct values."""
    rows = int(shape[0])
    cols = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    if indptr.shape != (rows + 1,) or indices.shape != values.shape or int(indptr[-1]) != len(values):
        return None
    if codebook is not None and (codes is None or codes.shape != values.shape):
        codebook = codes = None
    idx_dtype = np.int32 if cols < 2**31 and len(values) < 2**31 else np.int64
    values = np.asarray(values, dtype=np.float32)
    if codebook is not None:
        codebook = np.asarray(codebook, dtype=np.float32)
    return Csr(indptr.astype(idx_dtype), indices.astype(idx_dtype), values, (rows, cols), codebook, codes)
