"""Payloads to arrays: dense (``to_dense``) or CSR (``to_csr``), from streams already decoded by ``payload.parse``;
or, before any parsing, straight from the payload bytes by the compiled C decoder (``compiled_dense``,
``compiled_csr``: ``dcformat._cdecode``, optional).

The compiled kernels are backends here: the fused sparse-to-dense kernel
(``sparse.relative_index.dense_compiled``) runs on the decoded streams, and
when it declines (no numba, switch off, or a stream that breaks a rule) the
checked NumPy path works on the *same* decoded streams and raises the error:
no stream is decoded twice.

The C decoder works one level up, on the whole DATA payload (its CRC already
verified by the reader): it is the independent C99 decoder of
``decoders/c/dcformat.h``, and every check the format asks for is in it. It
returns exactly the array the NumPy path returns or declines (None): when the
extension is not built or ``DCFORMAT_ACCEL=0``, for RAW payloads (one copy in
NumPy already), for a payload it does not understand (a stream coding of a
later format version), for RANS streams (format 1.1) when the extension was
built before it knew them, and for any invalid payload, so that the reader then
parses the same bytes with the checked NumPy path, which raises the library's
error with its message.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

import numpy as np

from .. import accel
from ..limits import Limits
from ..sparse import Positions
from ..sparse.relative_index import dense_compiled
from .format import FLAG_RANS_STREAMS, Encoding
from .payload import DensePayload, Payload, RawPayload, SparsePayload, check_dense_size
from .table import TableEntry


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
    out[flat] = payload.codebook.astype(entry.np_dtype).take(payload.symbols)  # convert K values, not nnz (elementwise: same)
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


# The extension's ABI from which it decodes RANS streams (it takes the file's header flags, FORMAT.md §6.1.1 check 1).
_CDECODE_RANS_ABI = 2
# ... and from which dense() takes `threads` (a SPARSE float32 tensor's rows written by two threads).
_CDECODE_THREADS_ABI = 3
# Outputs from this size on are written by two threads: most of their cost is the kernel zeroing fresh pages on
# first touch, which parallelises (benchmarks/bench_decode.py, wall-clock column); below it a thread's start-up
# (~0.1 ms) is not repaid. DCFORMAT_CDECODE_THREADS=1 keeps one thread (read on every call).
THREADS_MIN_BYTES = 8 << 20
THREADS_ENV = "DCFORMAT_CDECODE_THREADS"
# ... and from which dense() takes `populate`: with two threads, the second makes the output's pages present (the
# kernel zeroing them) while the first decodes two HUFFMAN streams, which one thread does interleaved.
# DCFORMAT_CDECODE_POPULATE=0 turns that off (read on every call; for A/B measurements: the result is the same).
_CDECODE_POPULATE_ABI = 4
POPULATE_ENV = "DCFORMAT_CDECODE_POPULATE"


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _threads(c, entry: TableEntry) -> int:
    """Threads for the C extension's dense decode of ``entry``: 2 for large SPARSE float32 tensors when the process
    may use two CPUs, else 1."""
    if (entry.encoding != Encoding.SPARSE or entry.np_dtype != np.float32 or getattr(c, "ABI", 1) < _CDECODE_THREADS_ABI
            or entry.numel * 4 < THREADS_MIN_BYTES or os.environ.get(THREADS_ENV, "").strip() == "1" or _cpus() < 2):
        return 1
    return 2


def _c_decoder(entry: TableEntry, limits: Limits, rans_allowed: bool):
    """The C extension when it may decode this tensor, else None (see the module docstring)."""
    if entry.encoding == Encoding.RAW or sys.byteorder != "little":  # it writes native-endian elements
        return None
    if entry.numel * entry.np_dtype.itemsize > limits.max_tensor_bytes:
        return None  # the NumPy path raises the LimitError at its place in the spec's order of checks
    c = accel.cdecode()
    if c is not None and rans_allowed and getattr(c, "ABI", 1) < _CDECODE_RANS_ABI:
        return None  # a stale build (python setup.py build_ext --inplace updates it)
    return c


def _flags(rans_allowed: bool) -> tuple[int, ...]:
    """The trailing header-flags argument of the extension's calls: bit 0 (RANS_STREAMS) only, when set."""
    return (FLAG_RANS_STREAMS,) if rans_allowed else ()


