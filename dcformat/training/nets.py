"""NumPy LeNet-300-100 and LeNet-5 with hand-written backward passes, for training.

Parameter names, shapes and the computation match ``dcformat.models`` exactly
(Linear weights are ``(out, in)`` with ``y = x @ W.T + b``; conv weights are Caffe's
``(out, in, kh, kw)``; LeNet-5 is Caffe's: no ReLU after the convolutions), so a
trained parameter dict can be saved and run by ``dcformat.inference.Model`` as is.

Convolutions use im2col + one BLAS matmul. Activations are kept channels-last
(NHWC) inside LeNet-5 so that the im2col copy is a single reshape and the matmul
output needs no transpose; only the 4x4x50 flatten is put back into Caffe's
(C, H, W) order. Everything runs in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "LeNet300100",
    "LeNet5",
    "Net",
    "accuracy",
    "predict",
    "softmax_cross_entropy",
]

Params = dict[str, np.ndarray]
Cache = dict[str, Any]


class Net(Protocol):
    """What the training loop needs from a network."""

    weight_names: tuple[str, ...]

    def init(self, seed: int) -> Params: ...

    def forward(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, Cache]: ...

    def backward(self, params: Params, cache: Cache, dlogits: np.ndarray) -> Params: ...


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to ``logits``."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    rows = np.arange(n)
    loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, labels]))
    grad = exp / total
    grad[rows, labels] -= 1.0
    grad /= n
    return loss, grad.astype(logits.dtype, copy=False)


def _linear_init(rng: np.random.Generator, out: int, fan_in: int) -> np.ndarray:
    """Xavier-uniform, as Caffe's LeNet prototxts use (``weight_filler: xavier``)."""
    bound = np.sqrt(3.0 / fan_in)
    return rng.uniform(-bound, bound, size=(out, fan_in)).astype(np.float32)


def _linear_backward(
    x: np.ndarray, w: np.ndarray, dy: np.ndarray, need_dx: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    dw = dy.T @ x
    db = dy.sum(axis=0)
    dx = dy @ w if need_dx else None
    return dw, db, dx


@dataclass(frozen=True)
class LeNet300100:
    """784 -> 300 -> ReLU -> 100 -> ReLU -> 10 (Table 2 of the paper)."""

    weight_names: tuple[str, ...] = ("ip1.weight", "ip2.weight", "ip3.weight")

    def init(self, seed: int) -> Params:
        rng = np.random.default_rng(seed)
        params: Params = {}
        shapes = {"ip1": (300, 784), "ip2": (100, 300), "ip3": (10, 100)}
        for name, (out, fan_in) in shapes.items():
            params[f"{name}.weight"] = _linear_init(rng, out, fan_in)
            params[f"{name}.bias"] = np.zeros(out, np.float32)
        return params

    def forward(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, Cache]:
        x = np.asarray(x, np.float32).reshape(len(x), 784)
        h1 = np.maximum(x @ params["ip1.weight"].T + params["ip1.bias"], 0.0)
        h2 = np.maximum(h1 @ params["ip2.weight"].T + params["ip2.bias"], 0.0)
        logits = h2 @ params["ip3.weight"].T + params["ip3.bias"]
        return logits, {"x": x, "h1": h1, "h2": h2}

    def backward(self, params: Params, cache: Cache, dlogits: np.ndarray) -> Params:
        g: Params = {}
        g["ip3.weight"], g["ip3.bias"], dh2 = _linear_backward(cache["h2"], params["ip3.weight"], dlogits)
        dh2 *= cache["h2"] > 0
        g["ip2.weight"], g["ip2.bias"], dh1 = _linear_backward(cache["h1"], params["ip2.weight"], dh2)
        dh1 *= cache["h1"] > 0
        g["ip1.weight"], g["ip1.bias"], _ = _linear_backward(cache["x"], params["ip1.weight"], dh1, False)
        return g


def _im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """(N, H, W, C) -> (N*OH*OW, C*kh*kw) patches, columns in Caffe's (c, i, j) order."""
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (N, OH, OW, C, kh, kw), a view
    n, oh, ow = windows.shape[:3]
    return windows.reshape(n * oh * ow, -1)  # the one copy


def _conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Valid, stride-1 convolution of NHWC ``x`` with Caffe-layout ``w``; returns (y, cols)."""
    out, _, kh, kw = w.shape
    n, h, wd, _ = x.shape
    cols = _im2col(x, kh, kw)
    y = cols @ w.reshape(out, -1).T
    y += b
    return y.reshape(n, h - kh + 1, wd - kw + 1, out), cols


def _conv_backward(
    x_shape: tuple[int, ...], cols: np.ndarray, w: np.ndarray, dy: np.ndarray, need_dx: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    out, c, kh, kw = w.shape
    dy2 = dy.reshape(-1, out)
    dw = (dy2.T @ cols).reshape(w.shape)
    db = dy2.sum(axis=0)
    if not need_dx:
        return dw, db, None
    n, oh, ow = dy.shape[:3]
    # columns in (i, j, c) order so that each slab below is read in contiguous runs of c
    w_ijc = w.transpose(0, 2, 3, 1).reshape(out, -1)
    dcols = (dy2 @ w_ijc).reshape(n, oh, ow, kh, kw, c)
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):  # col2im: kh*kw vectorised slab additions
        for j in range(kw):
            dx[:, i : i + oh, j : j + ow, :] += dcols[:, :, :, i, j, :]
    return dw, db, dx


def _pool_forward(x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """2x2 stride-2 max pool of NHWC ``x``; returns (y, one winner mask per window slot).

    The four window slots are strided views, so the max is three elementwise maxima.
    Each output's gradient goes to exactly one input (the first maximum, as Caffe
    does), which matters here: blank MNIST borders give many exact ties.
    """
    slots = [x[:, i::2, j::2, :] for i in (0, 1) for j in (0, 1)]
    y = np.maximum(np.maximum(slots[0], slots[1]), np.maximum(slots[2], slots[3]))
    free = np.ones(y.shape, dtype=bool)
    winners = []
    for s in slots:
        win = (s == y) & free
        free &= ~win
        winners.append(win)
    return y, winners


def _pool_backward(winners: list[np.ndarray], dy: np.ndarray) -> np.ndarray:
    """Scatter each output gradient to its window's winning slot."""
    n, ph, pw, c = dy.shape
    dx = np.empty((n, 2 * ph, 2 * pw, c), dtype=dy.dtype)
    for (i, j), win in zip(((0, 0), (0, 1), (1, 0), (1, 1)), winners, strict=True):
        np.multiply(dy, win, out=dx[:, i::2, j::2, :])
    return dx


