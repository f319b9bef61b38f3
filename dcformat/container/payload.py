"""DATA payloads (spec §5) as typed values, and the one place that converts them to and from bytes.

A payload is what a tensor *is* in the file, before it becomes a dense array:
``RawPayload`` (bytes, maybe zstd), ``DensePayload`` (codebook + one codebook
index per element) or ``SparsePayload`` (codebook + row counts, row classes,
per-class gap streams, value symbols). The compression policy
(``dcformat.compress``) produces them, :func:`serialize` writes them,
:func:`parse` reads them back, and ``container.materialize`` turns them into
dense arrays or CSR.

:func:`parse` is the only field walker: every field of §5 is read and checked
here, in spec order, so ``tensor()``, ``csr()``, ``info()`` and ``streams()``
reject the same defects. With ``decode=False`` (``info()``, ``streams()``) it
checks every header, bound and table but does not decode symbol data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union

import numpy as np

from ..binary import Cursor, varint
from ..entropy.streams import RansContext, StreamInfo, parse_stream, stream_size, write_stream
from ..errors import (
    BitstreamError,
    CodebookError,
    DecompressionError,
    FormatError,
    LayoutError,
    LimitError,
    SparseIndexError,
    UnsupportedFeatureError,
)
from ..limits import Limits
from ..sparse import Positions, decode_positions, matrix_shape
from ..sparse.relative_index import merge_class_positions, row_classes
from .format import (
    CONSTANT,
    MAX_BITS,
    MAX_ROW_CLASSES,
    MIN_BITS,
    RAW_HEADER_SIZE,
    Compression,
    DType,
    RansModel,
    Encoding,
    QuantHeader,
    RawHeader,
    RowClassHeader,
)
from .table import TableEntry

ZSTD_LEVEL = 19  # writer's choice; any level decodes the same


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class RawPayload:
    """§5.1: the tensor's bytes, stored as they are or as one zstd frame."""

    entry: TableEntry
    compression: Compression
    array: np.ndarray | None  # the decoded tensor; None when parsed with decode=False


@dataclass(frozen=True)
class DensePayload:
    """§5.2: a codebook and one codebook index per element (C order)."""

    entry: TableEntry
    code_bits: int
    codebook: np.ndarray  # float32
    symbols: np.ndarray | None  # codebook indices; None when parsed with decode=False
    huffman: bool = True  # streams coded by size (Huffman/FIXED/CONSTANT) or FIXED at the natural width;
    # parsed payloads infer it from their streams (see _coded_by_size)
    streams: Mapping[str, StreamInfo] = field(default_factory=dict, compare=False, repr=False)  # as read
    rans: bool = False  # the writer may choose RANS streams (format 1.1); parsed: some stream is RANS


@dataclass(frozen=True)
class SparsePayload:
    """§5.3: codebook, row counts, row classes, per-class gap streams, value symbols (row-major)."""

    entry: TableEntry
    code_bits: int
    index_bits: int
    codebook: np.ndarray  # float32
    row_counts: np.ndarray | None  # entries per row; None only for a CONSTANT stream parsed with decode=False
    class_min: np.ndarray  # int64 thresholds of the row classes (n_classes - 1 of them)
    n_fillers: tuple[int, ...]  # per class
    gaps: tuple[np.ndarray, ...] | None  # gap symbols per class (0 = filler); None when parsed with decode=False
    symbols: np.ndarray | None  # codebook index of each entry; None when parsed with decode=False
    nnz: int
    huffman: bool = True
    streams: Mapping[str, StreamInfo] = field(default_factory=dict, compare=False, repr=False)
    gap_offsets: tuple[int, ...] = field(default=(), compare=False, repr=False)  # file offset of each gap stream
    rans: bool = False  # as DensePayload.rans

    @property
    def cols(self) -> int:
        return matrix_shape(self.entry.shape)[1]

    def class_of_row(self) -> np.ndarray:
        return row_classes(self.row_counts, self.class_min)

    def class_positions(self, c: int, cls_of_row: np.ndarray | None = None) -> Positions:
        """CSR of row class ``c``, every rule of §5.3 checked (the error names where that gap stream starts)."""
        cls = self.class_of_row() if cls_of_row is None else cls_of_row
        return _class_positions(self.entry, self.row_counts[cls == c], self.gaps[c], self.index_bits,
                                self.gap_offsets[c] if self.gap_offsets else None)

    def positions(self) -> Positions:
        """CSR structure of all entries (row-major), from the per-class gap streams."""
        cls = self.class_of_row()
        parts = [self.class_positions(c, cls) for c in range(len(self.gaps))]
        return parts[0] if len(parts) == 1 else merge_class_positions(self.row_counts, cls, parts)


