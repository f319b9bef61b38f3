"""Channels-last (NHWC) float32 kernels for the reference inference path.

Why channels-last: a pointwise convolution becomes one (N*H*W, C) @ (C, O)
BLAS call with no transposes, and the depthwise and pooling taps run over
contiguous channel vectors (the issue measured 2-8x over NCHW for depthwise).
Every function works for any batch size and loops in Python only over kernel
taps or row blocks, never over channels or pixels.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

F32 = np.float32


@lru_cache(maxsize=1)
def fast_kernels() -> Any:
    """The optional numba kernels (``dcformat.inference.fast``), or None.

    None when ``DCFORMAT_ACCEL=0`` or numba is missing or broken; then every
    step runs the NumPy code below unchanged. Imported only when a model has
    a convolution or pooling layer, so ``import dcformat`` never loads numba.
    """
    from .. import switch  # DCFORMAT_ACCEL=0 turns every compiled kernel off

    if not switch.kernels_allowed():
        return None
    try:
        from . import fast
    except Exception:  # not installed, or broken (e.g. an llvmlite mismatch): NumPy does the work
        return None
    return fast


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


def _clip_ufunc() -> Callable[..., np.ndarray]:
    """NumPy's clip ufunc itself: ``np.clip`` wraps it in Python code that costs ~1.3 us per
    call, which adds up over the hundreds of per-block activations of one forward pass."""
    try:
        from numpy._core import umath  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core import umath  # type: ignore[no-redef]
    f = getattr(umath, "clip", None)
    return f if isinstance(f, np.ufunc) else np.clip


CLIP = _clip_ufunc()  # call with float32 scalar or array bounds (no None)


# working-set target per depthwise row block: output + temporary stay in L2 (1 MiB per core here);
# 512 KiB beat 256 KiB by 3-8% per layer (fewer ufunc calls) and ~2% on MobileNet v2 overall
BLOCK_BYTES = 512 * 1024


Region = tuple[int, int, int, int, int, int, int, int]  # phase (a, b), rows q0:q0+nh <- source h0::s0, cols r0:r0+nw <- w0::s1


def phase_regions(h: int, w: int, pads: tuple[int, int, int, int], s: tuple[int, int]) -> tuple[int, int, list[Region]]:
    """Phase grid size (Hq, Wq) and, per phase, where the unpadded input lands (see :func:`padded_phases`)."""
    pt, pl, pb, pr = pads
    hq, wq = -(-(h + pt + pb) // s[0]), -(-(w + pl + pr) // s[1])
    regions = []
    for a in range(s[0]):
        q0 = max(0, -(-(pt - a) // s[0]))  # first phase row whose source row is >= 0
        h0 = q0 * s[0] + a - pt
        nh = len(range(h0, h, s[0])) if h0 < h else 0
        for b in range(s[1]):
            r0 = max(0, -(-(pl - b) // s[1]))
            w0 = r0 * s[1] + b - pl
            nw = len(range(w0, w, s[1])) if w0 < w else 0
            regions.append((a, b, q0, nh, h0, r0, nw, w0))
    return hq, wq, regions


def zero_phase_borders(out: np.ndarray, regions: list[Region]) -> None:
    """Zero everything of a (s0, s1, N, Hq, Wq, C) phase array outside the regions holding input."""
    for a, b, q0, nh, _, r0, nw, _ in regions:
        ph = out[a, b]
        if not (nh and nw):
            ph.fill(0)
            continue
        ph[:, :q0] = 0
        ph[:, q0 + nh :] = 0
        ph[:, q0 : q0 + nh, :r0] = 0
        ph[:, q0 : q0 + nh, r0 + nw :] = 0


def padded_phases(x: np.ndarray, pads: tuple[int, int, int, int], s: tuple[int, int]) -> np.ndarray:
    """Zero-pad ``x`` and split it into stride phases in one copy: (s0, s1, N, Hq, Wq, C).

    Phase (a, b) holds padded rows a, a+s0, ... and columns b, b+s1, ...; tap
    (i, j) of a strided window then reads a *unit-stride* slice of one phase,
    so NumPy's inner loops run over whole contiguous rows.
    """
    n, h, w, c = x.shape
    hq, wq, regions = phase_regions(h, w, pads, s)
    out = np.empty((s[0], s[1], n, hq, wq, c), dtype=F32)  # only the border is zeroed (15-20% faster than zeros)
    zero_phase_borders(out, regions)
    for a, b, q0, nh, h0, r0, nw, w0 in regions:
        if nh and nw:
            out[a, b, :, q0 : q0 + nh, r0 : r0 + nw] = x[:, h0 :: s[0], w0 :: s[1]]
    return out


class Phased:
    """A tensor already padded and split into stride phases for a strided depthwise conv.

    Why: a 1x1 conv feeding that depthwise can split its (narrow) input instead,
    and its output then comes out phase-split, saving the depthwise a strided
    copy of the (in MobileNet v2 6x wider) expanded tensor: 4% of a MobileNet v2 pass.
    """

    __slots__ = ("data", "h", "w")

    def __init__(self, data: np.ndarray, h: int, w: int) -> None:
        self.data, self.h, self.w = data, h, w


def depthwise(
    x: np.ndarray | None,
    pads: tuple[int, int, int, int],
    wt: np.ndarray,
    bias: np.ndarray | None,
    oh: int,
    ow: int,
    stride: tuple[int, int],
    dil: tuple[int, int],
    act: "Callable[[np.ndarray], None] | None" = None,
    src: np.ndarray | None = None,
) -> np.ndarray:
    """Depthwise convolution by tap accumulation over row blocks (``src``: ``x`` already padded and phase-split).

    ``wt`` is (KH, KW, OW, C): the per-channel weights tiled along the output
    width so every multiply runs over contiguous (OW*C) rows instead of
    re-broadcasting a C-vector (2.5x faster for narrow layers). Each block of
    output rows is finished (all taps, bias, activation) while it is in cache.
    """
    kh, kw = wt.shape[:2]
    strided = stride != (1, 1)
    if src is None:
        assert x is not None
        src = padded_phases(x, pads, stride) if strided else pad_nhwc(x, pads)
    n, c = src.shape[-4], src.shape[-1]
    out = np.empty((n, oh, ow, c), dtype=F32)
    rows = max(1, BLOCK_BYTES // (2 * ow * c * 4))
    if oh:
        rows = -(-oh // -(-oh // rows))  # same block count, balanced sizes (no short last block)
    tmp = np.empty((min(rows, oh), ow, c), dtype=F32)
    mul, add = np.multiply, np.add
    for b in range(n):
        # per tap: the column window of its plane, its row offset and weights (sliced once, not per block)
        taps = []
        for i in range(kh):
            for j in range(kw):
                r, q = i * dil[0], j * dil[1]
                if strided:
                    plane, dr, dq = src[r % stride[0], q % stride[1], b], r // stride[0], q // stride[1]
                else:
                    plane, dr, dq = src[b], r, q
                taps.append((plane[:, dq : dq + ow], dr, wt[i, j]))
        (p0, d0, w0), rest = taps[0], taps[1:]
        for r0 in range(0, oh, rows):
            r1 = min(oh, r0 + rows)
            o = out[b, r0:r1]
            t = tmp[: r1 - r0]
            mul(p0[r0 + d0 : r1 + d0], w0, out=o)
            for p, d, wv in rest:
                mul(p[r0 + d : r1 + d], wv, out=t)
                add(o, t, out=o)
            if bias is not None:
                add(o, bias, out=o)  # (C,) or tiled (OW, C)
            if act is not None:
                act(o)
    return out


def im2col(xp: np.ndarray, oh: int, ow: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int], ones: bool = False) -> np.ndarray:
    """Contiguous (N*OH*OW, KH*KW*C) patch matrix (row order matches the weight layout (kh, kw, c)).

    ``ones`` appends a column of ones (for a bias row in the weights).
    """
    n, c = xp.shape[0], xp.shape[3]
    if ones:
        k = kh * kw * c
        cols1 = np.empty((n * oh * ow, k + 1), dtype=F32)
        cols1[:, k] = 1
        cols1.reshape(n, oh, ow, k + 1)[..., :k].reshape(n, oh, ow, kh, kw, c)[...] = windows(xp, oh, ow, kh, kw, stride, dil)
        return cols1
    if kh == kw == 1:
        v = tap(xp, 0, 0, oh, ow, stride, dil)
        return np.ascontiguousarray(v).reshape(n * oh * ow, c)
    cols = np.empty((n, oh, ow, kh, kw, c), dtype=F32)
    cols[...] = windows(xp, oh, ow, kh, kw, stride, dil)
    return cols.reshape(n * oh * ow, kh * kw * c)


def conv_nchw_input(
    x: np.ndarray, wcb: np.ndarray, pads: tuple[int, int, int, int], oh: int, ow: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int]
) -> np.ndarray:
    """Convolution of a channels-first input with few channels (a network's stem), NHWC output.

    Why: with C = 3 a channels-last im2col copies 3-float chunks and needs an
    NCHW->NHWC transpose first. Here the patch matrix is built transposed,
    (C*KH*KW + 1, N*OH*OW), one contiguous row per (c, i, j) straight from the
    NCHW planes, plus a row of ones so the bias (last row of ``wcb``) comes
    out of the GEMM. For a 224x224 RGB input the patches take 0.09 ms instead
    of 0.26 ms (transpose + channels-last im2col); 1-4% of a whole pass.
    """
    n, c, h, w = x.shape
    pt, pl, pb, pr = pads
    if pt or pl or pb or pr:
        xp = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=F32)
        xp[:, :, pt : pt + h, pl : pl + w] = x
    else:
        xp = x
    m = n * oh * ow
    cols = np.empty((c * kh * kw + 1, m), dtype=F32)
    cv = cols[:-1].reshape(c, kh, kw, n, oh, ow)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dil[0], j * dil[1]
            cv[:, i, j] = xp[:, :, r0 : r0 + (oh - 1) * stride[0] + 1 : stride[0], c0 : c0 + (ow - 1) * stride[1] + 1 : stride[1]].transpose(1, 0, 2, 3)
    cols[-1] = 1
    y = np.matmul(cols.T, wcb)  # BLAS reads the transposed operand in place (20% faster than scipy's sgemm here)
    return y.reshape(n, oh, ow, wcb.shape[1])


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
    """Reduce kernel windows with ``ufunc`` (max or add) along H first, then W.

    Exact for max; for sums only the (float) summation order changes. It needs
    (kh - 1) + (kw - 1) passes instead of kh*kw - 1; the first (larger) stage
    runs over whole contiguous rows, and each stage's first pass writes its
    result directly (no seeding copy): 30% faster than W-first with a copy.
    """
    span_h = (oh - 1) * stride[0] + 1
    rows = [xp[:, i : i + span_h : stride[0]] for i in range(k[0])]
    r = ufunc(rows[0], rows[1]) if k[0] > 1 else np.array(rows[0], dtype=F32, copy=True)
    for v in rows[2:]:
        ufunc(r, v, out=r)
    span_w = (ow - 1) * stride[1] + 1
    cols = [r[:, :, j : j + span_w : stride[1]] for j in range(k[1])]
    out = ufunc(cols[0], cols[1]) if k[1] > 1 else np.array(cols[0], dtype=F32, copy=True)
    for v in cols[2:]:
        ufunc(out, v, out=out)
    return out


def max_pool(xp: np.ndarray, oh: int, ow: int, k: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Max over kernel windows of an input padded with -inf."""
    return _separable_pool(xp, oh, ow, k, stride, np.maximum)


def sum_pool(xp: np.ndarray, oh: int, ow: int, k: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Sum over kernel windows of a zero-padded input."""
    return _separable_pool(xp, oh, ow, k, stride, np.add)


def lrn_channels_last(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """LRN across the last (channel) axis: x / (bias + alpha/size * window sum of x^2)^beta (GRAPH.md §4).

    The window sum is ``size`` shifted adds of a zero-padded x^2 for the usual
    small windows (AlexNet: 5) and a float64 running sum for wide ones, where
    float32 cancellation in a running sum would show.
    """
    c = x.shape[-1]
    half = (size - 1) // 2
    sq = np.square(x, dtype=F32)
    if size <= 16:
        padded = np.zeros(x.shape[:-1] + (c + 2 * half,), F32)
        padded[..., half : half + c] = sq
        s = padded[..., :c].copy()
        for k in range(1, size):
            s += padded[..., k : k + c]
    else:
        run = np.zeros(x.shape[:-1] + (c + 2 * half + 1,), np.float64)
        np.cumsum(np.pad(sq.astype(np.float64), [(0, 0)] * (x.ndim - 1) + [(half, half)]), axis=-1, out=run[..., 1:])
        s = (run[..., size : size + c] - run[..., :c]).astype(F32)
    s *= F32(alpha / size)
    s += F32(bias)
    np.power(s, F32(-beta), out=s)
    s *= x
    return s


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
    return CLIP(out, F32(0), F32(1), out=out)


def hard_swish(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x * relu6(x + 3) / 6 (PyTorch / ONNX HardSwish)."""
    t = np.add(x, F32(3))
    CLIP(t, F32(0), F32(6), out=t)
    t *= F32(1 / 6)
    return np.multiply(x, t, out=out)
