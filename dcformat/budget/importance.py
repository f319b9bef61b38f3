"""Per-weight importance from calibration inputs: the diagonal of E[x xᵀ] of each layer's inputs.

For a linear map y = W x, the output error caused by a weight error ΔW is ΔW x, whose
expected square per output row is ΔWᵢ E[x xᵀ] ΔWᵢᵀ. Its diagonal, E[x_j²] per input
feature, is a cheap and strong proxy (the observation behind GPTQ/AWQ and Wanda: a few
input channels carry much larger activations than the rest, and errors on the weights
that read them cost the most). Arrays here broadcast to the weight's shape:

* ``Linear`` (weight (out, in), y = x Wᵀ): shape (1, in), E over every row of x;
* ``MatMul`` with the weight second (x @ W, W (in, out)): shape (in, 1);
* ``Conv2d`` (weight (O, C/g, kh, kw)): per input channel, E over batch and positions of
  x_c² (padding and the kernel offsets ignored); shape (1, C, 1, 1), or (O, C/g, 1, 1) for
  grouped / depthwise convolutions (each output channel reads its group's channels).

Deterministic (float64 sums in a fixed order over batches of ``batch`` samples).
``calib_digest`` fingerprints the calibration inputs, so a config file planned with
them can check that ``pack --config ... --calib`` was given the same ones.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np

from ..quantize.gptq import compensable

LAYER_OPS = ("Linear", "Conv2d", "MatMul")


def calib_digest(calib: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the calibration arrays (names in sorted order, dtype, shape, C-order bytes)."""
    h = hashlib.sha256()
    for k in sorted(calib):
        a = np.ascontiguousarray(calib[k])
        h.update(f"{k}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def weight_inputs(graph: Any, tensors: Mapping[str, Any]) -> dict[str, tuple[str, str, int]]:
    """weight name -> (op, activation feeding it, groups) for every Linear/Conv2d/MatMul reading a stored
    weight as its second input and an activation (not a stored tensor) as its first. A weight read by
    several layers is left out (no single input distribution)."""
    seen: dict[str, list[tuple[str, str, int]]] = {}
    for n in graph.nodes:
        if n.op not in LAYER_OPS or len(n.inputs) < 2:
            continue
        x, w = n.inputs[0], n.inputs[1]
        if w not in tensors or x in tensors:
            continue
        seen.setdefault(w, []).append((n.op, x, int(n.attrs.get("groups", 1) or 1)))
    return {w: v[0] for w, v in seen.items() if len(v) == 1}


def activation_importance(op: str, x: np.ndarray, weight_shape: tuple[int, ...], groups: int = 1) -> np.ndarray:
    """The importance array of one weight from the sum of squares of its inputs (see the module doc)."""
    return _shape_importance(op, _moments(op, x), weight_shape, groups)


def _moments(op: str, x: np.ndarray) -> tuple[np.ndarray, int]:
    """(Σ x² per input feature / channel, number of terms), float64."""
    a = np.asarray(x, np.float64)
    if op == "Conv2d":  # (N, C, H, W)
        return np.einsum("nchw,nchw->c", a, a), a.shape[0] * a.shape[2] * a.shape[3]
    flat = a.reshape(-1, a.shape[-1])
    return np.einsum("ij,ij->j", flat, flat), flat.shape[0]


def _shape_importance(op: str, moments: tuple[np.ndarray, int], weight_shape: tuple[int, ...],
                      groups: int) -> np.ndarray:
    total, count = moments
    m = total / max(count, 1)
    if op == "Linear":
        return m.reshape(1, -1)
    if op == "MatMul":
        return m.reshape(-1, 1)
    out_c, per_group = weight_shape[0], weight_shape[1]
    if groups == 1:
        return m.reshape(1, -1, 1, 1)
    group_of = np.arange(out_c) // (out_c // groups)
    chans = group_of[:, None] * per_group + np.arange(per_group)[None, :]
    return m[chans].reshape(out_c, per_group, 1, 1)


def graph_importance(graph: Any, tensors: Mapping[str, np.ndarray], calib: Mapping[str, np.ndarray],
                     batch: int = 16) -> dict[str, np.ndarray]:
    """Importance arrays for the layer weights of ``graph``, from running it on ``calib``.

    The graph is run with the activations feeding each layer added as outputs
    (``dcformat.Model``, float32), ``batch`` samples at a time.
    """
    return graph_statistics(graph, tensors, calib, batch)[0]


MIN_ROWS_PER_INPUT = 1.0  # GPTQ needs at least as many input rows as input features (see graph_hessians)


def graph_hessians(graph: Any, tensors: Mapping[str, np.ndarray], calib: Mapping[str, np.ndarray],
                   batch: int = 16, min_rows_per_input: float = MIN_ROWS_PER_INPUT,
                   pointwise: bool = False) -> dict[str, np.ndarray]:
    """E[x xᵀ] (in, in) of the input of every ``Linear`` weight (out, in) (and with ``pointwise`` every ungrouped
    1x1 ``Conv2d`` weight (out, in, 1, 1), one row per input pixel) of ``graph`` on ``calib``: the
    Hessians GPTQ-style rounding (``rounding="gptq"``) needs. Float64 sums over the rows of each batch in
    order, so the same inputs give the same matrices (``pack --config ... --calib`` recomputes them).

    Only layers whose input was seen in at least ``min_rows_per_input`` x ``in`` rows get one: with fewer,
    E[x xᵀ] is rank-deficient and GPTQ moves rounding error into directions the calibration never saw
    (measured: LeNet-5's 500- and 800-wide Linear inputs from 48 calibration digits, planned to output
    cosine 0.99, held-out cosine 0.977); such layers keep nearest rounding.

    ``pointwise`` is off by default: measured on rapidocr's MobileNetV3 classifier (150 calibration / 150
    held-out lines, target 0.99, README "Packing to a target"), GPTQ on its 1x1 convolutions gave a larger
    file (180,109 vs 151,018 bytes) and, with importance pruning (``pack --gptq``, 60 / 60 lines), missed
    badly on held-out lines (cosine 0.963): the additive loss model is far more optimistic for them."""
    return graph_statistics(graph, tensors, calib, batch, hessians=True, min_rows_per_input=min_rows_per_input,
                            pointwise=pointwise)[1]


def _gram_layer(op: str, shape: tuple[int, ...], groups: int, pointwise: bool) -> bool:
    """Layers whose output error E[x xᵀ] of one input vector prices: ``Linear`` (out, in), and with
    ``pointwise`` 1x1 ``Conv2d`` without groups (a Linear at every pixel; its rows are the pixels). Not
    MatMul's (in, out) weights, nor kxk or grouped convolutions (their inputs are patches / channel groups)."""
    if op == "Linear":
        return len(shape) == 2
    return pointwise and op == "Conv2d" and groups == 1 and len(shape) == 4 and compensable(shape)


def graph_statistics(graph: Any, tensors: Mapping[str, np.ndarray], calib: Mapping[str, np.ndarray],
                     batch: int = 16, hessians: bool = False, min_rows_per_input: float = MIN_ROWS_PER_INPUT,
                     pointwise: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(importance arrays, Hessians) from one pass over ``calib``; Hessians only with ``hessians=True``,
    for 2-D ``Linear`` weights (and with ``pointwise`` 1x1 convolutions without groups; a weight read by
    MatMul is (in, out), a kxk kernel reads patches) whose input had enough rows (``graph_hessians``; a
    convolution's rows are its input pixels)."""
    from ..graph.core import Graph, ValueInfo  # noqa: PLC0415
    from ..inference import Model  # noqa: PLC0415
    from .output import _feeds  # noqa: PLC0415

    targets = weight_inputs(graph, tensors)
    if not targets:
        return {}, {}
    from ..graph.shapes import infer_shapes  # noqa: PLC0415

    consts = {n: np.asarray(tensors[n]) for n in graph.tensor_refs(tensors.keys())}
    shapes = infer_shapes(graph, {k: v.shape for k, v in consts.items()})
    acts = sorted({x for _, x, _ in targets.values()})
    outs = list(graph.outputs) + [ValueInfo(a, tuple(None for _ in shapes[a])) for a in acts
                                  if a not in {v.name for v in graph.outputs}]
    probe = Graph(graph.inputs, outs, graph.nodes)
    model = Model.from_graph(probe, consts)
    feeds = _feeds(graph, calib)
    n = min(len(v) for v in feeds.values())
    sums: dict[str, tuple[np.ndarray, int]] = {}
    grams: dict[str, np.ndarray] = {}
    ops = {x: op for op, x, _ in targets.values()}
    gram_acts = {x for w, (op, x, g) in targets.items()
                 if hessians and _gram_layer(op, np.shape(tensors[w]), g, pointwise)}
    for start in range(0, n, batch):
        out = model.run({k: v[start:start + batch] for k, v in feeds.items()})
        for a in acts:
            t, c = _moments(ops[a], out[a])
            if a in sums:
                t0, c0 = sums[a]
                sums[a] = (t0 + t, c0 + c)
            else:
                sums[a] = (t, c)
            if a in gram_acts:
                act = np.asarray(out[a], np.float64)
                if ops[a] == "Conv2d":  # one row per pixel: (N, C, H, W) -> (N*H*W, C)
                    act = np.moveaxis(act, 1, -1)
                flat = act.reshape(-1, act.shape[-1])
                g = flat.T @ flat
                grams[a] = grams[a] + g if a in grams else g
    importance = {w: _shape_importance(op, sums[x], tuple(np.asarray(tensors[w]).shape), g)
                  for w, (op, x, g) in targets.items()}
    hess = {w: grams[x] / max(sums[x][1], 1) for w, (op, x, g) in targets.items()
            if x in grams and _gram_layer(op, np.shape(tensors[w]), g, pointwise)
            and sums[x][1] >= min_rows_per_input * grams[x].shape[0]}
    return importance, hess


__all__ = ["calib_digest", "graph_importance", "graph_hessians", "graph_statistics", "activation_importance", "weight_inputs", "LAYER_OPS"]
