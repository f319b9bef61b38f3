"""One interface over every model file ``pack`` and ``compare`` accept.

A source has ``keys()``, ``tensor(name)`` (read on demand where the format
allows it, so packing streams), ``metadata`` and ``graph``. The format is
told by the file's first bytes where possible and by its suffix otherwise.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import FormatError
from .npz import NpzReader
from .safetensors_io import SafetensorsReader
from .torch_io import SUFFIXES as TORCH_SUFFIXES

DC_SIGNATURE = b"\x89DCF\r\n\x1a\n"
FORMATS = ("dc", "npz", "safetensors", "onnx", "torch")


class Source(Protocol):
    metadata: dict[str, Any]
    graph: Any

    def keys(self) -> list[str]: ...
    def spec(self, name: str) -> tuple[tuple[int, ...], np.dtype]: ...
    def tensor(self, name: str) -> np.ndarray: ...
    def close(self) -> None: ...


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name of ``path``'s format (one of FORMATS); FormatError if it cannot be told."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(16)
    suffix = p.suffix.lower()
    if head.startswith(DC_SIGNATURE):
        return "dc"
    if head.startswith(b"PK\x03\x04"):
        if suffix == ".npz":
            return "npz"
        if suffix in TORCH_SUFFIXES:
            return "torch"
        try:
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            names = []
        return "torch" if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names) else "npz"
    if suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < (1 << 30)):
        return "safetensors"
    if suffix == ".onnx":
        return "onnx"
    if suffix in TORCH_SUFFIXES:
        return "torch"
    if suffix == ".dc":
        return "dc"  # let the dcformat reader explain what is wrong with it
    raise FormatError(f"{p.name}: cannot tell the file format (expected .dc, .npz, .safetensors, .onnx, .pt/.pth/.bin)")


class _Eager:
    """A source whose tensors were all loaded at once (ONNX, PyTorch)."""

    def __init__(self, tensors: dict[str, np.ndarray], metadata: dict[str, Any] | None = None, graph: Any = None):
        self._t = tensors
        self.metadata = metadata or {}
        self.graph = graph

    def keys(self) -> list[str]:
        return list(self._t)

    def spec(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        return tuple(self._t[name].shape), self._t[name].dtype

    def tensor(self, name: str) -> np.ndarray:
        return self._t[name]

    def close(self) -> None:
        self._t = {}


class _DcSource:
    """A .dc file as a source (``compare`` with two .dc files, re-packing)."""

    def __init__(self, path: Path) -> None:
        import dcformat  # noqa: PLC0415 - avoid an import cycle at module load

        self._r = dcformat.open(path)
        self.metadata = dict(self._r.metadata or {})
        self.graph = self._r.graph

    def keys(self) -> list[str]:
        return list(self._r.keys())

    def spec(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        info = self._r.info(name)
        return tuple(info.shape), np.dtype(info.dtype)

    def tensor(self, name: str) -> np.ndarray:
        return self._r.tensor(name)

    def close(self) -> None:
        self._r.close()


class _Lazy:
    """Adapts the lazy npz/safetensors readers to the Source protocol."""

    def __init__(self, reader: NpzReader | SafetensorsReader, metadata: dict[str, Any]) -> None:
        self._r = reader
        self.metadata = metadata
        self.graph = None

    def keys(self) -> list[str]:
        return self._r.keys()

    def spec(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        return self._r.spec(name)

    def tensor(self, name: str) -> np.ndarray:
        return self._r.tensor(name)

    def close(self) -> None:
        self._r.close()


def _onnx_weights_only(path: Path) -> dict[str, np.ndarray] | None:
    """Initializers of an ONNX file that has no nodes (a weights-only export), else None.

    Such files have no network for the graph importer to map; their tensors
    are read here. External-data tensors are refused rather than followed.
    """
    try:
        import onnx  # noqa: PLC0415
        from onnx import numpy_helper  # noqa: PLC0415
    except ImportError:
        raise FormatError("reading .onnx files needs the onnx package (pip install onnx)") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise FormatError(f"{path.name}: not a valid ONNX model ({type(exc).__name__})") from None
    if len(model.graph.node):
        return None
    out: dict[str, np.ndarray] = {}
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise FormatError(f"{path.name}: tensor {t.name!r} uses external data, which is not read")
        if t.name in out:
            raise FormatError(f"{path.name}: duplicate initializer {t.name!r}")
        out[t.name] = numpy_helper.to_array(t)
    return out


def open_source(path: str | os.PathLike[str], fmt: str | None = None) -> Source:
    """Open ``path`` as a tensor source; ``fmt`` overrides detection."""
    p = Path(path)
    fmt = fmt or detect_format(p)
    if fmt == "npz":
        return _Lazy(NpzReader(p), {})
    if fmt == "safetensors":
        r = SafetensorsReader(p)
        return _Lazy(r, {"safetensors_metadata": dict(r.metadata)} if r.metadata else {})
    if fmt == "torch":
        from .torch_io import load_state_dict  # noqa: PLC0415

        tensors, skipped = load_state_dict(p)
        return _Eager(tensors, {"torch_skipped_keys": skipped} if skipped else {})
    if fmt == "onnx":
        weights = _onnx_weights_only(p)
        if weights is not None:
            return _Eager(weights)
        from ..onnx_io import import_onnx  # noqa: PLC0415 - optional (needs onnx)

        graph, tensors = import_onnx(p)
        return _Eager(dict(tensors), {}, graph)
    if fmt == "dc":
        return _DcSource(p)
    raise ValueError(f"unknown input format {fmt!r}; known: {', '.join(FORMATS)}")


__all__ = ["open_source", "detect_format", "Source", "FORMATS"]
