"""Encoding speed: a dense 2M-weight tensor to 256 centroids (encode + decode) against scikit-learn's KMeans.

Run: ``PYTHONPATH=$PWD python benchmarks/bench_encode.py`` (``--quick`` for a 256k-weight smoke run,
``--no-sklearn`` to skip the slow peer).

Prints, in one run:

1. dcformat: ``dcformat.encode`` + ``dcformat.decode`` of a 1024x2048 standard-normal float32 tensor with
   ``CompressionConfig(encoding="dense", code_bits=8)`` (best of 3), and the MSE of the decoded weights.
2. scikit-learn ``KMeans(algorithm="lloyd", n_init=1, max_iter=20, tol=0)`` from the same linear-init centroids
   (``dcformat.quantize.initial_centroids``) on the same weights; ratio of times (sklearn / ours, goal >= 10) and
   of MSEs (ours / sklearn, goal <= 1). scikit-learn gets its default OpenMP threads, ours is one thread.
3. Where the time goes, before and after issue 9's encoder change: the quantizer as it was (``np.unique`` with
   inverse over all weights for the lossless-path test, then k-means on a float64 copy it sorts again, then
   ``np.unique`` on the labels) is kept below as ``quantize_before`` to time it in the same process, beside
   today's ``quantize_values`` (one float32 sort shared by the distinct-value count and k-means). The rest of
   ``encode`` (Huffman table, bit packing, container) is the same code in both, so "encode before" is
   encode - quantize(after) + quantize(before). The two quantizers are also checked to give the same codebook
   and labels.
4. The same split for the 4096x4096 FC at 10 % (sparse, 32 centroids, 5-bit indices; bench_compression's case),
   plus the writer's row-class search (4 candidate splits) measured both ways: serialising every candidate's gap
   streams to learn their length (before) and ``row_class_size`` without packing (after). "encode before" for
   this case adds both differences.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import best_of  # noqa: E402

import dcformat  # noqa: E402
from dcformat import CompressionConfig  # noqa: E402
from dcformat.prune import prune_to_density  # noqa: E402
from dcformat.quantize import initial_centroids, kmeans_1d  # noqa: E402
from dcformat.quantize.codebook import canonical_codebook, quantize_values  # noqa: E402
from dcformat.compress import ROW_CLASS_CANDIDATES  # noqa: E402
from dcformat.container.payload import row_class_bytes, row_class_size  # noqa: E402
from dcformat.quantize.kmeans import kmeans_sorted  # noqa: E402
from dcformat.sparse import encode_positions  # noqa: E402
from dcformat.sparse.relative_index import candidate_class_mins, split_gaps  # noqa: E402


def quantize_before(values: np.ndarray, code_bits: int, drop_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """The quantizer before issue 9 (float32/float16 inputs, init "linear"), for timing only."""
    k = 1 << code_bits
    as32 = values.astype(np.float32)
    cb, labels = canonical_codebook(as32)
    if cb.size <= k:
        return cb, labels
    result = kmeans_1d(values.astype(np.float64), k)
    cb, remap = canonical_codebook(result.centroids.astype(values.dtype).astype(np.float32))
    labels = remap[np.asarray(result.labels, dtype=np.int64)]
    if drop_zeros and (cb == 0).any():
        keep = ~np.isin(labels, np.flatnonzero(cb == 0))
        used = np.unique(labels[keep])
        cb2, remap2 = canonical_codebook(cb[used])
        lookup = np.full(cb.size, -1, np.int64)
        lookup[used] = remap2
        return cb2, lookup[labels[keep]]
    used = np.bincount(labels, minlength=cb.size) > 0
    if not used.all():
        return cb[used], (np.cumsum(used) - 1)[labels]
    return cb, labels


def row_class_search(fc: np.ndarray, positions: np.ndarray, b: int, repeat: int) -> tuple[float, float]:
    """Seconds to size the row-class candidates by serialising them (before) and by row_class_size (after)."""
    streams = encode_positions(positions, fc.shape[0], fc.shape[1], b)
    cands = []
    for n in ROW_CLASS_CANDIDATES:
        cm = candidate_class_mins(streams.counts, n)
        gaps = tuple(split_gaps(streams, cm))
        cands.append((cm, tuple(int(g.size - np.count_nonzero(g)) for g in gaps), gaps))
    sizes_b = [len(row_class_bytes(cm, f, g, b, True)) for cm, f, g in cands]
    sizes_a = [row_class_size(cm, f, g, b, True) for cm, f, g in cands]
    assert sizes_a == sizes_b
    t_b = best_of(lambda: [len(row_class_bytes(cm, f, g, b, True)) for cm, f, g in cands], repeat)
    t_a = best_of(lambda: [row_class_size(cm, f, g, b, True) for cm, f, g in cands], repeat)
    return t_b, t_a


def split(label: str, w: np.ndarray, cfg: CompressionConfig, values: np.ndarray, code_bits: int,
          drop_zeros: bool, repeat: int, search: tuple[float, float] = (0.0, 0.0)) -> float:
    """Print encode/decode times and the quantizer's share before and after; return encode+decode (after)."""
    old = quantize_before(values, code_bits, drop_zeros)
    new = quantize_values(values, code_bits, "linear", 0, drop_zeros=drop_zeros)
    same = np.array_equal(old[0].view(np.uint32), new[0].view(np.uint32)) and np.array_equal(old[1], new[1])
    data = dcformat.encode({"w": w}, config=cfg)
    t_enc = best_of(lambda: dcformat.encode({"w": w}, config=cfg), repeat)
    t_dec = best_of(lambda: dcformat.decode(data), repeat)
    t_qa = best_of(lambda: quantize_values(values, code_bits, "linear", 0, drop_zeros=drop_zeros), repeat)
    t_qb = best_of(lambda: quantize_before(values, code_bits, drop_zeros), repeat)
    t_unique = best_of(lambda: canonical_codebook(values), repeat)
    t_sort32 = best_of(lambda: np.sort(values), repeat)
    xs = np.sort(values).astype(np.float64)
    t_km = best_of(lambda: kmeans_sorted(xs, values, 1 << code_bits), repeat)
    t_km_old = best_of(lambda: kmeans_1d(values.astype(np.float64), 1 << code_bits), repeat)
    t_rest = t_enc - t_qa
    t_sb, t_sa = search
    print(f"{label}: {w.size:,} weights, {values.size:,} quantized, file {len(data):,} B; "
          f"old and new quantizer agree: {same}")
    print(f"  after : encode {t_enc:.3f} s = quantize {t_qa:.3f} (float32 sort {t_sort32:.3f}, k-means on the "
          f"sorted copy incl. labels {t_km:.3f}) + streams/container {t_rest:.3f}; decode {t_dec:.3f} s")
    before = t_rest + t_qb + t_sb - t_sa
    print(f"  before: encode {before:.3f} s = quantize {t_qb:.3f} (np.unique over all weights "
          f"{t_unique:.3f}, k-means with its own float64 sort {t_km_old:.3f}) + streams/container "
          f"{t_rest + t_sb - t_sa:.3f}")
    if t_sb:
        print(f"  row-class search (4 candidates): sizing by serialising {t_sb:.3f} s, by row_class_size {t_sa:.3f} s")
    print(f"  encode speed-up {before / t_enc:.2f}x, quantizer speed-up {t_qb / t_qa:.2f}x")
    return t_enc + t_dec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="256k weights and a 1024x1024 FC, for a smoke run")
    ap.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn (it takes ~20-40 s)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = 128 if args.quick else 1024
    w = rng.standard_normal((rows, 2048), dtype=np.float32)
    cfg = CompressionConfig(encoding="dense", code_bits=8)

    print("1) dense tensor, 256 centroids, through dcformat.encode / dcformat.decode")
    t_ours = split(f"dense {rows}x2048", w, cfg, w.reshape(-1), 8, False, args.repeat)
    decoded = dcformat.decode(dcformat.encode({"w": w}, config=cfg))["w"]
    mse_ours = float(np.mean((decoded.astype(np.float64) - w) ** 2))
    print(f"  encode + decode {t_ours:.3f} s, MSE {mse_ours:.4e}")

    if not args.no_sklearn:
        try:
            from sklearn import __version__ as skl_version
            from sklearn.cluster import KMeans
        except ImportError:
            print("scikit-learn is not installed: comparison skipped")
        else:
            print(f"\n2) scikit-learn {skl_version} KMeans, 20 Lloyd iterations from the same linear init")
            x2d = w.reshape(-1, 1).astype(np.float64)
            c0 = initial_centroids(w, 256, "linear").reshape(-1, 1)
            km = KMeans(n_clusters=256, init=c0, n_init=1, max_iter=20, tol=0.0, algorithm="lloyd")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                km.fit(x2d)
                t_sk = time.perf_counter() - t0
            mse_sk = km.inertia_ / w.size
            print(f"  sklearn {t_sk:.3f} s ({km.n_iter_} it), MSE {mse_sk:.4e}")
            print(f"  speed ratio sklearn / ours(encode+decode) {t_sk / t_ours:.1f}x (goal >= 10) | "
                  f"MSE ratio ours / sklearn {mse_ours / mse_sk:.3f} (goal <= 1)")

    n = 1024 if args.quick else 4096
    print(f"\n3) {n}x{n} FC at 10 %, sparse, 32 centroids, 5-bit indices")
    fc = (rng.standard_normal((n, n)) * 0.02).astype(np.float32)
    flat = fc.reshape(-1)
    pos = np.flatnonzero(prune_to_density(flat, 0.1))
    kept = flat[pos]
    _, _, keep = quantize_values(kept, 5, "linear", 0, drop_zeros=True)
    search = row_class_search(fc, pos[keep], 5, args.repeat)
    split(f"FC {n}x{n}", fc, CompressionConfig(density=0.1, code_bits=5, index_bits=5), kept, 5, True,
          args.repeat, search)


if __name__ == "__main__":
    main()
