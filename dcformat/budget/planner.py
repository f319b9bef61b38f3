"""``plan_compression``: per-layer density and code bits for the smallest file that meets a fidelity target.

Two targets:

* ``target_snr=DB`` (per tensor): every planned tensor keeps DB dB. Each tensor is
  independent, so its cheapest candidate that reaches DB is the optimum; sampled
  estimates are confirmed on the whole tensor before a candidate is taken.
* ``target_output=COS``: the model's outputs keep mean cosine similarity COS with
  the float model on calibration inputs. Layers matter unequally (the paper's
  Fig. 6), so: (1) each layer's size-vs-error curve from the scan; (2) its
  output sensitivity ``s_l`` = output loss (1 - cosine) per unit of relative
  squared weight error, measured by compressing that layer alone at a probe
  setting, on a subset of the calibration inputs (``probe_samples``; the 1-D
  float vectors, BatchNorm and biases, form one extra "layer" whose candidates
  are common SNR floors, each vector at its cheapest codebook-only or raw
  setting keeping the floor); (3) Lagrangian allocation: for a multiplier λ each layer takes the
  candidate minimising ``bytes + λ·s_l·error``; bisection on λ finds the
  smallest file whose predicted loss ``Σ s_l·error_l`` fits the budget; (4) the
  chosen model is run, and the budget is rescaled by predicted/measured loss
  until the measured loss meets the target (at most ``rounds`` times). "Meets"
  means the upper confidence bound (mean + 2 standard errors of the per-sample
  loss) does, a margin for inputs the calibration set does not cover (tests check
  held-out inputs; a loss made of a few rare flips, as in a 2-class classifier,
  varies more than the bound says: give such models more calibration inputs); (5) a measured greedy
  refinement spends the slack the rounds leave (the additive model is only a model): groups of one-step-smaller
  moves, best bytes per predicted loss first, each group kept only if the measured bound stays within 90 % of
  the allowed loss (``REFINE_MARGIN``: choosing among many measured plans flatters the calibration inputs;
  ``refine_steps`` forwards at most). The smallest plan that met the target on the calibration inputs is
  returned. Rounds and refinement rebuild only the layers whose setting changed.

Calibration importance (output target): with a graph and calibration inputs
(or ``importance=`` arrays from the caller) each layer weight gets the second
moment E[x_j²] of its inputs (``budget.importance``). The scan then measures the
importance-weighted error Σ E[x_j²]·Δw² / Σ E[x_j²]·w² (a diagonal-Fisher proxy
of the output error, so one sensitivity per layer predicts the loss better) and
prices candidates packed with ``prune_by="importance"`` (keep the largest
|w|·sqrt(E[x_j²]), Wanda-style) and ``kmeans_weights="importance"`` (weighted
k-means). The returned config carries the arrays; ``pack`` writes
``importance = "calib"`` and the inputs' digest into the config file, and
``pack --config ... --calib`` recomputes them.

Deterministic: no random numbers, ties broken by candidate order. Time is
bounded by the candidate grid (``OUTPUT_DENSITIES`` x ``OUTPUT_CODE_BITS``), two
probe forwards per planned layer (on ``probe_samples`` inputs), ``rounds``
verification passes and ``refine_steps`` refinement passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..config import CompressionConfig, exact_pattern, resolve, with_importance, with_overrides
from ..prune import importance_weights, prune_by_importance, prune_to_density
from ..quantize import kmeans_1d
from ..quantize.codebook import quantize_values
from ..quantize.gptq import compensable
from . import scan
from .output import Forward, graph_forward, loss_bound, mean_cosine, split_calib
from .scan import Candidate

OUTPUT_MIN_SNR_DB = 3.0  # candidates below this are never useful for an output target
PROBE_SNR_DB = 20.0
REFINE_STEPS = 6  # measured greedy steps after the Lagrangian rounds (one forward each)
# The refinement picks among many measured plans on the same calibration inputs, so the winner flatters them:
# it keeps its bound within this share of the allowed loss. Measured: with 1.0, MiniLM-L6 (80 calibration /
# 80 held-out sentences, target 0.99) refined to calibration cosine 0.9906 (bound 0.9901) and missed on the
# held-out half (0.9891).
REFINE_MARGIN = 0.9
PROBE_SAMPLES = 32  # calibration inputs the per-layer sensitivity probes run on (graph path)
# The output target's candidate grid: one forward per layer follows the scan, so the scan is kept to what an
# output target uses (unretrained pruning below 30 % and codebooks above 8 bits never pay there).
OUTPUT_DENSITIES: tuple[float | None, ...] = (None, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
OUTPUT_CODE_BITS: tuple[int, ...] = tuple(range(1, 9))
OUTPUT_SAMPLE = 1 << 16


@dataclass
class LayerPlan:
    """One planned tensor: its candidates (the measured curve) and the one chosen."""

    name: str
    shape: tuple[int, ...]
    curve: list[Candidate]
    choice: Candidate
    sensitivity: float | None = None  # output loss per unit relative squared error (output target only)
    exact_error: float | None = None  # relative squared error of the choice on the whole tensor, when checked

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "choice": self.choice.to_json(), "sensitivity": self.sensitivity,
                "exact_error": self.exact_error, "curve": [c.to_json() for c in self.curve]}


@dataclass
class Plan:
    """What ``plan_compression`` chose: the config to pack with, per-layer curves and choices, and checks."""

    config: CompressionConfig
    layers: dict[str, LayerPlan]
    target: dict[str, float]
    estimated_bytes: int
    history: list[dict[str, float]] = field(default_factory=list)  # output target: each verification round

    def to_json(self, curves: bool = False) -> dict[str, Any]:
        layers = {}
        for n, lp in self.layers.items():
            d = lp.to_json()
            if not curves:
                d.pop("curve")
            layers[n] = d
        return {"target": self.target, "estimated_bytes": self.estimated_bytes, "layers": layers,
                "rounds": self.history}

    def table(self) -> str:
        """The chosen per-layer settings, one line each."""
        rows = [("Layer", "Setting", "Est. bytes", "SNR dB", "Sens.")]
        for n, lp in self.layers.items():
            c = lp.choice
            setting = "raw (exact)" if c.encoding == "raw" else f"codebook only, {c.code_bits}-bit codes" \
                if c.encoding == "dense" else (
                f"{'no pruning' if c.density is None else f'density {c.density:g}'}, {c.code_bits}-bit codes, b={c.index_bits}")
            err = lp.exact_error if lp.exact_error is not None else c.error
            snr = "exact" if err <= 0 else f"{-10 * math.log10(err):.1f}"
            sens = "" if lp.sensitivity is None else f"{lp.sensitivity:.3g}"
            rows.append((n, setting, f"{c.bytes:,}", snr, sens))
        w = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r)).rstrip()
                         for r in rows)


def plannable(config: CompressionConfig, name: str, array_or_spec: Any) -> bool:
    """Float weight matrices / conv kernels the user did not pin with an override (or store raw)."""
    shape, dtype = (array_or_spec.shape, array_or_spec.dtype) if hasattr(array_or_spec, "dtype") else array_or_spec
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or len(shape) not in (2, 4) or int(np.prod(shape)) == 0:
        return False
    import fnmatch  # noqa: PLC0415

    if any(fnmatch.fnmatchcase(name, p) for p in config.overrides):
        return False
    return resolve(config, name, len(shape), dtype).encoding != "raw"


def plannable_vector(config: CompressionConfig, name: str, array_or_spec: Any) -> bool:
    """Float tensors other than matrices / conv kernels (BatchNorm vectors, biases) left to the "auto"
    encoding (stored raw by default) and not pinned by an override: an output target may quantize them."""
    shape, dtype = (array_or_spec.shape, array_or_spec.dtype) if hasattr(array_or_spec, "dtype") else array_or_spec
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or len(shape) in (2, 4) or int(np.prod(shape)) < 2 or config.encoding != "auto":
        return False
    import fnmatch  # noqa: PLC0415

    return not any(fnmatch.fnmatchcase(name, p) for p in config.overrides)


def reconstruct(array: np.ndarray, cand: Candidate, *, init: str = "linear", seed: int = 0,
                importance: np.ndarray | None = None, prune_by: str = "magnitude",
                kmeans_weights: str = "none", hessian: np.ndarray | None = None,
                rounding: str = "nearest") -> np.ndarray:
    """The tensor the encoder stores for ``cand`` (pruning, then k-means of the kept values).

    Uses the encoder's own pruning and k-means (public functions), with centroids
    rounded through the tensor's dtype as the encoder does; tests check it against
    ``dcformat.decode(dcformat.encode(...))``. ``importance`` with ``prune_by`` /
    ``kmeans_weights`` = "importance": as the encoder with those settings.
    """
    from ..compress import kmeans_weights as positive_weights  # noqa: PLC0415

    a = np.asarray(array)
    if cand.encoding == "raw":
        return a.copy()
    flat = a.reshape(-1)
    imp = None
    if importance is not None and (prune_by == "importance" or kmeans_weights == "importance"):
        imp = importance_weights(importance, a.shape)
    sw = positive_weights(imp) if imp is not None and kmeans_weights == "importance" else None
    if cand.encoding == "dense":  # codebook only (1-D vectors): the encoder's own quantizer, zeros included
        cb, labels, _ = quantize_values(flat, cand.code_bits, init, seed, drop_zeros=False, weights=sw)
        return cb.astype(a.dtype)[np.asarray(labels, dtype=np.int64)].reshape(a.shape)
    if cand.density is None:
        keep = flat != 0
    elif imp is not None and prune_by == "importance":
        keep = prune_by_importance(flat, cand.density, imp)
    else:
        keep = prune_to_density(flat, cand.density)
    pos = np.flatnonzero(keep)
    out = np.zeros(flat.size, a.dtype)
    if pos.size and rounding == "gptq" and compensable(a.shape):
        from ..compress import gptq_quantize  # noqa: PLC0415
        from ..config import TensorSettings  # noqa: PLC0415

        s = TensorSettings("sparse", cand.density, None, cand.code_bits, cand.index_bits, init, True, "none", seed,
                           rounding="gptq", hessian=hessian)
        cb, labels, kept = gptq_quantize("tensor", a, keep, cand.code_bits, s, sw)
        out[kept] = cb.astype(a.dtype)[labels]
        return out.reshape(a.shape)
    if pos.size:
        km = kmeans_1d(flat[pos].astype(np.float64), 1 << cand.code_bits, init=init, seed=seed,
                       sample_weight=None if sw is None else sw[pos])
        cents = km.centroids.astype(a.dtype)
        out[pos] = cents[np.asarray(km.labels, dtype=np.int64)]
    return out.reshape(a.shape)


def relative_error(array: np.ndarray, stored: np.ndarray, importance: np.ndarray | None = None,
                   hessian: np.ndarray | None = None) -> float:
    """Σ(w - ŵ)² / Σw², or with ``importance`` the weighted Σ imp·(w - ŵ)² / Σ imp·w², or with ``hessian``
    (2-D weights) Σᵢ ΔWᵢ H ΔWᵢᵀ / Σᵢ Wᵢ H Wᵢᵀ, the relative output error (the scan's measures)."""
    if hessian is not None:
        return scan.hessian_error(np.asarray(array), np.asarray(stored), hessian)
    x = np.asarray(array, np.float64).ravel()
    d = x - np.asarray(stored, np.float64).ravel()
    if importance is not None:
        imp = importance_weights(importance, np.asarray(array).shape)
        sig = float(np.dot(imp * x, x))
        return float(np.dot(imp * d, d)) / sig if sig else 0.0
    sig = float(np.dot(x, x))
    return float(np.dot(d, d)) / sig if sig else 0.0


def _settings_of(config: CompressionConfig, name: str, arr: Any) -> tuple[str, int, int]:
    s = resolve(config, name, len(arr.shape), np.dtype(arr.dtype))
    return s.init, s.seed, s.index_bits


def _planned_config(base: CompressionConfig, layers: Mapping[str, LayerPlan],
                    importance: Mapping[str, np.ndarray] | None = None, prune_by: str = "magnitude",
                    kmeans_weights: str = "none", hessian: Mapping[str, np.ndarray] | None = None,
                    rounding: str = "nearest") -> CompressionConfig:
    importance, hessian = importance or {}, hessian or {}

    def extra(n: str, lp: LayerPlan) -> dict[str, Any]:
        if lp.choice.encoding == "raw":
            return {}
        out = {"prune_by": prune_by, "kmeans_weights": kmeans_weights} if n in importance else {}
        if n in hessian:
            out["rounding"] = rounding
        return out

    config = with_overrides(base, {exact_pattern(n): {**lp.choice.settings(), **extra(n, lp)}
                                   for n, lp in layers.items()})
    used = {n: importance[n] for n, lp in layers.items() if n in importance and lp.choice.encoding != "raw"
            and (prune_by == "importance" or kmeans_weights == "importance")}
    used_h = {n: hessian[n] for n, lp in layers.items() if n in hessian and lp.choice.encoding != "raw"
              and rounding == "gptq"}
    return with_importance(config, used, used_h) if used or used_h else config


def _progress(items: Iterable, total: int, desc: str, show: bool):
    from ..cli.progress import track  # noqa: PLC0415

    return track(items, total=total, desc=desc, show=show)


def plan_compression(
    tensors: Mapping[str, np.ndarray],
    *,
    target_snr: float | None = None,
    target_output: float | None = None,
    graph: Any = None,
    calib: Mapping[str, np.ndarray] | None = None,
    forward: Forward | None = None,
    base: CompressionConfig | None = None,
    densities: tuple[float | None, ...] | None = None,
    code_bits: tuple[int, ...] | None = None,
    sample: int | None = None,
    rounds: int = 8,
    margin_z: float = 2.0,
    probe_forward: Forward | None = None,
    probe_samples: int = PROBE_SAMPLES,
    plan_vectors: bool = True,
    importance: Mapping[str, np.ndarray] | str | None = None,
    prune_by: str = "importance",
    kmeans_weights: str = "importance",
    hessian: Mapping[str, np.ndarray] | None = None,
    rounding: str = "gptq",
    refine_steps: int = REFINE_STEPS,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Plan:
    """Choose per-layer density and code bits for the smallest file meeting one target.

    Args:
        tensors: name -> array (a lazy mapping works: each tensor is read when scanned).
        target_snr: every planned tensor keeps this SNR in dB.
        target_output: mean cosine similarity of the outputs vs the float model (e.g. 0.99), measured on
            ``calib`` through ``graph`` (``dcformat.Model``) or through ``forward(tensors) -> [outputs]``.
        base: settings for what is not planned (non-weight tensors, layers pinned by an override).
        densities, code_bits: the candidate grid; sample: values scanned per tensor before row sampling.
        rounds: verification passes for the output target (each one forward over all calibration inputs).
        probe_forward: the forward used for the per-layer sensitivity probes (default: ``forward``, or with a
            graph the first ``probe_samples`` calibration inputs): probes cost one forward per layer, the
            verification that decides uses every calibration input.
        plan_vectors: output target: also plan the 1-D float vectors (BatchNorm, biases; raw by default) as one
            group at a common SNR floor (a small codebook or raw per vector).
        margin_z: the output target must hold for the mean loss plus this many standard errors (0: the mean).
        refine_steps: output target: after the rounds, at most this many measured greedy steps that move the
            layers with the most bytes saved per predicted loss one candidate smaller while the measured bound
            still meets the target (0: off).
        importance: output target: per-tensor importance arrays (broadcastable to each weight, e.g. E[x_j²] of
            the layer's inputs, see ``dcformat.budget.importance``), "auto" (computed from ``graph`` and
            ``calib`` when both are given, else none) or None (the default: measured no smaller at equal held-out
            fidelity on MiniLM and the OCR classifier, README "Packing to a target"). Layers with one are scanned with the
            importance-weighted error and packed with ``prune_by`` / ``kmeans_weights`` (default "importance"
            both; "magnitude" / "none" to switch either off); the returned config carries the arrays.
        hessian: output target: per-weight (in, in) second-moment matrices E[x xᵀ] of the inputs of 2-D
            layers (weights (out, in)) and 1x1 convolutions (out, in, 1, 1), over every input row / pixel; those
            layers are scanned with the relative output error Σ ΔW H ΔWᵀ / Σ W H Wᵀ and packed with ``rounding`` (default "gptq": error-compensating labels; "nearest" to switch off).
            Their diagonal serves as ``importance`` where none is given.

    Returns:
        A :class:`Plan` whose ``config`` packs to the chosen settings (``dcformat.save(..., config=plan.config)``).
    """
    if (target_snr is None) == (target_output is None):
        raise ValueError("give exactly one of target_snr or target_output")
    base = base or CompressionConfig()
    names = [n for n in tensors if plannable(base, n, _spec(tensors, n))]
    if target_snr is not None:
        return _plan_snr(tensors, names, float(target_snr), base, densities or scan.DENSITIES,
                         code_bits or scan.CODE_BITS, sample or scan.SAMPLE, progress)
    if not 0 < target_output <= 1:
        raise ValueError("target_output is a mean cosine similarity in (0, 1]")
    if forward is None:
        if graph is None or calib is None:
            raise ValueError("target_output needs a graph and calibration inputs, or a forward callback")
        forward = graph_forward(graph, calib)
        n = min(len(np.asarray(v)) for v in calib.values())
        if probe_forward is None and n > probe_samples:
            probe_forward = graph_forward(graph, split_calib(calib, np.arange(probe_samples)))
    vectors = [n for n in tensors if plan_vectors and plannable_vector(base, n, _spec(tensors, n))]
    if isinstance(importance, str):
        if importance != "auto":
            raise ValueError("importance must be a mapping, 'auto' or None")
        importance = None
        if graph is not None and calib is not None:
            from .importance import graph_importance  # noqa: PLC0415

            importance = graph_importance(graph, tensors, calib)
    importance = {n: np.asarray(v) for n, v in (importance or {}).items() if n in names}
    hessian = {n: np.asarray(v, np.float64) for n, v in (hessian or {}).items()
               if n in names and compensable(_spec_shape(tensors, n))}
    for n, h in hessian.items():
        importance.setdefault(n, np.diag(h).reshape((1, -1) + (1,) * (len(_spec_shape(tensors, n)) - 2)).copy())
    return _plan_output(tensors, names, float(target_output), forward, base, densities or OUTPUT_DENSITIES,
                        code_bits or OUTPUT_CODE_BITS, sample or OUTPUT_SAMPLE, rounds, progress,
                        log or (lambda s: None), z=float(margin_z), probe_forward=probe_forward,
                        vector_names=vectors, importance=importance, prune_by=prune_by,
                        kmeans_weights=kmeans_weights, hessian=hessian, rounding=rounding,
                        refine_steps=int(refine_steps))


def _spec_shape(tensors: Mapping[str, Any], name: str) -> tuple[int, ...]:
    spec = _spec(tensors, name)
    return tuple(spec.shape) if hasattr(spec, "shape") else tuple(spec[0])


def _spec(tensors: Mapping[str, Any], name: str) -> Any:
    spec = getattr(tensors, "spec", None)
    return spec(name) if callable(spec) else tensors[name]


def _plan_snr(tensors, names, target, base, densities, code_bits, sample, progress) -> Plan:
    allowed = 10 ** (-target / 10)
    layers: dict[str, LayerPlan] = {}
    for name in _progress(names, len(names), "plan", progress):
        arr = np.asarray(tensors[name])
        init, seed, b = _settings_of(base, name, arr)
        bits = tuple(code_bits) + tuple(q for q in range(max(code_bits) + 1, 17))  # high targets need more bits
        curve = scan.tensor_curve(arr, densities=densities, code_bits=bits, init=init, seed=seed,
                                  prefer_index_bits=b, sample=sample, min_snr_db=target, stop_at_target=True)
        sampled = scan.matrix(arr).size > scan.sample_rows(scan.matrix(arr), sample).size
        # candidates estimated within 1.5 dB of the target are checked on the whole tensor when it was sampled
        near = allowed * (10 ** 0.15 if sampled else 1.0)
        ok = sorted((c for c in curve if c.error <= near), key=lambda c: (c.bytes, scan._order(c)))
        choice, exact = max(curve, key=lambda c: (c.error <= allowed, -c.bytes)), None  # raw is always there
        checked = 0
        for c in ok:
            if c.encoding != "raw" and c.error > allowed and checked >= 3:
                continue
            checked += c.encoding != "raw"
            if c.encoding == "raw":
                choice, exact = c, 0.0
                break
            err = relative_error(arr, reconstruct(arr, c, init=init, seed=seed)) if sampled else c.error
            if err <= allowed:
                choice, exact = c, err
                break
        layers[name] = LayerPlan(name, tuple(arr.shape), curve, choice, exact_error=exact)
        del arr
    config = _planned_config(base, layers)
    return Plan(config, layers, {"snr_db": target}, sum(lp.choice.bytes for lp in layers.values()))


def _lagrangian(frontiers: Mapping[str, list[Candidate]], sens: Mapping[str, float], budget: float) -> dict[str, Candidate]:
    """Smallest total bytes with Σ sens·error ≤ budget (on each layer's convex hull), by bisection on λ."""

    def pick(lam: float) -> dict[str, Candidate]:
        return {n: min(f, key=lambda c: (c.bytes + lam * sens[n] * c.error, c.error)) for n, f in frontiers.items()}

    def loss(choice: Mapping[str, Candidate]) -> float:
        return sum(sens[n] * c.error for n, c in choice.items())

    hi = 1.0
    while loss(pick(hi)) > budget and hi < 1e30:
        hi *= 10.0
    if loss(pick(hi)) > budget:
        return pick(hi)  # even the most accurate candidates cannot meet the budget: best effort
    lo = 0.0
    for _ in range(80):
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 1e6
        if loss(pick(mid)) <= budget:
            hi = mid
        else:
            lo = mid
        if lo > 0 and hi / lo < 1 + 1e-6:
            break
    return pick(hi)


def _refine(choice: Mapping[str, Candidate], bound: float, frontiers: Mapping[str, list[Candidate]],
            sens: Mapping[str, float], allowed: float, measure: Callable[[Mapping[str, Candidate]], tuple[float, float]],
            steps: int, history: list[dict[str, float]], log: Callable[[str], None],
            trim: Callable[[Mapping[str, Candidate]], None]) -> tuple[int, dict[str, Candidate]]:
    """Spend what the Lagrangian rounds left between the plan's measured loss bound and the target.

    The rounds stop on a plan that met the target with some slack (the additive loss model is only a
    model, and bisection on the budget stops at a bracket, not at the target). Here each layer's next
    smaller candidate on its frontier is a move, ranked by bytes saved per unit of predicted loss added;
    a group of the best moves whose predicted loss (scaled by the plan's measured / predicted ratio)
    fits half the slack is applied and the model is *measured* on the calibration inputs; the group is
    kept only if the loss bound (mean + ``margin_z`` standard errors, the same criterion as the rounds)
    stays within ``REFINE_MARGIN`` of the allowed loss (a margin against selection on the calibration
    inputs), else the group is halved (a single move that misses retires its layer).
    At most ``steps`` forwards; deterministic (ties by layer name).
    """
    choice = dict(choice)
    retired: set[str] = set()
    frac = 0.5
    allowed = allowed * REFINE_MARGIN
    for step in range(steps):
        slack = allowed - bound
        if slack <= 0.02 * allowed:
            break
        predicted = sum(sens[n] * c.error for n, c in choice.items())
        factor = max(1.0, bound / predicted) if predicted > 0 else 1.0
        moves = []
        for n, front in frontiers.items():
            if n in retired:
                continue
            i = front.index(choice[n])
            if i == 0:
                continue
            c = front[i - 1]
            dloss = max(sens[n] * (c.error - choice[n].error), 0.0) * factor
            moves.append((-(choice[n].bytes - c.bytes) / max(dloss, 1e-300), n, c, dloss))
        if not moves:
            break
        moves.sort(key=lambda m: (m[0], m[1]))
        group, added = [], 0.0
        for m in moves:
            if group and added + m[3] > frac * slack:
                break
            group.append(m)
            added += m[3]
        trial = {**choice, **{n: c for _, n, c, _ in group}}
        mean_loss, measured = measure(trial)
        size = sum(c.bytes for c in trial.values())
        ok = measured <= allowed
        history.append({"round": len(history), "refine": 1, "moves": len(group), "predicted_loss": bound + added,
                        "measured_loss": mean_loss, "loss_bound": measured, "cosine": 1.0 - mean_loss,
                        "estimated_bytes": size})
        log(f"refine {step}: {len(group)} layer(s) one step smaller, measured {1 - mean_loss:.5f} "
            f"(lower bound {1 - measured:.5f}), ~{size:,} bytes: {'kept' if ok else 'undone'}")
        if ok:
            choice, bound = trial, measured
        elif len(group) == 1:
            retired.add(group[0][1])
        else:
            frac /= 2
        trim(choice)
    return sum(c.bytes for c in choice.values()), choice


VECTORS = "<1-D vectors>"  # the group of small float vectors (BatchNorm, biases) planned as one "layer"
VECTOR_SNRS_DB: tuple[float, ...] = (20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0)


def _vector_group(floats, vector_names, base) -> tuple[list[Candidate], dict[Candidate, dict[str, Candidate]],
                                                       dict[str, list[Candidate]]]:
    """Curve of the 1-D vector group: one candidate per SNR floor S (every vector at its cheapest setting
    keeping S dB: a q-bit codebook or raw), plus all raw. Its ``error`` is the floor's 10^(-S/10), the
    relative squared error every vector stays within, so one sensitivity prices the whole group."""
    curves = {}
    for n in vector_names:
        init, seed, _ = _settings_of(base, n, floats[n])
        curves[n] = scan.vector_curve(floats[n], init=init, seed=seed)
    members: dict[Candidate, dict[str, Candidate]] = {}
    out = []
    for snr in VECTOR_SNRS_DB + (math.inf,):
        allowed = 0.0 if math.isinf(snr) else 10 ** (-snr / 10)
        pick = {n: min((c for c in cv if c.error <= allowed), key=lambda c: (c.bytes, c.error)) for n, cv in curves.items()}
        err = max((c.error for c in pick.values()), default=0.0)
        cand = Candidate(None, int(0 if math.isinf(snr) else snr), 0, sum(c.bytes for c in pick.values()), err, "group")
        if cand not in members:
            members[cand] = pick
            out.append(cand)
    return out, members, curves


def _plan_output(tensors, names, target, forward, base, densities, code_bits, sample, rounds, progress, log,
                 z: float = 2.0, remeasure: bool = True, probe_forward: Forward | None = None,
                 vector_names: list[str] | None = None, importance: Mapping[str, np.ndarray] | None = None,
                 prune_by: str = "magnitude", kmeans_weights: str = "none",
                 hessian: Mapping[str, np.ndarray] | None = None, rounding: str = "nearest",
                 refine_steps: int = REFINE_STEPS) -> Plan:
    importance = importance or {}
    hessian = hessian or {}

    def how(name: str) -> dict[str, Any]:
        """How ``name`` is pruned, clustered and rounded (calibration-aware where it has the arrays)."""
        out: dict[str, Any] = {}
        if name in importance:
            out.update(importance=importance[name], prune_by=prune_by, kmeans_weights=kmeans_weights)
        if name in hessian:
            out.update(hessian=hessian[name], rounding=rounding)
        return out

    def error(name: str, stored_arr: np.ndarray) -> float:
        return relative_error(floats[name], stored_arr, importance.get(name), hessian.get(name))

    floats = {n: np.asarray(tensors[n]) for n in tensors}  # the float model (the engine needs every tensor)
    probe_forward = probe_forward or forward
    reference = forward(floats)
    probe_reference = reference if probe_forward is forward else probe_forward(floats)
    layers: dict[str, LayerPlan] = {}
    frontiers: dict[str, list[Candidate]] = {}
    cache: dict[tuple[str, Candidate], dict[str, np.ndarray]] = {}
    group_members: dict[Candidate, dict[str, Candidate]] = {}
    vector_curves: dict[str, list[Candidate]] = {}

    def stored(name: str, c: Candidate) -> dict[str, np.ndarray]:
        """The tensors that ``name`` (a layer, or the vector group) stores at candidate ``c``."""
        key = (name, c)
        if key not in cache:
            if c.encoding == "group":
                cache[key] = {n: (floats[n] if m.encoding == "raw" else
                                  reconstruct(floats[n], m, init=_settings_of(base, n, floats[n])[0],
                                              seed=_settings_of(base, n, floats[n])[1]))
                              for n, m in group_members[c].items()}
            else:
                init, seed, _ = _settings_of(base, name, floats[name])
                cache[key] = {name: reconstruct(floats[name], c, init=init, seed=seed, **how(name))}
        return cache[key]

    def probe_loss(name: str, c: Candidate) -> float:
        return max(0.0, 1.0 - mean_cosine(probe_reference, probe_forward({**floats, **stored(name, c)})))

    sens: dict[str, float] = {}
    for name in _progress(names, len(names), "scan", progress):
        arr = floats[name]
        init, seed, b = _settings_of(base, name, arr)
        curve = scan.tensor_curve(arr, densities=densities, code_bits=code_bits, init=init, seed=seed,
                                  prefer_index_bits=b, sample=sample, min_snr_db=OUTPUT_MIN_SNR_DB, **how(name))
        front = scan.frontier(curve)
        frontiers[name] = front
        lossy = [c for c in front if c.error > 0]
        probe = min(lossy, key=lambda c: (abs(c.snr_db - PROBE_SNR_DB), c.bytes)) if lossy else None
        if probe is None:
            sens[name] = 0.0
        else:
            err = error(name, stored(name, probe)[name])
            sens[name] = probe_loss(name, probe) / err if err > 0 else 0.0
            cache.pop((name, probe), None)
        layers[name] = LayerPlan(name, tuple(arr.shape), curve, front[-1], sensitivity=sens[name])
    if vector_names:
        curve, group_members, vector_curves = _vector_group(floats, vector_names, base)
        front = scan.frontier(curve)
        frontiers[VECTORS] = front
        lossy = [c for c in front if c.error > 0]
        probe = min(lossy, key=lambda c: (abs(c.snr_db - 30.0), c.bytes)) if lossy else None
        sens[VECTORS] = probe_loss(VECTORS, probe) / probe.error if probe is not None else 0.0
        log(f"{len(vector_names)} 1-D vectors as one group: sensitivity {sens[VECTORS]:.3g}")
    def keep_cached(*choices: Mapping[str, Candidate] | None) -> None:
        """Rounds rebuild only the layers whose setting changed: drop what no listed choice uses."""
        live = {(n, c) for ch in choices if ch for n, c in ch.items()}
        for key in [k for k in cache if k not in live]:
            del cache[key]

    measured_before: dict[frozenset, tuple[float, float]] = {}

    def measure(choice: Mapping[str, Candidate]) -> tuple[float, float]:
        """(mean loss, upper bound) of the model with every layer at ``choice``, on all calibration inputs; a plan
        met again (a later round often repeats an earlier one) is not run again."""
        key = frozenset(choice.items())
        if key in measured_before:
            return measured_before[key]
        model = dict(floats)
        for n, c in choice.items():
            model.update(stored(n, c))
        out = forward(model)
        del model
        measured_before[key] = loss_bound(reference, out, z)
        return measured_before[key]

    allowed = 1.0 - target
    budget = allowed
    best: tuple[int, dict[str, Candidate]] | None = None
    best_bound = allowed
    feasible, infeasible = 0.0, math.inf  # largest budget that met the target, smallest that missed
    history: list[dict[str, float]] = []
    for r in range(max(1, rounds)):
        choice = _lagrangian(frontiers, sens, budget)
        predicted = sum(sens[n] * c.error for n, c in choice.items())
        size = sum(c.bytes for c in choice.values())
        keep_cached(choice, best[1] if best else None)
        mean_loss, measured = measure(choice)
        history.append({"round": r, "budget": budget, "predicted_loss": predicted, "measured_loss": mean_loss,
                        "loss_bound": measured, "cosine": 1.0 - mean_loss, "estimated_bytes": size})
        log(f"round {r}: predicted cosine {1 - predicted:.5f}, measured {1 - mean_loss:.5f} "
            f"(lower bound {1 - measured:.5f}), ~{size:,} bytes")
        if measured <= allowed and (best is None or size < best[0]):
            best = (size, choice)
            best_bound = measured
        if measured <= allowed and measured > 0.9 * allowed:
            break  # close to the target from the safe side: little left to gain
        if r == 0 and remeasure:
            # sensitivities again, each layer alone at the setting it was given: the loss is not exactly
            # quadratic in the weight error, so the operating point measures better than the probe
            todo = [n for n, c in choice.items() if c.error > 0]
            for name in _progress(todo, len(todo), "sensitivity", progress):
                c = choice[name]
                err = c.error if name == VECTORS else error(name, stored(name, c)[name])
                if err > 0:
                    sens[name] = 0.5 * sens[name] + 0.5 * probe_loss(name, c) / err
                    if name in layers:
                        layers[name].sensitivity = sens[name]
            predicted_new = sum(sens[n] * c.error for n, c in choice.items())
            if predicted_new > 0:  # rescale as if the new model had predicted this round
                budget *= predicted_new / max(predicted, 1e-300)
                predicted = predicted_new
        if measured <= allowed:
            feasible = max(feasible, budget)
        else:
            infeasible = min(infeasible, budget)
        if feasible > 0 and math.isfinite(infeasible):
            if infeasible / feasible < 1.1:
                break  # bracketed closely enough
            new_budget = math.sqrt(feasible * infeasible)  # bisect between a plan that met and one that missed
        else:
            ratio = allowed / measured if measured > 0 else 4.0
            new_budget = budget * min(4.0, max(0.1, ratio)) * (0.97 if measured > allowed else 0.99)
        if new_budget == budget:
            break
        budget = new_budget
    if best is not None and refine_steps > 0:
        best = _refine(best[1], best_bound, frontiers, sens, allowed, measure, refine_steps, history, log,
                       lambda ch: keep_cached(ch, None))
    if best is None:  # never met: the most accurate plan found (every layer at its best candidate)
        choice = {n: f[-1] for n, f in frontiers.items()}
        best = (sum(c.bytes for c in choice.values()), choice)
    for n, c in best[1].items():
        if n == VECTORS:
            for v, m in group_members[c].items():
                layers[v] = LayerPlan(v, tuple(floats[v].shape), vector_curves[v], m, sensitivity=sens[VECTORS],
                                      exact_error=m.error)
            continue
        layers[n].choice = c
        layers[n].exact_error = error(n, stored(n, c)[n])
    config = _planned_config(base, layers, importance, prune_by, kmeans_weights, hessian, rounding)
    return Plan(config, layers, {"output_cosine": target}, best[0], history)


__all__ = ["plan_compression", "Plan", "LayerPlan", "reconstruct", "plannable", "relative_error"]
