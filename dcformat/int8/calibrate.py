"""Reference calibration (spec/INT8.md §5): activation ranges from sample inputs, and the rewritten file.

The float graph runs with every node output exposed (so nothing is fused away
and every value is observed as the graph defines it); per value the minimum and
maximum (or percentiles, or the range minimising the quantization error) over
all samples give (scale, zero_point).
"""

from __future__ import annotations

import glob
import math
import os
from collections import Counter
from typing import Any, Mapping

import numpy as np

from ..graph.core import Graph, ValueInfo
from ..graph.shapes import infer_shapes
from .params import CALIBRATION_DEFAULTS, METADATA_KEY, METHODS, QParams, Int8Params

MAX_PERCENTILE_SAMPLES = 1 << 18  # values per tensor and batch kept for percentile estimation (evenly strided)
MAX_MSE_SAMPLES = 1 << 16  # values per tensor and batch kept for the MSE range search (evenly strided)
MSE_STEPS = 100  # candidate ranges: the min/max range shrunk by k / MSE_STEPS, k = 1..MSE_STEPS


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


def mse_range(values: np.ndarray, lo: float, hi: float) -> QParams:
    """The parameters, among [lo, hi] shrunk by k / MSE_STEPS (k = 1 .. MSE_STEPS), whose quantize-dequantize round
    trip (spec/INT8.md §3) has the smallest mean squared error on ``values`` (ties: the wider range).

    Why: a min/max range spends the 256 levels on the rare extremes of a long-tailed activation (ReLU outputs of a
    net without normalisation, such as Caffe's SqueezeNet), so the typical values get a coarse grid; clipping the
    tail trades a few large errors for many small ones, and the squared error says where that pays.
    """
    x = np.asarray(values, dtype=np.float32).ravel()
    x = x[x != 0]  # every candidate holds 0 exactly (choose covers it), so zeros (half a ReLU output) add nothing
    best, best_err = choose(lo, hi), np.inf
    if x.size == 0:
        return best
    x64 = x.astype(np.float64)
    for k in range(MSE_STEPS, 0, -1):
        f = k / MSE_STEPS
        p = choose(lo * f, hi * f)
        err = float(np.sum((p.dequantize(p.quantize(x)).astype(np.float64) - x64) ** 2))
        if err < best_err:
            best, best_err = p, err
    return best


DEFAULTS: dict[str, Any] = CALIBRATION_DEFAULTS
"""The reference tool's default calibration, measured (benchmarks/int8_calibration.py, README "Integer inference"):
on the authors' SqueezeNet it gives the best score SNR of the method x sharing x output combinations (26.6 dB over
nine photos vs 24.2 for the first release's minmax / separate concat inputs / int8 outputs) and keeps an
over-confident photo's top scores from saturating into ties; rapidocr's direction classifier 196 / 200 (minmax 193,
float 195); LeNet-5 unchanged. Cost: the output nodes' float math, 0.15-0.2 ms (1.5-2 %) of a 224x224 MobileNet v2
or SqueezeNet 1.1 run, below the run-to-run noise; a shared Concat input saves a requantization."""


