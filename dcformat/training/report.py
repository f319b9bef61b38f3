"""Our per-layer compression table next to the paper's (Tables 2 and 3).

The numbers for our file come from ``dcformat.cli.table`` (the same rows as
``dcformat info``: everything from ``DCFile.info``); this module only holds the
paper's published rows and lays the two side by side, one paper line under
each of ours. Rates are a layer's stored size as a share of its dense float32
size; "P+Q" is the fixed-width size of the same entries, "P+Q+H" what the file
really uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dcformat.cli.table import LayerRow, compute_rows, total_row

__all__ = ["PAPER_TABLES", "comparison_rows", "format_comparison"]

# (#weights, kept, Wbits P+Q, Wbits P+Q+H, Ibits P+Q, Ibits P+Q+H, rate P+Q, rate P+Q+H), as printed in the paper.
PAPER_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "lenet_300_100": {
        "ip1": ("235K", "8%", "6", "4.4", "5", "3.7", "3.1%", "2.32%"),
        "ip2": ("30K", "9%", "6", "4.4", "5", "4.3", "3.8%", "3.04%"),
        "ip3": ("1K", "26%", "6", "4.3", "5", "3.2", "15.7%", "12.70%"),
        "Total": ("266K", "8% (12x)", "6", "5.1", "5", "3.7", "3.1% (32x)", "2.49% (40x)"),
    },
    "lenet_5": {
        "conv1": ("0.5K", "66%", "8", "7.2", "5", "1.5", "78.5%", "67.45%"),
        "conv2": ("25K", "12%", "8", "7.2", "5", "3.9", "6.0%", "5.28%"),
        "ip1": ("400K", "8%", "5", "4.5", "5", "4.5", "2.7%", "2.45%"),
        "ip2": ("5K", "19%", "5", "5.2", "5", "3.7", "6.9%", "6.13%"),
        "Total": ("431K", "8% (12x)", "5.3", "4.1", "5", "4.4", "3.05% (33x)", "2.55% (39x)"),
    },
}

HEADERS = ("layer", "#weights", "kept (P)", "Wbits P+Q", "Wbits P+Q+H", "Ibits P+Q", "Ibits P+Q+H",
           "rate P+Q", "rate P+Q+H")


def comparison_rows(reader: Any, weight_names: Sequence[str]) -> list[LayerRow]:
    """Rows for the weight tensors of an open file, renamed to the paper's layer names (``ip1.weight`` -> ``ip1``)."""
    rows = compute_rows(reader, weight_names)
    return [_renamed(r, r.name.removesuffix(".weight")) for r in rows]


def _renamed(row: LayerRow, name: str) -> LayerRow:
    from dataclasses import replace

    return replace(row, name=name)


def _count(n: int) -> str:
    return f"{n / 1000:.1f}K" if n < 10_000 else f"{n / 1000:.0f}K"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _pct(frac: float, times: bool) -> str:
    text = f"{100 * frac:.2f}%"
    return text + (f" ({1 / frac:.0f}x)" if times and 0 < frac < 1 else "")


def _cells(r: LayerRow, total: bool) -> tuple[str, ...]:
    return (r.name, _count(r.weights), _pct(r.kept_fraction, total), _num(r.weight_bits_pq),
            _num(r.weight_bits_pqh), _num(r.index_bits_pq), _num(r.index_bits_pqh),
            _pct(r.rate_pq, total), _pct(r.rate_pqh, total))


def format_comparison(rows: Sequence[LayerRow], paper: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """A text table of ``rows`` plus their total; with ``paper``, each line is followed by the paper's."""
    lines: list[tuple[str, ...]] = [HEADERS]
    for r, is_total in [(r, False) for r in rows] + [(total_row(list(rows)), True)]:
        lines.append(_cells(r, is_total))
        if paper is not None and r.name in paper:
            lines.append(("  paper", *paper[r.name]))
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    def fmt(line: tuple[str, ...]) -> str:
        cells = zip(line, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)).rstrip()

    return "\n".join(fmt(line) for line in lines)
