"""``dcformat report``: the paper's Fig. 4/5 pictures for each compressed layer, as PNG or HTML.

Per layer: the weight histogram (the original's too, with --original) with the
codebook centroids marked; how often each codebook index is used; the
distribution of gaps between stored weights in a row; and the Huffman code
lengths of the value and gap symbols. Needs matplotlib (an optional extra).
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import heapq
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from . import InputError, UsageError
from .progress import enabled, track
from .table import compute_rows, render_text


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="plots per layer: weight histogram with centroids, index and gap distributions, Huffman code lengths",
        description="Draw, for each compressed layer, the pictures of the Deep Compression paper (Fig. 4 and 5): "
        "weights before (with --original) and after, with the shared values (codebook centroids) marked; the "
        "distribution of codebook indices and of relative-index gaps; and the Huffman code lengths. "
        "Writes one PNG, or an HTML page with the per-layer table and one picture per layer. Needs matplotlib.",
    )
    p.add_argument("input", metavar="IN.dc", help="a dcformat file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="report.png or report.html")
    p.add_argument("--original", metavar="ORIG", help="the uncompressed model, to show weights before compression")
    p.add_argument("--from", dest="input_format", choices=("npz", "safetensors", "onnx", "torch", "dc"),
                   help="format of ORIG, if its name does not tell it")
    p.add_argument("--tensor", action="append", metavar="PATTERN", help="only tensors matching this pattern (repeatable)")
    p.add_argument("--max-layers", type=int, default=24, metavar="N", help="draw at most N layers (default 24)")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------- data


def huffman_lengths(counts: np.ndarray) -> np.ndarray:
    """Code length per symbol of an (unlimited) Huffman code for ``counts``; 0 for unused symbols.

    Used when the file's own code lengths are not available. The loop runs
    over distinct symbols (at most the codebook size), not over weights.
    """
    lengths = np.zeros(len(counts), dtype=np.int64)
    used = [int(i) for i in np.flatnonzero(counts)]
    if len(used) == 1:
        lengths[used[0]] = 1
    if len(used) <= 1:
        return lengths
    heap = [(int(counts[i]), i, [i]) for i in used]
    heapq.heapify(heap)
    tie = len(counts)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        lengths[s1 + s2] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def row_gaps(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Distance from each stored column to the previous one in its row (first: column + 1)."""
    gaps = np.diff(indices, prepend=-1).astype(np.int64)
    starts = indptr[:-1][np.diff(indptr) > 0]
    gaps[starts] = indices[starts] + 1
    return gaps


