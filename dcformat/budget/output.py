"""Output fidelity of a compressed model: mean cosine similarity of its outputs to the float model's.

The graph path runs ``dcformat.Model`` (float32 NumPy engine) on the
calibration inputs; any other model can be planned with a ``forward(tensors,
inputs) -> list of arrays`` callback (the MiniLM benchmark uses a NumPy BERT).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

Forward = Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]


def graph_forward(graph: Any, calib: Mapping[str, np.ndarray]) -> Forward:
    """A forward over ``calib`` (one array per graph input, batch first) through ``dcformat.Model``."""
    feeds = _feeds(graph, calib)

    def run(tensors: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        model = _model(graph, tensors)
        out = model.run(feeds)
        return [np.asarray(out[k]) for k in sorted(out)]

    return run


def _model(graph: Any, tensors: Mapping[str, np.ndarray]) -> Any:
    """The one call into the inference engine (public ``dcformat.Model``)."""
    from ..inference import Model  # noqa: PLC0415

    return Model.from_graph(graph, dict(tensors))


def _feeds(graph: Any, calib: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [v.name for v in graph.inputs]
    if len(names) == 1 and names[0] not in calib and len(calib) == 1:
        return {names[0]: np.asarray(next(iter(calib.values())))}
    missing = [n for n in names if n not in calib]
    if missing:
        raise ValueError(f"calibration inputs miss the model input(s) {missing}; the .npz must hold one array per "
                         f"input named {names}")
    return {n: np.asarray(calib[n]) for n in names}


def split_calib(calib: Mapping[str, np.ndarray], idx: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
    """The samples ``idx`` (batch axis first) of every calibration array."""
    return {k: np.asarray(v)[np.asarray(idx)] for k, v in calib.items()}


def cosines(reference: list[np.ndarray], other: list[np.ndarray]) -> np.ndarray:
    """Cosine similarity of each sample's flattened output (all outputs' samples, concatenated)."""
    sims = []
    for a, b in zip(reference, other):
        a = np.asarray(a, np.float64).reshape(len(a), -1)
        b = np.asarray(b, np.float64).reshape(len(b), -1)
        num = np.einsum("ij,ij->i", a, b)
        den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(np.all(a == b, axis=1), 1.0, 0.0))
        sims.append(cos)
    return np.concatenate(sims) if sims else np.ones(0)


def mean_cosine(reference: list[np.ndarray], other: list[np.ndarray]) -> float:
    """Mean over samples (and outputs) of the cosine similarity of each sample's flattened output."""
    c = cosines(reference, other)
    return float(np.mean(c)) if c.size else 1.0


def loss_bound(reference: list[np.ndarray], other: list[np.ndarray], z: float = 2.0) -> tuple[float, float]:
    """(mean loss, upper confidence bound) of the per-sample loss 1 - cosine: mean + z standard errors.

    The search demands the bound, not the mean, meet the target, so that a few
    calibration samples do not pass a plan that misses on inputs they do not cover.
    """
    loss = 1.0 - cosines(reference, other)
    if loss.size == 0:
        return 0.0, 0.0
    mean = float(np.mean(loss))
    sem = float(np.std(loss, ddof=1) / np.sqrt(loss.size)) if loss.size > 1 else 0.0
    return mean, mean + z * sem


def top1_agreement(reference: list[np.ndarray], other: list[np.ndarray]) -> float:
    """Share of samples whose argmax (first output, last axis) agrees."""
    a = np.asarray(reference[0]).reshape(len(reference[0]), -1)
    b = np.asarray(other[0]).reshape(len(other[0]), -1)
    return float(np.mean(a.argmax(1) == b.argmax(1)))


__all__ = ["graph_forward", "mean_cosine", "cosines", "loss_bound", "top1_agreement", "split_calib", "Forward"]
