"""The activation parameters of int8 inference, stored in metadata under ``dcformat.int8`` (spec/INT8.md §1).

:meth:`Int8Params.parse` is the one validator: every malformed record raises
:class:`~dcformat.errors.MetadataError` (or ``UnsupportedFeatureError`` for a
newer ``int8_version``) naming the field, never a crash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Collection

import numpy as np

from ..errors import MetadataError, UnsupportedFeatureError

METADATA_KEY = "dcformat.int8"
INT8_VERSION = 1
METHODS = ("minmax", "percentile", "mse")  # calibration methods of the reference tool (informative, spec/INT8.md §5)
# the reference tool's default calibration (measured: dcformat/int8/calibrate.py, DEFAULTS; informative, §5)
CALIBRATION_DEFAULTS = {"method": "mse", "shared_concat": True, "float_outputs": True}
SCALE_MIN, SCALE_MAX = 2.0**-40, 2.0**40


@dataclass(frozen=True)
class QParams:
    """One value's quantization: real = scale * (q - zero_point), q in [-128, 127]."""

    scale: float
    zero_point: int

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """ONNX QuantizeLinear: x / scale in binary32, round half to even, + zero_point, saturate."""
        q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(self.scale))
        q += np.float32(self.zero_point)
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)

    def clamp_range(self, lo: float | None, hi: float | None) -> tuple[int, int]:
        """The integer range of a fused clamp [lo, hi] on this value (spec/INT8.md §4)."""
        qlo = -128 if lo is None else max(-128, self.zero_point + int(np.rint(lo / self.scale)))
        qhi = 127 if hi is None else min(127, self.zero_point + int(np.rint(hi / self.scale)))
        return qlo, max(qlo, qhi)


@dataclass
class Int8Params:
    """All stored activation parameters of a file, plus how they were calibrated (informative)."""

    activations: dict[str, QParams]
    calibration: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "int8_version": INT8_VERSION,
            "activations": {k: [v.scale, v.zero_point] for k, v in sorted(self.activations.items())},
        }
        if self.calibration:
            out["calibration"] = dict(self.calibration)
        return out

    @classmethod
    def parse(cls, obj: Any, value_names: Collection[str]) -> "Int8Params":
        """Validate the metadata record against the graph's value names."""
        f = METADATA_KEY

        def bad(why: str, where: str = "") -> MetadataError:
            return MetadataError(f"{why}; re-run `dcformat quantize-activations` to rewrite it", field=f + where)

        if not isinstance(obj, dict):
            raise bad(f"must be an object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - {"int8_version", "activations", "calibration"})
        if unknown:
            raise bad(f"unknown keys {unknown}")
        ver = obj.get("int8_version")
        if not isinstance(ver, int) or isinstance(ver, bool) or ver < 1:
            raise bad(f"int8_version must be a positive integer, got {ver!r}", ".int8_version")
        if ver > INT8_VERSION:
            raise UnsupportedFeatureError(f"int8_version {ver} is newer than this reader's {INT8_VERSION}; upgrade dcformat",
                                          field=f + ".int8_version")
        acts = obj.get("activations")
        if not isinstance(acts, dict):
            raise bad("activations must be an object", ".activations")
        names = set(value_names)
        out: dict[str, QParams] = {}
        for name, entry in acts.items():
            where = f".activations[{name!r}]"
            if name not in names:
                raise bad(f"{name!r} is not a graph input or node output", where)
            if not isinstance(entry, list) or len(entry) != 2:
                raise bad("must be [scale, zero_point]", where)
            s, z = entry
            if isinstance(s, bool) or not isinstance(s, (int, float)):
                raise bad(f"scale must be a number, got {type(s).__name__}", where)
            s = float(s)
            if not (math.isfinite(s) and SCALE_MIN <= s <= SCALE_MAX):
                raise bad(f"scale {s!r} is outside [2^-40, 2^40]", where)
            if float(np.float32(s)) != s:
                raise bad(f"scale {s!r} is not exactly representable as binary32", where)
            if isinstance(z, bool) or not isinstance(z, int) or not -128 <= z <= 127:
                raise bad(f"zero_point must be an integer in [-128, 127], got {z!r}", where)
            out[name] = QParams(s, z)
        cal = obj.get("calibration", {})
        if not isinstance(cal, dict):
            raise bad("calibration must be an object", ".calibration")
        return cls(out, cal)

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], graph: Any) -> "Int8Params | None":
        """The file's record, validated, or None when it has none."""
        if METADATA_KEY not in metadata:
            return None
        if graph is None:
            raise MetadataError("int8 parameters without a graph section", field=METADATA_KEY)
        return cls.parse(metadata[METADATA_KEY], value_names(graph))


def value_names(graph: Any) -> set[str]:
    return {v.name for v in graph.inputs} | {o for n in graph.nodes for o in n.outputs}
