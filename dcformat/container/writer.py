"""Writing dcformat files: argument checks, section layout, atomic replace.

``encode_file`` builds a whole file in memory. ``StreamingWriter`` writes the
same bytes tensor by tensor, so packing a model needs memory for the largest
tensor plus the output, not for the model. Both write to a temporary file in
the target directory and ``os.replace`` it at the end, so an interrupted write
never leaves a partial file at the target path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..atomic import AtomicFile, atomic_output
from ..compress import compress
from ..config import CompressionConfig, resolve
from ..limits import DEFAULT_LIMITS
from .format import FLAG_RANS_STREAMS, NUMPY_DTYPES, DType, Encoding, SectionKind, dtype_code
from .metadata import build_metadata
from .sections import build_preamble, build_section
from .payload import serialize, uses_rans
from .table import TableEntry, build_table, name_problem


def check_tensor(name: Any, array: Any) -> np.ndarray:
    """Validate a user-supplied (name, array) pair; return the array as a NumPy array."""
    if not isinstance(name, str):
        raise ValueError(f"tensor names must be str, got {type(name).__name__}: {name!r}")
    problem = name_problem(name)
    if problem:
        raise ValueError(f"tensor name {name!r} {problem}")
    arr = np.asarray(array)
    try:
        dtype_code(arr.dtype)
    except ValueError:
        raise ValueError(
            f"tensor {name!r}: dtype {arr.dtype} is not supported "
            f"(use one of {', '.join(str(d) for d in NUMPY_DTYPES.values())})"
        ) from None
    if arr.ndim > 8:
        raise ValueError(f"tensor {name!r}: ndim {arr.ndim} > 8")
    return arr


def check_tensors(tensors: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[tuple[str, np.ndarray]]:
    items = list(tensors.items()) if isinstance(tensors, Mapping) else list(tensors)
    seen: set[str] = set()
    out = []
    for name, array in items:
        arr = check_tensor(name, array)
        if name in seen:
            raise ValueError(f"duplicate tensor name {name!r}")
        seen.add(name)
        out.append((name, arr))
    return out


def plan_entry(name: str, shape: tuple[int, ...], dtype: np.dtype, config: CompressionConfig) -> TableEntry:
    """The table entry a tensor will get (its encoding is decided by name, rank and dtype alone)."""
    s = resolve(config, name, len(shape), dtype)
    enc = {"raw": Encoding.RAW, "dense": Encoding.DENSE, "sparse": Encoding.SPARSE}[s.encoding]
    return TableEntry(name, dtype_code(dtype), enc, tuple(int(d) for d in shape))


def encode_tensor_payload(name: str, array: np.ndarray, config: CompressionConfig) -> bytes:
    """DATA payload for one tensor; a top-level function so worker processes can run it (``--jobs``)."""
    settings = resolve(config, name, array.ndim, array.dtype)
    return serialize(compress(plan_entry(name, array.shape, array.dtype, config), array, settings))


def _head_sections(entries: list[TableEntry], metadata: Mapping[str, Any] | None, graph: Any) -> list[tuple[bytes, bytes]]:
    sections = [(SectionKind.TABLE.value, build_table(entries))]
    if metadata is not None:
        sections.append((SectionKind.METADATA.value, build_metadata(metadata)))
    if graph is not None:
        data = graph.to_bytes() if hasattr(graph, "to_bytes") else bytes(graph)
        sections.append((SectionKind.GRAPH.value, data))
    return sections


class StreamingWriter:
    """Write a file tensor by tensor, in the order given by ``specs``; atomic at ``close()``.

    Example::

        with StreamingWriter(path, [(name, shape, dtype), ...], config=cfg) as w:
            for name, array in source:
                w.add(name, array)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        specs: Iterable[tuple[str, tuple[int, ...], np.dtype]],
        *,
        config: CompressionConfig | None = None,
        metadata: Mapping[str, Any] | None = None,
        graph: Any = None,
    ) -> None:
        self.config = config or CompressionConfig()
        self.entries: list[TableEntry] = []
        seen: set[str] = set()
        for name, shape, dtype in specs:
            if not isinstance(name, str) or name_problem(name):
                raise ValueError(f"tensor name {name!r} {name_problem(name) if isinstance(name, str) else 'is not a str'}")
            if name in seen:
                raise ValueError(f"duplicate tensor name {name!r}")
            seen.add(name)
            try:
                self.entries.append(plan_entry(name, tuple(shape), np.dtype(dtype), self.config))
            except ValueError as exc:
                raise ValueError(f"tensor {name!r}: {exc}") from None
        head = _head_sections(self.entries, metadata, graph)
        self.path = Path(path)
        self._out = AtomicFile(self.path)
        self._file = self._out.file
        self._next = 0
        try:
            self._offset = 0
            self._rans = False
            self._sections = len(head) + len(self.entries)
            self._write(build_preamble(self._sections))
            for kind, payload in head:
                self._write(build_section(kind, payload, self._offset))
        except BaseException:
            self.abort()
            raise

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._offset += len(data)

    def add(self, name: str, array: Any) -> None:
        """Compress and append the next tensor (must come in the planned order, with the planned shape/dtype)."""
        arr = check_tensor(name, array)
        entry = self._expect(name)
        if tuple(arr.shape) != entry.shape or dtype_code(arr.dtype) != entry.dtype:
            raise ValueError(f"tensor {name!r}: got shape {arr.shape} {arr.dtype}, planned {entry.shape} {NUMPY_DTYPES[entry.dtype]}")
        self.add_payload(name, encode_tensor_payload(name, arr, self.config))

    def add_payload(self, name: str, payload: bytes) -> None:
        """Append an already encoded DATA payload (from ``encode_tensor_payload`` in a worker)."""
        entry = self._expect(name)
        try:
            if not self._rans and _may_use_rans(self.config) and uses_rans(payload, entry, DEFAULT_LIMITS):
                self._rans = True
            self._write(build_section(SectionKind.DATA.value, payload, self._offset))
        except BaseException:
            self.abort()
            raise
        self._next += 1

    def _expect(self, name: str) -> TableEntry:
        if self._next >= len(self.entries):
            raise ValueError(f"tensor {name!r}: all {len(self.entries)} planned tensors were already written")
        entry = self.entries[self._next]
        if entry.name != name:
            raise ValueError(f"tensor {name!r} given where {entry.name!r} was planned next")
        return entry

    def close(self) -> None:
        """Finish the file and move it into place; raises if tensors are missing (nothing is written then)."""
        if self._out.done:
            return
        if self._next != len(self.entries):
            missing = self.entries[self._next].name
            self.abort()
            raise ValueError(f"file incomplete: tensor {missing!r} and later ones were never added")
        if self._rans:  # §2.2: flag bit 0 and minor version 1, known only now; the preamble has a fixed size
            try:
                self._file.seek(0)
                self._file.write(build_preamble(self._sections, FLAG_RANS_STREAMS))
            except BaseException:
                self.abort()
                raise
        self._out.commit()

    def abort(self) -> None:
        """Drop the temporary file; the target path is left untouched."""
        self._out.discard()

    def __enter__(self) -> "StreamingWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def encode_file(
    tensors: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    config: CompressionConfig | None = None,
    metadata: Mapping[str, Any] | None = None,
    graph: Any = None,
) -> bytes:
    """A whole file in memory. Argument errors raise ValueError before any work is done."""
    config = config or CompressionConfig()
    items = check_tensors(tensors)
    entries = [plan_entry(n, a.shape, a.dtype, config) for n, a in items]
    head = _head_sections(entries, metadata, graph)
    payloads = [encode_tensor_payload(n, a, config) for n, a in items]
    rans = any(uses_rans(p, e, DEFAULT_LIMITS) for p, e in zip(payloads, entries)) if _may_use_rans(config) else False
    out = bytearray(build_preamble(len(head) + len(payloads), FLAG_RANS_STREAMS if rans else 0))
    for kind, payload in head:
        out += build_section(kind, payload, len(out))
    for payload in payloads:
        out += build_section(SectionKind.DATA.value, payload, len(out))
    return bytes(out)


def _may_use_rans(config: CompressionConfig) -> bool:
    return config.entropy == "rans" or any(v.get("entropy") == "rans" for v in config.overrides.values())


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file + rename: never a partial file at ``path``."""
    with atomic_output(path) as f:
        f.write(data)


__all__ = ["StreamingWriter", "encode_file", "encode_tensor_payload", "plan_entry", "write_atomic", "DType"]