Payload = Union[RawPayload, DensePayload, SparsePayload]


def _class_positions(entry: TableEntry, counts_c: np.ndarray, gaps: np.ndarray, index_bits: int,
                     gaps_at: int | None) -> Positions:
    try:
        return decode_positions(counts_c, gaps, matrix_shape(entry.shape)[1], index_bits, tensor=entry.name)
    except SparseIndexError as exc:
        raise exc.with_context(offset=gaps_at) from None  # where this class's gap stream starts


# --------------------------------------------------------------------------- writing


# §6.1.3: the context models each stream of a payload may use.
GAP_MODELS = RansContext(models=(RansModel.NONE, RansModel.PREV_GAP))


def value_context(counts: np.ndarray, class_min: np.ndarray) -> RansContext:
    """SPARSE values: NONE, or ROW_CLASS with the row class of every entry's row (known from the row counts)."""
    cls = row_classes(counts, class_min)
    return RansContext(models=(RansModel.NONE, RansModel.ROW_CLASS), n_classes=class_min.size + 1,
                       row_class=np.repeat(cls.astype(np.int64), np.asarray(counts, np.int64)))


def _stream(symbols: np.ndarray, alphabet: int, huffman: bool, width: int, rans: RansContext | None = None) -> bytes:
    if huffman:
        return write_stream(symbols, alphabet, rans=rans)
    return write_stream(symbols, alphabet, mode="fixed", width=width)


def row_class_bytes(class_min: np.ndarray, n_fillers: tuple[int, ...], gaps: tuple[np.ndarray, ...],
                    index_bits: int, huffman: bool, rans: bool = False) -> bytes:
    """n_classes, class_min and each class's (n_fillers, gaps) as §5.3 lays them out."""
    parts = [RowClassHeader.build(n_classes=class_min.size + 1)] + [varint(int(t)) for t in class_min]
    for fill, g in zip(n_fillers, gaps):
        parts.append(varint(int(fill)))
        parts.append(_stream(g, 1 << index_bits, huffman, index_bits, GAP_MODELS if rans else None))
    return b"".join(parts)


def row_class_size(class_min: np.ndarray, n_fillers: tuple[int, ...], gaps: tuple[np.ndarray, ...],
                   index_bits: int, huffman: bool) -> int:
    """``len(row_class_bytes(...))`` without packing the gap streams (the writer's row-class search)."""
    size = RowClassHeader.sizeof() + sum(len(varint(int(t))) for t in class_min)
    for fill, g in zip(n_fillers, gaps):
        size += len(varint(int(fill)))
        size += stream_size(g, 1 << index_bits) if huffman else 2 + ((g.size * index_bits + 7) >> 3)
    return size


