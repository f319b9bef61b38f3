"""Per-tensor payloads of DATA sections (spec §5): raw, dense-quantized, sparse-quantized.

``encode_payload`` runs the pipeline for one tensor (prune -> quantize ->
relative index -> streams) and returns the DATA payload; ``read_payload``
validates and decodes one. Both directions share the field order defined here
and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np

from .. import accel
from ..binary import Cursor, u8, varint
from ..config import TensorSettings
from ..entropy.streams import read_stream, skip_stream, write_stream
from ..errors import (
    CodebookError,
    DecompressionError,
    FormatError,
    LayoutError,
    LimitError,
    SparseIndexError,
    BitstreamError,
    UnsupportedFeatureError,
)
from ..limits import Limits
from ..prune import prune_by_threshold, prune_to_density
from ..quantize import kmeans_1d
from ..sparse import Positions, decode_positions, encode_positions, matrix_shape
from ..sparse.relative_index import MAX_ROW_CLASSES, dense_compiled, candidate_class_mins, merge_class_positions, row_classes, split_gaps
from .format import (
    MAX_BITS,
    MIN_BITS,
    NUMPY_DTYPES,
    RAW_HEADER_SIZE,
    Compression,
    DType,
    Encoding,
)

T = TypeVar("T")

ZSTD_LEVEL = 19


@dataclass(frozen=True)
class TableEntry:
    """One row of the tensor table (spec §4)."""

    name: str
    dtype: DType
    encoding: Encoding
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def np_dtype(self) -> np.dtype:
        return NUMPY_DTYPES[self.dtype]


# --------------------------------------------------------------------------- encode


def canonical_codebook(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct float32 values (by bit pattern, -0.0 before +0.0) and each input's index into them."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    uniq, inverse = np.unique(bits, return_inverse=True)
    vals = uniq.view(np.float32)
    order = np.lexsort((~np.signbit(vals), vals))
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    return vals[order], rank[inverse.reshape(-1)]


def quantize_values(
    values: np.ndarray, code_bits: int, init: str, seed: int, *, drop_zeros: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codebook (float32, canonical order), per-value labels, and the mask of values kept.

    Values are first rounded through the tensor's own dtype so that decoding
    reproduces the codebook exactly (a float16 tensor gets float16-representable
    centroids). When the values already have at most 2**code_bits distinct
    float32-representable bit patterns, the codebook is those values: the
    lossless path, which makes re-encoding a decoded file idempotent.
    """
    k = 1 << code_bits
    n = values.size
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, bool)
    as32 = values.astype(np.float32)
    exact = values.dtype == np.float32 or values.dtype == np.float16 or np.array_equal(
        as32.astype(values.dtype), values
    )
    if exact:
        cb, labels = canonical_codebook(as32)
        if cb.size <= k:
            return cb, labels, np.ones(n, bool)
    result = kmeans_1d(values.astype(np.float64), k, init=init, seed=seed)
    centroids = result.centroids.astype(values.dtype).astype(np.float32)
    cb, remap = canonical_codebook(centroids)
    labels = remap[np.asarray(result.labels, dtype=np.int64)]
    keep = np.ones(n, bool)
    if drop_zeros:
        zero = np.flatnonzero(cb == 0)
        if zero.size:
            keep = ~np.isin(labels, zero)
            cb2, remap2 = canonical_codebook(cb[np.unique(labels[keep])])
            lookup = np.full(cb.size, -1, np.int64)
            lookup[np.unique(labels[keep])] = remap2
            return cb2, lookup[labels[keep]], keep
    used = np.bincount(labels, minlength=cb.size) > 0
    if not used.all():
        lookup = np.cumsum(used) - 1
        return cb[used], lookup[labels], keep
    return cb, labels, keep


def _prune_mask(flat: np.ndarray, s: TensorSettings) -> np.ndarray:
    if s.density is not None:
        return prune_to_density(flat, s.density)
    if s.threshold is not None:
        return prune_by_threshold(flat, s.threshold)
    return flat != 0


