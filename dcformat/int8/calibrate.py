"""Reference calibration (spec/INT8.md §5): activation ranges from sample inputs, and the rewritten file.

The float graph runs with every node output exposed (so nothing is fused away
and every value is observed as the graph defines it); per value the minimum and
maximum (or percentiles) over all samples give (scale, zero_point).
"""

from __future__ import annotations

import glob
import os
from typing import Any, Mapping

import numpy as np

from ..graph.core import Graph, ValueInfo
from ..graph.shapes import infer_shapes
from .params import METADATA_KEY, QParams, Int8Params

MAX_PERCENTILE_SAMPLES = 1 << 18  # values per tensor and batch kept for percentile estimation (evenly strided)


def trace_graph(graph: Graph, tensors: Mapping[str, np.ndarray]) -> Graph:
    """The same graph with every node output as a graph output (so none is fused away)."""
    shapes = infer_shapes(graph, {k: np.shape(tensors[k]) for k in graph.tensor_refs(tensors.keys())})
    outs = list(graph.outputs)
    have = {v.name for v in outs}
    for n in graph.nodes:
        for o in n.outputs:
            if o not in have:
                outs.append(ValueInfo(o, tuple(shapes[o])))
                have.add(o)
    return Graph(graph.inputs, outs, graph.nodes)


def choose(lo: float, hi: float) -> QParams:
    """Asymmetric int8 parameters covering [min(0, lo), max(0, hi)]."""
    lo, hi = min(0.0, float(lo)), max(0.0, float(hi))
    if hi == lo:
        return QParams(1.0, 0)
    scale = float(np.float32((hi - lo) / 255.0))
    scale = min(max(scale, 2.0**-40), 2.0**40)
    zp = int(np.clip(np.rint(-128.0 - lo / scale), -128, 127))
    return QParams(scale, zp)


def calibrate(graph: Graph, tensors: Mapping[str, np.ndarray], samples: Mapping[str, np.ndarray], *, method: str = "minmax",
              percentile: float = 99.99, batch: int = 8) -> Int8Params:
    """Int8 parameters for every graph input and node output from ``samples`` ({input name: array, batch first})."""
    from ..inference.model import Model

    if method not in ("minmax", "percentile"):
        raise ValueError(f"method must be 'minmax' or 'percentile', got {method!r}")
    if not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    names = [v.name for v in graph.inputs]
    missing = sorted(set(names) - set(samples))
    if missing:
        raise ValueError(f"calibration samples lack inputs {missing} (the npz needs one array per graph input)")
    n = int(np.asarray(samples[names[0]]).shape[0])
    if n == 0:
        raise ValueError("no calibration samples")
    tg = trace_graph(graph, tensors)
    model = Model.from_graph(tg, tensors)
    lows: dict[str, list[float]] = {}
    highs: dict[str, list[float]] = {}
    for i in range(0, n, batch):
        feeds = {k: np.asarray(samples[k][i : i + batch], dtype=np.float32) for k in names}
        values = dict(feeds)
        values.update(model.run(feeds))
        for k, a in values.items():
            a = np.asarray(a, dtype=np.float32).ravel()
            if a.size == 0:
                continue
            if method == "minmax":
                lo, hi = float(a.min()), float(a.max())
            else:
                step = max(1, a.size // MAX_PERCENTILE_SAMPLES)
                lo, hi = (float(x) for x in np.percentile(a[::step], [100.0 - percentile, percentile]))
            lows.setdefault(k, []).append(lo)
            highs.setdefault(k, []).append(hi)
    agg_lo = (min if method == "minmax" else lambda v: float(np.mean(v)))
    agg_hi = (max if method == "minmax" else lambda v: float(np.mean(v)))
    acts = {k: choose(agg_lo(lows[k]), agg_hi(highs[k])) for k in sorted(lows)}
    cal: dict[str, Any] = {"method": method, "samples": n}
    if method == "percentile":
        cal["percentile"] = percentile
    return Int8Params(acts, cal)


def write_with_params(src: str | os.PathLike[str], dst: str | os.PathLike[str], params: Int8Params) -> None:
    """Copy ``src`` to ``dst`` (every DATA payload byte for byte, atomically) with ``params`` in its metadata."""
    import dcformat
    from ..config import CompressionConfig
    from ..container.payload import serialize
    from ..container.writer import StreamingWriter

    with dcformat.open(src) as f:
        graph = f.graph
        meta = dict(f.metadata)
        meta[METADATA_KEY] = params.to_json()
        Int8Params.from_metadata(meta, graph)  # what we write must read back
        specs, encodings = [], {}
        for k in f.keys():
            info = f.info(k)
            specs.append((k, info.shape, np.dtype(info.dtype)))
            encodings[glob.escape(k)] = {"encoding": info.encoding}
        cfg = CompressionConfig(overrides=encodings)
        with StreamingWriter(dst, specs, config=cfg, metadata=meta, graph=graph) as w:
            for k in f.keys():
                w.add_payload(k, serialize(f.payload(k)))


def load_samples(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """An .npz of calibration inputs (no pickle)."""
    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError("expected an .npz archive with one array per graph input, got a single array")
    with z:
        return {k: np.asarray(z[k]) for k in z.files}
