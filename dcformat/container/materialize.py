"""Payloads to arrays: dense (``to_dense``) or CSR (``to_csr``), from streams already decoded by ``payload.parse``.

The compiled kernels are backends here: the fused sparse-to-dense kernel
(``sparse.relative_index.dense_compiled``) runs on the decoded streams, and
when it declines (no numba, switch off, or a stream that breaks a rule) the
checked NumPy path works on the *same* decoded streams and raises the error:
no stream is decoded twice.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..limits import Limits
from ..sparse import Positions
from ..sparse.relative_index import dense_compiled
from .payload import DensePayload, Payload, RawPayload, SparsePayload, check_dense_size


class CsrArrays(NamedTuple):
    """CSR of a tensor seen as (rows, cols), plus what produced the values (codebook and symbols, or None)."""

    indptr: np.ndarray  # int64[rows + 1]
    indices: np.ndarray  # int64[nnz]
    values: np.ndarray  # nnz values in the tensor's dtype
    codebook: np.ndarray | None = None  # sparse payloads: the codebook in the tensor's dtype
    symbols: np.ndarray | None = None  # codebook index of each value


def to_dense(payload: Payload, limits: Limits, *, positions: Positions | None = None) -> np.ndarray:
    """The tensor as a dense array of its shape and dtype (``positions``: the sparse CSR, if already computed)."""
    entry = payload.entry
    if isinstance(payload, RawPayload):
        return payload.array
    check_dense_size(entry, limits)
    if isinstance(payload, DensePayload):
        return payload.codebook[payload.symbols].astype(entry.np_dtype).reshape(entry.shape)
    if positions is None and entry.np_dtype == np.float32:
        out = dense_compiled(payload.row_counts, payload.class_of_row(), list(payload.gaps), payload.symbols,
                             payload.codebook, payload.cols, payload.index_bits)
        if out is not None:
            return out.reshape(entry.shape)
    pos = payload.positions() if positions is None else positions
    out = np.zeros(entry.numel, entry.np_dtype)
    flat = pos.rows * payload.cols
    flat += pos.indices
    out[flat] = payload.codebook[payload.symbols].astype(entry.np_dtype)
    return out.reshape(entry.shape)


def to_csr(payload: Payload, limits: Limits) -> tuple[CsrArrays, Positions | None]:
    """CSR of the tensor as (shape[0], prod(shape[1:])), and the sparse positions it came from (None otherwise).

    Sparse payloads give it straight from the row counts and relative indices,
    without building the dense matrix; others go through the dense array.
    """
    entry = payload.entry
    if isinstance(payload, SparsePayload):
        pos = payload.positions()
        codebook = payload.codebook.astype(entry.np_dtype)  # as the values come out: values == codebook[symbols]
        return CsrArrays(pos.indptr, pos.indices, codebook[payload.symbols], codebook, payload.symbols), pos
    from ..sparse import matrix_shape

    rows, cols = matrix_shape(entry.shape)
    dense = to_dense(payload, limits).reshape(rows, cols)
    r, c = np.nonzero(dense)
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(np.bincount(r, minlength=rows), out=indptr[1:])
    return CsrArrays(indptr, c.astype(np.int64), dense[r, c]), None


__all__ = ["CsrArrays", "to_csr", "to_dense"]