def _stream(symbols: np.ndarray, alphabet: int, s: TensorSettings, width: int) -> bytes:
    if s.huffman:
        return write_stream(symbols, alphabet)
    return write_stream(symbols, alphabet, mode="fixed", width=width)


def encode_payload(name: str, array: np.ndarray, s: TensorSettings) -> tuple[Encoding, bytes]:
    """Compress one tensor into its DATA payload. ``array`` is already validated."""
    if s.encoding == "raw":
        return Encoding.RAW, _encode_raw(array, s.raw_compression)
    flat = np.ascontiguousarray(array).reshape(-1)
    if not np.isfinite(flat).all():
        raise ValueError(f"tensor {name!r}: NaN or Inf weights cannot be quantized (encoding={s.encoding!r})")
    q = s.code_bits
    if s.encoding == "dense":
        cb, labels, _ = quantize_values(flat, q, s.init, s.seed, drop_zeros=False)
        out = [u8(q), u8(0), varint(cb.size), cb.astype("<f4").tobytes()]
        out.append(_stream(labels, max(cb.size, 1), s, q))
        return Encoding.DENSE, b"".join(out)
    rows, cols = matrix_shape(array.shape)
    b = s.index_bits
    positions = np.flatnonzero(_prune_mask(flat, s))
    cb, labels, keep = quantize_values(flat[positions], q, s.init, s.seed, drop_zeros=True)
    positions = positions[keep]
    streams = encode_positions(positions, rows, cols, b)
    out = [u8(q), u8(b), varint(cb.size), cb.astype("<f4").tobytes()]
    out.append(_stream(streams.counts, cols + 1, s, max(1, cols.bit_length())))
    out.append(_gap_classes(streams, s, b))
    out.append(_stream(labels, max(cb.size, 1), s, q))
    return Encoding.SPARSE, b"".join(out)


ROW_CLASS_CANDIDATES = (1, 2, 4, 8)
ROW_CLASS_MIN_GAIN = 0.002  # more classes must save >= 0.2 % of the class section: each one costs decode time


def _gap_classes(streams, s: TensorSettings, b: int) -> bytes:
    """n_classes, class thresholds and one (n_fillers, gap stream) per row class: the smallest of a few splits.

    Several classes are kept only when they save at least ROW_CLASS_MIN_GAIN over
    one class (random-like rows gain nothing and would only decode slower). The
    fixed-width layout always uses one class (classes only help entropy coding).
    """
    single = b""
    best = b""
    for n in ROW_CLASS_CANDIDATES if s.huffman else (1,):
        class_min = candidate_class_mins(streams.counts, n)
        if n > 1 and class_min.size + 1 < n:
            continue  # too few distinct counts for this many classes; a smaller candidate covers it
        parts = [u8(class_min.size + 1)] + [varint(int(t)) for t in class_min]
        for gaps in split_gaps(streams, class_min):
            parts.append(varint(int(gaps.size - np.count_nonzero(gaps))))
            parts.append(_stream(gaps, 1 << b, s, b))
        data = b"".join(parts)
        if n == 1:
            single = best = data
        elif len(data) < len(best):
            best = data
    if len(best) > len(single) * (1 - ROW_CLASS_MIN_GAIN):
        return single
    return best


def _encode_raw(array: np.ndarray, compression: str) -> bytes:
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    if compression == "zstd":
        import zstandard

        frame = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True, write_checksum=True).compress(data)
        return u8(Compression.ZSTD) + bytes(7) + frame
    return u8(Compression.NONE) + bytes(7) + data


# --------------------------------------------------------------------------- decode


@dataclass(frozen=True)
class QuantHeader:
    code_bits: int
    index_bits: int
    codebook: np.ndarray