def calibrate(graph: Graph, tensors: Mapping[str, np.ndarray], samples: Mapping[str, np.ndarray], *,
              method: str = DEFAULTS["method"], percentile: float = 99.99, batch: int = 8,
              float_outputs: bool = DEFAULTS["float_outputs"], shared_concat: bool = DEFAULTS["shared_concat"],
              input_ranges: Mapping[str, tuple[float, float]] | None = None) -> Int8Params:
    """Int8 parameters for every graph input and node output from ``samples`` ({input name: array, batch first}).

    The defaults (:data:`DEFAULTS`) are the measured best; ``method="minmax", shared_concat=False,
    float_outputs=False`` is the first release's calibration.
    ``method``: ``minmax`` (the observed range), ``percentile`` (the mean over batches of the (100 − p)-th / p-th
    percentiles) or ``mse`` (the min/max range shrunk to minimise the quantization error, :func:`mse_range`).
    ``float_outputs``: store no parameters for the graph outputs, so the nodes producing them run in float on
    dequantized int8 inputs (spec/INT8.md §4) and return full-resolution scores: an int8 output is capped at its
    calibrated range and has 256 levels, so a more confident input than any calibration sample saturates its top
    scores into ties. ``False``: int8 outputs (every node in int8, outputs on a 256-level grid).
    ``shared_concat``: a Concat input read by nothing else gets the Concat output's parameters
    (:func:`share_concat_params`), so its producer requantizes straight to the output grid and the Concat copies.
    ``input_ranges``: {graph input: (lo, hi)}, the range an input's preprocessing guarantees (8-bit pixels minus the
    channel means, say), used instead of an estimate: calibration images rarely reach every extreme (pure black in
    the red channel), and an input value outside the calibrated range is clipped before the first layer.
    """
    from ..inference.model import Model

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
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
    kept: dict[str, list[np.ndarray]] = {}  # method "mse": an evenly strided subsample of every value
    for i in range(0, n, batch):
        feeds = {k: np.asarray(samples[k][i : i + batch], dtype=np.float32) for k in names}
        values = dict(feeds)
        values.update(model.run(feeds))
        for k, a in values.items():
            a = np.asarray(a, dtype=np.float32).ravel()
            if a.size == 0:
                continue
            if method != "percentile":
                lo, hi = float(a.min()), float(a.max())
                if method == "mse":
                    kept.setdefault(k, []).append(a[:: max(1, a.size // MAX_MSE_SAMPLES)].copy())
            else:
                step = max(1, a.size // MAX_PERCENTILE_SAMPLES)
                lo, hi = (float(x) for x in np.percentile(a[::step], [100.0 - percentile, percentile]))
            lows.setdefault(k, []).append(lo)
            highs.setdefault(k, []).append(hi)
    if method == "percentile":
        acts = {k: choose(float(np.mean(lows[k])), float(np.mean(highs[k]))) for k in sorted(lows)}
    elif method == "mse":
        acts = {k: mse_range(np.concatenate(kept[k]), min(lows[k]), max(highs[k])) for k in sorted(lows)}
    else:
        acts = {k: choose(min(lows[k]), max(highs[k])) for k in sorted(lows)}
    for k, (lo, hi) in (input_ranges or {}).items():
        if k not in names:
            raise ValueError(f"input_ranges names {k!r}, which is not a graph input (inputs: {names})")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(f"input range of {k!r} must be finite with lo <= hi, got ({lo}, {hi})")
        acts[k] = choose(lo, hi)
    if shared_concat:
        share_concat_params(graph, acts)
    if float_outputs:
        for v in output_values(graph):
            acts.pop(v, None)
    cal: dict[str, Any] = {"method": method, "samples": n, "float_outputs": bool(float_outputs),
                           "shared_concat": bool(shared_concat)}
    if input_ranges:
        cal["input_ranges"] = {k: [float(lo), float(hi)] for k, (lo, hi) in sorted(input_ranges.items())}
    if method == "percentile":
        cal["percentile"] = percentile
    return Int8Params(acts, cal)


def reader_counts(graph: Graph) -> Counter[str]:
    """How many node inputs read each value (a value read twice by one node counts twice)."""
    return Counter(v for n in graph.nodes for v in n.inputs)


def output_values(graph: Graph) -> list[str]:
    """The graph outputs and, back through the movement ops and clamps that produce them (which inherit their input's
    parameters, spec/INT8.md §4), every value read only on that path: without parameters for all of them, the node
    computing an output (a GlobalAvgPool before a Flatten, say) runs in float."""
    from .plan import CLAMPS, MOVEMENT

    producer = {o: n for n in graph.nodes for o in n.outputs}
    readers = reader_counts(graph)
    outs = {v.name for v in graph.outputs}
    chain: list[str] = []
    for v in graph.outputs:
        name = v.name
        chain.append(name)
        n = producer.get(name)
        while n is not None and (n.op in MOVEMENT or n.op in CLAMPS) and len(n.outputs) == 1:
            src = n.inputs[0]
            if readers.get(src, 0) != 1 or src in outs or src not in producer:
                break
            chain.append(src)
            n = producer[src]
    return chain


def share_concat_params(graph: Graph, acts: dict[str, QParams]) -> None:
    """Give every Concat input that only that Concat reads (and that is no graph output) the output's parameters.

    Why: spec/INT8.md §4 requantizes a Concat input whose parameters differ from the output's, a second rounding
    on top of its producer's; with shared parameters the producer (a conv, typically: SqueezeNet's fire modules
    concatenate two expand convs) rounds once, straight to the output grid, and the Concat is a copy (TFLite's
    int8 scheme requires this sharing). Under ``minmax`` the output's range covers every input's, so nothing is clipped
    that was not; under ``mse`` the clipping is the one chosen for the concatenated values. (An input the engine
    gives its producer's parameters, a MaxPool's output say, keeps being requantized: its entry is not read.)
    Concats are visited from the last to the first, so a chain of them shares the outermost range.
    """
    readers = reader_counts(graph)
    outputs = {v.name for v in graph.outputs}
    for n in reversed(graph.nodes):
        if n.op != "Concat" or n.outputs[0] not in acts:
            continue
        for v in n.inputs:
            if v in acts and readers.get(v, 0) == 1 and v not in outputs:
                acts[v] = acts[n.outputs[0]]


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