def serialize(payload: Payload) -> bytes:
    """The DATA payload bytes of ``payload`` (deterministic: same payload, same bytes)."""
    if isinstance(payload, RawPayload):
        arr = payload.array
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        if payload.compression == Compression.ZSTD:
            import zstandard

            data = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True, write_checksum=True).compress(data)
        return RawHeader.build(compression=payload.compression, reserved=bytes(RAW_HEADER_SIZE - 1)) + data
    cb = payload.codebook
    q = payload.code_bits
    if isinstance(payload, DensePayload):
        head = [QuantHeader.build(code_bits=q, index_bits=0), varint(cb.size), cb.astype("<f4").tobytes()]
        plain = RansContext() if payload.rans else None
        return b"".join(head + [_stream(payload.symbols, max(cb.size, 1), payload.huffman, q, plain)])
    b, cols = payload.index_bits, payload.cols
    rans = payload.rans
    return b"".join([
        QuantHeader.build(code_bits=q, index_bits=b),
        varint(cb.size),
        cb.astype("<f4").tobytes(),
        _stream(payload.row_counts, cols + 1, payload.huffman, max(1, cols.bit_length()), RansContext() if rans else None),
        row_class_bytes(payload.class_min, payload.n_fillers, payload.gaps, b, payload.huffman, rans),
        _stream(payload.symbols, max(cb.size, 1), payload.huffman, q,
                value_context(payload.row_counts, payload.class_min) if rans else None),
    ])


def uses_rans(payload: bytes, entry: TableEntry, limits: Limits) -> bool:
    """Whether a serialized payload contains a RANS stream (the writer sets the file's flag bit 0 from this)."""
    if entry.encoding == Encoding.RAW:
        return False
    p = parse(payload, entry, limits, decode=False)
    return any(s.coding == "rans" for s in p.streams.values())


# --------------------------------------------------------------------------- reading


def check_dense_size(entry: TableEntry, limits: Limits) -> None:
    """LimitError when the tensor's dense form would exceed ``limits.max_tensor_bytes`` (checked before allocating)."""
    nbytes = entry.numel * entry.np_dtype.itemsize
    if nbytes > limits.max_tensor_bytes:
        raise LimitError(
            f"decoded size {nbytes} bytes exceeds Limits.max_tensor_bytes={limits.max_tensor_bytes}",
            tensor=entry.name,
            field="shape",
        )


def parse(
    data: bytes | memoryview, entry: TableEntry, limits: Limits, *, offset: int = 0, decode: bool = True,
    dense: bool = False, rans_allowed: bool = True,
) -> Payload:
    """Read and validate one DATA payload (``offset``: its absolute file offset, for error messages).

    Every field is checked in spec order, so a file has one well-defined first
    error; ``decode=False`` leaves the symbol data undecoded (see the module
    docstring). ``dense``: the caller will build the dense array, so a SPARSE
    tensor's dense size is checked against the limits before its streams are read
    (RAW and DENSE payloads are that size anyway and are always checked).
    ``rans_allowed``: the file header sets flag bit 0 (§2.2); without it a RANS
    stream is [UnsupportedFeature].
    """
    try:
        return _parse(Cursor(data, base=offset, tensor=entry.name), entry, limits, decode, dense, rans_allowed)
    except FormatError as exc:
        if decode or entry.encoding == Encoding.RAW or entry.numel * entry.np_dtype.itemsize > limits.max_tensor_bytes:
            raise
        # Undecoded symbol data can hide the spec's first error (a bad gap stream before a bad later field):
        # find it with the decoding walk, when the tensor is small enough that decoding it is allowed anyway.
        try:
            _parse(Cursor(data, base=offset, tensor=entry.name), entry, limits, True, False, rans_allowed)
        except MemoryError:
            pass
        raise exc from None