def _read_quant_header(cur: Cursor, entry: TableEntry) -> QuantHeader:
    at = cur.offset
    q = cur.u8("code_bits")
    if not MIN_BITS <= q <= MAX_BITS:
        raise cur.error(CodebookError, "code_bits", f"code_bits {q} outside {MIN_BITS}..{MAX_BITS}", at=at)
    at = cur.offset
    b = cur.u8("index_bits")
    if entry.encoding == Encoding.SPARSE and not MIN_BITS <= b <= MAX_BITS:
        raise cur.error(SparseIndexError, "index_bits", f"index_bits {b} outside {MIN_BITS}..{MAX_BITS}", at=at)
    if entry.encoding == Encoding.DENSE and b != 0:
        raise cur.error(LayoutError, "index_bits", f"must be 0 for dense encoding, got {b}", at=at)
    at = cur.offset
    k = cur.varint("codebook_size")
    if k > (1 << q):
        raise cur.error(CodebookError, "codebook_size", f"codebook size {k} > 2**code_bits = {1 << q}", at=at)
    at = cur.offset
    raw = cur.take(4 * k, "codebook")
    codebook = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    # Must stay finite after conversion to the tensor's dtype (spec §5.2). Quiet: a signalling NaN raises
    # "invalid value" while it is converted, and the check below reports it as the file's defect.
    with np.errstate(over="ignore", invalid="ignore"):
        bad = np.flatnonzero(~np.isfinite(codebook.astype(entry.np_dtype)))
    if bad.size:
        raise cur.error(
            CodebookError,
            "codebook",
            f"entry {int(bad[0])} is {codebook[bad[0]]}, not finite as {entry.np_dtype.name} (codebooks must be finite)",
            at=at,
        )
    return QuantHeader(q, b, codebook)


def _check_alloc(entry: TableEntry, limits: Limits) -> None:
    nbytes = entry.numel * entry.np_dtype.itemsize
    if nbytes > limits.max_tensor_bytes:
        raise LimitError(
            f"decoded size {nbytes} bytes exceeds Limits.max_tensor_bytes={limits.max_tensor_bytes}",
            tensor=entry.name,
            field="shape",
        )


def read_payload(cur: Cursor, entry: TableEntry, limits: Limits, *, dense: bool = True):
    """Decode one DATA payload. Returns the dense array, or (indptr, indices, values) when ``dense`` is False."""
    try:
        if entry.encoding == Encoding.RAW:
            _check_alloc(entry, limits)
            return _read_raw(cur, entry, limits)
        head = _read_quant_header(cur, entry)
        if entry.encoding == Encoding.DENSE:
            _check_alloc(entry, limits)
            symbols = read_stream(cur, entry.numel, max(head.codebook.size, 1), "values")
            _need_codebook(cur, head, symbols.size)
            cur.expect_end("values")
            out = head.codebook[symbols].astype(entry.np_dtype)
            return out.reshape(entry.shape)
        if dense:
            _check_alloc(entry, limits)  # before the streams: CONSTANT ones are not backed by bytes
            out = _try_dense_kernel(cur, entry, head)
            if out is not None:
                return out.reshape(entry.shape)
        positions, symbols = _read_sparse(cur, entry, head)
        if not dense:
            return positions.indptr, positions.indices, head.codebook[symbols].astype(entry.np_dtype)
        _, cols = matrix_shape(entry.shape)
        out = np.zeros(entry.numel, entry.np_dtype)
        flat = positions.rows * cols
        flat += positions.indices
        out[flat] = head.codebook[symbols].astype(entry.np_dtype)
        return out.reshape(entry.shape)
    except MemoryError:
        raise LimitError("not enough memory to decode this tensor", tensor=entry.name, field="shape") from None


def _need_codebook(cur: Cursor, head: QuantHeader, n: int) -> None:
    if n and head.codebook.size == 0:
        raise cur.error(CodebookError, "codebook_size", f"codebook is empty but {n} values refer to it")


