"""Compiled int8 convolution / Linear (spec/INT8.md §4): int16 multiply-add pairs, im2col fused, requantization fused.

Why int16 pairs: without VNNI, AVX2's ``vpmaddwd`` is the widest exact integer
multiply-add. It multiplies 16 int16 pairs and adds neighbours into 8 int32
lanes, i.e. 16 multiply-adds per instruction (a float32 FMA does 8). The
operands are ``x_q - z_in`` (in [-255, 255]) and ``w_q`` (in [-127, 127]), so a
pair sum is at most 64 770 in magnitude and the int32 accumulator is exact for
K <= 66 000 (spec/INT8.md §2): the result is bit-identical to the NumPy
reference, which tests/test_int8.py checks.

Layout: weights are packed once into panels of 16 output channels, each
reduction pair (k, k+1) of a channel stored next to each other, so one aligned
32-byte load gives two vectors' worth of pairs. Patch rows are widened and
centered into a small int16 buffer block by block (zero for padding, which is
``x_q = z_in``), so the GEMM tile reads a broadcast 32-bit pair per row. The
tile (4 rows x 16 channels) keeps 8 int32 vectors in registers over the whole
K loop; the epilogue adds the int32 bias and applies MBQM (spec/INT8.md §3) in
int64 without branches, writing int8 straight into the output.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic, models, register_model

_I32 = ir.IntType(32)
_I16 = ir.IntType(16)
_V8I32 = ir.VectorType(_I32, 8)
_V16I16 = ir.VectorType(_I16, 16)
_V16I32 = ir.VectorType(_I32, 16)
PANEL = 16  # output channels per packed panel (two vectors of 8 int32 lanes)
ROWS = 4  # output rows per register tile

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


class _IVec(types.Type):
    """8 int32 lanes in one AVX2 register, local to kernels only."""

    def __init__(self) -> None:
        super().__init__(name="int32x8")


IVEC = _IVec()


@register_model(_IVec)
class _IVecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type) -> None:  # type: ignore[no-untyped-def]
        super().__init__(dmm, fe_type, _V8I32)


def _flat(a: types.Type, dt: types.Type) -> bool:
    return isinstance(a, types.Array) and a.dtype == dt and a.ndim == 1 and a.layout == "C"


def _ptr(context, builder, arrty, arr, idx, idxty):  # type: ignore[no-untyped-def]
    ary = context.make_array(arrty)(context, builder, arr)
    return builder.gep(ary.data, [context.cast(builder, idx, idxty, types.intp)])


@intrinsic
def izero(typingctx):  # type: ignore[no-untyped-def]
    """An all-zero vector."""

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return ir.Constant(_V8I32, [0] * 8)

    return IVEC(), codegen


@intrinsic
def wload(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """16 int16 at arr[i:] (8 channel pairs) as a vector."""
    if not (_flat(arr, types.int16) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        v = builder.load(builder.bitcast(p, _V16I16.as_pointer()), align=2)
        return builder.bitcast(v, _V8I32)

    return IVEC(arr, i), codegen


@intrinsic
def pbcast(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """The int16 pair arr[i], arr[i+1] repeated in all 8 lanes."""
    if not (_flat(arr, types.int16) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        x = builder.load(builder.bitcast(p, _I32.as_pointer()), align=2)
        v = builder.insert_element(ir.Constant(_V8I32, ir.Undefined), x, ir.Constant(_I32, 0))
        return builder.shuffle_vector(v, ir.Constant(_V8I32, ir.Undefined), ir.Constant(_V8I32, [0] * 8))

    return IVEC(arr, i), codegen


@intrinsic
def madd(typingctx, acc, x, w):  # type: ignore[no-untyped-def]
    """acc + (x[2j]*w[2j] + x[2j+1]*w[2j+1]) per int32 lane j, the operands seen as 16 int16 (``vpmaddwd``)."""
    if not (acc == IVEC and x == IVEC and w == IVEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        a = builder.sext(builder.bitcast(args[1], _V16I16), _V16I32)
        b = builder.sext(builder.bitcast(args[2], _V16I16), _V16I32)
        p = builder.mul(a, b)
        und = ir.Constant(_V16I32, ir.Undefined)
        ev = builder.shuffle_vector(p, und, ir.Constant(_V8I32, list(range(0, 16, 2))))
        od = builder.shuffle_vector(p, und, ir.Constant(_V8I32, list(range(1, 16, 2))))
        return builder.add(args[0], builder.add(ev, od))

    return IVEC(acc, x, w), codegen


@intrinsic
def istore(typingctx, arr, i, v):  # type: ignore[no-untyped-def]
    """arr[i:i+8] = v (int32)."""
    if not (_flat(arr, types.int32) and isinstance(i, types.Integer) and v == IVEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        builder.store(args[2], builder.bitcast(p, _V8I32.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.void(arr, i, v), codegen


# ------------------------------------------------------------------ requantization epilogue


@njit(cache=True, nogil=True, inline="always")
def requant_run(acc, a0, bias, m0, left, right, c0, n, zp, lo, hi, out, o0):  # pragma: no cover - compiled
    """out[o0+j] = clamp(zp + MBQM(acc[a0+j] + bias[c0+j], m0, shift), lo, hi) for j < n (spec/INT8.md §3).

    Branch-free so LLVM vectorises it; M0 >= 0 always (quantize_multiplier),
    so SRDHM's one overflow case (both operands -2^31) cannot occur.
    """
    for j in range(n):
        c = c0 + j
        x = (np.int64(acc[a0 + j]) + bias[c]) << left[c]
        x = min(max(x, np.int64(I32_MIN)), np.int64(I32_MAX))
        p = np.int64(np.int32(x)) * np.int64(np.int32(m0[c]))
        q = p + (np.int64(1 << 30) if p >= 0 else np.int64(1 - (1 << 30)))
        r = (q >> 31) if q >= 0 else -((-q) >> 31)
        sh = right[c]
        mask = (np.int64(1) << sh) - 1
        thr = (mask >> 1) + (np.int64(1) if r < 0 else np.int64(0))
        y = (r >> sh) + (np.int64(1) if (r & mask) > thr else np.int64(0)) + zp
        out[o0 + j] = np.int8(min(max(y, lo), hi))


# ------------------------------------------------------------------ GEMM tile over packed panels


@njit(cache=True, nogil=True)
def _tile(a, ab, m0, nrows, kp2, wp, wb, acc):  # pragma: no cover - compiled
    """int32 acc[r*16 : r*16+16] = sum over pairs of A row (m0 + r) x panel at wp[wb:], r < 4 (rows past nrows repeat)."""
    last = m0 + nrows - 1
    a0 = ab[m0]
    a1 = ab[min(m0 + 1, last)]
    a2 = ab[min(m0 + 2, last)]
    a3 = ab[min(m0 + 3, last)]
    c00 = izero()
    c01 = izero()
    c10 = izero()
    c11 = izero()
    c20 = izero()
    c21 = izero()
    c30 = izero()
    c31 = izero()
    q = wb
    for t in range(kp2):
        w0 = wload(wp, q)
        w1 = wload(wp, q + 16)
        k = 2 * t
        x = pbcast(a, a0 + k)
        c00 = madd(c00, x, w0)
        c01 = madd(c01, x, w1)
        x = pbcast(a, a1 + k)
        c10 = madd(c10, x, w0)
        c11 = madd(c11, x, w1)
        x = pbcast(a, a2 + k)
        c20 = madd(c20, x, w0)
        c21 = madd(c21, x, w1)
        x = pbcast(a, a3 + k)
        c30 = madd(c30, x, w0)
        c31 = madd(c31, x, w1)
        q += 32
    istore(acc, 0, c00)
    istore(acc, 8, c01)
    istore(acc, 16, c10)
    istore(acc, 24, c11)
    istore(acc, 32, c20)
    istore(acc, 40, c21)
    istore(acc, 48, c30)
    istore(acc, 56, c31)


@njit(cache=True, nogil=True)
def _gemm_block(a, ab, mb, kp2, wp, npanel, bias, m0, left, right, zp, lo, hi, out, ob, nout):  # pragma: no cover - compiled
    """Requantized int8 rows out[ob[i] + c] for the mb patch rows of the block, channels c < nout."""
    acc = np.empty(ROWS * PANEL, np.int32)
    for p in range(npanel):
        c0 = p * PANEL
        wb = p * kp2 * 32
        n = min(PANEL, nout - c0)
        for r0 in range(0, mb, ROWS):
            nr = min(ROWS, mb - r0)
            _tile(a, ab, r0, nr, kp2, wp, wb, acc)
            for r in range(nr):
                requant_run(acc, r * PANEL, bias, m0, left, right, c0, n, zp, lo, hi, out, ob[r0 + r] + c0)


@njit(cache=True, nogil=True)
def _qconv(xf, sb, sy, sx, cin0, n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, zin, block,
           wp, kp, npanel, bias, m0, left, right, zp, lo, hi, out, ldo, ocol, nout):  # pragma: no cover - compiled
    """int8 convolution of channels cin0..cin0+c of flat NHWC int8 ``xf`` (strides sb, sy, sx; channel stride 1).

    Patch rows (taps in (KH, KW, C) order, then zeros up to the even length
    kp) are widened and centered ``block`` rows at a time into an int16
    buffer; out-of-range taps are 0 (i.e. ``x_q = z_in``, real zero).
    """
    m = n * oh * ow
    bmax = max(1, min(block, m))
    a = np.zeros(bmax * kp, np.int16)
    ab = np.empty(bmax, np.int64)
    ob = np.empty(bmax, np.int64)
    kp2 = kp // 2
    for r0 in range(0, m, bmax):
        mb = min(bmax, m - r0)
        for i in range(mb):
            r = r0 + i
            b = r // (oh * ow)
            rem = r - b * (oh * ow)
            oy = rem // ow
            ox = rem - oy * ow
            q = i * kp
            ab[i] = q
            ob[i] = r * ldo + ocol
            iy0 = oy * sh - pt
            ix0 = ox * sw - pl
            for ti in range(kh):
                iy = iy0 + ti * dh
                for tj in range(kw):
                    ix = ix0 + tj * dw
                    if 0 <= iy < h and 0 <= ix < w:
                        src = b * sb + iy * sy + ix * sx + cin0
                        for cc in range(c):
                            a[q + cc] = np.int16(xf[src + cc]) - zin
                    else:
                        for cc in range(c):
                            a[q + cc] = 0
                    q += c
        _gemm_block(a, ab, mb, kp2, wp, npanel, bias, m0, left, right, zp, lo, hi, out, ob, nout)


class QPacked:
    """An int8 layer's weights packed for :func:`qconv`, with its requantization parameters (int64 per channel)."""

    __slots__ = ("k", "kp", "o", "npanel", "data", "bias", "m0", "left", "right")

    def __init__(self, wq: np.ndarray, bias: np.ndarray, m0: np.ndarray, shift: np.ndarray) -> None:
        """``wq``: (K, O) int8 with K in (KH, KW, C) order; ``bias``, ``m0``, ``shift``: (O,) integers, m0 >= 0."""
        k, o = wq.shape
        m0 = np.asarray(m0, np.int64).reshape(-1)
        if np.any(m0 < 0) or np.any(m0 >= 2**31):
            raise ValueError("multipliers must be in [0, 2^31)")
        self.k, self.o = k, o
        self.kp = k + (k & 1)
        self.npanel = -(-o // PANEL)
        op = self.npanel * PANEL
        wide = np.zeros((self.kp, op), np.int16)
        wide[:k, :o] = wq
        # [panel][pair t][channel j][2]: the pair (k=2t, 2t+1) of channel j adjacent
        self.data = np.ascontiguousarray(wide.reshape(self.kp // 2, 2, self.npanel, PANEL).transpose(2, 0, 3, 1)).reshape(-1)
        sh = np.asarray(shift, np.int64).reshape(-1)
        self.bias = np.ascontiguousarray(np.broadcast_to(np.asarray(bias, np.int64), (o,)))
        self.m0 = np.ascontiguousarray(np.broadcast_to(m0, (o,)))
        self.left = np.ascontiguousarray(np.broadcast_to(np.maximum(sh, 0), (o,)))
        self.right = np.ascontiguousarray(np.broadcast_to(np.maximum(-sh, 0), (o,)))


ROW_BLOCK_BYTES = 96 * 1024  # int16 patch rows per block: stays in L2 while every panel passes over it


def qconv(x: np.ndarray, zin: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int], pads: tuple[int, ...],
          oh: int, ow: int, pk: QPacked, zp: int, lo: int, hi: int, out: np.ndarray, ocol: int = 0, cin0: int = 0) -> None:
    """Requantized int8 convolution of channels cin0.. of C-contiguous NHWC int8 ``x`` into out[:, ocol:ocol+O]."""
    if x.dtype != np.int8 or x.ndim != 4 or not x.flags.c_contiguous:
        raise ValueError("qconv: input must be a C-contiguous 4-D int8 array")
    n, h, w, c_all = x.shape
    c = pk.k // max(1, kh * kw)
    if kh * kw * c != pk.k or not 0 <= cin0 <= c_all - c or min(kh, kw, *stride, *dil) < 1 or min(oh, ow) < 0 or min(pads) < 0:
        raise ValueError("qconv: operand shape mismatch")
    if out.dtype != np.int8 or out.ndim != 2 or not out.flags.c_contiguous or out.shape[0] != n * oh * ow \
            or not 0 <= ocol <= out.shape[1] - pk.o:
        raise ValueError("qconv: output buffer shape/layout mismatch")
    if not (-128 <= lo <= hi <= 127 and -128 <= zin <= 127):
        raise ValueError("qconv: zero point or clamp outside int8")
    if out.shape[0] == 0:
        return
    block = max(ROWS, (ROW_BLOCK_BYTES // (2 * pk.kp)) // ROWS * ROWS)
    _qconv(x.reshape(-1), h * w * c_all, w * c_all, c_all, cin0, n, h, w, c, kh, kw, stride[0], stride[1], dil[0], dil[1],
           pads[0], pads[1], oh, ow, np.int16(zin), block, pk.data, pk.kp, pk.npanel, pk.bias, pk.m0, pk.left, pk.right,
           np.int64(zp), np.int64(lo), np.int64(hi), out.reshape(-1), out.shape[1], ocol, pk.o)
