"""Speed and quality of dcformat's 1-D k-means against scikit-learn, both in this process.

1. 10M pruned-normal float32 weights -> 256 centroids: our wall time and MSE.
2. On a prefix of those weights sized so that scikit-learn finishes in under a
   minute (2M for k = 32, 1M for k = 256; its Lloyd costs O(n k) per iteration),
   ours vs ``sklearn.cluster.KMeans(algorithm="lloyd",
   n_init=1)`` started from the same linear-init centroids and allowed the same
   number of iterations that ours used (tol=0 for both, so neither stops on a
   looser criterion). Prints the speed ratio (sklearn time / ours) and the MSE
   ratio (ours / sklearn; below 1 means ours is better).

Run: ``/work/venv/bin/python benchmarks/bench_kmeans.py`` (add ``--quick`` for a
1M/200k/100k smoke run). scikit-learn uses its default OpenMP thread count; ours is
single-threaded NumPy. Timings include the float64 conversion and the final
labels for ours, and exclude building the (n, 1) float64 array for sklearn.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Callable, TypeVar

import numpy as np

from dcformat.prune import prune_to_density
from dcformat.quantize import initial_centroids, kmeans_1d


def pruned_normal(n_kept: int, density: float = 0.4, seed: int = 0) -> np.ndarray:
    """``n_kept`` float32 survivors of magnitude-pruning a standard-normal layer."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(int(round(n_kept / density)), dtype=np.float32)
    kept = w[prune_to_density(w, n_kept / w.size)]
    assert kept.size == n_kept
    return kept


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args()
    n_big = 1_000_000 if args.quick else 10_000_000
    n_cmp = {32: 200_000, 256: 100_000} if args.quick else {32: 2_000_000, 256: 1_000_000}

    x = pruned_normal(n_big)
    r, t = timed(lambda: kmeans_1d(x, 256))
    mse = r.inertia / x.size
    print(
        f"ours  n={x.size:,} float32 pruned-normal k=256 init=linear: time {t:.3f} s, "
        f"MSE {mse:.4e}, iterations {r.n_iter}, centroids {r.centroids.size}"
    )

    try:
        from sklearn import __version__ as skl_version
        from sklearn.cluster import KMeans
    except ImportError:
        print("scikit-learn is not installed: comparison skipped")
        return
    try:
        from threadpoolctl import threadpool_info

        threads = max((p.get("num_threads", 1) for p in threadpool_info() if p.get("user_api") == "openmp"), default=1)
    except ImportError:
        threads = "?"

    print(f"comparison on a prefix of those weights; scikit-learn {skl_version}, OpenMP threads {threads}")
    for k in (32, 256):
        xs = x[: n_cmp[k]]
        x2d = xs.astype(np.float64).reshape(-1, 1)
        c0 = initial_centroids(xs, k, "linear")
        ours, t_ours = timed(lambda: kmeans_1d(xs, k, init="linear"))
        iters = ours.n_iter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km = KMeans(n_clusters=k, init=c0.reshape(-1, 1), n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd")
            _, t_sk = timed(lambda: km.fit(x2d))
        mse_ours = ours.inertia / xs.size
        mse_sk = km.inertia_ / xs.size
        print(
            f"k={k:3d} n={xs.size:,}: ours {t_ours:.3f} s ({iters} it, MSE {mse_ours:.4e}) | "
            f"sklearn {t_sk:.3f} s ({km.n_iter_} it, MSE {mse_sk:.4e}) | "
            f"speed ratio sklearn/ours {t_sk / t_ours:.1f}x | MSE ratio ours/sklearn {mse_ours / mse_sk:.3f}"
        )


if __name__ == "__main__":
    main()
