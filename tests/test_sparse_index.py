"""Relative sparse index: the vectorised codec against a plain-Python reading of spec §5.3."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcformat.errors import SparseIndexError
from dcformat.sparse import decode_positions, encode_positions, matrix_shape


def spec_encode(mask: np.ndarray, b: int) -> tuple[list[int], list[int]]:
    """Spec §5.3 written out literally, one entry at a time (the oracle)."""
    stride = (1 << b) - 1
    counts, gaps = [], []
    for row in mask:
        cursor, count = 0, 0
        for col, kept in enumerate(row):
            if not kept:
                continue
            skip = col - cursor
            while skip >= stride:
                gaps.append(0)
                skip -= stride
            gaps.append(skip + 1)
            cursor = col + 1
            count += 1
        counts.append(count)
    return counts, gaps


def spec_decode(counts: list[int], gaps: list[int], b: int) -> list[list[int]]:
    stride = (1 << b) - 1
    rows, it = [], iter(gaps)
    for count in counts:
        cursor, cols = 0, []
        while len(cols) < count:
            g = next(it)
            if g == 0:
                cursor += stride
            else:
                cols.append(cursor + g - 1)
                cursor = cols[-1] + 1
        rows.append(cols)
    return rows


masks = st.integers(0, 6).flatmap(
    lambda r: st.integers(0, 70).flatmap(
        lambda c: st.lists(st.booleans(), min_size=r * c, max_size=r * c).map(
            lambda bits: np.array(bits, bool).reshape(r, c)
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(mask=masks, b=st.integers(1, 7))
def test_matches_spec_oracle(mask: np.ndarray, b: int) -> None:
    rows, cols = mask.shape
    streams = encode_positions(np.flatnonzero(mask), rows, cols, b)
    counts, gaps = spec_encode(mask, b)
    assert streams.counts.tolist() == counts
    assert streams.gaps.tolist() == gaps
    indptr, indices, rows = decode_positions(streams.counts, streams.gaps, cols, b)
    expected = spec_decode(counts, gaps, b)
    assert indptr.tolist() == np.cumsum([0] + [len(r) for r in expected]).tolist()
    assert indices.tolist() == [c for r in expected for c in r]
    assert rows.tolist() == [i for i, r in enumerate(expected) for _ in r]


@pytest.mark.parametrize("b", [1, 3, 5, 8])
@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_gap_boundaries(b: int, delta: int) -> None:
    """Skips of exactly 2**b - 1, 2**b and 2**b + 1 zeros around the filler stride."""
    skip = (1 << b) - 1 + delta + 1
    cols = skip + 3
    mask = np.zeros((1, cols), bool)
    mask[0, skip] = True
    streams = encode_positions(np.flatnonzero(mask), 1, cols, b)
    assert streams.gaps.tolist() == spec_encode(mask, b)[1]
    _, indices, _ = decode_positions(streams.counts, streams.gaps, cols, b)
    assert indices.tolist() == [skip]


def test_rejects_column_past_row_end() -> None:
    with pytest.raises(SparseIndexError, match="row 0: column index 4 >= n_cols 4"):
        decode_positions(np.array([1], np.uint32), np.array([5], np.uint32), 4, 3)


def test_rejects_trailing_fillers_and_count_mismatch() -> None:
    with pytest.raises(SparseIndexError, match="fillers after"):
        decode_positions(np.array([1], np.uint32), np.array([1, 0], np.uint32), 100, 3)
    with pytest.raises(SparseIndexError, match="row counts sum"):
        decode_positions(np.array([2], np.uint32), np.array([1], np.uint32), 100, 3)
    with pytest.raises(SparseIndexError, match="without a following entry"):
        decode_positions(np.array([0], np.uint32), np.array([0], np.uint32), 100, 3)


def test_matrix_shape() -> None:
    assert matrix_shape((64, 3, 3, 3)) == (64, 27)
    assert matrix_shape((10, 20)) == (10, 20)
    assert matrix_shape((7,)) == (1, 7)
    assert matrix_shape(()) == (1, 1)
    assert matrix_shape((0, 5)) == (0, 5)
