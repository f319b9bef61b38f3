"""Channels-last (NHWC) float32 kernels for the reference inference path.

Why channels-last: a pointwise convolution becomes one (N*H*W, C) @ (C, O)
BLAS call with no transposes, and the depthwise and pooling taps run over
contiguous channel vectors (the issue measured 2-8x over NCHW for depthwise).
Every function works for any batch size and loops in Python only over kernel
taps or row blocks, never over channels or pixels.
"""

from __future__ import annotations

import numpy as np
from typing import Callable

from numpy.lib.stride_tricks import as_strided

F32 = np.float32


def pad_nhwc(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0, extra: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Copy ``x`` into a buffer padded by (top, left, bottom + extra[0], right + extra[1])."""
    pt, pl, pb, pr = pads
    pb, pr = pb + extra[0], pr + extra[1]
    if not (pt or pl or pb or pr):
        return x
    n, h, w, c = x.shape
    out = np.empty((n, h + pt + pb, w + pl + pr, c), dtype=F32)
    if value == 0.0:
        # zero only the border; the interior is overwritten
        out[:, :pt] = 0
        out[:, pt + h :] = 0
        out[:, pt : pt + h, :pl] = 0
        out[:, pt : pt + h, pl + w :] = 0
    else:
        out.fill(value)
    out[:, pt : pt + h, pl : pl + w] = x
    return out


def windows(xp: np.ndarray, oh: int, ow: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int]) -> np.ndarray:
    """Read-only view (N, OH, OW, KH, KW, C) of all kernel windows of a padded NHWC array."""
    n, _, _, c = xp.shape
    sn, sh, sw, sc = xp.strides
    return as_strided(
        xp,
        shape=(n, oh, ow, kh, kw, c),
        strides=(sn, sh * stride[0], sw * stride[1], sh * dil[0], sw * dil[1], sc),
        writeable=False,
    )


def tap(xp: np.ndarray, i: int, j: int, oh: int, ow: int, stride: tuple[int, int], dil: tuple[int, int]) -> np.ndarray:
    """The (N, OH, OW, C) slice of a padded input seen by kernel position (i, j)."""
    r0, c0 = i * dil[0], j * dil[1]
    return xp[:, r0 : r0 + (oh - 1) * stride[0] + 1 : stride[0], c0 : c0 + (ow - 1) * stride[1] + 1 : stride[1]]


def conv_out_size(size: int, k: int, s: int, p0: int, p1: int, d: int) -> int:
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


def _scipy_sgemm() -> Callable[..., np.ndarray] | None:
    try:
        from scipy.linalg.blas import sgemm
    except ImportError:  # scipy is optional; plain matmul + add is the fallback
        return None
    return sgemm


_SGEMM = _scipy_sgemm()


def matmul_bias(a: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``a @ w + bias`` for 2-D float32 operands.

    With scipy, the bias is written first and BLAS accumulates into it
    (beta = 1), saving a full read-modify-write pass over the output, which is
    25% of a pointwise convolution's time on wide activations.
    """
    if bias is None or _SGEMM is None or a.shape[0] < 256:
        out = np.matmul(a, w)
        if bias is not None:
            out += bias
        return out
    out = np.empty((a.shape[0], w.shape[1]), dtype=F32)
    out[...] = bias
    # C-order out (M, N) is F-order out.T (N, M) = w.T @ a.T: BLAS writes straight into ``out``
    res = _SGEMM(1.0, w.T, a.T, beta=1.0, c=out.T, overwrite_c=1)
    return res.T if not np.shares_memory(res, out) else out


BLOCK_BYTES = 256 * 1024  # working-set target per row block: output + temporary stay in L2


def padded_phases(x: np.ndarray, pads: tuple[int, int, int, int], s: tuple[int, int]) -> np.ndarray:
    """Zero-pad ``x`` and split it into stride phases in one copy: (s0, s1, N, Hq, Wq, C).

    Phase (a, b) holds padded rows a, a+s0, ... and columns b, b+s1, ...; tap
    (i, j) of a strided window then reads a *unit-stride* slice of one phase,
    so NumPy's inner loops run over whole contiguous rows.
    """
    n, h, w, c = x.shape
    pt, pl, pb, pr = pads
    hq, wq = -(-(h + pt + pb) // s[0]), -(-(w + pl + pr) // s[1])
    out = np.zeros((s[0], s[1], n, hq, wq, c), dtype=F32)
    for a in range(s[0]):
        q0 = max(0, -(-(pt - a) // s[0]))  # first phase row whose source row is >= 0
        h0 = q0 * s[0] + a - pt
        nh = len(range(h0, h, s[0])) if h0 < h else 0
        for b in range(s[1]):
            r0 = max(0, -(-(pl - b) // s[1]))
            w0 = r0 * s[1] + b - pl
            nw = len(range(w0, w, s[1])) if w0 < w else 0
            if nh and nw:
                out[a, b, :, q0 : q0 + nh, r0 : r0 + nw] = x[:, h0 :: s[0], w0 :: s[1]]
    return out


def depthwise(
    x: np.ndarray,
    pads: tuple[int, int, int, int],
    wt: np.ndarray,
    bias: np.ndarray | None,
    oh: int,
    ow: int,
    stride: tuple[int, int],
    dil: tuple[int, int],
    act: "Callable[[np.ndarray], None] | None" = None,
) -> np.ndarray:
    """Depthwise convolution by tap accumulation over row blocks.

    ``wt`` is (KH, KW, OW, C): the per-channel weights tiled along the output
    width so every multiply runs over contiguous (OW*C) rows instead of
    re-broadcasting a C-vector (2.5x faster for narrow layers). Each block of
    output rows is finished (all taps, bias, activation) while it is in cache.
    """
    kh, kw = wt.shape[:2]
    n, c = x.shape[0], x.shape[3]
    strided = stride != (1, 1)
    src = padded_phases(x, pads, stride) if strided else pad_nhwc(x, pads)
    out = np.empty((n, oh, ow, c), dtype=F32)
    rows = max(1, BLOCK_BYTES // (2 * ow * c * 4))
    tmp = np.empty((min(rows, oh), ow, c), dtype=F32)
    offsets = []
    for i in range(kh):
        for j in range(kw):
            r, q = i * dil[0], j * dil[1]
            if strided:
                offsets.append((i, j, r % stride[0], q % stride[1], r // stride[0], q // stride[1]))
            else:
                offsets.append((i, j, 0, 0, r, q))
    for b in range(n):
        for r0 in range(0, oh, rows):
            r1 = min(oh, r0 + rows)
            o = out[b, r0:r1]
            t = tmp[: r1 - r0]
            for k, (i, j, pi, pj, dr, dq) in enumerate(offsets):
                plane = src[pi, pj, b] if strided else src[b]
                x = plane[r0 + dr : r1 + dr, dq : dq + ow]
                if k == 0:
                    np.multiply(x, wt[i, j], out=o)
                else:
                    np.multiply(x, wt[i, j], out=t)
                    o += t
            if bias is not None:
                o += bias  # (C,) or tiled (OW, C)
            if act is not None:
                act(o)
    return out


def im2col(xp: np.ndarray, oh: int, ow: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int]) -> np.ndarray:
    """Contiguous (N*OH*OW, KH*KW*C) patch matrix (row order matches the weight layout (kh, kw, c))."""
    n, c = xp.shape[0], xp.shape[3]
    if kh == kw == 1:
        v = tap(xp, 0, 0, oh, ow, stride, dil)
        return np.ascontiguousarray(v).reshape(n * oh * ow, c)
    cols = np.empty((n, oh, ow, kh, kw, c), dtype=F32)
    cols[...] = windows(xp, oh, ow, kh, kw, stride, dil)
    return cols.reshape(n * oh * ow, kh * kw * c)


def group_conv(
    xp: np.ndarray, w: np.ndarray, bias: np.ndarray | None, oh: int, ow: int, kh: int, kw: int, groups: int, stride: tuple[int, int], dil: tuple[int, int]
) -> np.ndarray:
    """Grouped convolution as one batched matmul over groups; ``w`` is (G, KH*KW*Cg, Og)."""
    n, c = xp.shape[0], xp.shape[3]
    cg = c // groups
    m = n * oh * ow
    if kh == kw == 1:
        x = np.ascontiguousarray(tap(xp, 0, 0, oh, ow, stride, dil)).reshape(m, groups, cg)
        a = x.transpose(1, 0, 2)  # (G, M, Cg) view; matmul handles the strides
    else:
        cols = np.empty((groups, n, oh, ow, kh, kw, cg), dtype=F32)
        win = windows(xp, oh, ow, kh, kw, stride, dil).reshape(n, oh, ow, kh, kw, groups, cg)
        cols[...] = win.transpose(5, 0, 1, 2, 3, 4, 6)
        a = cols.reshape(groups, m, kh * kw * cg)
    y = np.matmul(a, w)  # (G, M, Og)
    out = np.empty((m, groups, w.shape[2]), dtype=F32)
    out[...] = y.transpose(1, 0, 2)
    out = out.reshape(n, oh, ow, groups * w.shape[2])
    if bias is not None:
        out += bias
    return out


def _separable_pool(xp: np.ndarray, oh: int, ow: int, k: tuple[int, int], stride: tuple[int, int], ufunc: np.ufunc) -> np.ndarray:
    """Reduce kernel windows with ``ufunc`` (max or add) along W first, then H.

    Exact for max; for sums only the (float) summation order changes. It needs
    (kw - 1) + (kh - 1) passes instead of kh*kw - 1, and the second stage runs
    over contiguous rows.
    """
    rows_needed = (oh - 1) * stride[0] + k[0]
    span_w = (ow - 1) * stride[1] + 1
    src = xp[:, :rows_needed]
    r = np.array(src[:, :, 0:span_w : stride[1]], dtype=F32, copy=True)
    for j in range(1, k[1]):
        ufunc(r, src[:, :, j : j + span_w : stride[1]], out=r)
    span_h = (oh - 1) * stride[0] + 1
    out = np.array(r[:, 0:span_h : stride[0]], dtype=F32, copy=True)
    for i in range(1, k[0]):
        ufunc(out, r[:, i : i + span_h : stride[0]], out=out)
    return out


def max_pool(xp: np.ndarray, oh: int, ow: int, k: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Max over kernel windows of an input padded with -inf."""
    return _separable_pool(xp, oh, ow, k, stride, np.maximum)


def sum_pool(xp: np.ndarray, oh: int, ow: int, k: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Sum over kernel windows of a zero-padded input."""
    return _separable_pool(xp, oh, ow, k, stride, np.add)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = x - x.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-x)); exp overflow to inf gives the correct limit 0, so it is silenced."""
    with np.errstate(over="ignore"):
        out = np.negative(x, out=out)
        np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    return out


def hard_sigmoid(x: np.ndarray, alpha: float, beta: float, out: np.ndarray | None = None) -> np.ndarray:
    out = np.multiply(x, F32(alpha), out=out)
    out += F32(beta)
    return np.clip(out, 0, 1, out=out)


def hard_swish(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x * relu6(x + 3) / 6 (PyTorch / ONNX HardSwish)."""
    t = np.add(x, F32(3))
    np.clip(t, 0, 6, out=t)
    t *= F32(1 / 6)
    return np.multiply(x, t, out=out)
