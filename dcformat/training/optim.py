"""SGD with momentum and Adam over dicts of NumPy arrays, updated in place.

Parameters and gradients are ``{name: array}`` dicts so the same optimiser serves
dense weights, masked weights and codebooks (shared-weight training hands it the
centroids instead of the weight matrix). State is created lazily per name and
kept in the parameter's dtype; L2 weight decay is added to the gradient, which is
what the paper's Caffe solver does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SGD", "Adam", "Optimizer"]

Arrays = dict[str, np.ndarray]


class Optimizer:
    """Common base: learning rate, weight decay and which names decay."""

    def __init__(self, lr: float, weight_decay: float = 0.0, decay_biases: bool = False) -> None:
        if lr <= 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.decay_biases = decay_biases
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def _grad(self, name: str, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        if self.weight_decay and (self.decay_biases or not name.endswith("bias")):
            return grad + self.weight_decay * param
        return grad

    def step(self, params: Arrays, grads: Arrays) -> None:
        """Update every ``params[name]`` that has a gradient, in place."""
        for name, grad in grads.items():
            param = params[name]
            self._update(name, param, self._grad(name, param, grad).astype(param.dtype, copy=False))

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """``v = momentum*v - lr*g; p += v`` (Caffe's form)."""

    def __init__(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 decay_biases: bool = False) -> None:
        super().__init__(lr, weight_decay, decay_biases)
        self.momentum = float(momentum)

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        if self.momentum == 0.0:
            param -= self.lr * grad
            return
        v = self.state.setdefault(name, {}).setdefault("v", np.zeros_like(param))
        v *= self.momentum
        v -= self.lr * grad
        param += v


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction."""

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decay_biases: bool = False) -> None:
        super().__init__(lr, weight_decay, decay_biases)
        self.b1, self.b2 = (float(b) for b in betas)
        self.eps = float(eps)

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        st = self.state.setdefault(name, {})
        if "m" not in st:
            st["m"] = np.zeros_like(param)
            st["v"] = np.zeros_like(param)
            st["t"] = np.zeros((), np.int64)
        st["t"] += 1
        t = int(st["t"])
        m, v = st["m"], st["v"]
        m *= self.b1
        m += (1.0 - self.b1) * grad
        v *= self.b2
        v += (1.0 - self.b2) * np.square(grad)
        step = self.lr * np.sqrt(1.0 - self.b2**t) / (1.0 - self.b1**t)
        param -= (step * m / (np.sqrt(v) + self.eps)).astype(param.dtype, copy=False)