def _read_sparse_streams(
    cur: Cursor,
    entry: TableEntry,
    head: QuantHeader,
    per_class: Callable[[np.ndarray, np.ndarray, int], T],
    gate: Callable[[int], bool] = lambda nnz: True,
) -> tuple[np.ndarray, np.ndarray, list[T], np.ndarray] | None:
    """Read a SPARSE payload's fields in spec order (§5.2-5.3); ``per_class(counts_c, gaps, gaps_at)`` handles each
    class's gap symbols as soon as they are read. Returns (counts, class of each row, per-class results, value
    symbols), or None when ``gate(nnz)`` declines after the row counts."""
    rows, cols = matrix_shape(entry.shape)
    if cols + 1 > 1 << 32:
        raise cur.error(LimitError, "shape", f"{cols} columns per row exceed the format's 2**32 - 1")
    counts = read_stream(cur, rows, cols + 1, "row_counts")
    nnz = int(counts.sum(dtype=np.int64))
    if not gate(nnz):
        return None
    class_min = _read_row_classes(cur)
    cls_of_row = row_classes(counts, class_min)
    stride = (1 << head.index_bits) - 1
    results = []
    for c in range(class_min.size + 1):
        counts_c = counts[cls_of_row == c]
        nnz_c = int(counts_c.sum(dtype=np.int64))
        at = cur.offset
        n_fill = cur.varint(f"n_fillers[{c}]")
        if n_fill * stride + nnz_c > counts_c.size * cols:
            raise cur.error(
                SparseIndexError, f"n_fillers[{c}]", f"{n_fill} fillers cannot fit in {counts_c.size} rows of {cols}", at=at
            )
        gaps_at = cur.offset
        gaps = read_stream(cur, nnz_c + n_fill, 1 << head.index_bits, f"gaps[{c}]")
        results.append(per_class(counts_c, gaps, gaps_at))
    symbols = read_stream(cur, nnz, max(head.codebook.size, 1), "values")
    _need_codebook(cur, head, nnz)
    cur.expect_end("values")
    return counts, cls_of_row, results, symbols  # symbols: codebook indices, < codebook size (read_stream's alphabet)


def _read_sparse(cur: Cursor, entry: TableEntry, head: QuantHeader) -> tuple[Positions, np.ndarray]:
    """CSR positions (every rule checked, errors located) and value symbols."""
    _, cols = matrix_shape(entry.shape)

    def positions(counts_c: np.ndarray, gaps: np.ndarray, gaps_at: int) -> Positions:
        try:
            return decode_positions(counts_c, gaps, cols, head.index_bits, tensor=entry.name)
        except SparseIndexError as exc:
            raise exc.with_context(offset=gaps_at) from None  # where this class's gap stream starts

    counts, cls_of_row, per_class, symbols = _read_sparse_streams(cur, entry, head, positions)
    merged = per_class[0] if len(per_class) == 1 else merge_class_positions(counts, cls_of_row, per_class)
    return merged, symbols


def _try_dense_kernel(cur: Cursor, entry: TableEntry, head: QuantHeader) -> np.ndarray | None:
    """Dense output in one compiled pass per row class (dcformat.accel), or None to take the checked path.

    Reads the same fields in the same order as :func:`_read_sparse` but checks
    positions only inside the kernel; on any problem (or without the kernels)
    it rewinds the cursor, and :func:`_read_sparse` decodes the payload again
    and raises the error it always raises. Valid payloads decode to the same
    array either way.
    """
    # numel bounds the entry count, so this declines before any stream is read when the kernels would (the usual
    # case without numba), and the checked path does not decode the row counts a second time.
    if entry.np_dtype != np.float32 or head.codebook.dtype != np.float32 or not accel.wants(entry.numel):
        return None
    start = cur.pos
    try:
        got = _read_sparse_streams(cur, entry, head, lambda counts_c, gaps, at: gaps, gate=accel.wants)
        if got is not None:
            counts, cls_of_row, gap_streams, symbols = got
            cols = matrix_shape(entry.shape)[1]
            out = dense_compiled(counts, cls_of_row, gap_streams, symbols, head.codebook, cols, head.index_bits)
            if out is not None:
                return out
    except FormatError:
        pass
    cur.pos = start
    return None


