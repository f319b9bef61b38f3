"""Pruned Linear layers: running from the decoded CSR vs dense NumPy matmul, one thread.

Usage:
    python benchmarks/bench_sparse_linear.py            # batch-1 speed-up at 10% density + crossover sweeps
    DCFORMAT_ACCEL=0 python benchmarks/bench_sparse_linear.py   # the scipy CSR path (no numba kernels)

Both kernels are the ones the inference path uses (dcformat.inference.sparse.Csr.matmul_t
and a dense x @ W.T via BLAS). The weights are pruned by magnitude and their survivors
quantized to a 2**bits codebook, as Deep Compression stores them, so with numba the
sparse side is the compact kernel (codebook index + column per weight); without it,
scipy CSR. They alternate within each round; the reported speed-up is the median over
rounds of dense_time / sparse_time. Goal (issue 6, the paper's CPU figure): >= 3x at
batch 1 and 10% density. The sweeps show where dense wins, which is what Csr.use_for encodes.
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


def pruned(shape: tuple[int, int], density: float, seed: int = 0, bits: int = 8) -> tuple[np.ndarray, Csr]:
    """Magnitude-pruned random weights whose survivors take 2**bits values (a linear codebook), and their CSR."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    w[np.abs(w) < np.quantile(np.abs(w), 1 - density)] = 0  # magnitude pruning
    rows, cols = np.nonzero(w)
    v = w[rows, cols]
    levels = (1 << bits) - 1
    codebook = np.linspace(v.min(), v.max(), levels + 1).astype(np.float32)
    w[rows, cols] = codebook[np.rint((v - v.min()) / (v.max() - v.min()) * levels).astype(np.int64)]  # nearest level
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
    ap.add_argument("--bits", type=int, default=8, help="codebook bits of the quantized weights (Deep Compression: 5 for FC)")
    ap.add_argument("--densities", default="0.05,0.10,0.20,0.35")
    ap.add_argument("--batches", default="1,2,4,8,16,32,64,128")
    args = ap.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    import scipy

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, one thread, {args.rounds} rounds (median of dense/sparse), "
          f"weights quantized to {1 << args.bits} values")
    probe = pruned((64, 64), 0.5, bits=args.bits)[1]
    kind = "compact numba kernel" if probe.compact() is not None else "scipy CSR (numba off or missing)"
    print(f"sparse side: {kind}")
    print("\n1) batch 1, density 10%  (goal: sparse >= 3x faster)")
    print(f"{'layer':<14}{'shape':>13}{'dense us':>10}{'sparse us':>11}{'speed-up':>10}{'B/weight':>10}")
    for name, shape in LAYERS.items():
        w, csr = pruned(shape, 0.10, bits=args.bits)
        d, s, r = speedup(w, csr, 1, args.rounds)
        sr = csr.compact()
        per = (sr.nbytes if sr is not None else csr.values.nbytes + csr.indices.nbytes + csr.indptr.nbytes) / max(1, len(csr.values))
        print(f"{name:<14}{str(shape):>13}{d * 1e6:>10.1f}{s * 1e6:>11.1f}{r:>9.2f}x{per:>10.2f}")
    batches = [int(b) for b in args.batches.split(",")]
    print("\n2) crossover in batch size, alexnet.fc7 (4096x4096)")
    print(f"{'density':>8} " + "".join(f"{'b=' + str(b):>8}" for b in batches))
    for density in (float(d) for d in args.densities.split(",")):
        w, csr = pruned(LAYERS["alexnet.fc7"], density, bits=args.bits)
        cells = [speedup(w, csr, b, max(3, args.rounds // 2))[2] for b in batches]
        print(f"{density:>8.2f} " + "".join(f"{c:>7.2f}x" for c in cells))
    print("\n   (x > 1: sparse faster.) Csr.use_for: sparse at batch 1 when density <= [FAST_]MAX_DENSITY_BATCH1; for more rows "
          "when density <= [FAST_]MAX_DENSITY and rows <= [FAST_]CROSSOVER_ROWS_AT_10PCT * 0.1 / density.")


if __name__ == "__main__":
    main()
