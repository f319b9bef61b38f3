"""How far a stored tensor is from its input: SNR (dB), relative error, and which setting caused the loss.

``measure(original, stored)`` is plain NumPy in float64, in blocks so a large
tensor needs no float64 copy of itself. ``encode_with_reconstruction`` is the
one place that reaches into the codec: it encodes one tensor's DATA payload and
decodes that payload again, so ``pack`` reports what the file really holds
without a second pass over the file.

Thresholds (README "Fidelity"):

* ``SAFE_SNR_DB`` = 40 dB (relative error 1 %): what ``pack`` with no flags keeps
  in every tensor. At this level the quantization noise is far below what the
  weights' own training noise changes in a network's outputs.
* ``WARN_SNR_DB`` = 20 dB (relative error 10 %): below it ``pack`` warns. Pruning
  without retraining lands here (all-MiniLM-L6-v2 at the paper's 10 % density:
  about 3 dB); such a model is usually broken until it is retrained.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

SAFE_SNR_DB = 40.0
WARN_SNR_DB = 20.0
_BLOCK = 1 << 20


def snr_db(signal: float, error: float) -> float:
    """10·log10(signal / error) of two sums of squares; +inf when exact, -inf when the input is all zero but the output is not."""
    if error == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / error)


@dataclass(frozen=True)
class Fidelity:
    """Error of one stored tensor (or a total over several) against its input.

    ``signal`` and ``error`` are sums of squares (float64); ``pruned_error`` is the
    part of ``error`` from input nonzeros stored as zero (pruning), the rest is
    quantization. Non-float tensors are stored exactly and count as exact.
    """

    name: str
    numel: int
    signal: float
    error: float
    pruned_error: float = 0.0
    max_abs_error: float = 0.0

    @property
    def exact(self) -> bool:
        return self.error == 0.0

    @property
    def snr_db(self) -> float:
        """10·log10(signal / error) (see ``snr_db``)."""
        return snr_db(self.signal, self.error)

    @property
    def rel_error(self) -> float:
        """||stored - input|| / ||input|| (0 when exact, inf for an all-zero input stored inexactly)."""
        if self.error == 0.0:
            return 0.0
        return math.sqrt(self.error / self.signal) if self.signal else math.inf

    @property
    def cause(self) -> str:
        """"pruning" when most of the error comes from weights set to zero, else "quantization"."""
        return "pruning" if self.pruned_error > 0.5 * self.error else "quantization"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        snr = self.snr_db
        d.update(snr_db=snr if math.isfinite(snr) else None, rel_error=self.rel_error, exact=self.exact)
        return d


def measure(name: str, original: np.ndarray, stored: np.ndarray) -> Fidelity:
    """Fidelity of ``stored`` against ``original`` (same shape), computed in float64 blocks."""
    x = np.asarray(original).reshape(-1)
    y = np.asarray(stored).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"tensor {name!r}: {x.size} input values but {y.size} stored")
    if x.dtype.kind not in "fc":
        return Fidelity(name, int(x.size), 0.0, 0.0)
    sig = err = pruned = 0.0
    peak = 0.0
    for start in range(0, x.size, _BLOCK):
        a = x[start:start + _BLOCK].astype(np.float64)
        b = y[start:start + _BLOCK].astype(np.float64)
        d = a - b
        sig += float(np.dot(a, a))
        err += float(np.dot(d, d))
        gone = (b == 0) & (a != 0)
        if gone.any():
            pruned += float(np.dot(a[gone], a[gone]))
        if d.size:
            peak = max(peak, float(np.abs(d).max()))
    return Fidelity(name, int(x.size), sig, err, pruned, peak)


def total(rows: Iterable[Fidelity], name: str = "Total") -> Fidelity:
    """Energy-weighted total: SNR of all tensors taken as one vector."""
    rows = list(rows)
    return Fidelity(name, sum(r.numel for r in rows), sum(r.signal for r in rows), sum(r.error for r in rows),
                    sum(r.pruned_error for r in rows), max((r.max_abs_error for r in rows), default=0.0))


def fmt_snr(v: float) -> str:
    return "exact" if v == math.inf else "-inf" if v == -math.inf else f"{v:.1f}"


def fmt_rel(v: float) -> str:
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return "inf"
    return f"{100 * v:.3g}%"


# ----------------------------------------------------------------------------- packing one tensor


@dataclass(frozen=True)
class PackedTensor:
    """What ``pack_tensor`` produced: the DATA payload, its fidelity, and the code bits the floor raised it to."""

    payload: bytes
    fidelity: Fidelity
    raised_code_bits: int | None = None


def pack_tensor(name: str, array: np.ndarray, config: Any, *, floor_db: float | None = None) -> PackedTensor:
    """Encode one tensor and measure it; with ``floor_db``, raise its code bits until it keeps that SNR.

    Quantization noise falls by about 6 dB per code bit, so the first raise jumps
    by the missing dB / 6 and later ones by one bit, up to the format's 16 bits.
    Pruning error does not fall with more bits: callers set a floor only for
    tensors that are not pruned beyond their own zeros.
    """
    from .config import exact_pattern, resolve, with_overrides  # noqa: PLC0415
    from .container.format import MAX_BITS  # noqa: PLC0415

    arr = np.asarray(array)
    payload, stored = encode_with_reconstruction(name, arr, config)
    fid = measure(name, arr, stored)
    del stored
    if floor_db is None or fid.snr_db >= floor_db:
        return PackedTensor(payload, fid)
    settings = resolve(config, name, arr.ndim, arr.dtype)
    if settings.encoding == "raw":
        return PackedTensor(payload, fid)
    q = settings.code_bits
    raised = None
    while fid.snr_db < floor_db and q < MAX_BITS:
        missing = floor_db - fid.snr_db
        q = min(MAX_BITS, q + (max(1, math.ceil(missing / 6.02)) if math.isfinite(missing) else 1))
        payload, stored = encode_with_reconstruction(name, arr, with_overrides(config, {exact_pattern(name): {"code_bits": q}}))
        fid = measure(name, arr, stored)
        del stored
        raised = q
    return PackedTensor(payload, fid, raised)


# ----------------------------------------------------------------------------- the one codec call


def encode_with_reconstruction(name: str, array: np.ndarray, config: Any) -> tuple[bytes, np.ndarray]:
    """The DATA payload ``pack`` writes for ``array`` and the array a reader will decode from it.

    This is the only function of the fidelity report and the budget search that
    uses codec internals: the writer's ``encode_tensor_payload`` and the reader's
    own ``parse`` + ``to_dense`` on those bytes (so the measured array is what a
    reader decodes, not what the encoder meant to store); keep it in step with
    ``dcformat.container`` when those move.
    """
    from .container.materialize import to_dense  # noqa: PLC0415
    from .container.payload import parse  # noqa: PLC0415
    from .container.writer import encode_tensor_payload, plan_entry  # noqa: PLC0415
    from .limits import Limits  # noqa: PLC0415

    payload = encode_tensor_payload(name, array, config)
    entry = plan_entry(name, tuple(array.shape), array.dtype, config)
    limits = Limits(max_tensor_bytes=max(1, entry.numel * entry.np_dtype.itemsize))
    stored = to_dense(parse(payload, entry, limits, dense=True), limits)
    return payload, stored


__all__ = ["snr_db", "Fidelity", "PackedTensor", "pack_tensor", "measure", "total", "encode_with_reconstruction", "SAFE_SNR_DB", "WARN_SNR_DB",
           "fmt_snr", "fmt_rel"]
