"""The paper's per-layer compression table (Tables 2-5 of Han et al. 2016) for a dcformat file.

Columns follow the paper: #weights, weights kept after pruning (P), bits per
stored weight after quantization (P+Q) and with Huffman coding (P+Q+H), bits
per relative index (P+Q, P+Q+H), and the compressed size as a share of the
original (P+Q, P+Q+H). "P+Q" is what the same tensor would take with every
stream written at fixed width (codebook + codes + indices + row counts);
"P+Q+H" is what the file really uses. Everything is computed from
``reader.info(name)``, so it works on any object with ``keys()`` and
``info()`` (``dcformat.open``'s reader), and the demo reuses it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Protocol

import numpy as np


class InfoReader(Protocol):
    def keys(self) -> list[str]: ...
    def info(self, name: str) -> Any: ...


@dataclass(frozen=True)
class LayerRow:
    """One table row. Bit columns are None where they do not apply (e.g. index bits of a raw tensor)."""

    name: str
    encoding: str
    shape: tuple[int, ...]
    weights: int  # #weights (numel)
    kept: int  # weights stored after pruning (nonzeros for sparse, all otherwise)
    entries: int  # stored index entries incl. filler zeros (sparse), else = kept
    weight_bits_pq: float | None
    weight_bits_pqh: float | None
    index_bits_pq: float | None
    index_bits_pqh: float | None
    original_bytes: int
    pq_bytes: int  # fixed-width size
    pqh_bytes: int  # size in the file (payload)

    @property
    def kept_fraction(self) -> float:
        return self.kept / self.weights if self.weights else 0.0

    @property
    def rate_pq(self) -> float:
        return self.pq_bytes / self.original_bytes if self.original_bytes else 0.0

    @property
    def rate_pqh(self) -> float:
        return self.pqh_bytes / self.original_bytes if self.original_bytes else 0.0


def _bits(nbytes: int, count: int) -> float | None:
    return 8.0 * nbytes / count if count else None


def layer_row(info: Any) -> LayerRow:
    """A row from one ``TensorInfo``."""
    itemsize = np.dtype(info.dtype).itemsize
    original = info.numel * itemsize
    if info.encoding == "raw":
        return LayerRow(info.name, "raw", tuple(info.shape), info.numel, info.numel, info.numel,
                        float(8 * itemsize), _bits(info.payload_bytes, info.numel), None, None,
                        original, original, info.payload_bytes)
    entries = info.nnz + (info.n_fillers or 0)
    code_bits = info.code_bits or 0
    pq = info.codebook_bytes + math.ceil(info.nnz * code_bits / 8) + info.count_bytes
    index_pq = index_pqh = None
    if info.encoding == "sparse":
        index_pq = float(info.index_bits)
        index_pqh = _bits(info.gap_bytes, entries)
        pq += math.ceil(entries * info.index_bits / 8)
    return LayerRow(info.name, info.encoding, tuple(info.shape), info.numel, info.nnz, entries,
                    float(code_bits), _bits(info.value_bytes, info.nnz), index_pq, index_pqh,
                    original, pq, info.payload_bytes)


def compute_rows(reader: InfoReader, names: Iterable[str] | None = None) -> list[LayerRow]:
    """One row per tensor of ``reader`` (or of ``names``), in file order."""
    return [layer_row(reader.info(n)) for n in (reader.keys() if names is None else names)]


def _weighted(rows: list[LayerRow], value: str, weight: str) -> float | None:
    pairs = [(getattr(r, value), getattr(r, weight)) for r in rows if getattr(r, value) is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def total_row(rows: list[LayerRow], name: str = "Total") -> LayerRow:
    """Totals: counts and sizes add up; bit columns are averages weighted by stored values/entries.

    Bit averages cover quantized tensors only (as in the paper, whose totals
    count weights, not biases); sizes and rates cover every row given.
    """
    q = [r for r in rows if r.encoding != "raw"]
    s = [r for r in q if r.encoding == "sparse"]
    return LayerRow(
        name, "", (), sum(r.weights for r in rows), sum(r.kept for r in rows), sum(r.entries for r in rows),
        _weighted(q, "weight_bits_pq", "kept"), _weighted(q, "weight_bits_pqh", "kept"),
        _weighted(s, "index_bits_pq", "entries"), _weighted(s, "index_bits_pqh", "entries"),
        sum(r.original_bytes for r in rows), sum(r.pq_bytes for r in rows), sum(r.pqh_bytes for r in rows),
    )


def _count(n: int) -> str:
    for div, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "K")):
        if n >= div:
            v = n / div
            return f"{v:.0f}{suffix}" if v >= 100 else f"{v:.1f}{suffix}"
    return str(n)


def _num(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _pct(frac: float) -> str:
    if frac == 0:
        return "0%"
    return f"{100 * frac:.2f}%" if frac < 0.1 else f"{100 * frac:.1f}%"


def _times(frac: float) -> str:
    return f" ({1 / frac:.0f}x)" if 0 < frac < 1 else ""


HEADERS = ("Layer", "Enc", "#Weights", "Kept (P)", "Wbits P+Q", "Wbits P+Q+H", "Ibits P+Q", "Ibits P+Q+H",
           "Rate P+Q", "Rate P+Q+H")


def _cells(r: LayerRow, total: bool = False) -> list[str]:
    kept = _pct(r.kept_fraction) + (_times(r.kept_fraction) if total else "")
    return [
        r.name, r.encoding, _count(r.weights), kept,
        _num(r.weight_bits_pq), _num(r.weight_bits_pqh), _num(r.index_bits_pq), _num(r.index_bits_pqh),
        _pct(r.rate_pq) + (_times(r.rate_pq) if total else ""),
        _pct(r.rate_pqh) + (_times(r.rate_pqh) if total else ""),
    ]


def render_text(rows: list[LayerRow], *, file_bytes: int | None = None, total: LayerRow | None = None) -> str:
    """An aligned plain-text table with a total row and, given ``file_bytes``, a size summary line."""
    total = total or total_row(rows)
    body = [list(HEADERS)] + [_cells(r) for r in rows] + [_cells(total, total=True)]
    widths = [max(len(row[i]) for row in body) for i in range(len(HEADERS))]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [fmt(body[0]), rule, *(fmt(r) for r in body[1:-1]), rule, fmt(body[-1])]
    if file_bytes is not None and total.original_bytes:
        ratio = total.original_bytes / file_bytes if file_bytes else float("inf")
        lines.append(
            f"file: {file_bytes:,} bytes for {total.original_bytes:,} bytes of uncompressed tensors "
            f"({ratio:.1f}x smaller, {100 * file_bytes / total.original_bytes:.2f}%)"
        )
    return "\n".join(lines)


def _row_dict(r: LayerRow) -> dict[str, Any]:
    d = asdict(r)
    d["shape"] = list(r.shape)
    d.update(kept_fraction=r.kept_fraction, rate_pq=r.rate_pq, rate_pqh=r.rate_pqh)
    return d


def to_json(rows: list[LayerRow], *, file_bytes: int | None = None, total: LayerRow | None = None) -> dict[str, Any]:
    """The same table as JSON-ready data (exact counts, unrounded ratios)."""
    total = total or total_row(rows)
    t = _row_dict(total)
    del t["encoding"], t["shape"]
    return {"layers": [_row_dict(r) for r in rows], "total": t, "file_bytes": file_bytes}


def dumps(rows: list[LayerRow], **kw: Any) -> str:
    return json.dumps(to_json(rows, **kw), indent=2)


__all__ = ["LayerRow", "layer_row", "compute_rows", "total_row", "render_text", "to_json", "dumps", "HEADERS"]
