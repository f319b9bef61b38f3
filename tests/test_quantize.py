"""Tests for dcformat.quantize: 1-D k-means and eq. 3 centroid fine-tuning.

Independent oracles: a naive Lloyd iteration written here (argmin over all
centroids, mean per cluster), scikit-learn's KMeans from the same initial
centroids, a per-cluster Python loop and a finite-difference gradient.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dcformat.prune import prune_to_density
from dcformat.quantize import (
    INITS,
    KMeansResult,
    centroid_gradients,
    finetune_centroids,
    initial_centroids,
    kmeans_1d,
)

_ELEMS = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 3.0]),
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
)
values = hnp.arrays(np.float64, st.integers(1, 60), elements=_ELEMS)


def check_result(x: np.ndarray, k: int, r: KMeansResult) -> None:
    """Invariants every result must satisfy, checked against plain NumPy recomputation."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    c = r.centroids
    assert isinstance(r, KMeansResult)
    assert c.dtype == np.float64 and c.ndim == 1
    assert 1 <= c.size <= k
    assert np.all(np.diff(c) > 0), "centroids strictly increasing (sorted, no duplicates)"
    assert r.labels.shape == flat.shape and r.labels.dtype.kind == "i"
    assert r.labels.min() >= 0 and r.labels.max() < c.size
    assert np.all(np.bincount(r.labels, minlength=c.size) > 0), "no empty cluster"
    dist = np.abs(flat[:, None] - c[None, :])
    own = dist[np.arange(flat.size), r.labels]
    scale = max(1.0, float(np.abs(flat).max()))
    assert np.all(own <= dist.min(axis=1) + 1e-12 * scale), "every label is a nearest centroid"
    d = flat - c[r.labels]
    assert math.isclose(r.inertia, float(d @ d), rel_tol=1e-9, abs_tol=1e-12 * scale * scale)


# ---------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(values, st.integers(1, 12), st.sampled_from(INITS), st.integers(0, 3))
def test_kmeans_invariants_and_determinism(x: np.ndarray, k: int, init: str, seed: int) -> None:
    r = kmeans_1d(x, k, init=init, seed=seed)
    check_result(x, k, r)
    again = kmeans_1d(x.copy(), k, init=init, seed=seed)
    np.testing.assert_array_equal(again.centroids, r.centroids)
    np.testing.assert_array_equal(again.labels, r.labels)
    assert again.inertia == r.inertia and again.n_iter == r.n_iter


@settings(max_examples=100, deadline=None)
@given(values, st.integers(1, 12), st.sampled_from(INITS))
def test_kmeans_converged_centroids_are_member_means(x: np.ndarray, k: int, init: str) -> None:
    r = kmeans_1d(x, k, init=init, tol=0.0, max_iter=1000)
    check_result(x, k, r)
    assert r.n_iter < 1000, "tol=0 must reach the exact fixed point on small data"
    scale = max(1.0, float(np.abs(x).max()))
    for j, cj in enumerate(r.centroids):
        members = x[r.labels == j]
        assert abs(cj - members.mean()) <= 1e-12 * scale


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float32, st.integers(1, 40), elements=st.sampled_from([0.0, -0.0, 1.5, -2.25, 7.0, 1e-3, 3.0])),
    st.integers(1, 10),
)
def test_kmeans_lossless_path(x: np.ndarray, k: int) -> None:
    distinct = np.unique(x.astype(np.float64))
    r = kmeans_1d(x, k)
    if distinct.size <= k:
        np.testing.assert_array_equal(r.centroids, distinct)
        np.testing.assert_array_equal(r.centroids[r.labels], x.astype(np.float64))
        assert r.inertia == 0.0 and r.n_iter == 0
        assert not np.any(np.signbit(r.centroids) & (r.centroids == 0)), "-0.0 is stored as 0.0"
    else:
        check_result(x, k, r)
        assert r.centroids.size == k


def test_kmeans_lossless_keeps_already_quantized_weights_exactly() -> None:
    rng = np.random.default_rng(3)
    codebook = np.sort(rng.standard_normal(16)).astype(np.float32)
    w = codebook[rng.integers(0, 16, size=(256, 129))]  # large enough for the grid labelling path
    r = kmeans_1d(w, 16)
    np.testing.assert_array_equal(r.centroids[r.labels].reshape(w.shape).astype(np.float32), w)
    assert r.inertia == 0.0