def _parse(cur: Cursor, entry: TableEntry, limits: Limits, decode: bool, dense: bool, rans_allowed: bool = True
           ) -> Payload:
    plain = RansContext(allowed=rans_allowed)
    if entry.encoding == Encoding.RAW:
        return _parse_raw(cur, entry, limits, decode)
    q, b, codebook = _parse_quant_header(cur, entry)
    if entry.encoding == Encoding.DENSE:
        if decode:
            check_dense_size(entry, limits)
        info, symbols = parse_stream(cur, entry.numel, max(codebook.size, 1), "values", decode=decode, rans=plain)
        _need_codebook(cur, codebook, entry.numel)
        cur.expect_end("values")
        return DensePayload(entry, q, codebook, symbols, _coded_by_size({"values": info}), {"values": info},
                            info.coding == "rans")
    if decode and dense:
        check_dense_size(entry, limits)  # before the streams: CONSTANT ones are not backed by bytes
    return _parse_sparse(cur, entry, q, b, codebook, decode, rans_allowed)


def _coded_by_size(streams: Mapping[str, StreamInfo]) -> bool:
    """The ``huffman`` choice a parsed payload reports: False when every stream is FIXED (a writer's
    ``huffman=False``), else True. Only what the bytes show: a file whose streams were all coded by size
    and all came out FIXED reads as False."""
    return not all(s.coding == "fixed" for s in streams.values())


def _parse_quant_header(cur: Cursor, entry: TableEntry) -> tuple[int, int, np.ndarray]:
    head = cur.fields(QuantHeader)
    q, at = next(head)
    if not MIN_BITS <= q <= MAX_BITS:
        raise cur.error(CodebookError, "code_bits", f"code_bits {q} outside {MIN_BITS}..{MAX_BITS}", at=at)
    b, at = next(head)
    if entry.encoding == Encoding.SPARSE and not MIN_BITS <= b <= MAX_BITS:
        raise cur.error(SparseIndexError, "index_bits", f"index_bits {b} outside {MIN_BITS}..{MAX_BITS}", at=at)
    if entry.encoding == Encoding.DENSE and b != 0:
        raise cur.error(LayoutError, "index_bits", f"must be 0 for dense encoding, got {b}", at=at)
    at = cur.offset
    k = cur.varint("codebook_size")
    if k > (1 << q):
        raise cur.error(CodebookError, "codebook_size", f"codebook size {k} > 2**code_bits = {1 << q}", at=at)
    at = cur.offset
    codebook = np.frombuffer(cur.take(4 * k, "codebook"), dtype="<f4").astype(np.float32)
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
    return q, b, codebook


def _need_codebook(cur: Cursor, codebook: np.ndarray, n: int) -> None:
    if n and codebook.size == 0:
        raise cur.error(CodebookError, "codebook_size", f"codebook is empty but {n} values refer to it")


def _read_row_classes(cur: Cursor) -> np.ndarray:
    """n_classes and its strictly increasing thresholds (spec §5.3), as the array of thresholds."""
    n, at = next(cur.fields(RowClassHeader))
    if not 1 <= n <= MAX_ROW_CLASSES:
        raise cur.error(SparseIndexError, "n_classes", f"n_classes {n} outside 1..{MAX_ROW_CLASSES}", at=at)
    class_min: list[int] = []
    for c in range(n - 1):
        at = cur.offset
        t = cur.varint(f"class_min[{c}]")
        if t < 1 or (class_min and t <= class_min[-1]):
            raise cur.error(
                SparseIndexError, f"class_min[{c}]", f"class thresholds must be >= 1 and strictly increasing, got {t}", at=at
            )
        class_min.append(t)
    return np.array(class_min, np.int64) if class_min else np.zeros(0, np.int64)


