"""Model files in and out: safetensors, npz, PyTorch state dicts (read-only), ONNX via ``dcformat.onnx_io``.

``open_source(path)`` gives one lazy interface over every input format;
``write_tensors`` streams decoded tensors to an output format. Nothing here
unpickles anything except through ``torch.load(weights_only=True)``.
"""

from .npz import NpzReader, load_npz, save_npz
from .paths import safe_join, safe_relpath
from .safetensors_io import SafetensorsReader, load_safetensors, save_safetensors
from .sinks import write_tensors
from .sources import detect_format, open_source

__all__ = [
    "NpzReader", "load_npz", "save_npz", "SafetensorsReader", "load_safetensors", "save_safetensors",
    "safe_join", "safe_relpath", "open_source", "detect_format", "write_tensors",
]
