"""What ``pack`` tells the user after writing: the per-layer table with fidelity, warnings, the settings file.

The table is ``dcformat info``'s (computed from the written file) with two more
columns, the SNR in dB and the relative error of every stored tensor against
its input (``dcformat.fidelity``). Warnings go to stderr and name the setting
that caused the loss (pruning density/threshold, or code bits) and what to do.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping

from .table import LayerRow, render_text, to_json, total_row

MAX_LISTED_WARNINGS = 12


def floor_for(config: Any, name: str, shape: tuple[int, ...], dtype: Any, min_snr: float | None) -> float | None:
    """The SNR floor ``pack`` keeps for this tensor by raising its code bits, or None.

    Only tensors the user did not ask to prune and whose code bits come from the
    defaults get a floor: raising bits cannot undo pruning, and an explicit
    ``--code-bits`` is the user's choice (they get a warning instead).
    """
    import numpy as np  # noqa: PLC0415

    from dcformat.config import resolve, sets_code_bits  # noqa: PLC0415

    if min_snr is None or np.dtype(dtype).kind != "f":
        return None
    s = resolve(config, name, len(shape), np.dtype(dtype))
    if s.encoding == "raw" or s.density is not None or s.threshold is not None or sets_code_bits(config, name):
        return None
    return min_snr


def _setting(config: Any, name: str, fid: Any, shape: tuple[int, ...], dtype: Any) -> str:
    import numpy as np  # noqa: PLC0415

    from dcformat.config import resolve  # noqa: PLC0415

    s = resolve(config, name, len(shape), np.dtype(dtype))
    if fid.cause == "pruning":
        if s.density is not None:
            return f"pruning to density {s.density:g}"
        if s.threshold is not None:
            return f"pruning below threshold {s.threshold:g}"
        return "pruning"
    return f"{s.code_bits}-bit codebook" if s.encoding != "raw" else "raw storage"


ADVICE = {
    "pruning": "pruning without retraining removes weights the network needs: retrain after pruning "
               "(dcformat.training, or dcformat.torch for PyTorch models), keep more weights (a higher --density), "
               "or let --target-snr DB / --target-output COS choose per-layer settings",
    "quantization": "raise the code bits (--code-bits, or --set 'PATTERN:code_bits=N' for one layer), "
                    "or let --target-snr DB / --target-output COS choose per-layer settings",
}


def warnings(results: Iterable[Any], specs: Iterable[tuple[str, tuple[int, ...], Any]], config: Any,
             threshold_db: float) -> list[str]:
    """One line per tensor below ``threshold_db`` (at most MAX_LISTED_WARNINGS) and one line of advice per cause."""
    from dcformat.fidelity import fmt_rel, fmt_snr  # noqa: PLC0415

    spec = {n: (tuple(shape), dtype) for n, shape, dtype in specs}
    low = [r.fidelity for r in results if r.fidelity.snr_db < threshold_db]
    if not low:
        return []
    lines = [f"warning: {len(low)} tensor(s) below {threshold_db:g} dB SNR (relative error "
             f"{fmt_rel(10 ** (-threshold_db / 20))}); the model they belong to is likely degraded:"]
    for fid in sorted(low, key=lambda f: f.snr_db)[:MAX_LISTED_WARNINGS]:
        shape, dtype = spec[fid.name]
        lines.append(f"warning:   {fid.name}: SNR {fmt_snr(fid.snr_db)} dB, relative error {fmt_rel(fid.rel_error)}, "
                     f"caused by {_setting(config, fid.name, fid, shape, dtype)}")
    if len(low) > MAX_LISTED_WARNINGS:
        lines.append(f"warning:   ... and {len(low) - MAX_LISTED_WARNINGS} more (see --json)")
    for cause in ("pruning", "quantization"):
        if any(f.cause == cause for f in low):
            lines.append(f"warning: what to do ({cause}): {ADVICE[cause]}")
    return lines


def render(rows: list[LayerRow], fid: Mapping[str, Any], *, file_bytes: int) -> str:
    """``dcformat info``'s table with SNR and relative-error columns, and the fidelity total."""
    from dcformat.fidelity import fmt_rel, fmt_snr, total  # noqa: PLC0415

    table = render_text(rows, file_bytes=file_bytes).splitlines()
    names = [r.name for r in rows]
    extra = [("SNR dB", "Rel err")] + [(fmt_snr(fid[n].snr_db), fmt_rel(fid[n].rel_error)) for n in names]
    tot = total(fid[n] for n in names)
    worst = min((fid[n].snr_db for n in names), default=math.inf)
    extra.append((fmt_snr(tot.snr_db), fmt_rel(tot.rel_error)))
    w0 = max(len(e[0]) for e in extra)
    w1 = max(len(e[1]) for e in extra)
    width = max(len(line) for line in table[: len(rows) + 4])
    out = []
    body = iter(extra)
    for i, line in enumerate(table[: len(rows) + 4]):
        if i in (1, len(rows) + 2):
            out.append(line.ljust(width) + "  " + "-" * w0 + "  " + "-" * w1)
            continue
        a, b = next(body)
        out.append(line.ljust(width) + "  " + a.rjust(w0) + "  " + b.rjust(w1))
    out += table[len(rows) + 4:]
    out.append(f"fidelity: total SNR {fmt_snr(tot.snr_db)} dB (relative error {fmt_rel(tot.rel_error)}), "
               f"lowest tensor {fmt_snr(worst)} dB")
    return "\n".join(out)