def _read_row_classes(cur: Cursor) -> np.ndarray:
    """n_classes and its strictly increasing thresholds (spec §5.3), as the array of thresholds."""
    at = cur.offset
    n = cur.u8("n_classes")
    if not 1 <= n <= MAX_ROW_CLASSES:
        raise cur.error(SparseIndexError, "n_classes", f"n_classes {n} outside 1..{MAX_ROW_CLASSES}", at=at)
    class_min = []
    for c in range(n - 1):
        at = cur.offset
        t = cur.varint(f"class_min[{c}]")
        if t < 1 or (class_min and t <= class_min[-1]):
            raise cur.error(
                SparseIndexError, f"class_min[{c}]", f"class thresholds must be >= 1 and strictly increasing, got {t}", at=at
            )
        class_min.append(t)
    return np.array(class_min, np.int64) if class_min else np.zeros(0, np.int64)


def _read_raw(cur: Cursor, entry: TableEntry, limits: Limits) -> np.ndarray:
    at = cur.offset
    comp = cur.u8("compression")
    reserved = bytes(cur.take(RAW_HEADER_SIZE - 1, "reserved"))
    if comp not in (Compression.NONE, Compression.ZSTD):
        raise cur.error(UnsupportedFeatureError, "compression", f"unknown compression {comp}", at=at)
    if reserved != bytes(RAW_HEADER_SIZE - 1):
        raise cur.error(UnsupportedFeatureError, "reserved", "reserved bytes must be zero", at=at + 1)
    nbytes = entry.numel * entry.np_dtype.itemsize
    data_at = cur.offset
    if comp == Compression.NONE:
        if cur.remaining != nbytes:
            raise cur.error(
                LayoutError, "data", f"raw data is {cur.remaining} bytes, shape and dtype need {nbytes}"
            )
        data = cur.take(nbytes, "data")
    else:
        data = _zstd_decompress(cur, nbytes, limits)
    arr = np.frombuffer(data, dtype=entry.np_dtype).copy()
    if entry.dtype == DType.BOOL:
        raw = arr.view(np.uint8)
        bad = np.flatnonzero(raw > 1)
        if bad.size:
            raise BitstreamError(
                f"bool element {int(bad[0])} has byte value {int(raw[bad[0]])} (must be 0 or 1)",
                tensor=entry.name,
                field="data",
                offset=data_at + int(bad[0]) if comp == Compression.NONE else data_at,
            )
    return arr.reshape(entry.shape).astype(entry.np_dtype.newbyteorder("="), copy=False)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _zstd_window(frame: bytes) -> int | None:
    """Window_Size from a zstd frame's Window_Descriptor (RFC 8878 §3.1.1.1.2); None if the frame has none.

    Single-segment frames (and headers too short to tell) have no descriptor: their
    window is the content size, checked once zstandard has read it.
    """
    if len(frame) < 6 or frame[4] & 0x20:
        return None
    exponent, mantissa = frame[5] >> 3, frame[5] & 7
    base = 1 << (10 + exponent)
    return base + (base >> 3) * mantissa


