"""Turn the authors' ``.net`` + prototxt into tensors and settings for a lossless .dc file.

The weights are rebuilt exactly as the authors' decoder does; each weight
tensor then gets per-name settings that store it without further pruning and
with a codebook wide enough for every value it holds (8 bits for conv, 4 for
FC, as in the ``.net`` file), so the .dc file decodes to the same arrays,
value for value. Biases stay raw float32.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrailingDataError
from .caffe import CaffeNet, parse_net
from .songhan import INDEX_BITS, LegacyLayer, legacy_specs, read_songhan

SOURCE_TAG = "songhan-deep-compression-net"


def weight_name(layer: str) -> str:
    return f"{layer}.weight"


def bias_name(layer: str) -> str:
    return f"{layer}.bias"


def glob_escape(name: str) -> str:
    """A fnmatch pattern matching exactly ``name`` (``[``, ``*``, ``?`` wrapped in brackets)."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in name)


@dataclass
class LegacyModel:
    net: CaffeNet
    layers: list[LegacyLayer]

    def tensors(self) -> list[tuple[str, np.ndarray]]:
        """(name, array) in layer order: ``<layer>.weight`` dense float32, then ``<layer>.bias``."""
        out: list[tuple[str, np.ndarray]] = []
        for layer in self.layers:
            out.append((weight_name(layer.name), layer.dense()))
            if layer.spec.bias_size:
                out.append((bias_name(layer.name), layer.bias.copy()))
        return out

    def overrides(self, index_bits: int = INDEX_BITS) -> dict[str, dict[str, Any]]:
        """Per-tensor settings that make the conversion lossless."""
        out: dict[str, dict[str, Any]] = {}
        for layer in self.layers:
            out[glob_escape(weight_name(layer.name))] = {
                "encoding": "sparse", "density": None, "threshold": None,
                "code_bits": layer.spec.code_bits, "index_bits": index_bits,
            }
            if layer.spec.bias_size:
                out[glob_escape(bias_name(layer.name))] = {"encoding": "raw"}
        return out

    def metadata(self) -> dict[str, Any]:
        return {
            "converted_from": SOURCE_TAG,
            "caffe_net": self.net.name,
            "caffe_inputs": {k: list(v) for k, v in self.net.inputs.items()},
            "legacy_layers": [
                {"name": l.name, "code_bits": l.spec.code_bits, "index_bits": INDEX_BITS,
                 "stored_entries": int(l.codes.size), "fillers": l.n_fillers}
                for l in self.layers
            ],
        }


def load_legacy(net_path: str | os.PathLike[str], prototxt_path: str | os.PathLike[str]) -> LegacyModel:
    """Parse the prototxt, then decode the ``.net`` file it describes."""
    net = parse_net(Path(prototxt_path).read_bytes())
    specs = legacy_specs(net)
    # The largest file these layers could need (every weight stored): refuse
    # anything bigger before reading it into memory.
    cap = 4 * len(specs) + sum(
        4 * (1 << s.code_bits) + 4 * s.bias_size + 2 * math.prod(s.weight_shape) for s in specs
    )
    size = os.path.getsize(net_path)
    if size > cap:
        raise TrailingDataError(f"{Path(net_path).name} has {size} bytes; these layers can use at most {cap}")
    layers = read_songhan(Path(net_path).read_bytes(), specs)
    return LegacyModel(net, layers)


__all__ = ["load_legacy", "LegacyModel", "weight_name", "bias_name", "glob_escape", "SOURCE_TAG"]