@dataclass(frozen=True)
class LeNet5:
    """Caffe LeNet-5: conv 20@5x5, pool, conv 50@5x5, pool, ip 500, ReLU, ip 10 (Table 3)."""

    weight_names: tuple[str, ...] = ("conv1.weight", "conv2.weight", "ip1.weight", "ip2.weight")

    def init(self, seed: int) -> Params:
        rng = np.random.default_rng(seed)
        p: Params = {}
        p["conv1.weight"] = _linear_init(rng, 20, 25).reshape(20, 1, 5, 5)
        p["conv1.bias"] = np.zeros(20, np.float32)
        p["conv2.weight"] = _linear_init(rng, 50, 500).reshape(50, 20, 5, 5)
        p["conv2.bias"] = np.zeros(50, np.float32)
        p["ip1.weight"] = _linear_init(rng, 500, 800)
        p["ip1.bias"] = np.zeros(500, np.float32)
        p["ip2.weight"] = _linear_init(rng, 10, 500)
        p["ip2.bias"] = np.zeros(10, np.float32)
        return p

    def forward(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, Cache]:
        x = np.asarray(x, np.float32).reshape(len(x), 28, 28, 1)  # C == 1: NCHW and NHWC agree
        c1, cols1 = _conv_forward(x, params["conv1.weight"], params["conv1.bias"])
        p1, idx1 = _pool_forward(c1)
        c2, cols2 = _conv_forward(p1, params["conv2.weight"], params["conv2.bias"])
        p2, idx2 = _pool_forward(c2)
        flat = np.ascontiguousarray(p2.transpose(0, 3, 1, 2)).reshape(len(x), 800)
        h = np.maximum(flat @ params["ip1.weight"].T + params["ip1.bias"], 0.0)
        logits = h @ params["ip2.weight"].T + params["ip2.bias"]
        cache = {"x_shape": x.shape, "cols1": cols1, "idx1": idx1, "p1_shape": p1.shape,
                 "cols2": cols2, "idx2": idx2, "p2_shape": p2.shape, "flat": flat, "h": h}
        return logits, cache

    def backward(self, params: Params, cache: Cache, dlogits: np.ndarray) -> Params:
        g: Params = {}
        g["ip2.weight"], g["ip2.bias"], dh = _linear_backward(cache["h"], params["ip2.weight"], dlogits)
        dh *= cache["h"] > 0
        g["ip1.weight"], g["ip1.bias"], dflat = _linear_backward(cache["flat"], params["ip1.weight"], dh)
        n, ph, pw, c = cache["p2_shape"]
        dp2 = dflat.reshape(n, c, ph, pw).transpose(0, 2, 3, 1)
        dc2 = _pool_backward(cache["idx2"], dp2)
        g["conv2.weight"], g["conv2.bias"], dp1 = _conv_backward(
            cache["p1_shape"], cache["cols2"], params["conv2.weight"], dc2, True
        )
        dc1 = _pool_backward(cache["idx1"], dp1)
        g["conv1.weight"], g["conv1.bias"], _ = _conv_backward(
            cache["x_shape"], cache["cols1"], params["conv1.weight"], dc1, False
        )
        return g


def predict(net: Net, params: Params, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Logits for ``x``, computed in batches to bound memory."""
    outs = [net.forward(params, x[i : i + batch_size])[0] for i in range(0, len(x), batch_size)]
    return np.concatenate(outs, axis=0)


def accuracy(net: Net, params: Params, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``net`` on ``(x, y)``."""
    return float(np.mean(predict(net, params, x, batch_size).argmax(axis=1) == y))
