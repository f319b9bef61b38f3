"""Running pruned Linear / 1x1-conv layers straight from the decoded CSR.

Deep Compression's CPU speed-up comes from skipping zeros in matrix-vector
products. scipy.sparse's CSR kernels beat dense BLAS only for small batches at
low density, so :meth:`Csr.use_for` decides per call from density and the
number of rows being multiplied (thresholds measured by
benchmarks/bench_sparse_linear.py on one thread).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Measured with benchmarks/bench_sparse_linear.py (one thread, 4096x4096): at batch 1
# dense matmul is a memory-bound GEMV and CSR wins up to ~25% density (2.5-3x at 10%);
# for more rows BLAS GEMM catches up, and CSR keeps a clear lead only at <= ~10%
# density for up to ~32 rows (the row limit scales with 1/density).
MAX_DENSITY_BATCH1 = 0.25
MAX_DENSITY = 0.12
CROSSOVER_ROWS_AT_10PCT = 32
# Below ~1 MiB of dense float32 the matrix sits in cache and scipy's per-call overhead
# (~10 us) loses to BLAS (LeNet-300-100's 300x784 layer: 0.8x), so stay dense.
MIN_ELEMENTS = 1 << 18


@dataclass
class Csr:
    """A weight matrix (out, in) in CSR form, float32 values, plus the cached scipy object."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        self._mat = None

    @property
    def density(self) -> float:
        total = self.shape[0] * self.shape[1]
        return len(self.values) / total if total else 1.0

    def scale_rows(self, s: np.ndarray) -> "Csr":
        """Row i multiplied by s[i] (BatchNorm folding), computed in float64 then rounded like the dense fold."""
        counts = np.diff(self.indptr)
        vals = (self.values.astype(np.float64) * np.repeat(s, counts)).astype(np.float32)
        return Csr(self.indptr, self.indices, vals, self.shape)

    def use_for(self, rows: int) -> bool:
        """Whether the CSR kernel beats dense BLAS for ``rows`` input rows at this density."""
        d = self.density
        if self.shape[0] * self.shape[1] < MIN_ELEMENTS:
            return False
        if rows <= 1:
            return d <= MAX_DENSITY_BATCH1
        return d <= MAX_DENSITY and rows <= int(CROSSOVER_ROWS_AT_10PCT * 0.1 / max(d, 1e-6))

    def matrix(self):  # -> scipy.sparse.csr_matrix
        if self._mat is None:
            import scipy.sparse as sp  # lazy: only needed when a sparse path is taken

            self._mat = sp.csr_matrix((self.values, self.indices, self.indptr), shape=self.shape)
            self._mat.has_sorted_indices = True
        return self._mat

    def matmul_t(self, x: np.ndarray) -> np.ndarray:
        """x @ W.T for x (M, in) -> (M, out) float32, C-contiguous."""
        if x.shape[0] == 1:  # matrix-vector product: no transposes
            return np.asarray(self.matrix() @ x[0], dtype=np.float32).reshape(1, -1)
        y = self.matrix() @ np.ascontiguousarray(x.T)
        return np.ascontiguousarray(np.asarray(y, dtype=np.float32).T)


def csr_from_reader(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, ...]) -> Csr | None:
    """Wrap the reader's CSR of a weight as (out, prod(rest)); None if the arrays are inconsistent."""
    rows = int(shape[0])
    cols = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    if indptr.shape != (rows + 1,) or indices.shape != values.shape or int(indptr[-1]) != len(values):
        return None
    idx_dtype = np.int32 if cols < 2**31 and len(values) < 2**31 else np.int64
    return Csr(indptr.astype(idx_dtype), indices.astype(idx_dtype), np.asarray(values, dtype=np.float32), (rows, cols))