def test_kmeans_input_dtype_and_shape_do_not_change_the_result() -> None:
    rng = np.random.default_rng(11)
    w32 = rng.laplace(size=(300, 200)).astype(np.float32)
    r32 = kmeans_1d(w32, 8)
    r64 = kmeans_1d(w32.astype(np.float64).ravel(), 8)
    np.testing.assert_array_equal(r32.centroids, r64.centroids)
    np.testing.assert_array_equal(r32.labels, r64.labels)
    assert r32.labels.shape == (w32.size,)
    check_result(w32, 8, r32)
    # A point exactly on a midpoint goes to the lower centroid (documented rule).
    mids = 0.5 * r32.centroids[:-1] + 0.5 * r32.centroids[1:]
    np.testing.assert_array_equal(r32.labels, np.searchsorted(mids, w32.astype(np.float64).ravel(), side="left"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_labelling_equals_binary_search(dtype: type, seed: int) -> None:
    from dcformat.quantize.kmeans import _count_below

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(50_000).astype(dtype)
    x[:100] = x[100:200]  # duplicates
    pool = np.sort(x.astype(np.float64))
    up = np.nextafter(pool.astype(dtype), dtype(np.inf)).astype(np.float64)
    x[200:240] = up[:40]  # the representable neighbours above some values are data too
    edges = np.unique(
        np.concatenate(
            [
                rng.choice(pool, 40),  # exactly on data values
                pool[:40] + 0.75 * (up[:40] - pool[:40]),  # between neighbours, nearer the upper one
                rng.choice(0.5 * pool[1:] + 0.5 * pool[:-1], 40),
                [pool[0], pool[-1], pool[-1] + 1.0, pool[0] - 1.0],
            ]
        )
    )
    got = _count_below(x, edges, float(x.min()), float(x.max()))
    np.testing.assert_array_equal(got, np.searchsorted(edges, x.astype(np.float64), side="left"))


def test_kmeans_random_init_depends_on_seed_only() -> None:
    x = np.random.default_rng(5).standard_normal(500)
    a = initial_centroids(x, 6, "random", seed=1)
    b = initial_centroids(x, 6, "random", seed=1)
    c = initial_centroids(x, 6, "random", seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.size == 6 and np.isin(a, x).all() and np.all(np.diff(a) > 0)


def test_initial_centroids_follow_their_definitions() -> None:
    x = np.random.default_rng(2).standard_normal(1001)
    xs = np.sort(x)
    np.testing.assert_allclose(initial_centroids(x, 5, "linear"), np.linspace(xs[0], xs[-1], 5), rtol=0, atol=0)
    expected = [xs[int((2 * i + 1) * 1001 // 10)] for i in range(5)]  # CDF at 0.1, 0.3, ... 0.9
    np.testing.assert_array_equal(initial_centroids(x, 5, "density"), expected)


def naive_lloyd(x: np.ndarray, c: np.ndarray, steps: int) -> np.ndarray:
    for _ in range(steps):
        labels = np.argmin(np.abs(x[:, None] - c[None, :]), axis=1)
        c = np.array([x[labels == j].mean() for j in range(c.size)])
    return c


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_kmeans_steps_match_naive_lloyd_without_empty_clusters(steps: int) -> None:
    x = np.random.default_rng(steps).uniform(-1, 1, 4000)  # no gap: linear init leaves no cluster empty
    c0 = initial_centroids(x, 8, "linear")
    r = kmeans_1d(x, 8, max_iter=steps, tol=0.0)
    assert r.n_iter == steps
    np.testing.assert_allclose(r.centroids, naive_lloyd(x, c0, steps), rtol=0, atol=1e-12)


def test_kmeans_relocates_empty_clusters_on_pruned_weights() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(40_000).astype(np.float32)
    x = w[prune_to_density(w, 0.1)]
    c0 = initial_centroids(x, 64, "linear")
    inside_gap = np.abs(c0) < np.abs(x).min()
    assert inside_gap.mean() > 0.25, "the linear init really puts centroids in the pruned gap"
    first_assignment = np.argmin(np.abs(x[:, None] - c0[None, :]), axis=1)
    assert np.unique(first_assignment).size < 64 - 10, "plain Lloyd would start with empty clusters"
    r = kmeans_1d(x, 64)
    assert r.centroids.size == 64
    check_result(x, 64, r)


def test_kmeans_extreme_magnitudes_stay_finite() -> None:
    x = np.array([1e300, -1e300, 5e299, 1.0, -3e299, 2e-300])
    r = kmeans_1d(x, 3)
    assert np.all(np.isfinite(r.centroids)) and np.all(np.diff(r.centroids) > 0)
    assert np.all(np.bincount(r.labels, minlength=r.centroids.size) > 0)


def test_kmeans_empty_input() -> None:
    r = kmeans_1d(np.zeros((0, 4), np.float32), 8)
    assert r.centroids.shape == (0,) and r.labels.shape == (0,)
    assert r.inertia == 0.0 and r.n_iter == 0


@pytest.mark.parametrize(
    ("x", "kwargs"),
    [
        (np.ones(3), {"k": 0}),
        (np.ones(3), {"k": -2}),
        (np.ones(3), {"k": 2.0}),
        (np.ones(3), {"k": True}),
        (np.ones(3), {"k": 2, "init": "kmeans++"}),
        (np.ones(3), {"k": 2, "max_iter": -1}),
        (np.ones(3), {"k": 2, "tol": -1.0}),
        (np.array([1.0, np.nan]), {"k": 2}),
        (np.array([1.0, np.inf, 2.0]), {"k": 2}),
        (np.array([-np.inf, 1.0, 2.0]), {"k": 1}),
        (np.array([1 + 2j]), {"k": 1}),
    ],
)
def test_kmeans_rejects_bad_arguments(x: np.ndarray, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        kmeans_1d(x, **kwargs)


# ---------------------------------------------------------------- peer comparison


def _pruned(dist: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(30_000) if dist == "normal" else rng.laplace(size=30_000)).astype(np.float32)
    return w[prune_to_density(w, 0.5)]  # 15,000 surviving weights with a gap around zero


@pytest.mark.parametrize("dist", ["normal", "laplace"])
@pytest.mark.parametrize("k", [4, 16, 32, 256])
def test_kmeans_mse_no_worse_than_sklearn_from_same_init(dist: str, k: int) -> None:
    cluster = pytest.importorskip("sklearn.cluster")
    x = _pruned(dist, seed=k)
    c0 = initial_centroids(x, k, "linear")
    assert c0.size == k
    ours = kmeans_1d(x, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = cluster.KMeans(
            n_clusters=k, init=c0.reshape(-1, 1), n_init=1, max_iter=100, algorithm="lloyd", tol=0.0
        ).fit(x.astype(np.float64).reshape(-1, 1))
    check_result(x, k, ours)
    assert ours.inertia <= peer.inertia_ * (1 + 1e-9), (ours.inertia, peer.inertia_)
    if k >= 16:  # with empty clusters to relocate, both relocate; all k codes end up used
        assert ours.centroids.size == k


# ---------------------------------------------------------------- eq. 3 fine-tuning


def naive_centroid_gradients(labels: np.ndarray, grad: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(k)
    for lab, g in zip(labels.ravel().tolist(), grad.ravel().tolist()):
        if lab >= 0:
            out[lab] += g
    return out


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 9), st.data())
def test_centroid_gradients_match_per_cluster_loop(k: int, data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6))
    labels = data.draw(hnp.arrays(np.int32, shape, elements=st.integers(-1, k - 1)))
    grad = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(-100, 100, width=32)))
    got = centroid_gradients(labels, grad, k)
    assert got.shape == (k,) and got.dtype == np.float64
    np.testing.assert_allclose(got, naive_centroid_gradients(labels, grad, k), rtol=1e-12, atol=1e-9)


def test_centroid_gradients_match_finite_differences_of_nonlinear_loss() -> None:
    rng = np.random.default_rng(4)
    k = 6
    codebook = rng.standard_normal(k)
    labels = rng.integers(-1, k, size=(20, 15))  # -1 = pruned position
    target = rng.standard_normal(labels.shape)
    kept = labels >= 0

    def weights(c: np.ndarray) -> np.ndarray:
        return np.where(kept, c[np.maximum(labels, 0)], 0.0)

    def loss(c: np.ndarray) -> float:
        w = weights(c)[kept]
        return float(0.5 * np.sum((w - target[kept]) ** 2) + np.sum(np.sin(w)))

    w = weights(codebook)
    grad_w = (w - target) + np.cos(w)  # dL/dW at kept positions
    grad_w[~kept] = 1e6  # garbage at pruned positions must be ignored
    analytic = centroid_gradients(labels, grad_w, k)
    h = 1e-6
    numeric = np.array(
        [(loss(codebook + h * np.eye(k)[j]) - loss(codebook - h * np.eye(k)[j])) / (2 * h) for j in range(k)]
    )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6)


def test_finetune_centroids_is_one_sgd_step_and_lowers_loss() -> None:
    rng = np.random.default_rng(9)
    codebook = np.array([-1.0, -0.2, 0.3, 1.1], dtype=np.float32)
    labels = rng.integers(0, 4, size=300)
    target = rng.standard_normal(300)
    grad = codebook[labels].astype(np.float64) - target  # d/dW of 0.5*||W - T||^2
    before = codebook.copy()
    new = finetune_centroids(codebook, labels, grad, lr=1e-3)
    np.testing.assert_array_equal(codebook, before)  # input left untouched
    assert new.dtype == np.float32 and new.shape == (4,)
    expected = (before.astype(np.float64) - 1e-3 * naive_centroid_gradients(labels, grad, 4)).astype(np.float32)
    np.testing.assert_array_equal(new, expected)
    loss_before = 0.5 * np.sum((codebook[labels] - target) ** 2)
    loss_after = 0.5 * np.sum((new[labels] - target) ** 2)
    assert loss_after < loss_before


def test_finetune_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        centroid_gradients(np.array([0, 4]), np.ones(2), 4)  # label out of range
    with pytest.raises(ValueError):
        centroid_gradients(np.array([0, 1]), np.ones(3), 4)  # shape mismatch
    with pytest.raises(ValueError):
        centroid_gradients(np.array([0.0, 1.0]), np.ones(2), 4)  # float labels
    with pytest.raises(ValueError):
        finetune_centroids(np.ones((2, 2)), np.array([0]), np.ones(1), 0.1)
    with pytest.raises(ValueError):
        finetune_centroids(np.ones(2), np.array([0]), np.ones(1), math.nan)
    np.testing.assert_array_equal(centroid_gradients(np.array([-1, -1]), np.ones(2), 3), np.zeros(3))


# ---------------------------------------------------------------- quantizer (one shared sort)


def _reference_quantize(values: np.ndarray, q: int, drop_zeros: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The quantizer's rule spelled out the slow way: np.unique over every value, k-means on a float64 copy."""
    from dcformat.quantize.codebook import canonical_codebook

    as32 = values.astype(np.float32)
    if values.dtype != np.float64 or np.array_equal(as32.astype(np.float64), values):
        cb, labels = canonical_codebook(as32)  # np.unique over the bit patterns + lexsort (sign of zero)
        if cb.size <= 1 << q:
            return cb, labels, np.ones(values.size, bool)
    r = kmeans_1d(values.astype(np.float64), 1 << q)
    cb, remap = canonical_codebook(r.centroids.astype(values.dtype).astype(np.float32))
    labels = remap[r.labels]
    keep = np.ones(values.size, bool)
    if drop_zeros and (cb == 0).any():
        keep = ~np.isin(labels, np.flatnonzero(cb == 0))
        used = np.unique(labels[keep])
        lookup = np.full(cb.size, -1, np.int64)
        lookup[used] = np.arange(used.size)
        return cb[used], lookup[labels[keep]], keep
    used = np.unique(labels)
    lookup = np.full(cb.size, -1, np.int64)
    lookup[used] = np.arange(used.size)
    return cb[used], lookup[labels], keep


_QUANT_ELEMS = st.one_of(
    st.sampled_from([0.0, -0.0, 0.0, -0.0, 1.0, -1.0, 0.5, -0.25]),
    st.floats(-8, 8, allow_nan=False, allow_infinity=False, width=32),
)


@settings(max_examples=200, deadline=None)
@given(
    x=hnp.arrays(np.float64, st.integers(1, 80), elements=_QUANT_ELEMS),
    dtype=st.sampled_from([np.float32, np.float16, np.float64]),
    q=st.integers(1, 4),
    drop_zeros=st.booleans(),
)
def test_quantize_values_equals_the_unique_based_rule(x: np.ndarray, dtype: type, q: int, drop_zeros: bool) -> None:
    """One float32 sort (distinct count, lossless labels, k-means input) gives exactly what np.unique gives,
    including the -0.0/+0.0 split of the lossless codebook and their order inside the sort."""
    from dcformat.quantize.codebook import quantize_values

    values = x.astype(dtype)
    cb, labels, keep = quantize_values(values, q, "linear", 0, drop_zeros=drop_zeros)
    ref_cb, ref_labels, ref_keep = _reference_quantize(values, q, drop_zeros)
    assert cb.dtype == np.float32
    np.testing.assert_array_equal(cb.view(np.uint32), ref_cb.view(np.uint32))
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(keep, ref_keep)
