"""Optional numba kernels for the inference path (``pip install dcformat[fast]``).

Why: the NumPy path leaves a gap to onnxruntime that NumPy cannot close.
Depthwise convolution and pooling run as one ufunc pass per kernel tap,
3x3 convolutions pay for an im2col copy, and every GEMM goes through an
OpenBLAS whose kernels may be limited to AVX2 (``OPENBLAS_CORETYPE``) while
the CPU has AVX-512. These kernels do one compiled pass each: a register
blocked GEMM written with explicit SIMD vectors (the loop vectorizer alone
keeps accumulators in memory, half of BLAS speed), fused with im2col, bias,
activation and a strided store into a channel slice of a Concat buffer;
depthwise convolution and pooling over contiguous channel vectors; and a
sparse matrix-vector product over the Deep Compression layout (one-byte
codebook index + two-byte column per weight, 3 bytes instead of 8 for CSR).

Importing this module imports numba: ``kernels.fast_kernels()`` does so
only when a model being planned has a convolution, pooling or sparse layer,
and never with ``DCFORMAT_ACCEL=0``. Kernels compile on first call
(``cache=True`` keeps them across processes: ~4 s once, then ~0.2 s). They
use raw pointer arithmetic and numba does not bounds-check, so every public
function here validates shapes first; the ``_`` kernels must only be
called through them. All are single-threaded and release the GIL.

Results agree with the NumPy path up to float32 summation order
(tests/test_inference_accel.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, config
from numba.core.extending import intrinsic, models, register_model

F32 = np.float32


def _lanes() -> int:
    """16 floats per vector on AVX-512 hosts, else 8 (AVX2 register count would spill a 16-wide tile)."""
    try:
        import llvmlite.binding as llb

        if config.CPU_NAME:  # NUMBA_CPU_NAME set: assume a portable target
            return 8
        return 16 if llb.get_host_cpu_features().get("avx512f", False) else 8
    except Exception:  # pragma: no cover - feature query unavailable
        return 8


LANES = _lanes()
_VT = ir.VectorType(ir.FloatType(), LANES)
_I32 = ir.IntType(32)


# ------------------------------------------------------------------ SIMD vector type and intrinsics


class _Vec(types.Type):
    """LANES float32 values in one SIMD register (an LLVM vector), local to kernels only."""

    def __init__(self) -> None:
        super().__init__(name=f"float32x{LANES}")


VEC = _Vec()


@register_model(_Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type) -> None:  # type: ignore[no-untyped-def]
        super().__init__(dmm, fe_type, _VT)


def _is_f32_flat(a: types.Type) -> bool:
    return isinstance(a, types.Array) and a.dtype == types.float32 and a.ndim == 1 and a.layout == "C"


def _elem_ptr(context, builder, arrty, arr, idx, idxty):  # type: ignore[no-untyped-def]
    ary = context.make_array(arrty)(context, builder, arr)
    return builder.gep(ary.data, [context.cast(builder, idx, idxty, types.intp)])


def _splat(builder, x):  # type: ignore[no-untyped-def]
    v = builder.insert_element(ir.Constant(_VT, ir.Undefined), x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, ir.Constant(_VT, ir.Undefined), ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))


@intrinsic
def vload(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """arr[i : i + LANES] as a vector (unaligned load; the caller guarantees the range)."""
    if not (_is_f32_flat(arr) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        return builder.load(builder.bitcast(p, _VT.as_pointer()), align=4)

    return VEC(arr, i), codegen


@intrinsic
def vstore(typingctx, arr, i, v):  # type: ignore[no-untyped-def]
    """arr[i : i + LANES] = v."""
    if not (_is_f32_flat(arr) and isinstance(i, types.Integer) and v == VEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        builder.store(args[2], builder.bitcast(p, _VT.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.void(arr, i, v), codegen


@intrinsic
def vbload(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """arr[i] broadcast to every lane (no negative-index wraparound, unlike arr[i])."""
    if not (_is_f32_flat(arr) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        return _splat(builder, builder.load(p, align=4))

    return VEC(arr, i), codegen


@intrinsic
def vsplat(typingctx, x):  # type: ignore[no-untyped-def]
    """A scalar in every lane."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return _splat(builder, context.cast(builder, args[0], sig.args[0], types.float32))

    return VEC(x), codegen


@intrinsic
def vfma(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """a * b + c, fused."""
    if not (a == VEC and b == VEC and c == VEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VT, [_VT, _VT, _VT]), f"llvm.fma.v{LANES}f32")
        return builder.call(fn, args)

    return VEC(a, b, c), codegen


