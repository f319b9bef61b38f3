"""``dcformat compare``: how far each decoded tensor is from the original (MSE, max error, SNR)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass

import numpy as np

from ..fidelity import snr_db
from . import InputError
from .progress import enabled, track


@dataclass(frozen=True)
class ErrorRow:
    name: str
    shape: tuple[int, ...]
    numel: int
    sum_sq_signal: float
    sum_sq_error: float
    max_abs_error: float
    is_float: bool = True

    @property
    def mse(self) -> float:
        return self.sum_sq_error / self.numel if self.numel else 0.0

    @property
    def snr_db(self) -> float:
        """10·log10(signal energy / error energy); +inf when identical."""
        return snr_db(self.sum_sq_signal, self.sum_sq_error)


def error_row(name: str, original: np.ndarray, decoded: np.ndarray) -> ErrorRow:
    """Error statistics in float64 (so float16 inputs do not overflow)."""
    x = np.asarray(original, dtype=np.float64)
    y = np.asarray(decoded, dtype=np.float64)
    if x.shape != y.shape:
        raise InputError(f"tensor {name!r}: original shape {x.shape} != compressed shape {y.shape}")
    d = x - y
    return ErrorRow(name, x.shape, x.size, float(np.dot(x.ravel(), x.ravel())), float(np.dot(d.ravel(), d.ravel())),
                    float(np.abs(d).max()) if d.size else 0.0, np.asarray(original).dtype.kind == "f")


def total(rows: list[ErrorRow]) -> ErrorRow:
    """Over floating-point tensors only: integer tensors (ids, counts) are stored exactly and
    their large values would swamp the signal energy."""
    f = [r for r in rows if r.is_float]
    return ErrorRow("Total (float tensors)", (), sum(r.numel for r in f), sum(r.sum_sq_signal for r in f),
                    sum(r.sum_sq_error for r in f), max((r.max_abs_error for r in f), default=0.0))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="per-layer error (MSE, max abs error, SNR in dB) between an original model and its .dc file",
        description="Decode COMPRESSED.dc and compare each tensor with the same-named tensor of ORIGINAL "
        "(.npz, .safetensors, .onnx, .pt/.pth/.bin or .dc). Higher SNR is better; 'exact' means bit-identical "
        "values. Exit 1 if no tensor names match or a shape differs.",
    )
    p.add_argument("original", metavar="ORIGINAL", help="the uncompressed model")
    p.add_argument("compressed", metavar="COMPRESSED.dc", help="the dcformat file made from it")
    p.add_argument("--from", dest="input_format", choices=("npz", "safetensors", "onnx", "torch", "dc"),
                   help="format of ORIGINAL, if its name does not tell it")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _fmt_snr(v: float) -> str:
    return "exact" if v == math.inf else "-inf" if v == -math.inf else f"{v:.2f}"


def run(args: argparse.Namespace) -> int:
    import dcformat  # noqa: PLC0415

    from ..io.sources import open_source  # noqa: PLC0415

    quiet = getattr(args, "quiet", False)
    src = open_source(args.original, args.input_format)
    try:
        with dcformat.open(args.compressed) as f:
            dc_names = f.keys()
            orig_names = set(src.keys())
            common = [n for n in dc_names if n in orig_names]
            if not common:
                raise InputError("no tensor name of the .dc file appears in the original")
            rows = [error_row(n, src.tensor(n), f.tensor(n))
                    for n in track(common, total=len(common), desc="compare", show=enabled(quiet))]
    finally:
        src.close()
    only_orig = sorted(orig_names - set(dc_names))
    only_dc = [n for n in dc_names if n not in orig_names]
    t = total(rows)
    if args.json:
        def d(r: ErrorRow) -> dict:
            snr = r.snr_db
            return {"name": r.name, "shape": list(r.shape), "numel": r.numel, "mse": r.mse,
                    "max_abs_error": r.max_abs_error, "snr_db": snr if math.isfinite(snr) else None,
                    "exact": r.sum_sq_error == 0}
        json.dump({"layers": [d(r) for r in rows], "total": d(t), "only_in_original": only_orig,
                   "only_in_compressed": only_dc}, sys.stdout, indent=2)
        print()
        return 0
    table = [("Layer", "Shape", "MSE", "Max abs err", "SNR dB")]
    for r in [*rows, t]:
        shape = "x".join(map(str, r.shape)) if r.shape else ("" if r is t else "scalar")
        table.append((r.name, shape, f"{r.mse:.3e}", f"{r.max_abs_error:.3e}", _fmt_snr(r.snr_db)))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
    print("\n".join(lines))
    if only_orig:
        print(f"only in {args.original}: {', '.join(only_orig[:10])}{' ...' if len(only_orig) > 10 else ''}")
    if only_dc:
        print(f"only in {args.compressed}: {', '.join(only_dc[:10])}{' ...' if len(only_dc) > 10 else ''}")
    return 0
