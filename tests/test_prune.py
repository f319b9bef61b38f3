"""Tests for dcformat.prune: magnitude and channel keep-masks.

Oracles are written here independently of the implementation: the keep count is
computed with ``decimal`` (half-up rounding on the decimal value of the
density), and masks come from a plain Python sort of ``(-|w|, index)`` pairs.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dcformat.prune import (
    channel_l1_norms,
    density_to_count,
    prune_by_threshold,
    prune_channels_l1,
    prune_to_density,
)

# Small value pool so that ties, zeros and negative zeros are common.
_POOL = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 0.25])
_ELEMS = st.one_of(_POOL, st.floats(-8, 8, width=32, allow_subnormal=False))
weights = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=7), elements=_ELEMS)
densities = st.one_of(
    st.sampled_from([0.1, 0.25, 0.5, 0.0015, 1.0, 1e-9]),
    st.floats(min_value=1e-6, max_value=1.0, exclude_min=True),
)


def oracle_count(density: float, n: int) -> int:
    if n == 0:
        return 0
    k = int((Decimal(repr(float(density))) * n).to_integral_value(rounding=ROUND_HALF_UP))
    return min(max(k, 1), n)


def oracle_density_mask(w: np.ndarray, density: float) -> np.ndarray:
    flat = [float(v) for v in w.ravel()]
    k = oracle_count(density, len(flat))
    ranked = sorted((i for i, v in enumerate(flat) if v != 0), key=lambda i: (-abs(flat[i]), i))
    keep = np.zeros(len(flat), dtype=bool)
    keep[ranked[:k]] = True
    return keep.reshape(w.shape)


# ---------------------------------------------------------------- density_to_count


@pytest.mark.parametrize(
    ("density", "n", "expected"),
    [
        (0.1, 1000, 100),  # not 101: the binary 0.1 is slightly above 1/10
        (0.0015, 1000, 2),  # 1.5 rounds half up; binary 0.0015 is slightly below
        (0.0005, 1000, 1),
        (0.0004, 1000, 1),  # rounds to 0, raised to the minimum of one
        (1e-12, 10, 1),
        (0.3, 10, 3),
        (0.35, 10, 4),
        (0.25, 2, 1),  # 0.5 rounds up
        (1.0, 7, 7),
        (0.5, 0, 0),
    ],
)
def test_density_to_count_worked_examples(density: float, n: int, expected: int) -> None:
    assert density_to_count(density, n) == expected
    assert oracle_count(density, n) == expected


@given(st.floats(min_value=0.0, max_value=1.0, exclude_min=True), st.integers(0, 10**9))
def test_density_to_count_matches_decimal_oracle(density: float, n: int) -> None:
    assert density_to_count(density, n) == oracle_count(density, n)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.0000001, 2, math.nan, math.inf, True, "0.5", None])
def test_density_rejects_out_of_range(bad: object) -> None:
    with pytest.raises(ValueError):
        prune_to_density(np.ones(4, np.float32), bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- prune_to_density


@settings(max_examples=150, deadline=None)
@given(weights, densities)
def test_prune_to_density_matches_sort_oracle(w: np.ndarray, density: float) -> None:
    mask = prune_to_density(w, density)
    assert mask.dtype == np.bool_ and mask.shape == w.shape
    np.testing.assert_array_equal(mask, oracle_density_mask(w, density))
    nnz = int(np.count_nonzero(w))
    assert int(mask.sum()) == min(oracle_count(density, w.size), nnz)
    assert not np.any(mask & (w == 0)), "zeros (including -0.0) are never kept"
    mag = np.abs(w.astype(np.float64))
    dropped = (~mask) & (w != 0)
    if mask.any() and dropped.any():
        assert mag[mask].min() >= mag[dropped].max()


@settings(max_examples=100, deadline=None)
@given(weights, densities)
def test_prune_to_density_is_idempotent(w: np.ndarray, density: float) -> None:
    first = prune_to_density(w, density)
    pruned = np.where(first, w, np.float32(0))
    second = prune_to_density(pruned, density)
    np.testing.assert_array_equal(second, first)
    np.testing.assert_array_equal(second, pruned != 0)  # every nonzero survives


def test_prune_to_density_ties_go_to_lower_index() -> None:
    w = np.array([1, 3, 2, 3, 3, 0, -3], dtype=np.float32)  # four |3| ties
    mask = prune_to_density(w, 3 / 7)  # keep 3
    np.testing.assert_array_equal(mask, [False, True, False, True, True, False, False])
    w2 = np.array([[0.5, -0.5], [0.5, -0.5]], dtype=np.float32)  # C order: (0,0),(0,1),(1,0)
    np.testing.assert_array_equal(prune_to_density(w2, 0.75), [[True, True], [True, False]])


def test_prune_to_density_never_keeps_zeros_even_when_asked() -> None:
    w = np.array([0.0, -0.0, 0.0, 4.0], dtype=np.float32)
    np.testing.assert_array_equal(prune_to_density(w, 1.0), [False, False, False, True])
    assert not prune_to_density(np.zeros(5, np.float32), 0.5).any()
    assert prune_to_density(np.zeros((0, 3), np.float32), 0.5).shape == (0, 3)


def test_prune_to_density_integer_extremes() -> None:
    w = np.array([5, -128, 127, -127, 0], dtype=np.int8)  # |-128| must not overflow
    np.testing.assert_array_equal(prune_to_density(w, 0.2), [False, True, False, False, False])
    np.testing.assert_array_equal(prune_to_density(w, 0.6), [False, True, True, True, False])


def test_prune_rejects_nan() -> None:
    with pytest.raises(ValueError):
        prune_to_density(np.array([1.0, np.nan]), 0.5)
    with pytest.raises(ValueError):
        prune_by_threshold(np.array([1.0, np.nan]), 0.5)


def test_prune_to_density_large_array_matches_lexsort() -> None:
    rng = np.random.default_rng(7)
    # Rounded values: many exact ties at every magnitude, plus zeros.
    w = np.round(rng.standard_normal(1_000_003) * 50).astype(np.float32) / 50
    k = density_to_count(0.137, w.size)
    mask = prune_to_density(w, 0.137)
    mag = np.abs(w.astype(np.float64))
    idx = np.arange(w.size)
    order = np.lexsort((idx, -mag))  # by -|w|, then index
    order = order[w[order] != 0][:k]
    expected = np.zeros(w.size, dtype=bool)
    expected[order] = True
    np.testing.assert_array_equal(mask, expected)


# ---------------------------------------------------------------- prune_by_threshold


@settings(max_examples=100, deadline=None)
@given(weights, st.floats(0, 4))
def test_prune_by_threshold_matches_elementwise_rule(w: np.ndarray, t: float) -> None:
    mask = prune_by_threshold(w, t)
    expected = [abs(float(v)) >= t and float(v) != 0 for v in w.ravel()]
    np.testing.assert_array_equal(mask.ravel(), np.array(expected, dtype=bool))
    assert mask.shape == w.shape


def test_prune_by_threshold_zero_keeps_nonzeros_only() -> None:
    w = np.array([0.0, -0.0, 1e-30, -2.0], dtype=np.float64)
    np.testing.assert_array_equal(prune_by_threshold(w, 0.0), [False, False, True, True])
    np.testing.assert_array_equal(prune_by_threshold(w, 2.0), [False, False, False, True])


def test_prune_by_threshold_does_not_round_threshold_to_weight_dtype() -> None:
    # float32(t) == w here, but t > w: a float32 comparison would wrongly keep w.
    w = np.array([2.3005798], dtype=np.float32)
    t = 2.30057987564886
    assert float(np.float32(t)) == float(w[0]) < t
    assert not prune_by_threshold(w, t).any()
    assert prune_by_threshold(w, float(w[0])).all()
    big = np.array([np.inf, 3e38], dtype=np.float32)
    np.testing.assert_array_equal(prune_by_threshold(big, 1e39), [True, False])
    ints = np.array([-128, 100, 5], dtype=np.int8)
    np.testing.assert_array_equal(prune_by_threshold(ints, 100.5), [True, False, False])
    assert not prune_by_threshold(ints, 1000).any()


@pytest.mark.parametrize("bad", [-1e-9, math.nan, math.inf, -math.inf, "1", None, True])
def test_prune_by_threshold_rejects_bad_threshold(bad: object) -> None:
    with pytest.raises(ValueError):
        prune_by_threshold(np.ones(3), bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- channels


def naive_channel_norms(w: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(w, axis, 0)
    return np.array([sum(abs(float(v)) for v in moved[c].ravel()) for c in range(moved.shape[0])])


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5), elements=_ELEMS),
    st.data(),
)
def test_prune_channels_l1_keeps_top_norm_channels(w: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-w.ndim, w.ndim - 1))
    channels = w.shape[axis]
    keep = data.draw(st.one_of(st.integers(1, channels + 2), st.floats(0.01, 1.0)))
    norms = naive_channel_norms(w, axis)
    np.testing.assert_allclose(channel_l1_norms(w, axis), norms, rtol=1e-12, atol=0)
    count = min(keep, channels) if isinstance(keep, int) else oracle_count(keep, channels)
    ranked = sorted(range(channels), key=lambda c: (-norms[c], c))
    expected_channels = np.zeros(channels, dtype=bool)
    expected_channels[ranked[:count]] = True
    mask = prune_channels_l1(w, keep, axis=axis)
    assert mask.shape == w.shape and mask.dtype == np.bool_
    moved = np.moveaxis(mask, axis, 0).reshape(channels, -1)
    assert (moved == moved[:, :1]).all(), "a channel is kept or dropped as a whole"
    np.testing.assert_array_equal(moved[:, 0], expected_channels)


def test_prune_channels_l1_worked_example() -> None:
    w = np.zeros((4, 2, 3), dtype=np.float32)
    w[0] = 1.0  # L1 6
    w[1, 0, 0] = -6.0  # L1 6, tie with channel 0
    w[2] = 0.5  # L1 3
    w[3, 1] = 3.0  # L1 9
    np.testing.assert_array_equal(channel_l1_norms(w), [6.0, 6.0, 3.0, 9.0])
    mask = prune_channels_l1(w, 2)
    np.testing.assert_array_equal(mask[:, 0, 0], [True, False, False, True])
    np.testing.assert_array_equal(prune_channels_l1(w, 0.5)[:, 0, 0], [True, False, False, True])
    assert prune_channels_l1(w, 1.0).all()  # a float 1.0 is "all", the int 1 is one channel
    np.testing.assert_array_equal(prune_channels_l1(w, 1)[:, 0, 0], [False, False, False, True])
    # axis=1: the two input channels have L1 norms 6+6+1.5=13.5... computed by the naive oracle
    np.testing.assert_array_equal(channel_l1_norms(w, axis=1), naive_channel_norms(w, 1))


@pytest.mark.parametrize("bad", [0, -1, 0.0, 1.5, True, math.nan, "2"])
def test_prune_channels_l1_rejects_bad_keep(bad: object) -> None:
    with pytest.raises(ValueError):
        prune_channels_l1(np.ones((3, 2)), bad)  # type: ignore[arg-type]


def test_prune_channels_l1_rejects_bad_axis_and_scalars() -> None:
    with pytest.raises(ValueError):
        prune_channels_l1(np.ones((3, 2)), 1, axis=2)
    with pytest.raises(ValueError):
        prune_channels_l1(np.float32(1.0), 1)
