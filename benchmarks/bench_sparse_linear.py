"""Pruned Linear layers: running from the decoded CSR vs dense NumPy matmul, one thread.

Usage:
    python benchmarks/bench_sparse_linear.py            # batch-1 speed-up at 10% density + crossover sweeps

Both kernels are the ones the inference path uses (dcformat.inference.sparse.Csr.matmul_t
and a dense x @ W.T via BLAS). They alternate within each round; the reported speed-up
is the median over rounds of dense_time / sparse_time. Goal (issue 6, the paper's CPU
figure): >= 3x at batch 1 and 10% density. The sweeps show where dense wins, which is
what Csr.use_for encodes.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
from _common import best_of as timed  # noqa: E402  (benchmarks/_common.py: shared by the scripts)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dcformat.inference.sparse import Csr  # noqa: E402

LAYERS = {"lenet.ip1": (300, 784), "alexnet.fc6": (4096, 9216), "alexnet.fc7": (4096, 4096), "alexnet.fc8": (1000, 4096)}


def pruned(shape: tuple[int, int], density: float, seed: int = 0) -> tuple[np.ndarray, Csr]:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    w[np.abs(w) < np.quantile(np.abs(w), 1 - density)] = 0  # magnitude pruning
    rows, cols = np.nonzero(w)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    return w, Csr(indptr.astype(np.int32), cols.astype(np.int32), w[rows, cols], shape)



def speedup(w: np.ndarray, csr: Csr, batch: int, rounds: int) -> tuple[float, float, float]:
    """(dense seconds, sparse seconds, median dense/sparse) for x (batch, in)."""
    wt = np.ascontiguousarray(w.T)
    x = np.random.default_rng(1).standard_normal((batch, w.shape[1])).astype(np.float32)
    dense, sparse = (lambda: np.matmul(x, wt)), (lambda: csr.matmul_t(x))
    assert np.allclose(dense(), sparse(), rtol=1e-4, atol=1e-3)
    repeat = max(3, int(2e-3 / max(timed(dense, 1), 1e-6)))
    td, ts, ratios = [], [], []
    for r in range(rounds):
        order = [("d", dense), ("s", sparse)] if r % 2 == 0 else [("s", sparse), ("d", dense)]
        got = {k: timed(f, repeat) for k, f in order}
        td.append(got["d"])
        ts.append(got["s"])
        ratios.append(got["d"] / got["s"])
    return statistics.median(td), statistics.median(ts), statistics.median(ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    import scipy

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, one thread, {args.rounds} rounds (median of dense/sparse)")
    print("\n1) batch 1, density 10%  (goal: sparse >= 3x faster)")
    print(f"{'layer':<14}{'shape':>13}{'dense us':>10}{'sparse us':>11}{'speed-up':>10}")
    for name, shape in LAYERS.items():
        w, csr = pruned(shape, 0.10)
        d, s, r = speedup(w, csr, 1, args.rounds)
        print(f"{name:<14}{str(shape):>13}{d * 1e6:>10.1f}{s * 1e6:>11.1f}{r:>9.2f}x")
    print("\n2) crossover in batch size, alexnet.fc7 (4096x4096)")
    print(f"{'density':>8} " + "".join(f"{'b=' + str(b):>8}" for b in (1, 2, 4, 8, 16, 32, 64, 128)))
    for density in (0.05, 0.10, 0.20, 0.35):
        w, csr = pruned(LAYERS["alexnet.fc7"], density)
        cells = [speedup(w, csr, b, max(3, args.rounds // 2))[2] for b in (1, 2, 4, 8, 16, 32, 64, 128)]
        print(f"{density:>8.2f} " + "".join(f"{c:>7.2f}x" for c in cells))
    print("\n   (x > 1: CSR faster.) Csr.use_for: CSR at batch 1 when density <= MAX_DENSITY_BATCH1; for more rows "
          "when density <= MAX_DENSITY and rows <= CROSSOVER_ROWS_AT_10PCT * 0.1 / density.")


if __name__ == "__main__":
    main()
