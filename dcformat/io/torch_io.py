"""PyTorch state-dict files (.pt, .pth, .bin), read only through ``weights_only=True``.

A PyTorch checkpoint is a pickle. ``torch.load(weights_only=True)`` swaps in a
restricted unpickler; it is the only way this project opens such files, and
there is deliberately no fallback to the permissive loader when it refuses a
file (BAD_INPUTS B3: that fallback is how libraries reintroduced remote code
execution). PyTorch before 2.6 had an RCE even with ``weights_only=True``
(CVE-2025-32434), so older versions are refused. Without PyTorch, the user
gets a message saying how to proceed instead of an ImportError.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import FormatError, MetadataError

MIN_TORCH = (2, 6)
SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


class TorchUnavailableError(RuntimeError):
    """PyTorch is missing or too old to read a state dict safely."""


def _import_torch() -> Any:
    try:
        import torch  # noqa: PLC0415 - optional dependency, imported only when needed
    except ImportError:
        raise TorchUnavailableError(
            "reading PyTorch files (.pt/.pth/.bin) needs PyTorch >= 2.6 (pip install torch); "
            "alternatively export the state dict to .safetensors or .npz and pack that"
        ) from None
    m = re.match(r"(\d+)\.(\d+)", torch.__version__)
    if not m or (int(m.group(1)), int(m.group(2))) < MIN_TORCH:
        raise TorchUnavailableError(
            f"PyTorch {torch.__version__} is too old: weights_only loading is unsafe before 2.6 (CVE-2025-32434)"
        )
    return torch


def _to_numpy(torch: Any, name: str, t: Any) -> np.ndarray:
    if t.is_sparse or t.layout != torch.strided:
        t = t.to_dense()
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds it exactly
        t = t.to(torch.float32)
    try:
        return t.contiguous().numpy().copy()
    except (TypeError, RuntimeError) as exc:
        raise MetadataError(f"dtype {t.dtype} has no NumPy equivalent ({exc})", tensor=name) from None


def _flatten(torch: Any, obj: Any, prefix: str, out: dict[str, np.ndarray], skipped: list[str]) -> None:
    """Collect tensors from nested dicts (e.g. a checkpoint's "state_dict"), joining keys with '.'."""
    if isinstance(obj, torch.Tensor):
        out[prefix] = _to_numpy(torch, prefix, obj)
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            key = str(k) if not prefix else f"{prefix}.{k}"
            _flatten(torch, v, key, out, skipped)
    else:
        skipped.append(prefix or "<root>")


def load_state_dict(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Tensors of a state-dict file as NumPy arrays, plus the keys of non-tensor entries skipped.

    BF16 becomes float32 (exact). Nested dicts are flattened with '.'.
    """
    torch = _import_torch()
    p = Path(path)
    with open(p, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    try:
        # mmap is only possible for the zip-based format; both branches are weights_only.
        obj = torch.load(p, map_location="cpu", weights_only=True, mmap=is_zip)
    except Exception as exc:  # the restricted unpickler raises many types; all mean "refused"
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f"{p.name}: PyTorch refused the file with weights_only=True: {msg}") from None
    out: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    _flatten(torch, obj, "", out, skipped)
    if not out:
        raise FormatError(f"{p.name}: no tensors found (expected a state dict)")
    return out, skipped


def save_state_dict(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray]) -> None:
    """Write tensors as a PyTorch state dict (zip format); used by tests and for users' round trips."""
    torch = _import_torch()
    torch.save({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, Path(path))


__all__ = ["load_state_dict", "save_state_dict", "TorchUnavailableError", "SUFFIXES"]
