"""Reading dcformat files lazily: structure on open, each tensor when asked for.

Opening a file checks the signature, the header, the section tiling and the
CRCs of the table, metadata and graph. A tensor's DATA section CRC is checked
right before that tensor is decoded, so a damaged tensor is reported by name
and the others stay readable.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..binary import Cursor
from ..errors import FormatError, LayoutError, LimitError, UnsupportedFeatureError
from ..limits import DEFAULT_LIMITS, Limits
from .format import FLAG_RANS_STREAMS, NUMPY_DTYPES, SectionKind, is_critical
from .materialize import compiled_csr, compiled_dense, to_csr, to_dense
from .metadata import parse_metadata
from .payload import DensePayload, Payload, RawPayload, SparsePayload, parse
from .sections import SectionRef, file_flags, read_preamble, verified_payload, walk_sections
from .table import TableEntry, parse_table


@dataclass(frozen=True)
class TensorInfo:
    """What a tensor costs and how it is coded (the paper's per-layer table is built from this)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    encoding: str  # "raw" | "dense" | "sparse"
    numel: int
    nnz: int  # stored values: nonzeros for sparse, every element otherwise
    n_fillers: int
    code_bits: int | None
    index_bits: int | None
    codebook_size: int | None
    compression: str | None  # raw only: "none" | "zstd"
    value_coding: str | None
    gap_coding: str | None
    count_coding: str | None
    codebook_bytes: int
    value_bytes: int
    gap_bytes: int
    count_bytes: int
    payload_bytes: int  # the whole DATA payload
    section_bytes: int  # payload + section framing and padding

    @property
    def density(self) -> float:
        return self.nnz / self.numel if self.numel else 0.0


def _stream_map(p: Payload) -> dict:
    """A payload's streams as ``DCFile.streams`` lists them (the largest gap stream also as "gaps")."""
    if isinstance(p, RawPayload):
        return {}
    out = dict(p.streams)
    gaps = [v for k, v in out.items() if k.startswith("gaps[")]
    if gaps:
        values = out.pop("values")
        out["gaps"] = max(gaps, key=lambda g: g.nbytes)
        out["values"] = values
    return out


def _wrap(exc: FormatError, name: str) -> FormatError:
    return exc.with_context(tensor=name) if exc.tensor is None else exc


class DCFile:
    """A lazily read dcformat file (see :func:`dcformat.open`)."""

    def __init__(self, source: str | os.PathLike | bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS):
        self.limits = limits
        self._mmap: mmap.mmap | None = None
        self._fh = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._buf = memoryview(bytes(source)) if isinstance(source, bytearray) else memoryview(source)
            self.path = None
        else:
            self.path = os.fspath(source)
            self._fh = open(self.path, "rb")
            size = os.fstat(self._fh.fileno()).st_size
            if size == 0:
                self._buf = memoryview(b"")
            else:
                self._mmap = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
                self._buf = memoryview(self._mmap)
        try:
            self._parse_structure()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ structure
    def _parse_structure(self) -> None:
        buf, limits = self._buf, self.limits
        count = read_preamble(buf, limits)
        self._rans_allowed = bool(file_flags(buf) & FLAG_RANS_STREAMS)  # §2.2: a RANS stream needs flag bit 0
        refs = walk_sections(buf, count)
        if not refs or refs[0].kind != SectionKind.TABLE.value:
            got = refs[0].kind.decode() if refs else "no section"
            raise LayoutError(f"the first section must be TABL, found {got}", field="kind", offset=24)
        table_ref = refs[0]
        payload = verified_payload(buf, table_ref)
        self._entries: list[TableEntry] = parse_table(Cursor(payload, base=table_ref.payload_offset), limits)
        self.metadata: dict[str, Any] = {}
        self.graph_bytes: bytes | None = None
        data_refs: list[SectionRef] = []
        seen: set[bytes] = set()
        for ref in refs[1:]:
            kind = ref.kind
            if kind == SectionKind.DATA.value:
                data_refs.append(ref)
                continue
            if kind in (SectionKind.METADATA.value, SectionKind.GRAPH.value):
                if kind in seen:
                    raise LayoutError(f"second {kind.decode()} section", field="kind", offset=ref.offset)
                if data_refs:
                    raise LayoutError(f"{kind.decode()} section after a DATA section", field="kind", offset=ref.offset)
                seen.add(kind)
                body = verified_payload(buf, ref)
                if kind == SectionKind.METADATA.value:
                    self.metadata = parse_metadata(bytes(body), ref.payload_offset, limits)
                else:
                    self.graph_bytes = bytes(body)
                    self._graph_offset = ref.payload_offset
                continue
            if kind == SectionKind.TABLE.value:
                raise LayoutError("second TABL section", field="kind", offset=ref.offset)
            if is_critical(kind):
                raise UnsupportedFeatureError(
                    f"critical section {kind.decode()!r} unknown to this reader", field="kind", offset=ref.offset
                )
            # Unknown ancillary section: skipped, as the versioning policy allows, but only after its CRC
            # (§3 lets a reader skip it; checking it is what stops a single flipped case bit from turning
            # META or GRPH into an ignored "mETA"/"gRPH" and silently dropping it: spec/ERRATA.md S1).
            verified_payload(buf, ref)
        if len(data_refs) != len(self._entries):
            raise LayoutError(
                f"table lists {len(self._entries)} tensors but the file has {len(data_refs)} DATA sections",
                field="section_count",
                offset=16,
            )
        self._data = dict(zip((e.name for e in self._entries), data_refs))
        self._by_name = {e.name: e for e in self._entries}
        self._graph = None
        if self.graph_bytes is not None:
            self._graph = self._parse_graph(self.graph_bytes)

    def _parse_graph(self, data: bytes):
        from ..errors import GraphError
        from ..graph import Graph

        try:
            return Graph.from_bytes(data, set(self._by_name))
        except GraphError as exc:  # say where the GRPH payload starts, if the graph code did not
            raise exc.with_context(offset=self._graph_offset) from None

    # ------------------------------------------------------------------ mapping-like access
    def keys(self) -> list[str]:
        return [e.name for e in self._entries]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def graph(self):
        """The network stored in the GRPH section, or None."""
        return self._graph

    def entry(self, name: str) -> TableEntry:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no tensor named {name!r} in this file (it has {len(self._entries)} tensors)") from None

    # ------------------------------------------------------------------ tensors
    def payload(self, name: str, *, decode: bool = True, dense: bool = False) -> Payload:
        """The tensor's DATA payload, parsed and validated (``decode=False``: headers only, symbol data not decoded).

        A ``RawPayload``, ``DensePayload`` or ``SparsePayload`` of
        ``dcformat.container.payload``; inference builds its layers from these
        (codebook + symbols) without going through dense floats. ``dense``: the
        caller will build the dense array, so its size is checked against the
        limits before any stream is read.
        """
        return self._decode(name, lambda entry, data, ref: parse(
            data, entry, self.limits, offset=ref.payload_offset, decode=decode, dense=dense,
            rans_allowed=self._rans_allowed))

    def _decode(self, name: str, work):
        """``work(entry, payload bytes, ref)`` on the tensor's CRC-verified DATA payload, errors named after it."""
        entry = self.entry(name)
        ref = self._data[name]
        try:
            return work(entry, verified_payload(self._buf, ref, tensor=name), ref)
        except FormatError as exc:
            raise _wrap(exc, name) from None
        except MemoryError:
            raise LimitError("not enough memory to decode this tensor", tensor=name, field="shape") from None

    def tensor(self, name: str) -> np.ndarray:
        """The tensor decoded to a dense array of its original shape and dtype."""

        def work(entry: TableEntry, data: memoryview, ref: SectionRef) -> np.ndarray:
            out = compiled_dense(data, entry, self.limits, rans_allowed=self._rans_allowed)  # the C decoder, if built; None: the checked NumPy path
            if out is None:
                out = to_dense(parse(data, entry, self.limits, offset=ref.payload_offset, dense=True,
                                      rans_allowed=self._rans_allowed), self.limits)
            return out

        return self._decode(name, work)

    def csr(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR ``(indptr, indices, values)`` of the tensor seen as (shape[0], prod(shape[1:])).

        For sparse tensors this comes straight from the stored row counts and
        relative indices, without building the dense matrix.
        """

        def work(entry: TableEntry, data: memoryview, ref: SectionRef):
            arrays = compiled_csr(data, entry, self.limits, rans_allowed=self._rans_allowed)  # the C decoder, if built; None: the checked NumPy path
            if arrays is None:
                arrays, _ = to_csr(parse(data, entry, self.limits, offset=ref.payload_offset,
                                             rans_allowed=self._rans_allowed), self.limits)
            return arrays

        arrays = self._decode(name, work)
        return arrays.indptr, arrays.indices, arrays.values

    def codebook(self, name: str) -> np.ndarray | None:
        """The float32 codebook of a quantized tensor, or None for raw tensors."""
        p = self.payload(name, decode=False)
        return None if isinstance(p, RawPayload) else p.codebook.copy()

    def streams(self, name: str) -> dict:
        """Coding details of each symbol stream: coding, sizes, Huffman code lengths.

        Keys: "row_counts", "gaps[c]" for each row class c, "gaps" (the class
        stream with the most bytes), "values". Empty for raw tensors. Values are
        ``dcformat.entropy.streams.StreamInfo``.
        """
        return _stream_map(self.payload(name, decode=False))

    def info(self, name: str) -> TensorInfo:
        entry = self.entry(name)
        p = self.payload(name, decode=False)
        ref = self._data[name]
        s = _stream_map(p)
        gaps = [v for k, v in s.items() if k.startswith("gaps[")]

        def coding(streams) -> str | None:
            kinds = sorted({g.coding for g in streams})
            return None if not kinds else kinds[0] if len(kinds) == 1 else "+".join(kinds)

        def size(streams) -> int:
            return sum(g.nbytes for g in streams)

        sparse = isinstance(p, SparsePayload)
        quantized = isinstance(p, (DensePayload, SparsePayload))
        return TensorInfo(
            name=name,
            dtype=str(NUMPY_DTYPES[entry.dtype].newbyteorder("=")),
            shape=entry.shape,
            encoding=entry.encoding.name.lower(),
            numel=entry.numel,
            nnz=p.nnz if sparse else entry.numel,
            n_fillers=sum(p.n_fillers) if sparse else 0,
            code_bits=p.code_bits if quantized else None,
            index_bits=p.index_bits if sparse else None,
            codebook_size=int(p.codebook.size) if quantized else None,
            compression=p.compression.name.lower() if isinstance(p, RawPayload) else None,
            value_coding=coding([s["values"]] if "values" in s else []),
            gap_coding=coding(gaps),
            count_coding=coding([s["row_counts"]] if "row_counts" in s else []),
            codebook_bytes=4 * int(p.codebook.size) if quantized else 0,
            value_bytes=size([s["values"]] if "values" in s else []),
            gap_bytes=size(gaps),
            count_bytes=size([s["row_counts"]] if "row_counts" in s else []),
            payload_bytes=ref.length,
            section_bytes=ref.end - ref.offset + (-ref.end) % 8,
        )

    def verify(self) -> None:
        """Decode every tensor (checking every CRC and stream); raises FormatError on the first problem."""
        for name in self.keys():
            self.tensor(name)

    def load_all(self) -> dict[str, np.ndarray]:
        out = {}
        total = 0
        for e in self._entries:
            total += e.numel * NUMPY_DTYPES[e.dtype].itemsize
            if total > self.limits.max_total_bytes:
                raise LimitError(
                    f"decoded tensors exceed Limits.max_total_bytes={self.limits.max_total_bytes}", tensor=e.name, field="shape"
                )
        for e in self._entries:
            out[e.name] = self.tensor(e.name)
        return out

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        old, self._buf = self._buf, memoryview(b"")
        try:
            old.release()
        except (BufferError, ValueError):
            pass
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:
                pass  # a caller still holds a view; the map is released when it is dropped
            self._mmap = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "DCFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.path or "<bytes>"
        return f"<dcformat file {where}: {len(self._entries)} tensors>"