def code_indices(values: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Codebook index of each stored value (exact match; the decoder copies codebook entries)."""
    order = np.argsort(codebook, kind="stable")
    sorted_cb = codebook[order]
    pos = np.clip(np.searchsorted(sorted_cb, values), 0, len(sorted_cb) - 1)
    return order[pos]


def _file_code_lengths(reader: Any, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The Huffman code lengths stored in the file (None for streams that are not Huffman-coded)."""
    streams = reader.streams(name)

    def lengths(key: str) -> np.ndarray | None:
        stream = streams.get(key)
        return None if stream is None else stream.code_lengths

    return lengths("values"), lengths("gaps")


# ----------------------------------------------------------------------------- drawing


def _draw_layer(axes, name: str, info: Any, reader: Any, original: np.ndarray | None) -> None:
    codebook = reader.codebook(name)
    indptr, indices, values = reader.csr(name)
    ax = axes[0]
    lo_hi = [float(values.min()), float(values.max())] if values.size else [0.0, 0.0]
    if original is not None and original.size:
        o = np.asarray(original, dtype=np.float64).ravel()
        lo_hi = [min(lo_hi[0], float(o.min())), max(lo_hi[1], float(o.max()))]
    bins = np.linspace(lo_hi[0], lo_hi[1] if lo_hi[1] > lo_hi[0] else lo_hi[0] + 1e-6, 101)
    if original is not None:
        ax.hist(np.asarray(original, dtype=np.float64).ravel(), bins=bins, color="0.7", label="original")
    ax.hist(values.astype(np.float64), bins=bins, color="tab:blue", alpha=0.8, label="stored (nonzero)")
    if codebook is not None:  # centroids as a rug along the x axis (255 full-height lines would hide the bars)
        ax.vlines(codebook.astype(np.float64), 0, 0.06, transform=ax.get_xaxis_transform(), color="tab:red",
                  linewidth=0.6, label=f"{len(codebook)} centroids")
    ax.set_title(f"{name}: weights ({100 * info.density:.1f}% kept)", fontsize=8)
    ax.legend(fontsize=6)
    ax.set_yscale("log")
    ax = axes[1]
    if codebook is not None and values.size:
        counts = np.bincount(code_indices(values, codebook), minlength=len(codebook))
        ax.bar(np.arange(len(counts)), counts, width=1.0, color="tab:green")
    ax.set_title(f"codebook index use ({info.code_bits}-bit, {info.codebook_size} values)", fontsize=8)
    ax = axes[2]
    if info.encoding == "sparse" and indices.size:
        gaps = row_gaps(indptr, indices)
        cap = 2 ** (info.index_bits or 4) * 2
        ax.hist(np.minimum(gaps, cap), bins=np.arange(1, cap + 2) - 0.5, color="tab:purple")
        ax.set_title(f"gap between stored weights (≥{cap} pooled)", fontsize=8)
    else:
        ax.set_title("gaps: dense layer (no index)", fontsize=8)
    ax = axes[3]
    v_len, g_len = _file_code_lengths(reader, name)
    v_src = "in file"
    if v_len is None and codebook is not None and values.size:
        # Not Huffman-coded in the file (or not exposed): what a Huffman code would give.
        v_len = huffman_lengths(np.bincount(code_indices(values, codebook), minlength=len(codebook)))
        v_src = "if coded"
    if v_len is not None:
        ax.step(np.arange(len(v_len)), v_len, where="mid", color="tab:green", label=f"value symbols ({v_src})")
    if g_len is not None:
        ax.step(np.arange(len(g_len)), g_len, where="mid", color="tab:purple", label="gap symbols (in file)")
    ax.set_title(f"Huffman code lengths (values {info.value_coding}, gaps {info.gap_coding or '-'})", fontsize=8)
    ax.set_xlabel("symbol", fontsize=7)
    ax.set_ylabel("bits", fontsize=7)
    if v_len is not None or g_len is not None:
        ax.legend(fontsize=6)
    for a in axes:
        a.tick_params(labelsize=6)


def _figure(n_rows: int):
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional extra

    fig = Figure(figsize=(16, 2.8 * n_rows))
    axes = fig.subplots(n_rows, 4, squeeze=False)
    return fig, axes


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        raise InputError("'report' needs matplotlib: pip install matplotlib (or the dcformat[plots] extra)") from None
    import dcformat  # noqa: PLC0415

    from ..atomic import atomic_output  # noqa: PLC0415
    from ..io.sources import open_source  # noqa: PLC0415

    kind = Path(args.output).suffix.lower()
    if kind not in (".png", ".html", ".htm"):
        raise UsageError("output must end in .png or .html")
    if args.max_layers < 1:
        raise UsageError("--max-layers must be at least 1")
    quiet = getattr(args, "quiet", False)
    src = open_source(args.original, args.input_format) if args.original else None
    try:
        with dcformat.open(args.input) as f:
            names = [n for n in f.keys() if not args.tensor or any(fnmatch.fnmatchcase(n, p) for p in args.tensor)]
            infos = {n: f.info(n) for n in names}
            layers = [n for n in names if infos[n].encoding != "raw"][: args.max_layers]
            if not layers:
                raise InputError("no compressed (non-raw) tensor to draw")
            orig_names = set(src.keys()) if src else set()

            def original(n: str) -> np.ndarray | None:
                return src.tensor(n) if src and n in orig_names else None

            show = enabled(quiet)
            if kind == ".png":
                fig, axes = _figure(len(layers))
                for i, n in enumerate(track(layers, total=len(layers), desc="report", show=show)):
                    _draw_layer(axes[i], n, infos[n], f, original(n))
                data = _png(fig)
            else:
                parts = []
                for n in track(layers, total=len(layers), desc="report", show=show):
                    fig, axes = _figure(1)
                    _draw_layer(axes[0], n, infos[n], f, original(n))
                    img = base64.b64encode(_png(fig)).decode("ascii")
                    parts.append(f"<h2>{html.escape(n)}</h2>\n<img alt=\"{html.escape(n)}\" src=\"data:image/png;base64,{img}\">")
                table = render_text(compute_rows(f, names))
                data = (
                    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dcformat report: "
                    f"{html.escape(Path(args.input).name)}</title>\n<style>body{{font-family:sans-serif}}"
                    "img{max-width:100%}</style></head><body>\n"
                    f"<h1>{html.escape(Path(args.input).name)}</h1>\n<pre>{html.escape(table)}</pre>\n"
                    + "\n".join(parts) + "\n</body></html>\n"
                ).encode("utf-8")
    finally:
        if src:
            src.close()
    with atomic_output(args.output) as out:
        out.write(data)
    if not quiet:
        print(f"report: {len(layers)} layers -> {args.output}")
    return 0