def _zstd_decompress(cur: Cursor, nbytes: int, limits: Limits) -> bytes:
    import zstandard

    at = cur.offset
    frame = bytes(cur.take(cur.remaining, "zstd_frame"))
    if nbytes > limits.max_zstd_ratio * max(len(frame), 1):
        raise cur.error(
            LimitError, "zstd_frame", f"declared {nbytes} bytes from a {len(frame)}-byte frame exceeds the ratio cap", at=at
        )
    if frame[:4] != ZSTD_MAGIC:  # a skippable frame has no content size and is not "one zstd frame"
        raise cur.error(DecompressionError, "zstd_frame", f"not a zstd frame (magic {frame[:4].hex(' ')})", at=at)
    window = _zstd_window(frame)
    if window is not None and window > limits.max_zstd_window_bytes:  # zstd only enforces it when streaming
        raise cur.error(
            LimitError, "zstd_frame", f"Window_Size {window} > Limits.max_zstd_window_bytes={limits.max_zstd_window_bytes}", at=at
        )
    try:
        declared = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as exc:
        raise cur.error(DecompressionError, "zstd_frame", f"bad zstd frame header: {exc}", at=at) from None
    if declared != nbytes:
        raise cur.error(
            DecompressionError, "zstd_frame", f"frame declares {declared} bytes, shape and dtype need {nbytes}", at=at
        )
    if window is None and declared > limits.max_zstd_window_bytes:  # single segment: the window is the content
        raise cur.error(
            LimitError, "zstd_frame", f"Window_Size {declared} > Limits.max_zstd_window_bytes={limits.max_zstd_window_bytes}", at=at
        )
    try:
        dctx = zstandard.ZstdDecompressor(max_window_size=limits.max_zstd_window_bytes)
        out = dctx.decompress(frame, max_output_size=nbytes, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise cur.error(DecompressionError, "zstd_frame", f"zstd: {exc}", at=at) from None
    if len(out) != nbytes:
        raise cur.error(DecompressionError, "zstd_frame", f"expanded to {len(out)} bytes, expected {nbytes}", at=at)
    return out


# --------------------------------------------------------------------------- info


@dataclass(frozen=True)
class PayloadInfo:
    code_bits: int | None = None
    index_bits: int | None = None
    codebook: np.ndarray | None = None
    nnz: int = 0
    n_fillers: int = 0
    compression: str | None = None
    codebook_bytes: int = 0
    count_stream: object | None = None
    gap_stream: object | None = None
    value_stream: object | None = None


def inspect_payload(cur: Cursor, entry: TableEntry) -> PayloadInfo:
    """Sizes and coding choices of a payload, without decoding its symbol streams (row counts aside)."""
    if entry.encoding == Encoding.RAW:
        at = cur.offset
        comp = cur.u8("compression")
        if comp not in (Compression.NONE, Compression.ZSTD):
            raise cur.error(UnsupportedFeatureError, "compression", f"unknown compression {comp}", at=at)
        name = "zstd" if comp == Compression.ZSTD else "none"
        return PayloadInfo(compression=name, nnz=entry.numel)
    head = _read_quant_header(cur, entry)
    cb_bytes = 4 * head.codebook.size
    if entry.encoding == Encoding.DENSE:
        vs = skip_stream(cur, entry.numel, max(head.codebook.size, 1), "values")
        return PayloadInfo(head.code_bits, None, head.codebook, entry.numel, 0, None, cb_bytes, None, None, vs)
    rows, cols = matrix_shape(entry.shape)
    start = cur.pos
    cs = skip_stream(cur, rows, cols + 1, "row_counts")
    class_min = _read_row_classes(cur)
    if cs.constant is not None:  # rows may be ~2**32 with no bytes behind them: never materialise
        nnz = rows * cs.constant
        only = int(row_classes(np.array([cs.constant]), class_min)[0])
        nnz_of_class = [nnz if c == only else 0 for c in range(class_min.size + 1)]
    else:
        end, cur.pos = cur.pos, start
        counts = read_stream(cur, rows, cols + 1, "row_counts")
        cur.pos = end
        cls_of_row = row_classes(counts, class_min)
        nnz_of_class = [int(counts[cls_of_row == c].sum(dtype=np.int64)) for c in range(class_min.size + 1)]
        nnz = sum(nnz_of_class)
    n_fill, gap_streams = 0, []
    for c, nnz_c in enumerate(nnz_of_class):
        fill_c = cur.varint(f"n_fillers[{c}]")
        n_fill += fill_c
        gap_streams.append(skip_stream(cur, nnz_c + fill_c, 1 << head.index_bits, f"gaps[{c}]"))
    vs = skip_stream(cur, nnz, max(head.codebook.size, 1), "values")
    return PayloadInfo(head.code_bits, head.index_bits, head.codebook, nnz, n_fill, None, cb_bytes, cs, tuple(gap_streams), vs)


__all__ = ["TableEntry", "encode_payload", "read_payload", "inspect_payload", "canonical_codebook", "quantize_values"]