def compiled_dense(data: bytes | memoryview, entry: TableEntry, limits: Limits, *,
                   rans_allowed: bool = False) -> np.ndarray | None:
    """The tensor of DATA payload ``data`` (CRC verified) decoded by the C extension, or None (declined or invalid).
    ``rans_allowed``: the file sets header flag bit 0 (RANS streams are then valid, §2.2).

    The output is allocated before the payload is validated, but only within ``limits.max_tensor_bytes`` and
    untouched (``np.zeros``/``np.empty`` of a large array commit no pages) until the C decoder has checked every
    stream; one exception: with two threads and two HUFFMAN streams, the second thread makes present (never writes)
    the pages of the rows whose counts claim >= 1 entry per 1024 columns while the first decodes the streams, after
    their headers passed (each of the n entries needs >= 1 bit of the value stream's data, checked): at most 4 KiB per
    claimed entry, so 32 KiB per payload byte, and never more than the output.
    """
    c = _c_decoder(entry, limits, rans_allowed)
    if c is None:
        return None
    sparse = entry.encoding == Encoding.SPARSE  # its zeros come from fresh zero pages, not from a second pass
    try:
        out = (np.zeros if sparse else np.empty)(entry.shape, entry.np_dtype)
    except MemoryError:  # e.g. under an address-space cap: the NumPy path checks the payload before it allocates,
        return None  # so a defect in it is still reported as that defect
    threads = _threads(c, entry)
    extra = (*(_flags(rans_allowed) or (0,)), threads) if threads > 1 else _flags(rans_allowed)
    if threads > 1 and getattr(c, "ABI", 1) >= _CDECODE_POPULATE_ABI and os.environ.get(POPULATE_ENV, "").strip() == "0":
        extra = (*extra, 0)
    status, _ = c.dense(data, entry.name, int(entry.dtype), int(entry.encoding), entry.shape,
                        limits.max_tensor_elements, limits.max_tensor_bytes, out, sparse, *extra)
    return out if status == 0 else None


def compiled_csr(data: bytes | memoryview, entry: TableEntry, limits: Limits, *,
                 rans_allowed: bool = False) -> CsrArrays | None:
    """:func:`to_csr`'s arrays for DATA payload ``data`` (CRC verified) from the C extension, or None (declined or
    invalid). Same dtypes and values as the NumPy path: int64 indptr and indices, values in the tensor's dtype
    (codebook converted first, then indexed), and for SPARSE payloads the codebook and uint32 symbols."""
    c = _c_decoder(entry, limits, rans_allowed)
    if c is None:
        return None
    status, _, indptr, indices, codes, codebook = c.csr(data, entry.name, int(entry.dtype), int(entry.encoding),
                                                        entry.shape, limits.max_tensor_elements,
                                                        limits.max_tensor_bytes, *_flags(rans_allowed))
    if status:
        return None
    indptr = np.frombuffer(indptr, np.int64)  # uint64 counts <= numel < 2**63: the same bits as int64
    indices = np.frombuffer(indices, np.uint32).astype(np.int64)
    symbols = np.frombuffer(codes, np.uint16).astype(np.uint32)
    cb = np.frombuffer(codebook, np.float32).astype(entry.np_dtype)
    if entry.encoding == Encoding.SPARSE:
        return CsrArrays(indptr, indices, cb[symbols], cb, symbols)
    return CsrArrays(indptr, indices, cb[symbols])


__all__ = ["POPULATE_ENV", "THREADS_ENV", "THREADS_MIN_BYTES", "CsrArrays", "compiled_csr", "compiled_dense", "to_csr", "to_dense"]
