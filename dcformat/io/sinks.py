"""Write decoded tensors to the formats ``unpack`` offers, fetching one tensor at a time.

``npz``, ``safetensors`` and a directory of ``.npy`` files are streamed (one
tensor in memory at a time); ONNX needs the whole model in memory, as the
onnx library builds one protobuf. Tensor names only ever become paths through
:mod:`dcformat.io.paths`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from numpy.lib import format as npy

from ..atomic import atomic_output
from .npz import write_npz
from .paths import check_unique, safe_join
from .safetensors_io import write_safetensors

SINKS = ("npz", "safetensors", "onnx", "npy-dir")
SUFFIXES = {".npz": "npz", ".safetensors": "safetensors", ".onnx": "onnx"}

Spec = tuple[str, tuple[int, ...], np.dtype]


def sink_for(path: str, fmt: str | None = None) -> str | None:
    """The sink named by ``fmt`` or by ``path``'s suffix ("/" at the end or an existing directory: npy-dir)."""
    if fmt:
        return fmt
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        return "npy-dir"
    return SUFFIXES.get(Path(path).suffix.lower())


def safetensors_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    """safetensors allows only str -> str: restore a packed file's original block, JSON-encode the rest."""
    out = dict(metadata.get("safetensors_metadata") or {})
    for key, value in metadata.items():
        if key != "safetensors_metadata" and key not in out:
            out[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return out


def write_npy_dir(root: str | os.PathLike[str], names: Sequence[str], fetch: Callable[[str], np.ndarray]) -> list[Path]:
    """One ``.npy`` per tensor under ``root``, at :func:`safe_join` paths."""
    check_unique(list(names), ".npy")
    Path(root).mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        target = safe_join(root, name, ".npy")
        target.parent.mkdir(parents=True, exist_ok=True)
        arr = np.asarray(fetch(name))
        with atomic_output(target) as f:
            npy.write_array(f, arr if arr.flags.c_contiguous else arr.copy(order="C"), allow_pickle=False)
        written.append(target)
    return written


def write_tensors(
    path: str,
    sink: str,
    specs: Sequence[Spec],
    fetch: Callable[[str], np.ndarray],
    *,
    metadata: dict[str, Any] | None = None,
    graph: Any = None,
    compress: bool = False,
) -> None:
    """Write the tensors described by ``specs`` (name, shape, dtype) to ``path`` as ``sink``."""
    names = [s[0] for s in specs]
    if sink == "npz":
        write_npz(path, names, fetch, compress=compress)
    elif sink == "safetensors":
        write_safetensors(path, [(n, d, s) for n, s, d in specs], fetch, safetensors_metadata(metadata or {}))
    elif sink == "npy-dir":
        write_npy_dir(path, names, fetch)
    elif sink == "onnx":
        from ..onnx_io import export_onnx  # noqa: PLC0415 - needs the onnx package

        export_onnx(graph, {n: fetch(n) for n in names}, path)
    else:
        raise ValueError(f"unknown output format {sink!r}; known: {', '.join(SINKS)}")


__all__ = ["write_tensors", "sink_for", "write_npy_dir", "safetensors_metadata", "SINKS"]
