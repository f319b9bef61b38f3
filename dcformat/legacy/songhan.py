"""Reader for the Deep Compression authors' released ``.net`` binaries.

Layout (PAPER.md §2.1, checked byte for byte on compressed_SqueezeNet.net):
a header of ``uint32 nz_num[L]``, then per parametrised layer whose name
contains "conv", "fc" or "ip" (prototxt order): a float32 codebook of
``2**bits`` entries (bits = 8 if "conv" is in the name, else 4), the float32
bias, the code stream (8-bit: a byte per entry; 4-bit: two per byte, low nibble
first) and the relative-index stream (always 4-bit, low nibble first). Entry
``i`` sits at ``pos = cumsum(stored + 1) - 1``; positions never listed, and
filler entries (code 0), decode to ``codebook[0]`` (0.0 in every released layer).

The file has no magic, sizes or checksum, so every count is checked against
the bytes that remain and against the layer size before anything is
allocated, and the file must be consumed exactly.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import (
    BitstreamError,
    CodebookError,
    FormatError,
    SparseIndexError,
    TrailingDataError,
    TruncatedError,
)
from .caffe import CaffeNet

INDEX_BITS = 4  # the released decoder's relative index is 4-bit for every layer


@dataclass(frozen=True)
class LegacySpec:
    """What the prototxt says about one stored layer."""

    name: str
    weight_shape: tuple[int, ...]
    bias_size: int
    code_bits: int


@dataclass
class LegacyLayer:
    """One decoded layer: the stored streams and the dense weights they describe."""

    spec: LegacySpec
    codebook: np.ndarray  # float32[2**code_bits]
    bias: np.ndarray  # float32[bias_size]
    codes: np.ndarray  # uint8[nz], fillers included
    positions: np.ndarray  # int64[nz], strictly increasing, < numel
    gaps: np.ndarray  # uint8[nz], the stored relative indices
    offset: int  # byte offset of the layer's codebook in the file

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def n_fillers(self) -> int:
        return int(np.count_nonzero(self.codes == 0))

    def dense(self) -> np.ndarray:
        """The weights exactly as the authors' ``binary_to_net`` rebuilds them."""
        numel = math.prod(self.spec.weight_shape)
        code = np.zeros(numel, dtype=np.uint8)
        code[self.positions] = self.codes
        return self.codebook[code].reshape(self.spec.weight_shape)


def legacy_specs(net: CaffeNet) -> list[LegacySpec]:
    """The layers stored in a ``.net`` file, in order, with their implicit code widths."""
    out = []
    for p in net.params:
        if any(tag in p.layer for tag in ("conv", "fc", "ip")):
            bias = math.prod(p.bias) if p.bias else 0
            out.append(LegacySpec(p.layer, p.weight, bias, 8 if "conv" in p.layer else 4))
    return out


def _nibbles(stream: np.ndarray, n: int, *, name: str, field: str, offset: int) -> np.ndarray:
    """Split bytes into 4-bit values, low nibble first; an unused last high nibble must be 0."""
    out = np.empty(2 * len(stream), dtype=np.uint8)
    out[0::2] = stream & 0x0F
    out[1::2] = stream >> 4
    if len(out) > n and out[n:].any():
        raise BitstreamError("unused trailing nibble is not zero", tensor=name, field=field,
                             offset=offset + len(stream) - 1)
    return out[:n]


def read_songhan(data: bytes | memoryview, specs: Sequence[LegacySpec]) -> list[LegacyLayer]:
    """Decode every layer of a ``.net`` file described by ``specs``."""
    buf = memoryview(data).cast("B")
    size = len(buf)
    n_layers = len(specs)
    if size < 4 * n_layers:
        raise TruncatedError(f"file has {size} bytes; the header alone needs {4 * n_layers}", field="nz_num", offset=0)
    nz_num = struct.unpack_from(f"<{n_layers}I", buf, 0)
    pos = 4 * n_layers
    layers = []
    for i, (spec, nz) in enumerate(zip(specs, nz_num)):
        numel = math.prod(spec.weight_shape)
        if nz > numel:
            raise SparseIndexError(f"{nz} stored entries but the layer has only {numel} weights",
                                   tensor=spec.name, field="nz_num", offset=4 * i)
        per_byte = 8 // spec.code_bits
        k = 1 << spec.code_bits
        need = {
            "codebook": 4 * k,
            "bias": 4 * spec.bias_size,
            "spm_stream": -(-nz // per_byte),
            "ind_stream": -(-nz // 2),
        }
        start = pos
        fields = {}
        for field, n in need.items():
            if size - pos < n:
                raise TruncatedError(f"needs {n} bytes but only {size - pos} remain", tensor=spec.name,
                                     field=field, offset=pos)
            fields[field] = np.frombuffer(buf, dtype=np.uint8, count=n, offset=pos)
            pos += n
        codebook = fields["codebook"].view("<f4").astype(np.float32)
        if not np.isfinite(codebook).all():
            raise CodebookError("codebook holds NaN or Inf", tensor=spec.name, field="codebook", offset=start)
        bias = fields["bias"].view("<f4").astype(np.float32)
        if spec.code_bits == 8:
            codes = fields["spm_stream"].copy()
        else:
            codes = _nibbles(fields["spm_stream"], nz, name=spec.name, field="spm_stream", offset=start + 4 * k + 4 * spec.bias_size)
        gaps = _nibbles(fields["ind_stream"], nz, name=spec.name, field="ind_stream", offset=pos - need["ind_stream"])
        positions = np.cumsum(gaps.astype(np.int64) + 1) - 1
        if nz and positions[-1] >= numel:
            raise SparseIndexError(f"relative indices reach position {int(positions[-1])} >= layer size {numel}",
                                   tensor=spec.name, field="ind_stream")
        layers.append(LegacyLayer(spec, codebook, bias, codes, positions, gaps, start))
    if pos != size:
        raise TrailingDataError(f"{size - pos} bytes follow the last layer", offset=pos)
    return layers


__all__ = ["read_songhan", "legacy_specs", "LegacySpec", "LegacyLayer", "INDEX_BITS", "FormatError"]
