"""Compression settings and how they resolve for one tensor.

``CompressionConfig`` holds file-wide settings plus per-name overrides
(``fnmatch`` patterns applied in order, later patterns win). ``resolve`` turns
it into the concrete :class:`TensorSettings` for one tensor, filling the role
defaults of its ``preset``:

* ``"safe"`` (the default): no pruning beyond the zeros already in the weights and
  8-bit codebooks for conv and fully-connected weights (about 44 dB SNR on
  Gaussian-like weights; weights with at most 256 distinct values are stored
  exactly). Nothing a user did not ask for is pruned away.
* ``"paper"``: Deep Compression's settings (Han et al. 2016), which assume the
  network is retrained after pruning: 35 % density and 8-bit codes for conv
  weights (ndim 4), 10 % density and 5-bit codes for fully-connected ones.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping

import numpy as np

from .container.format import MAX_BITS, MIN_BITS
from .quantize.kmeans import INITS  # the k-means initialisations, defined where they are implemented

EncodingName = Literal["auto", "sparse", "dense", "raw"]
ENCODINGS = ("auto", "sparse", "dense", "raw")
# Stream codings a writer may choose from. No "auto": rANS makes a file 1.1 (1.0 readers, the C decoder among them,
# reject it) and its pure-NumPy decode is slower, so a file only becomes 1.1 when the user asks for it.
ENTROPIES = ("huffman", "rans")
RAW_COMPRESSIONS = ("none", "zstd")
# Calibration-aware settings (need ``CompressionConfig.importance`` arrays for the tensors they apply to).
PRUNE_BY = ("magnitude", "importance")
KMEANS_WEIGHTS = ("none", "importance")
ROUNDINGS = ("nearest", "gptq")

# Role defaults per preset (README "Defaults"). "paper": the paper's Table 4 setting for conv layers and its FC
# setting, and densities in the range of its Tables 2-5. "safe": no pruning, 8-bit codes everywhere.
CONV_DEFAULTS = {"code_bits": 8, "index_bits": 8, "density": 0.35}
FC_DEFAULTS = {"code_bits": 5, "index_bits": 5, "density": 0.10}
PRESETS = {
    "safe": {"conv": {"code_bits": 8, "index_bits": 8, "density": None},
             "fc": {"code_bits": 8, "index_bits": 5, "density": None}},
    "paper": {"conv": CONV_DEFAULTS, "fc": FC_DEFAULTS},
}
DEFAULT_PRESET = "safe"


@dataclass(frozen=True)
class CompressionConfig:
    """How ``save``/``encode`` compress each tensor.

    Args:
        preset: which role defaults fill "auto"/None settings: "safe" (default: no pruning, 8-bit codes)
            or "paper" (Deep Compression: 35 % / 8-bit conv, 10 % / 5-bit FC; assumes retraining).
        encoding: "auto" (float tensors of ndim 2 and 4 -> "sparse", others -> "raw"),
            "sparse" (prune + codebook + relative index), "dense" (codebook only) or "raw".
            Non-float tensors are always stored raw.
        density: fraction of weights kept by magnitude pruning; "auto" = the preset's role default
            (safe: no pruning; paper: 0.10 for ndim-2, 0.35 for ndim-4 weights); None = no further pruning.
        threshold: prune |w| < threshold instead of a density (exclusive with density).
        code_bits: q, codebook size <= 2**q (None = the preset's role default: safe 8; paper 8 conv / 5 FC).
        index_bits: b, gap-field width of the relative index (None = role default).
        init: k-means initialisation, "linear" (paper's default), "density" or "random".
        huffman: entropy-code streams (False = the paper's fixed-width layout).
        entropy: "huffman" (default: every stream FIXED/HUFFMAN/CONSTANT, a format 1.0 file) or "rans": also
            consider interleaved rANS per stream (format 1.1, chosen only where it is smaller; ~0.4-1.6 % smaller
            files, readable only by 1.1 readers, slower to decode without numba). Needs huffman=True.
        raw_compression: "none" or "zstd" for raw tensors.
        seed: seed for the "random" initialisation.
        prune_by: "magnitude" (|w|, the paper's rule) or "importance": keep the largest |w|·sqrt(importance)
            (Wanda-style: a weight's output effect scales with its input's RMS activation). Needs an
            ``importance`` array for the tensor.
        kmeans_weights: "none" or "importance": the codebook minimises Σ importance·(w - c)² (a diagonal
            Fisher/Hessian estimate weighting each weight's error). Needs an ``importance`` array.
        rounding: "nearest" (each weight to its nearest centroid) or "gptq": labels chosen column by column
            with the error moved onto the columns not yet rounded (``dcformat.quantize.gptq``), minimising the
            layer's output error for inputs with second moments ``hessian[name]``; 2-D weights (out, in) only.
        overrides: {name_pattern: {field: value}} applied in order, later wins.
        hessian: {tensor name: (in, in) matrix E[x xᵀ] of the layer's inputs} for ``rounding="gptq"``. Data,
            like ``importance``.
        importance: {tensor name: array broadcastable to the tensor's shape, finite, >= 0} - e.g. E[x_j²] of a
            Linear layer's inputs over calibration data, shape (1, in) for a (out, in) weight. Data, not a
            setting: not written to the file nor to config files (``dcformat.budget.importance`` computes it from
            a graph and calibration inputs; ``pack --config ... --calib`` recomputes it).
    """

    preset: str = DEFAULT_PRESET
    encoding: EncodingName = "auto"
    density: float | None | Literal["auto"] = "auto"
    threshold: float | None = None
    code_bits: int | None = None
    index_bits: int | None = None
    init: str = "linear"
    huffman: bool = True
    entropy: str = "huffman"
    raw_compression: str = "none"
    seed: int = 0
    prune_by: str = "magnitude"
    kmeans_weights: str = "none"
    rounding: str = "nearest"
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    importance: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    hessian: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_settings(self.__dict__, where="CompressionConfig")
        if not isinstance(self.importance, Mapping) or not all(isinstance(k, str) for k in self.importance):
            raise ValueError("importance must map tensor names to arrays")
        allowed = {f.name for f in fields(self)} - {"overrides", "importance", "hessian"}
        for pattern, values in self.overrides.items():
            if not isinstance(pattern, str) or not isinstance(values, Mapping):
                raise ValueError("overrides must map name patterns (str) to {field: value} dicts")
            unknown = set(values) - allowed
            if unknown:
                raise ValueError(f"override {pattern!r}: unknown setting(s) {sorted(unknown)}; known: {sorted(allowed)}")
            merged = {**{k: getattr(self, k) for k in allowed}, **values}
            _check_settings(merged, where=f"override {pattern!r}")


@dataclass(frozen=True)
class TensorSettings:
    """Concrete settings for one tensor after role defaults and overrides."""

    encoding: Literal["sparse", "dense", "raw"]
    density: float | None
    threshold: float | None
    code_bits: int
    index_bits: int
    init: str
    huffman: bool
    raw_compression: str
    seed: int
    entropy: str = "huffman"
    prune_by: str = "magnitude"
    kmeans_weights: str = "none"
    rounding: str = "nearest"
    importance: np.ndarray | None = field(default=None, compare=False, repr=False)
    hessian: np.ndarray | None = field(default=None, compare=False, repr=False)


def _check_settings(s: Mapping[str, Any], *, where: str) -> None:
    if s["preset"] not in PRESETS:
        raise ValueError(f"{where}: preset must be one of {tuple(PRESETS)}, got {s['preset']!r}")
    if s["encoding"] not in ENCODINGS:
        raise ValueError(f"{where}: encoding must be one of {ENCODINGS}, got {s['encoding']!r}")
    d = s["density"]
    if d is not None and d != "auto":
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not (0 < d <= 1) or math.isnan(d):
            raise ValueError(f"{where}: density must be in (0, 1], 'auto' or None, got {d!r}")
    t = s["threshold"]
    if t is not None:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise ValueError(f"{where}: threshold must be a finite number >= 0, got {t!r}")
    for name in ("code_bits", "index_bits"):
        v = s[name]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not MIN_BITS <= v <= MAX_BITS):
            raise ValueError(f"{where}: {name} must be an int in {MIN_BITS}..{MAX_BITS}, got {v!r}")
    if s["init"] not in INITS:
        raise ValueError(f"{where}: init must be one of {INITS}, got {s['init']!r}")
    if not isinstance(s["huffman"], bool):
        raise ValueError(f"{where}: huffman must be True or False, got {s['huffman']!r}")
    if s["entropy"] not in ENTROPIES:
        raise ValueError(f"{where}: entropy must be one of {ENTROPIES}, got {s['entropy']!r}")
    if s["entropy"] == "rans" and not s["huffman"]:
        raise ValueError(f"{where}: entropy='rans' codes streams by size; it cannot be combined with huffman=False")
    if s["raw_compression"] not in RAW_COMPRESSIONS:
        raise ValueError(f"{where}: raw_compression must be one of {RAW_COMPRESSIONS}")
    if isinstance(s["seed"], bool) or not isinstance(s["seed"], int):
        raise ValueError(f"{where}: seed must be an int")
    if s["prune_by"] not in PRUNE_BY:
        raise ValueError(f"{where}: prune_by must be one of {PRUNE_BY}, got {s['prune_by']!r}")
    if s["rounding"] not in ROUNDINGS:
        raise ValueError(f"{where}: rounding must be one of {ROUNDINGS}, got {s['rounding']!r}")
    if s["kmeans_weights"] not in KMEANS_WEIGHTS:
        raise ValueError(f"{where}: kmeans_weights must be one of {KMEANS_WEIGHTS}, got {s['kmeans_weights']!r}")


def exact_pattern(name: str) -> str:
    """An override pattern that matches exactly ``name`` (fnmatch's special characters escaped)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def with_overrides(config: CompressionConfig, extra: Mapping[str, Mapping[str, Any]]) -> CompressionConfig:
    """``config`` with ``extra`` patterns applied last (a pattern already present moves to the end, merged)."""
    overrides = {k: dict(v) for k, v in config.overrides.items()}
    for pattern, values in extra.items():
        merged = {**overrides.pop(pattern, {}), **values}
        overrides[pattern] = merged
    kw = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "overrides"}
    return CompressionConfig(**kw, overrides=overrides)


def with_importance(config: CompressionConfig, importance: Mapping[str, np.ndarray],
                    hessian: Mapping[str, np.ndarray] | None = None) -> CompressionConfig:
    """``config`` carrying these per-tensor importance arrays (and Hessians, if given; replacing any it had)."""
    kw = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in ("importance", "hessian")}
    return CompressionConfig(**kw, importance=dict(importance),
                             hessian=dict(config.hessian if hessian is None else hessian))


def sets_code_bits(config: CompressionConfig, name: str) -> bool:
    """True when the user fixed ``code_bits`` for tensor ``name`` (file-wide or by a matching override)."""
    if config.code_bits is not None:
        return True
    return any("code_bits" in v and v["code_bits"] is not None and fnmatch.fnmatchcase(name, p)
               for p, v in config.overrides.items())


def resolve(config: CompressionConfig, name: str, ndim: int, dtype: np.dtype) -> TensorSettings:
    """Settings for tensor ``name`` (of rank ``ndim``): overrides applied, role defaults filled, encoding decided."""
    values = {f.name: getattr(config, f.name) for f in fields(config)
              if f.name not in ("overrides", "importance", "hessian")}
    for pattern, override in config.overrides.items():
        if fnmatch.fnmatchcase(name, pattern):
            values.update(override)
    role = PRESETS[values["preset"]]["conv" if ndim == 4 else "fc"]
    is_float = np.dtype(dtype).kind == "f"
    encoding = values["encoding"]
    if not is_float:
        encoding = "raw"
    elif encoding == "auto":
        encoding = "sparse" if ndim in (2, 4) else "raw"
    density = values["density"]
    if values["threshold"] is not None:
        if density not in (None, "auto"):
            raise ValueError(f"tensor {name!r}: set either density or threshold, not both")
        density = None
    elif density == "auto":
        density = role["density"]
    return TensorSettings(
        encoding=encoding,
        density=None if density is None else float(density),
        threshold=None if values["threshold"] is None else float(values["threshold"]),
        code_bits=values["code_bits"] or role["code_bits"],
        index_bits=values["index_bits"] or role["index_bits"],
        init=values["init"],
        huffman=values["huffman"],
        raw_compression=values["raw_compression"],
        seed=values["seed"],
        entropy=values["entropy"],
        prune_by=values["prune_by"],
        kmeans_weights=values["kmeans_weights"],
        rounding=values["rounding"],
        importance=config.importance.get(name),
        hessian=config.hessian.get(name),
    )


__all__ = ["CompressionConfig", "TensorSettings", "resolve", "PRESETS", "DEFAULT_PRESET", "exact_pattern",
           "with_overrides", "with_importance", "sets_code_bits", "PRUNE_BY", "KMEANS_WEIGHTS"]