@intrinsic
def vadd(typingctx, a, b):  # type: ignore[no-untyped-def]
    if not (a == VEC and b == VEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.fadd(args[0], args[1])

    return VEC(a, b), codegen


@intrinsic
def vmul(typingctx, a, b):  # type: ignore[no-untyped-def]
    if not (a == VEC and b == VEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.fmul(args[0], args[1])

    return VEC(a, b), codegen


@intrinsic
def vmax(typingctx, a, b):  # type: ignore[no-untyped-def]
    """Lane-wise maximum that propagates NaN from either side, like np.maximum.

    A compare-and-select (a when a > b or a is NaN, else b) runs ~15% faster
    than llvm.maximum, which also orders -0 below +0 (irrelevant here).
    """
    if not (a == VEC and b == VEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        keep = builder.or_(builder.fcmp_ordered(">", args[0], args[1]), builder.fcmp_unordered("uno", args[0], args[0]))
        return builder.select(keep, args[0], args[1])

    return VEC(a, b), codegen


@intrinsic
def vclip(typingctx, v, lo, hi):  # type: ignore[no-untyped-def]
    """Clip to [lo, hi] keeping NaN, like np.clip (bounds may be +-inf)."""
    if not (v == VEC and isinstance(lo, types.Float) and isinstance(hi, types.Float)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        lo_v = _splat(builder, context.cast(builder, args[1], sig.args[1], types.float32))
        hi_v = _splat(builder, context.cast(builder, args[2], sig.args[2], types.float32))
        x = builder.select(builder.fcmp_ordered("<", args[0], lo_v), lo_v, args[0])
        return builder.select(builder.fcmp_ordered(">", x, hi_v), hi_v, x)

    return VEC(v, lo, hi), codegen


@intrinsic
def vget(typingctx, v, i):  # type: ignore[no-untyped-def]
    """Lane i of v (0 <= i < LANES, guaranteed by the caller)."""
    if not (v == VEC and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.extract_element(args[0], context.cast(builder, args[1], sig.args[1], types.int32))

    return types.float32(v, i), codegen


# ------------------------------------------------------------------ GEMM


@njit(cache=True, nogil=True)
def _put(of, at, v, lo, hi, n):  # pragma: no cover - compiled
    """Clip and store the first min(n, LANES) lanes of v at of[at:]."""
    v = vclip(v, lo, hi)
    if n >= LANES:
        vstore(of, at, v)
    else:
        for lane in range(n):
            of[at + lane] = vget(v, lane)


@njit(cache=True, nogil=True)
def _tile4x4(af, ab, roff, rlen, m0, nrows, wf, wb, bf, col, lo, hi, of, ob, ncols):  # pragma: no cover
    """Output rows m0..m0+3 x 4 vectors of channels from col: 16 accumulators in registers for the whole K loop.

    Patch element k = r * rlen + t of row i is af[ab[i] + roff[r] + t] (runs of
    contiguous elements: a whole row for a plain GEMM, a window row for a
    direct convolution). Step k loads 4 weight vectors of the packed panel
    (K, 4*LANES) at wf[wb:] and broadcasts 4 activations: 8 loads per 16 FMAs.
    Rows past ``nrows`` repeat the last valid row and are not stored; lanes
    past ``ncols`` are not stored. The tile is spelled out accumulator by
    accumulator because numba keeps a vector in a register only as a named
    local (an array of vectors would live in memory: half the speed).
    """
    L = LANES
    S = 4 * L
    last = m0 + nrows - 1
    a0 = ab[m0]
    a1 = ab[min(m0 + 1, last)]
    a2 = ab[min(m0 + 2, last)]
    a3 = ab[min(m0 + 3, last)]
    b0 = vload(bf, col)
    b1 = vload(bf, col + L)
    b2 = vload(bf, col + 2 * L)
    b3 = vload(bf, col + 3 * L)
    c00, c01, c02, c03 = b0, b1, b2, b3
    c10, c11, c12, c13 = b0, b1, b2, b3
    c20, c21, c22, c23 = b0, b1, b2, b3
    c30, c31, c32, c33 = b0, b1, b2, b3
    q = wb
    for r in range(roff.size):
        ra = roff[r]
        p0 = a0 + ra
        p1 = a1 + ra
        p2 = a2 + ra
        p3 = a3 + ra
        for t in range(rlen):
            w0 = vload(wf, q)
            w1 = vload(wf, q + L)
            w2 = vload(wf, q + 2 * L)
            w3 = vload(wf, q + 3 * L)
            x = vbload(af, p0 + t)
            c00 = vfma(x, w0, c00)
            c01 = vfma(x, w1, c01)
            c02 = vfma(x, w2, c02)
            c03 = vfma(x, w3, c03)
            x = vbload(af, p1 + t)
            c10 = vfma(x, w0, c10)
            c11 = vfma(x, w1, c11)
            c12 = vfma(x, w2, c12)
            c13 = vfma(x, w3, c13)
            x = vbload(af, p2 + t)
            c20 = vfma(x, w0, c20)
            c21 = vfma(x, w1, c21)
            c22 = vfma(x, w2, c22)
            c23 = vfma(x, w3, c23)
            x = vbload(af, p3 + t)
            c30 = vfma(x, w0, c30)
            c31 = vfma(x, w1, c31)
            c32 = vfma(x, w2, c32)
            c33 = vfma(x, w3, c33)
            q += S
    o = ob[m0] + col
    _put(of, o, c00, lo, hi, ncols)
    _put(of, o + L, c01, lo, hi, ncols - L)
    _put(of, o + 2 * L, c02, lo, hi, ncols - 2 * L)
    _put(of, o + 3 * L, c03, lo, hi, ncols - 3 * L)
    if nrows > 1:
        o = ob[m0 + 1] + col
        _put(of, o, c10, lo, hi, ncols)
        _put(of, o + L, c11, lo, hi, ncols - L)
        _put(of, o + 2 * L, c12, lo, hi, ncols - 2 * L)
        _put(of, o + 3 * L, c13, lo, hi, ncols - 3 * L)
    if nrows > 2:
        o = ob[m0 + 2] + col
        _put(of, o, c20, lo, hi, ncols)
        _put(of, o + L, c21, lo, hi, ncols - L)
        _put(of, o + 2 * L, c22, lo, hi, ncols - 2 * L)
        _put(of, o + 3 * L, c23, lo, hi, ncols - 3 * L)
    if nrows > 3:
        o = ob[m0 + 3] + col
        _put(of, o, c30, lo, hi, ncols)
        _put(of, o + L, c31, lo, hi, ncols - L)
        _put(of, o + 2 * L, c32, lo, hi, ncols - 2 * L)
        _put(of, o + 3 * L, c33, lo, hi, ncols - 3 * L)


@njit(cache=True, nogil=True)
def _tile8x2(af, ab, roff, rlen, m0, nrows, wf, wb, bf, col, lo, hi, of, ob, ncols):  # pragma: no cover
    """Output rows m0..m0+7 x 2 vectors (narrow panels): the same scheme as :func:`_tile4x4` with more rows."""
    L = LANES
    S = 2 * L
    last = m0 + nrows - 1
    a0 = ab[m0]
    a1 = ab[min(m0 + 1, last)]
    a2 = ab[min(m0 + 2, last)]
    a3 = ab[min(m0 + 3, last)]
    a4 = ab[min(m0 + 4, last)]
    a5 = ab[min(m0 + 5, last)]
    a6 = ab[min(m0 + 6, last)]
    a7 = ab[min(m0 + 7, last)]
    b0 = vload(bf, col)
    b1 = vload(bf, col + L)
    c00, c01 = b0, b1
    c10, c11 = b0, b1
    c20, c21 = b0, b1
    c30, c31 = b0, b1
    c40, c41 = b0, b1
    c50, c51 = b0, b1
    c60, c61 = b0, b1
    c70, c71 = b0, b1
    q = wb
    for r in range(roff.size):
        ra = roff[r]
        p0 = a0 + ra
        p1 = a1 + ra
        p2 = a2 + ra
        p3 = a3 + ra
        p4 = a4 + ra
        p5 = a5 + ra
        p6 = a6 + ra
        p7 = a7 + ra
        for t in range(rlen):
            w0 = vload(wf, q)
            w1 = vload(wf, q + L)
            x = vbload(af, p0 + t)
            c00 = vfma(x, w0, c00)
            c01 = vfma(x, w1, c01)
            x = vbload(af, p1 + t)
            c10 = vfma(x, w0, c10)
            c11 = vfma(x, w1, c11)
            x = vbload(af, p2 + t)
            c20 = vfma(x, w0, c20)
            c21 = vfma(x, w1, c21)
            x = vbload(af, p3 + t)
            c30 = vfma(x, w0, c30)
            c31 = vfma(x, w1, c31)
            x = vbload(af, p4 + t)
            c40 = vfma(x, w0, c40)
            c41 = vfma(x, w1, c41)
            x = vbload(af, p5 + t)
            c50 = vfma(x, w0, c50)
            c51 = vfma(x, w1, c51)
            x = vbload(af, p6 + t)
            c60 = vfma(x, w0, c60)
            c61 = vfma(x, w1, c61)
            x = vbload(af, p7 + t)
            c70 = vfma(x, w0, c70)
            c71 = vfma(x, w1, c71)
            q += S
    o = ob[m0] + col
    _put(of, o, c00, lo, hi, ncols)
    _put(of, o + L, c01, lo, hi, ncols - L)
    if nrows > 1:
        o = ob[m0 + 1] + col
        _put(of, o, c10, lo, hi, ncols)
        _put(of, o + L, c11, lo, hi, ncols - L)
    if nrows > 2:
        o = ob[m0 + 2] + col
        _put(of, o, c20, lo, hi, ncols)
        _put(of, o + L, c21, lo, hi, ncols - L)
    if nrows > 3:
        o = ob[m0 + 3] + col
        _put(of, o, c30, lo, hi, ncols)
        _put(of, o + L, c31, lo, hi, ncols - L)
    if nrows > 4:
        o = ob[m0 + 4] + col
        _put(of, o, c40, lo, hi, ncols)
        _put(of, o + L, c41, lo, hi, ncols - L)
    if nrows > 5:
        o = ob[m0 + 5] + col
        _put(of, o, c50, lo, hi, ncols)
        _put(of, o + L, c51, lo, hi, ncols - L)
    if nrows > 6:
        o = ob[m0 + 6] + col
        _put(of, o, c60, lo, hi, ncols)
        _put(of, o + L, c61, lo, hi, ncols - L)
    if nrows > 7:
        o = ob[m0 + 7] + col
        _put(of, o, c70, lo, hi, ncols)
        _put(of, o + L, c71, lo, hi, ncols - L)


@njit(cache=True, nogil=True)
def _gemm_rows(af, ab, roff, rlen, mb, wf, pcol, pnv, poff, bf, lo, hi, of, ob, nout):  # pragma: no cover
    """of[ob[i] + c] = clip(sum_k A[i, k] * W[k, c] + bias[c]) for rows i < mb, channels c < nout (A as in the tiles)."""
    for p in range(pcol.size):
        col = pcol[p]
        wb = poff[p]
        if pnv[p] == 4:
            for m0 in range(0, mb, 4):
                _tile4x4(af, ab, roff, rlen, m0, min(4, mb - m0), wf, wb, bf, col, lo, hi, of, ob, nout - col)
        else:
            for m0 in range(0, mb, 8):
                _tile8x2(af, ab, roff, rlen, m0, min(8, mb - m0), wf, wb, bf, col, lo, hi, of, ob, nout - col)


@njit(cache=True, nogil=True)
def _conv(xf, x0, n, h, w, c, sb, sy, sx, sc, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, block,
          wf, pcol, pnv, poff, bf, lo, hi, of, ldo, ocol, nout):  # pragma: no cover
    """Convolution as GEMM over patch rows, with no im2col for pixels whose window is inside the input.

    Such a pixel's patch elements sit at fixed offsets from its window
    origin, so the GEMM tiles read them straight from the input;
    only windows that reach into the padding are copied (zeros filled in)
    into a small buffer. Pixels are gathered ``block`` at a time so the
    weight panels are reused across many rows while they are in cache.
    The input is flat, starting at element x0, with element strides (sb, sy,
    sx, sc) for (N, H, W, C): that serves NHWC activations, a channels-first
    network input and one group's channel slice alike.
    """
    L = LANES
    k_len = kh * kw * c
    # runs of patch elements that are contiguous in xf: (kw*C) per window row when a window row is one
    # memory run, else C per tap (NHWC), else single elements (channels-first input)
    if sc == 1 and (dw * sx == c or kw == 1):
        rlen = kw * c
        roff = np.empty(kh, np.int64)
        for ti in range(kh):
            roff[ti] = ti * dh * sy
    elif sc == 1:
        rlen = c
        roff = np.empty(kh * kw, np.int64)
        for ti in range(kh):
            for tj in range(kw):
                roff[ti * kw + tj] = ti * dh * sy + tj * dw * sx
    else:
        rlen = 1
        roff = np.empty(k_len, np.int64)
        k = 0
        for ti in range(kh):
            for tj in range(kw):
                for cc in range(c):
                    roff[k] = ti * dh * sy + tj * dw * sx + cc * sc
                    k += 1
    roff_buf = np.zeros(1, np.int64)  # a copied patch row is one run of k_len
    rows = _tap_ranges(oh, sh, pt, dh, kh, h)
    cols = _tap_ranges(ow, sw, pl, dw, kw, w)
    bmax = max(1, min(block, n * oh * ow))
    cv = c // L * L if sc == 1 else 0
    buf = np.empty(bmax * k_len, np.float32)
    ab_d = np.empty(bmax, np.int64)  # direct rows: window origin in xf, output offset
    ob_d = np.empty(bmax, np.int64)
    ab_b = np.empty(bmax, np.int64)  # copied rows: patch row in buf, output offset
    ob_b = np.empty(bmax, np.int64)
    nd = 0
    nbuf = 0
    if kh == 1 and kw == 1 and sh == 1 and sw == 1 and pt == 0 and pl == 0 and oh == h and ow == w and sc == 1 and sx == c and sy == w * c and sb == h * w * c:
        # a pointwise conv over a contiguous input is a plain GEMM: row r starts at r * c
        m = n * oh * ow
        for r0 in range(0, m, bmax):
            mb = min(bmax, m - r0)
            for i in range(mb):
                ab_d[i] = x0 + (r0 + i) * c
                ob_d[i] = (r0 + i) * ldo + ocol
            _gemm_rows(xf, ab_d, roff, rlen, mb, wf, pcol, pnv, poff, bf, lo, hi, of, ob_d, nout)
        return
    for b in range(n):
        for oy in range(oh):
            iy0, i0, i1 = rows[oy, 0], rows[oy, 1], rows[oy, 2]
            full_rows = i0 == 0 and i1 == kh
            for ox in range(ow):
                ix0, j0, j1 = cols[ox, 0], cols[ox, 1], cols[ox, 2]
                o = ((b * oh + oy) * ow + ox) * ldo + ocol
                if full_rows and j0 == 0 and j1 == kw:
                    ab_d[nd] = x0 + b * sb + iy0 * sy + ix0 * sx
                    ob_d[nd] = o
                    nd += 1
                    if nd == bmax:
                        _gemm_rows(xf, ab_d, roff, rlen, nd, wf, pcol, pnv, poff, bf, lo, hi, of, ob_d, nout)
                        nd = 0
                    continue
                q = nbuf * k_len
                ab_b[nbuf] = q
                ob_b[nbuf] = o
                for ti in range(kh):
                    for tj in range(kw):
                        if i0 <= ti < i1 and j0 <= tj < j1:
                            src = x0 + b * sb + (iy0 + ti * dh) * sy + (ix0 + tj * dw) * sx
                            for c0 in range(0, cv, L):
                                vstore(buf, q + c0, vload(xf, src + c0))
                            for cc in range(cv, c):
                                buf[q + cc] = xf[src + cc * sc]
                        else:
                            for cc in range(c):
                                buf[q + cc] = 0.0
                        q += c
                nbuf += 1
                if nbuf == bmax:
                    _gemm_rows(buf, ab_b, roff_buf, k_len, nbuf, wf, pcol, pnv, poff, bf, lo, hi, of, ob_b, nout)
                    nbuf = 0
    if nd:
        _gemm_rows(xf, ab_d, roff, rlen, nd, wf, pcol, pnv, poff, bf, lo, hi, of, ob_d, nout)
    if nbuf:
        _gemm_rows(buf, ab_b, roff_buf, k_len, nbuf, wf, pcol, pnv, poff, bf, lo, hi, of, ob_b, nout)


class Packed:
    """Weights (K, O) packed into column panels for the GEMM tiles, plus the padded bias."""

    __slots__ = ("k", "o", "data", "pcol", "pnv", "poff", "bias")

    def __init__(self, w: np.ndarray, bias: np.ndarray | None) -> None:
        k, o = w.shape
        cols, nvs = [], []
        c = 0
        while c < o:  # 4-vector panels while more than 2 vectors remain, then one 2-vector panel
            nv = 4 if o - c > 2 * LANES else 2
            cols.append(c)
            nvs.append(nv)
            c += nv * LANES
        self.k, self.o = k, o
        self.pcol = np.array(cols, np.int64)
        self.pnv = np.array(nvs, np.int64)
        sizes = self.pnv * LANES * k
        self.poff = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.data = empty((int(sizes.sum()),))
        self.data[:] = 0
        wide = np.zeros((k, c), F32)
        wide[:, :o] = w
        for p0, nv, off in zip(cols, nvs, self.poff):
            self.data[off : off + k * nv * LANES] = wide[:, p0 : p0 + nv * LANES].reshape(-1)
        self.bias = np.zeros(c, F32)
        if bias is not None:
            self.bias[:o] = bias


ROW_BLOCK_BYTES = 128 * 1024  # A rows per block: this many bytes of activations stay in L2 across panels


def _block_rows(k: int) -> int:
    """Patch rows per GEMM batch for K-long rows: a multiple of the 8-row tile, at least one tile."""
    return max(8, (ROW_BLOCK_BYTES // (4 * max(k, 1))) // 8 * 8)


def gemm(a: np.ndarray, pw: Packed, lo: np.float32, hi: np.float32, out: np.ndarray, ocol: int = 0) -> None:
    """out[:, ocol:ocol+O] = clip(a @ W + bias, lo, hi) for a C-contiguous (M, K) float32 ``a`` (a 1x1 conv)."""
    if a.ndim != 2:
        raise ValueError("gemm: operand must be 2-D")
    conv(a.reshape(a.shape[0], 1, 1, a.shape[1]), 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1, 1, pw, lo, hi, out, ocol)


def conv(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int], pads: tuple[int, int, int, int],
         oh: int, ow: int, pw: Packed, lo: np.float32, hi: np.float32, out: np.ndarray, ocol: int = 0, cin0: int = 0) -> None:
    """Convolution of channels cin0.. of a logical NHWC ``x`` into out[:, ocol:ocol+O] (rows N*OH*OW), bias and clip fused.

    ``x`` may be C-contiguous NHWC or the NHWC view ``a.transpose(0, 2, 3, 1)``
    of a C-contiguous NCHW ``a`` (other layouts are copied first). The
    convolution reads ``pw.k // (kh * kw)`` channels from cin0 (a group).
    """
    if x.dtype != F32 or x.ndim != 4:
        raise ValueError("conv: input must be a 4-D float32 array")
    if x.flags.c_contiguous:
        flat = x.reshape(-1)
    elif x.transpose(0, 3, 1, 2).flags.c_contiguous:
        flat = x.transpose(0, 3, 1, 2).reshape(-1)
    else:
        x = np.ascontiguousarray(x)
        flat = x.reshape(-1)
    n, h, w, c_all = x.shape
    c = pw.k // max(1, kh * kw)
    if kh * kw * c != pw.k or not 0 <= cin0 <= c_all - c or min(kh, kw, stride[0], stride[1], dil[0], dil[1]) < 1 \
            or min(oh, ow) < 0 or min(pads) < 0:
        raise ValueError("conv: operand shape mismatch")
    _check_out(out, n * oh * ow, ocol, pw.o)
    if out.shape[0] == 0:
        return
    if x.size == 0 or c == 0:  # no input channels: the output is the (clipped) bias
        out[:, ocol : ocol + pw.o] = np.clip(pw.bias[: pw.o], lo, hi)
        return
    sb, sy, sx, sc = (st // 4 for st in x.strides)
    if min(sb, sy, sx, sc) < 0 or (n - 1) * sb + (h - 1) * sy + (w - 1) * sx + (c_all - 1) * sc >= flat.size:
        raise ValueError("conv: input strides out of range")
    _conv(flat, cin0 * sc, n, h, w, c, sb, sy, sx, sc, kh, kw, stride[0], stride[1], dil[0], dil[1], pads[0], pads[1], oh, ow,
          _block_rows(pw.k), pw.data, pw.pcol, pw.pnv, pw.poff, pw.bias, F32(lo), F32(hi), out.reshape(-1), out.shape[1], ocol, pw.o)


def _check_out(out: np.ndarray, m: int, ocol: int, o: int) -> None:
    if out.dtype != F32 or out.ndim != 2 or not out.flags.c_contiguous or out.shape[0] != m or not 0 <= ocol <= out.shape[1] - o:
        raise ValueError("output buffer shape/layout mismatch")


# ------------------------------------------------------------------ depthwise convolution and pooling


@njit(cache=True, nogil=True)
def _tap_ranges(n_out, s, p, d, k, size):  # pragma: no cover
    """Per output coordinate: first input coordinate, first tap and end tap inside [0, size).

    Computed once per call: the two floor divisions per pixel would otherwise
    cost as much as a narrow layer's arithmetic.
    """
    r = np.empty((n_out, 3), np.int64)
    for o in range(n_out):
        i0 = o * s - p
        t0 = max(0, -(i0 // d))
        t1 = min(k, (size - 1 - i0) // d + 1) if size - 1 - i0 >= 0 else 0
        r[o, 0] = i0
        r[o, 1] = t0
        r[o, 2] = max(t0, t1)
    return r


@njit(cache=True, nogil=True)
def _dw_pixel(xf, b, h, w, c, wf, kh, kw, bf, lo, hi, of, ob, iy0, i0, i1, ix0, j0, j1, dh, dw):  # pragma: no cover
    """One depthwise output pixel (taps i0:i1 x j0:j1 are the ones inside the input), a vector of channels at a time.

    When C is not a multiple of LANES the last vector is the pixel's last
    LANES channels, overlapping the one before: those channels are computed
    twice, identically, instead of in a scalar loop (4x slower).
    """
    L = LANES
    for t in range((c + L - 1) // L):
        c0 = min(t * L, c - L)
        a = vload(bf, c0)
        for i in range(i0, i1):
            xb = ((b * h + iy0 + i * dh) * w + ix0) * c + c0
            wb = i * kw * c + c0
            for j in range(j0, j1):
                a = vfma(vload(xf, xb + j * dw * c), vload(wf, wb + j * c), a)
        vstore(of, ob + c0, vclip(a, lo, hi))


@njit(cache=True, nogil=True)
def _depthwise(xf, n, h, w, c, wf, kh, kw, bf, lo, hi, of, oh, ow, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """NHWC depthwise conv (C >= LANES); out-of-range taps are skipped (zero padding).

    3x3 kernels (any stride/dilation) take a fast path for output pixels
    whose 9 taps are all inside: per channel vector the 9 weight vectors stay
    in registers while the pixels of the row stream by (one load per FMA
    instead of two, ~2x faster). Border pixels and other kernel sizes go
    pixel by pixel.
    """
    L = LANES
    rows = _tap_ranges(oh, sh, pt, dh, kh, h)
    cols = _tap_ranges(ow, sw, pl, dw, kw, w)
    xa = 0  # interior columns: [xa, xb)
    while xa < ow and (cols[xa, 1] != 0 or cols[xa, 2] != kw):
        xa += 1
    xb = xa
    while xb < ow and cols[xb, 1] == 0 and cols[xb, 2] == kw:
        xb += 1
    fast3 = kh == 3 and kw == 3
    for b in range(n):
        for oy in range(oh):
            iy0, i0, i1 = rows[oy, 0], rows[oy, 1], rows[oy, 2]
            ob = (b * oh + oy) * ow * c
            if not (fast3 and i0 == 0 and i1 == 3):
                for ox in range(ow):
                    _dw_pixel(xf, b, h, w, c, wf, kh, kw, bf, lo, hi, of, ob + ox * c, iy0, i0, i1, cols[ox, 0], cols[ox, 1], cols[ox, 2], dh, dw)
                continue
            for ox in range(0, xa):
                _dw_pixel(xf, b, h, w, c, wf, kh, kw, bf, lo, hi, of, ob + ox * c, iy0, i0, i1, cols[ox, 0], cols[ox, 1], cols[ox, 2], dh, dw)
            for ox in range(xb, ow):
                _dw_pixel(xf, b, h, w, c, wf, kh, kw, bf, lo, hi, of, ob + ox * c, iy0, i0, i1, cols[ox, 0], cols[ox, 1], cols[ox, 2], dh, dw)
            r0 = (b * h + iy0) * w * c
            r1 = r0 + dh * w * c
            r2 = r1 + dh * w * c
            d1 = dw * c
            d2 = 2 * dw * c
            for t in range((c + L - 1) // L):
                c0 = min(t * L, c - L)  # the last vector overlaps the one before when C % LANES != 0
                w00 = vload(wf, c0)
                w01 = vload(wf, c + c0)
                w02 = vload(wf, 2 * c + c0)
                w10 = vload(wf, 3 * c + c0)
                w11 = vload(wf, 4 * c + c0)
                w12 = vload(wf, 5 * c + c0)
                w20 = vload(wf, 6 * c + c0)
                w21 = vload(wf, 7 * c + c0)
                w22 = vload(wf, 8 * c + c0)
                bias = vload(bf, c0)
                for ox in range(xa, xb):
                    q = cols[ox, 0] * c + c0
                    a = vfma(vload(xf, r0 + q), w00, bias)
                    a = vfma(vload(xf, r0 + q + d1), w01, a)
                    a = vfma(vload(xf, r0 + q + d2), w02, a)
                    a = vfma(vload(xf, r1 + q), w10, a)
                    a = vfma(vload(xf, r1 + q + d1), w11, a)
                    a = vfma(vload(xf, r1 + q + d2), w12, a)
                    a = vfma(vload(xf, r2 + q), w20, a)
                    a = vfma(vload(xf, r2 + q + d1), w21, a)
                    a = vfma(vload(xf, r2 + q + d2), w22, a)
                    vstore(of, ob + ox * c + c0, vclip(a, lo, hi))


@njit(cache=True, nogil=True)
def _pool(xf, n, h, w, c, kh, kw, is_max, div, lo, hi, of, oh, ow, sh, sw, pt, pl):  # pragma: no cover
    """NHWC max pool (out-of-range taps skipped = -inf padding) or sum pool divided by ``div[oy, ox]`` (C >= LANES).

    Four channel vectors at a time, then single vectors; the last one
    overlaps the one before when C % LANES != 0 (see :func:`_dw_pixel`).
    """
    L = LANES
    c4 = c // (4 * L) * (4 * L)
    init = -np.inf if is_max else 0.0
    rows = _tap_ranges(oh, sh, pt, 1, kh, h)
    cols = _tap_ranges(ow, sw, pl, 1, kw, w)
    for b in range(n):
        for oy in range(oh):
            iy0, i0, i1 = rows[oy, 0], rows[oy, 1], rows[oy, 2]
            for ox in range(ow):
                ix0, j0, j1 = cols[ox, 0], cols[ox, 1], cols[ox, 2]
                ob = ((b * oh + oy) * ow + ox) * c
                r = vsplat(np.float32(1.0) / div[oy * ow + ox]) if not is_max else vsplat(np.float32(1.0))
                for c0 in range(0, c4, 4 * L):
                    a0 = vsplat(init)
                    a1, a2, a3 = a0, a0, a0
                    for i in range(i0, i1):
                        xb = ((b * h + iy0 + i) * w + ix0) * c + c0
                        for j in range(j0, j1):
                            q = xb + j * c
                            if is_max:
                                a0 = vmax(a0, vload(xf, q))
                                a1 = vmax(a1, vload(xf, q + L))
                                a2 = vmax(a2, vload(xf, q + 2 * L))
                                a3 = vmax(a3, vload(xf, q + 3 * L))
                            else:
                                a0 = vadd(a0, vload(xf, q))
                                a1 = vadd(a1, vload(xf, q + L))
                                a2 = vadd(a2, vload(xf, q + 2 * L))
                                a3 = vadd(a3, vload(xf, q + 3 * L))
                    if not is_max:
                        a0, a1, a2, a3 = vmul(a0, r), vmul(a1, r), vmul(a2, r), vmul(a3, r)
                    vstore(of, ob + c0, vclip(a0, lo, hi))
                    vstore(of, ob + c0 + L, vclip(a1, lo, hi))
                    vstore(of, ob + c0 + 2 * L, vclip(a2, lo, hi))
                    vstore(of, ob + c0 + 3 * L, vclip(a3, lo, hi))
                for t in range(c4 // L, (c + L - 1) // L):
                    c0 = min(t * L, c - L)
                    a0 = vsplat(init)
                    for i in range(i0, i1):
                        xb = ((b * h + iy0 + i) * w + ix0) * c + c0
                        for j in range(j0, j1):
                            if is_max:
                                a0 = vmax(a0, vload(xf, xb + j * c))
                            else:
                                a0 = vadd(a0, vload(xf, xb + j * c))
                    if not is_max:
                        a0 = vmul(a0, r)
                    vstore(of, ob + c0, vclip(a0, lo, hi))


def empty(shape: tuple[int, ...]) -> np.ndarray:
    """Uninitialised float32 array whose data starts on a 64-byte boundary.

    Why: NumPy only guarantees 16 bytes, so every 64-byte vector load of a
    16-aligned array straddles two cache lines; aligned activations make the
    depthwise and pooling kernels 1.3-1.6x faster.
    """
    n = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(n + 16, F32)
    off = (-raw.ctypes.data % 64) // 4
    return raw[off : off + n].reshape(shape)


def _geometry_ok(x: np.ndarray, oh: int, ow: int, k: tuple[int, int], stride: tuple[int, int], dil: tuple[int, int]) -> bool:
    """The input is contiguous NHWC float32 with at least one vector of channels, and the window sizes are positive."""
    return x.dtype == F32 and x.ndim == 4 and x.flags.c_contiguous and x.shape[3] >= LANES and min(oh, ow) >= 0 and min(*k, *stride, *dil) >= 1


def depthwise(x: np.ndarray, w: np.ndarray, bias: np.ndarray, pads: tuple[int, int, int, int], oh: int, ow: int,
              stride: tuple[int, int], dil: tuple[int, int], lo: np.float32, hi: np.float32) -> np.ndarray:
    """NHWC depthwise convolution with fused bias and clip; ``w`` is (KH, KW, C), ``bias`` (C,), both float32 C-contiguous."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    if not _geometry_ok(x, oh, ow, (kh, kw), stride, dil) or w.shape != (kh, kw, c) or bias.shape != (c,) \
            or w.dtype != F32 or bias.dtype != F32 or not w.flags.c_contiguous:
        raise ValueError("depthwise: operand shape/layout mismatch")
    out = empty((n, oh, ow, c))
    if out.size:
        _depthwise(x.reshape(-1), n, h, wd, c, w.reshape(-1), kh, kw, bias, F32(lo), F32(hi), out.reshape(-1), oh, ow,
                   stride[0], stride[1], dil[0], dil[1], pads[0], pads[1])
    return out


def pool(x: np.ndarray, k: tuple[int, int], stride: tuple[int, int], pads: tuple[int, int, int, int], oh: int, ow: int,
         div: np.ndarray | None, lo: np.float32, hi: np.float32) -> np.ndarray:
    """NHWC max pool (``div`` None) or average pool (sum / ``div``, an (OH, OW) float32 count array), clip fused."""
    n, h, w, c = x.shape
    if not _geometry_ok(x, oh, ow, k, stride, (1, 1)):
        raise ValueError("pool: operand shape/layout mismatch")
    if div is None:
        d = np.ones(1, F32)
    else:
        d = np.ascontiguousarray(div, dtype=F32).reshape(-1)
        if d.size != oh * ow:
            raise ValueError("pool: divisor shape mismatch")
    out = empty((n, oh, ow, c))
    if out.size:
        _pool(x.reshape(-1), n, h, w, c, k[0], k[1], div is None, d, F32(lo), F32(hi), out.reshape(-1), oh, ow,
              stride[0], stride[1], pads[0], pads[1])
    return out


# ------------------------------------------------------------------ sparse (pruned + quantized) Linear


@intrinsic
def _load_u64(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """8 bytes of a uint8 array from byte i (unaligned, little-endian) as uint64; the caller pads the array."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.uint8 and arr.ndim == 1 and arr.layout == "C" and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        return builder.load(builder.bitcast(p, ir.IntType(64).as_pointer()), align=1)

    return types.uint64(arr, i), codegen


@intrinsic
def _prefetch(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """Hint the cache line holding byte i of a uint8 array into cache (no fault if out of range, but callers clamp)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.uint8 and arr.ndim == 1 and arr.layout == "C" and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        i8p = ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, _I32, _I32, _I32]), "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(p, i8p), ir.Constant(_I32, 0), ir.Constant(_I32, 3), ir.Constant(_I32, 1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen


PREFETCH_BYTES = 2048  # rows' entries are fetched this far ahead: 30% faster for an 11 MB layer not in cache, 4% slower in cache


@lru_cache(maxsize=None)
def _sparse_kernels(width: int) -> tuple[Any, Any]:
    """The two sparse kernels for one entry layout, with its shifts and masks as compile-time constants.

    Entry e is the little-endian integer ``q | col << qbits`` in ``width``
    bytes at ent[width * e]: one unaligned 8-byte load (the array is padded)
    instead of two index streams. Width 3 = 8-bit q + 16-bit column, 4 =
    16 + 16, 5 = 8 + 32, 6 = 16 + 32. Constants instead of arguments: 8% faster.
    """
    qbits = 8 if width in (3, 5) else 16
    qb = np.uint64(qbits)
    qm = np.uint64((1 << qbits) - 1)
    cm = np.uint64((1 << (8 * width - qbits)) - 1)
    ahead = PREFETCH_BYTES

    @njit(cache=True, nogil=True)
    def vec(indptr, ent, cb, scale, x, y):  # pragma: no cover
        """y[r] = scale[r] * sum_e cb[q_e] * x[col_e] over row r's entries (batch 1).

        Four partial sums; the loop is bound by its 3 loads per weight.
        """
        last = ent.size - 1
        for r in range(indptr.size - 1):
            e = indptr[r]
            e1 = indptr[r + 1]
            for line in range((width * e + ahead) // 64 * 64, width * e1 + ahead, 64):
                _prefetch(ent, min(line, last))
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            s3 = np.float32(0.0)
            while e + 4 <= e1:
                v0 = _load_u64(ent, width * e)
                v1 = _load_u64(ent, width * (e + 1))
                v2 = _load_u64(ent, width * (e + 2))
                v3 = _load_u64(ent, width * (e + 3))
                s0 += cb[v0 & qm] * x[(v0 >> qb) & cm]
                s1 += cb[v1 & qm] * x[(v1 >> qb) & cm]
                s2 += cb[v2 & qm] * x[(v2 >> qb) & cm]
                s3 += cb[v3 & qm] * x[(v3 >> qb) & cm]
                e += 4
            while e < e1:
                v0 = _load_u64(ent, width * e)
                s0 += cb[v0 & qm] * x[(v0 >> qb) & cm]
                e += 1
            y[r] = ((s0 + s1) + (s2 + s3)) * scale[r]

    @njit(cache=True, nogil=True)
    def lanes(indptr, ent, cb, scale, xt, yt):  # pragma: no cover
        """Up to LANES samples at once: ``xt`` is (in, LANES) and ``yt`` (out, LANES), batch along the vector.

        Each stored weight is read once for all samples: one broadcast
        codebook value times one contiguous vector of inputs.
        """
        L = LANES
        last = ent.size - 1
        for r in range(indptr.size - 1):
            e = indptr[r]
            e1 = indptr[r + 1]
            for line in range((width * e + ahead) // 64 * 64, width * e1 + ahead, 64):
                _prefetch(ent, min(line, last))
            a0 = vsplat(np.float32(0.0))
            a1, a2, a3 = a0, a0, a0
            while e + 4 <= e1:
                v0 = _load_u64(ent, width * e)
                v1 = _load_u64(ent, width * (e + 1))
                v2 = _load_u64(ent, width * (e + 2))
                v3 = _load_u64(ent, width * (e + 3))
                a0 = vfma(vbload(cb, v0 & qm), vload(xt, ((v0 >> qb) & cm) * L), a0)
                a1 = vfma(vbload(cb, v1 & qm), vload(xt, ((v1 >> qb) & cm) * L), a1)
                a2 = vfma(vbload(cb, v2 & qm), vload(xt, ((v2 >> qb) & cm) * L), a2)
                a3 = vfma(vbload(cb, v3 & qm), vload(xt, ((v3 >> qb) & cm) * L), a3)
                e += 4
            while e < e1:
                v0 = _load_u64(ent, width * e)
                a0 = vfma(vbload(cb, v0 & qm), vload(xt, ((v0 >> qb) & cm) * L), a0)
                e += 1
            vstore(yt, r * L, vmul(vadd(vadd(a0, a1), vadd(a2, a3)), vbload(scale, r)))

    return vec, lanes


class SparseRows:
    """A pruned, codebook-quantized weight (out, in) packed for :func:`sparse_matmul_t`.

    Built from CSR values whose distinct values form the codebook (a Deep
    Compression layer has at most 2**bits of them): per stored weight a
    codebook index (8 bits when <= 256 entries, else 16) and a column (16
    bits when in <= 65536, else 32) packed into 3-6 bytes, instead of 8
    for float32 CSR or 4 per weight, zero or not, for dense.
    """

    __slots__ = ("indptr", "ent", "width", "qbits", "cbits", "codebook", "scale", "shape")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, q: np.ndarray, codebook: np.ndarray,
                 shape: tuple[int, int], scale: np.ndarray | None = None) -> None:
        rows, cols = shape
        nnz = int(indices.size)
        indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        if (indptr.shape != (rows + 1,) or q.shape != (nnz,) or codebook.ndim != 1 or codebook.size == 0 or codebook.size > 1 << 16
                or (nnz and (int(indptr[0]) != 0 or int(indptr[-1]) != nnz or np.any(np.diff(indptr) < 0)))
                or (nnz and (int(indices.min()) < 0 or int(indices.max()) >= cols or int(q.max()) >= codebook.size))
                or (not nnz and int(indptr[-1]) != 0)):
            raise ValueError("SparseRows: inconsistent arrays")
        self.qbits = 8 if codebook.size <= 1 << 8 else 16
        self.cbits = 16 if cols <= 1 << 16 else 32
        self.width = (self.qbits + self.cbits) // 8
        packed = q.astype(np.uint64) | (indices.astype(np.uint64) << np.uint64(self.qbits))
        ent = np.zeros(self.width * nnz + 8, np.uint8)  # +8: the last entry is read with an 8-byte load
        if nnz:
            ent[: self.width * nnz].reshape(nnz, self.width)[...] = packed.astype("<u8").view(np.uint8).reshape(nnz, 8)[:, : self.width]
        self.indptr, self.ent, self.shape = indptr, ent, (rows, cols)
        self.codebook = np.ascontiguousarray(codebook, dtype=F32)
        self.scale = np.ones(rows, F32) if scale is None else np.ascontiguousarray(scale, dtype=F32)
        if self.scale.shape != (rows,):
            raise ValueError("SparseRows: scale must have one entry per row")

    @property
    def nbytes(self) -> int:
        return int(self.ent.nbytes + self.indptr.nbytes + self.codebook.nbytes)


def sparse_matmul_t(sr: SparseRows, x: np.ndarray) -> np.ndarray:
    """x @ W.T for x (M, in) float32 -> (M, out) float32, C-contiguous."""
    rows, cols = sr.shape
    if x.ndim != 2 or x.shape[1] != cols:
        raise ValueError("sparse_matmul_t: input shape mismatch")
    x = np.ascontiguousarray(x, dtype=F32)
    m = x.shape[0]
    vec, lanes = _sparse_kernels(sr.width)
    if m == 1:
        y = np.empty((1, rows), F32)
        vec(sr.indptr, sr.ent, sr.codebook, sr.scale, x[0], y[0])
        return y
    y = np.empty((m, rows), F32)
    xt = empty((cols, LANES))
    yt = empty((rows, LANES))
    for b0 in range(0, m, LANES):
        nb = min(LANES, m - b0)
        xt[:, :nb] = x[b0 : b0 + nb].T
        xt[:, nb:] = 0
        lanes(sr.indptr, sr.ent, sr.codebook, sr.scale, xt.reshape(-1), yt.reshape(-1))
        y[b0 : b0 + nb] = yt[:, :nb].T
    return y
