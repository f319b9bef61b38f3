"""The public API, in the style of safetensors: save / load / encode / decode / open."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from .container.reader import DCFile
from .limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from .config import CompressionConfig

Tensors = Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]]


def encode(
    tensors: Tensors,
    *,
    config: CompressionConfig | None = None,
    metadata: Mapping[str, Any] | None = None,
    graph: Any = None,
) -> bytes:
    """Compress ``tensors`` (name -> array) into the bytes of a dcformat file.

    Args:
        tensors: mapping of tensor name to NumPy array.
        config: how to compress; None = the paper's defaults (see ``CompressionConfig``).
        metadata: JSON-serialisable mapping stored in the META section.
        graph: an optional ``dcformat.graph.Graph`` stored in the GRPH section.

    Raises:
        ValueError: bad names, dtypes, settings, or NaN/Inf in a tensor to quantize.
    """
    from .container.writer import encode_file  # writing only: reading never loads the compression policy

    return encode_file(tensors, config=config, metadata=metadata, graph=graph)


def save(
    path: str | os.PathLike,
    tensors: Tensors,
    *,
    config: CompressionConfig | None = None,
    metadata: Mapping[str, Any] | None = None,
    graph: Any = None,
) -> None:
    """Compress ``tensors`` and write them to ``path`` atomically (never a partial file at ``path``).

    Example::

        dcformat.save("model.dc", {"fc1.weight": w, "fc1.bias": b})
    """
    from .container.writer import write_atomic

    data = encode(tensors, config=config, metadata=metadata, graph=graph)
    write_atomic(path, data)


def open(source: str | os.PathLike | bytes | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> DCFile:  # noqa: A001
    """Open a file (or bytes) lazily; use as a context manager.

    Example::

        with dcformat.open("model.dc") as f:
            w = f.tensor("fc1.weight")
            indptr, indices, values = f.csr("fc1.weight")
    """
    return DCFile(source, limits=limits)


def decode(data: bytes | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """Decode every tensor of a file given as bytes."""
    with DCFile(data, limits=limits) as f:
        return f.load_all()


def load(path: str | os.PathLike, *, limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """Decode every tensor of the file at ``path`` to a dense array of its original shape and dtype."""
    with DCFile(path, limits=limits) as f:
        return f.load_all()
