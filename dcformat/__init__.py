"""dcformat: neural networks compressed the Deep Compression way, in a small, safe, versioned file.

Pipeline: prune -> k-means codebook -> relative sparse index -> Huffman -> container.

Public API: ``save``, ``load``, ``encode``, ``decode``, ``open``, ``CompressionConfig``,
``FormatError`` (root of every file error), ``Limits``, ``Model`` (NumPy inference) and
``plan_compression`` (per-layer settings for a fidelity target).
Names are loaded on first use so that ``import dcformat.prune`` stays light.
"""

from __future__ import annotations

import importlib

from .errors import FormatError
from .limits import Limits

__version__ = "0.1.0"

_LAZY = {
    "save": ".api",
    "load": ".api",
    "encode": ".api",
    "decode": ".api",
    "open": ".api",
    "CompressionConfig": ".config",
    "DCFile": ".container.reader",
    "TensorInfo": ".container.reader",
    "StreamingWriter": ".container.writer",
    "Model": ".inference",
    "plan_compression": ".budget",
}


def __getattr__(name: str):
    if name == "FORMAT_VERSION":
        from .container.format import VERSION_MAJOR, VERSION_MINOR

        return f"{VERSION_MAJOR}.{VERSION_MINOR}"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dcformat' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "save",
    "load",
    "encode",
    "decode",
    "open",
    "CompressionConfig",
    "DCFile",
    "StreamingWriter",
    "TensorInfo",
    "FormatError",
    "Limits",
    "FORMAT_VERSION",
    "Model",
    "plan_compression",
]