def _parse_sparse(cur: Cursor, entry: TableEntry, q: int, b: int, codebook: np.ndarray, decode: bool,
                  rans_allowed: bool = True) -> SparsePayload:
    plain = RansContext(allowed=rans_allowed)
    rows, cols = matrix_shape(entry.shape)
    if cols + 1 > 1 << 32:
        raise cur.error(LimitError, "shape", f"{cols} columns per row exceed the format's 2**32 - 1")
    # The counts give the class sizes, so they are decoded even when inspecting, except from a CONSTANT stream
    # (it may stand for ~2**32 rows with no bytes behind it; its one symbol says everything).
    constant = cur.remaining > 0 and cur.buf[cur.pos] == CONSTANT
    count_info, counts = parse_stream(cur, rows, cols + 1, "row_counts", decode=decode or not constant, rans=plain)
    class_min = _read_row_classes(cur)
    n_classes = class_min.size + 1
    if counts is not None:
        cls_of_row = row_classes(counts, class_min)
        rows_of_class = [counts[cls_of_row == c] for c in range(n_classes)]
        nnz_of_class = [int(rc.sum(dtype=np.int64)) for rc in rows_of_class]
        n_rows_of_class = [rc.size for rc in rows_of_class]
    else:
        only = int(row_classes(np.array([count_info.constant]), class_min)[0])
        nnz_of_class = [rows * count_info.constant if c == only else 0 for c in range(n_classes)]
        n_rows_of_class = [rows if c == only else 0 for c in range(n_classes)]
    nnz = sum(nnz_of_class)
    streams: dict[str, StreamInfo] = {"row_counts": count_info}
    stride = (1 << b) - 1
    fillers: list[int] = []
    gaps: list[np.ndarray] = []
    gap_offsets: list[int] = []
    try:
        for c in range(n_classes):
            at = cur.offset
            n_fill = cur.varint(f"n_fillers[{c}]")
            if n_fill * stride + nnz_of_class[c] > n_rows_of_class[c] * cols:
                raise cur.error(
                    SparseIndexError, f"n_fillers[{c}]",
                    f"{n_fill} fillers cannot fit in {n_rows_of_class[c]} rows of {cols}", at=at
                )
            fillers.append(n_fill)
            gap_offsets.append(cur.offset)
            info, g = parse_stream(cur, nnz_of_class[c] + n_fill, 1 << b, f"gaps[{c}]", decode=decode,
                                   rans=RansContext(GAP_MODELS.models, allowed=rans_allowed))
            streams[f"gaps[{c}]"] = info
            gaps.append(g)
        if counts is not None and decode:
            vctx = value_context(counts, class_min)
            vctx = RansContext(vctx.models, vctx.n_classes, vctx.row_class, rans_allowed)
        else:  # inspecting: the tables are checked, the contexts of the symbols are not needed
            vctx = RansContext((RansModel.NONE, RansModel.ROW_CLASS), n_classes, None, rans_allowed)
        streams["values"], symbols = parse_stream(cur, nnz, max(codebook.size, 1), "values", decode=decode, rans=vctx)
        _need_codebook(cur, codebook, nnz)
        cur.expect_end("values")
    except FormatError as exc:
        # The positions a class's gaps describe come before the later fields in spec order: a broken class
        # reported first keeps the first error the same whichever decoder materialises the tensor.
        first: FormatError = exc
        try:
            for c, g in enumerate(gaps if decode else ()):
                _class_positions(entry, rows_of_class[c], g, b, gap_offsets[c])
        except SparseIndexError as earlier:
            first = earlier
        raise first from None
    return SparsePayload(entry, q, b, codebook, counts, class_min, tuple(fillers), tuple(gaps) if decode else None,
                         symbols, nnz, _coded_by_size(streams), streams, tuple(gap_offsets),
                         any(s.coding == "rans" for s in streams.values()))