def json_report(rows: list[LayerRow], fid: Mapping[str, Any], *, file_bytes: int, input_path: str, output: str,
                input_bytes: int, warnings_: list[str], raised: Mapping[str, int], plan: Any = None,
                config_path: str | None = None) -> dict[str, Any]:
    from dcformat.fidelity import total  # noqa: PLC0415

    doc = to_json(rows, file_bytes=file_bytes, total=total_row(rows))
    for layer in doc["layers"]:
        layer["fidelity"] = fid[layer["name"]].to_json()
    doc["total"]["fidelity"] = total(fid[r.name] for r in rows).to_json()
    doc.update(input=input_path, output=output, input_bytes=input_bytes, warnings=warnings_,
               raised_code_bits=dict(raised), config_file=config_path)
    if plan is not None:
        doc["plan"] = plan
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(doc), indent=2)


# ----------------------------------------------------------------------------- settings file


def _toml_value(key: str, v: Any) -> str | None:
    if v is None:
        return '"none"' if key == "density" else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)


def config_toml(config: Any, header: Iterable[str] = (), extra: Mapping[str, Any] | None = None) -> str:
    """``config`` as a TOML file ``pack --config`` reads back to the same settings (so the same bytes).

    ``extra``: top-level keys that are not settings (``importance = "calib"`` and the calibration inputs'
    digest, for a config whose importance arrays ``pack --config ... --calib`` recomputes)."""
    from dataclasses import fields  # noqa: PLC0415

    lines = [f"# {h}" for h in header]
    for k, v in (extra or {}).items():
        lines.append(f"{k} = {_toml_value(k, v)}")
    for f in fields(config):
        if f.name in ("overrides", "importance", "hessian"):  # importance is data (recomputed from --calib), not a setting
            continue
        v = _toml_value(f.name, getattr(config, f.name))
        if v is not None:
            lines.append(f"{f.name} = {v}")
    for pattern, values in config.overrides.items():
        lines.append("")
        lines.append(f"[overrides.{json.dumps(pattern, ensure_ascii=False)}]")
        for k, val in values.items():
            v = _toml_value(k, val)
            if v is None and k in ("code_bits", "index_bits", "threshold"):
                v = '"none"'
            if v is not None:
                lines.append(f"{k} = {v}")
    return "\n".join(lines) + "\n"


__all__ = ["floor_for", "warnings", "render", "json_report", "dumps", "config_toml", "ADVICE"]