def _parse_raw(cur: Cursor, entry: TableEntry, limits: Limits, decode: bool) -> RawPayload:
    if decode:
        check_dense_size(entry, limits)
    head = cur.fields(RawHeader)
    comp, at = next(head)
    reserved, at_reserved = next(head)  # read before the checks, as before: a short header is truncated first
    if comp not in (Compression.NONE, Compression.ZSTD):
        raise cur.error(UnsupportedFeatureError, "compression", f"unknown compression {comp}", at=at)
    if reserved != bytes(RAW_HEADER_SIZE - 1):
        raise cur.error(UnsupportedFeatureError, "reserved", "reserved bytes must be zero", at=at_reserved)
    comp = Compression(comp)
    nbytes = entry.numel * entry.np_dtype.itemsize
    data_at = cur.offset
    if comp == Compression.NONE:
        if cur.remaining != nbytes:
            raise cur.error(LayoutError, "data", f"raw data is {cur.remaining} bytes, shape and dtype need {nbytes}")
        data = cur.take(nbytes, "data")
    else:
        data = _zstd_frame(cur, nbytes, limits, decode)
    if not decode:
        return RawPayload(entry, comp, None)
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
    return RawPayload(entry, comp, arr.reshape(entry.shape).astype(entry.np_dtype.newbyteorder("="), copy=False))


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_SINGLE_SEGMENT = 0x20  # Frame_Header_Descriptor bit (RFC 8878 §3.1.1.1.1): no Window_Descriptor, window = content


def _zstd_frame(cur: Cursor, nbytes: int, limits: Limits, decode: bool) -> bytes | None:
    """The one zstd frame of a RAW payload, checked against §5.1 and the limits and decompressed (``decode``).

    Without ``decode`` the frame is data not looked into, like a stream's
    codewords: ``info()`` does not allocate, so the limits do not apply to it.
    """
    import zstandard

    at = cur.offset
    frame = bytes(cur.take(cur.remaining, "zstd_frame"))
    if not decode:
        return None
    if nbytes > limits.max_zstd_ratio * max(len(frame), 1):
        raise cur.error(
            LimitError, "zstd_frame", f"declared {nbytes} bytes from a {len(frame)}-byte frame exceeds the ratio cap", at=at
        )
    if frame[:4] != ZSTD_MAGIC:  # a skippable frame has no content size and is not "one zstd frame"
        raise cur.error(DecompressionError, "zstd_frame", f"not a zstd frame (magic {frame[:4].hex(' ')})", at=at)
    window_limit = limits.max_zstd_window_bytes  # zstd only enforces it when streaming: checked here
    try:
        params = zstandard.get_frame_parameters(frame)
    except zstandard.ZstdError as exc:
        if "too much memory" in str(exc):  # Window_Size beyond zstd's own maximum (2**31), so beyond the limit too
            raise cur.error(LimitError, "zstd_frame", f"Window_Size > Limits.max_zstd_window_bytes={window_limit}", at=at) from None
        raise cur.error(DecompressionError, "zstd_frame", f"bad zstd frame header: {exc}", at=at) from None
    single = bool(frame[4] & ZSTD_SINGLE_SEGMENT)  # then window_size is the content size, checked after it
    if not single and params.window_size > window_limit:
        raise cur.error(LimitError, "zstd_frame", f"Window_Size {params.window_size} > Limits.max_zstd_window_bytes={window_limit}", at=at)
    declared = -1 if params.content_size == zstandard.CONTENTSIZE_UNKNOWN else params.content_size
    if declared != nbytes:
        raise cur.error(
            DecompressionError, "zstd_frame", f"frame declares {declared} bytes, shape and dtype need {nbytes}", at=at
        )
    if single and declared > window_limit:
        raise cur.error(LimitError, "zstd_frame", f"Window_Size {declared} > Limits.max_zstd_window_bytes={window_limit}", at=at)
    try:
        dctx = zstandard.ZstdDecompressor(max_window_size=window_limit)
        out = dctx.decompress(frame, max_output_size=nbytes, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise cur.error(DecompressionError, "zstd_frame", f"zstd: {exc}", at=at) from None
    if len(out) != nbytes:
        raise cur.error(DecompressionError, "zstd_frame", f"expanded to {len(out)} bytes, expected {nbytes}", at=at)
    return out


__all__ = [
    "DensePayload", "Payload", "RawPayload", "SparsePayload", "check_dense_size", "parse", "row_class_bytes", "row_class_size", "serialize",
    "uses_rans",
]
