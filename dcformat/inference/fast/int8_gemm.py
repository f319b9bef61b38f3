"""Compiled int8 convolution / Linear (spec/INT8.md §4): int16 multiply-add pairs, im2col fused, requantization fused.

Why int16 pairs: without VNNI, AVX2's ``vpmaddwd`` is the widest exact integer
multiply-add. It multiplies 16 int16 pairs and adds neighbours into 8 int32
lanes, i.e. 16 multiply-adds per instruction (a float32 FMA does 8). The
operands are ``x_q - z_in`` (in [-255, 255]) and ``w_q`` (in [-127, 127]), so a
pair sum is at most 64 770 in magnitude and the int32 accumulator is exact for
K <= 66 000 (spec/INT8.md §2): the result is bit-identical to the NumPy
reference, which tests/test_int8.py checks.

Layout: weights are packed once (at model load) into int8 panels of 16 output
channels, each reduction pair (k, k+1) of a channel stored next to each other,
so one 16-byte sign-extending load (``vpmovsxbw``) gives two vectors' worth of
pairs (int8 rather than int16 panels: a batch-1 run streams every weight from
memory once, and the late, weight-heavy layers run 5-25% faster). Patch rows are
widened and centered into a small int16 buffer block by block (zero for
padding, which is ``x_q = z_in``; 16 bytes per ``vpmovsxbw``, :func:`widen`:
numba leaves the plain loop scalar, which cost a third of a narrow 1x1
convolution's time), so the GEMM tile reads a broadcast 32-bit
pair per row; a dense convolution with a window skips that copy
(``qconv_implicit``: the input is widened once into a padded int16 image and
each pair is read in place at a per-pair offset). The tile (6 rows x 16
channels) keeps 12 int32 vectors in registers over the whole K loop.

Requantization (spec/INT8.md §3) is exact and vectorised: one 64-bit
multiply per lane (``vpmuldq``), SRDHM's rounding as one added constant and
one logical shift, RDBPOT in int32 lanes; where the layer's accumulator bound
proves |acc + bias| < 2^30, the saturating add of the bias is dropped and
RDBPOT's half joins SRDHM's constant, its sign term taken from the
accumulator's sign (see :func:`_rq8_intrinsic` for the proof); 16 channels
are packed to int8 with saturating packs and byte clamps. Depthwise layers use
``vpmaddwd`` on horizontal tap pairs over input rows widened once into a ring
of int16 pair rows (row borders too, one partner zero).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.extending import intrinsic, models, register_model

_I32 = ir.IntType(32)
_I16 = ir.IntType(16)
_V8I32 = ir.VectorType(_I32, 8)
_V16I16 = ir.VectorType(_I16, 16)
_V16I32 = ir.VectorType(_I32, 16)
_DT8, _DT16 = np.dtype(np.int8), np.dtype(np.int16)  # dtype objects: cheaper to compare than np.int8
PANEL = 16  # output channels per packed panel (two vectors of 8 int32 lanes)
ROWS = 6  # output rows per register tile (12 accumulators + 2 weight vectors + 1 broadcast: 15 of 16 registers)

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


def _splat(builder, x, vt):  # type: ignore[no-untyped-def]
    """The scalar ``x`` in every lane of a vector of type ``vt``."""
    v = builder.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(_I32, vt.count), [0] * vt.count))


def _splat32(builder, x):  # type: ignore[no-untyped-def]
    return _splat(builder, x, _V8I32)


def _zp16(context, builder, sig, args, k):  # type: ignore[no-untyped-def]
    """Intrinsic argument ``k`` (an input zero point, -128..127) as an int16 scalar."""
    return builder.trunc(context.cast(builder, args[k], sig.args[k], types.int32), _I16)


_PAIRS8 = ir.Constant(ir.VectorType(_I32, 16), [j // 2 + 8 * (j % 2) for j in range(16)])  # (a0, b0, a1, b1, ...)


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
def wload8(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """16 int8 at arr[i:] sign-extended to int16 (``vpmovsxbw``: 8 channel pairs, as :func:`wload` gives them)."""
    if not (_flat(arr, types.int8) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        v = builder.load(builder.bitcast(p, ir.VectorType(ir.IntType(8), 16).as_pointer()), align=1)
        return builder.bitcast(builder.sext(v, _V16I16), _V8I32)

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
def iadd(typingctx, a, b):  # type: ignore[no-untyped-def]
    """Lane-wise int32 a + b."""
    if not (a == IVEC and b == IVEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.add(args[0], args[1])

    return IVEC(a, b), codegen


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


@intrinsic
def widen16(typingctx, x, i, z, a, o):  # type: ignore[no-untyped-def]
    """a[o:o+16] = x[i:i+16] - z as int16 (one ``vpmovsxbw`` and one ``vpsubw``)."""
    if not (_flat(x, types.int8) and _flat(a, types.int16) and isinstance(i, types.Integer) and isinstance(o, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        v16i8 = ir.VectorType(ir.IntType(8), 16)
        p = _ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        v = builder.sext(builder.load(builder.bitcast(p, v16i8.as_pointer()), align=1), _V16I16)
        zs = _splat(builder, _zp16(context, builder, sig, args, 2), _V16I16)
        dst = _ptr(context, builder, sig.args[3], args[3], args[4], sig.args[4])
        builder.store(builder.sub(v, zs), builder.bitcast(dst, _V16I16.as_pointer()), align=2)
        return context.get_dummy_value()

    return types.void(x, i, z, a, o), codegen


@njit(cache=True, nogil=True, inline="always")
def widen(x, i, n, z, a, o):  # pragma: no cover - compiled
    """a[o:o+n] = x[i:i+n] - z as int16: 16 at a time, the tail scalar (numba leaves the plain loop scalar)."""
    n16 = n // 16 * 16
    for e in range(0, n16, 16):
        widen16(x, i + e, z, a, o + e)
    for e in range(n16, n):
        a[o + e] = np.int16(x[i + e]) - z


# ------------------------------------------------------------------ requantization epilogue


@intrinsic
def ivload(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """arr[i:i+8] (int32) as a vector."""
    if not (_flat(arr, types.int32) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        return builder.load(builder.bitcast(p, _V8I32.as_pointer()), align=4)

    return IVEC(arr, i), codegen


@intrinsic
def iget(typingctx, v, i):  # type: ignore[no-untyped-def]
    """Lane i of v as int64."""
    if not (v == IVEC and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        e = builder.extract_element(args[0], context.cast(builder, args[1], sig.args[1], types.int32))
        return builder.sext(e, ir.IntType(64))

    return types.int64(v, i), codegen


@intrinsic
def bstore8(typingctx, arr, i, v):  # type: ignore[no-untyped-def]
    """arr[i:i+8] = v's lanes as int8 (already in range)."""
    if not (_flat(arr, types.int8) and isinstance(i, types.Integer) and v == IVEC):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        p = _ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        b = builder.trunc(args[2], ir.VectorType(ir.IntType(8), 8))
        builder.store(b, builder.bitcast(p, b.type.as_pointer()), align=1)
        return context.get_dummy_value()

    return types.void(arr, i, v), codegen


def _rq_lanes(context, builder, sig, args, acc, k32, kc, kzp, extra, saturate):  # type: ignore[no-untyped-def]
    """IR of ``zp + MBQM(sat32(acc + bias), M0, -n)`` (unclamped) for the 8 channels at args[kc] (+ ``extra``), with
    the parameters of :func:`lane_params` in args[k32]; see :func:`_rq8_intrinsic`."""
    i64 = ir.IntType(64)
    v4 = ir.VectorType(i64, 4)
    c = context.cast(builder, args[kc], sig.args[kc], types.intp)
    if extra is not None:
        c = builder.add(c, ir.Constant(i64, extra))
    base = builder.mul(c, ir.Constant(i64, RQ_VECTORS))
    ary = context.make_array(sig.args[k32])(context, builder, args[k32])

    def load(off):  # type: ignore[no-untyped-def]
        ptr = builder.gep(ary.data, [builder.add(base, ir.Constant(i64, off))])
        return builder.load(builder.bitcast(ptr, _V8I32.as_pointer()), align=4)

    b, m, mo, mask, half, n, ne, no, f = (load(8 * j) for j in range(RQ_VECTORS))
    c32 = ir.Constant(v4, [32] * 4)
    und = ir.Constant(_V8I32, ir.Undefined)

    def sext_low(v):  # type: ignore[no-untyped-def]  # the shl/ashr pair that selects vpmuldq
        return builder.ashr(builder.shl(builder.bitcast(v, v4), c32), c32)

    zp = _splat32(builder, context.cast(builder, args[kzp], sig.args[kzp], types.int32))
    if not saturate:
        # |acc + bias| < 2^30 (lane_params' mode 2): r + 2^(n-1) fits int32, so RDBPOT's half is added with SRDHM's
        # nudge in 64 bits and its sign correction comes from x's sign (see _rq8_intrinsic)
        x = builder.add(acc, b)
        xo = builder.shuffle_vector(x, und, ir.Constant(_V8I32, [1, 1, 3, 3, 5, 5, 7, 7]))
        qe = builder.add(builder.mul(sext_low(x), sext_low(m)), builder.bitcast(ne, v4))
        qo = builder.add(builder.mul(sext_low(xo), sext_low(mo)), builder.bitcast(no, v4))
        re = builder.bitcast(builder.lshr(qe, ir.Constant(v4, [31] * 4)), _V8I32)
        ro = builder.bitcast(builder.shl(qo, ir.Constant(v4, [1] * 4)), _V8I32)
        r = builder.shuffle_vector(re, ro, ir.Constant(_V8I32, [0, 9, 2, 11, 4, 13, 6, 15]))
        neg = builder.and_(builder.ashr(x, ir.Constant(_V8I32, [31] * 8)), f)
        return builder.add(builder.ashr(builder.add(r, neg), n), zp)
    sat = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V8I32, [_V8I32, _V8I32]), "llvm.sadd.sat.v8i32")
    x = builder.call(sat, [acc, b])
    nudge = ir.Constant(v4, [1 << 30] * 4)
    xo = builder.shuffle_vector(x, und, ir.Constant(_V8I32, [1, 1, 3, 3, 5, 5, 7, 7]))
    qe = builder.add(builder.mul(sext_low(x), sext_low(m)), nudge)  # p + 2^30, even lanes
    qo = builder.add(builder.mul(sext_low(xo), sext_low(mo)), nudge)  # odd lanes
    # SRDHM = (p + 2^30) >> 31 fits int32: bits 31..62, the low half of qe >> 31 and the high half of qo << 1
    re = builder.bitcast(builder.lshr(qe, ir.Constant(v4, [31] * 4)), _V8I32)
    ro = builder.bitcast(builder.shl(qo, ir.Constant(v4, [1] * 4)), _V8I32)
    r = builder.shuffle_vector(re, ro, ir.Constant(_V8I32, [0, 9, 2, 11, 4, 13, 6, 15]))
    # RDBPOT(r, n) in int32 lanes: (r >> n) + [(r & mask) > (mask >> 1) + [r < 0]]
    thr = builder.sub(half, builder.ashr(r, ir.Constant(_V8I32, [31] * 8)))
    up = builder.icmp_signed(">", builder.and_(r, mask), thr)
    y = builder.sub(builder.ashr(r, n), builder.sext(up, _V8I32))
    return builder.add(y, zp)


def _pack16_store(context, builder, sig, args, ys, klo, khi, kout, ko):  # type: ignore[no-untyped-def]
    """Store the 16 int32 lanes ``ys`` (two vectors, channels in order) as int8 at args[kout][args[ko]:], saturated
    by ``vpackssdw`` / ``vpacksswb`` then clamped to [args[klo], args[khi]] as bytes (saturation then a clamp within
    int8 equals the clamp)."""
    v8i16 = ir.VectorType(_I16, 8)
    v16i8 = ir.VectorType(ir.IntType(8), 16)
    pdw = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V16I16, [_V8I32, _V8I32]), "llvm.x86.avx2.packssdw")
    pwb = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v16i8, [v8i16, v8i16]), "llvm.x86.sse2.packsswb.128")
    w = builder.call(pdw, ys)  # int16 [y0 0-3, y1 0-3 | y0 4-7, y1 4-7]
    und16 = ir.Constant(_V16I16, ir.Undefined)
    lo8 = builder.shuffle_vector(w, und16, ir.Constant(ir.VectorType(_I32, 8), list(range(8))))
    hi8 = builder.shuffle_vector(w, und16, ir.Constant(ir.VectorType(_I32, 8), list(range(8, 16))))
    b = builder.call(pwb, [lo8, hi8])  # int8 [y0 0-3, y1 0-3, y0 4-7, y1 4-7]
    order = [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15]
    b = builder.shuffle_vector(b, ir.Constant(v16i8, ir.Undefined), ir.Constant(ir.VectorType(_I32, 16), order))

    def splat8(k):  # type: ignore[no-untyped-def]
        v = builder.trunc(context.cast(builder, args[k], sig.args[k], types.int32), ir.IntType(8))
        v = builder.insert_element(ir.Constant(v16i8, ir.Undefined), v, ir.Constant(_I32, 0))
        return builder.shuffle_vector(v, ir.Constant(v16i8, ir.Undefined), ir.Constant(ir.VectorType(_I32, 16), [0] * 16))

    lo_v, hi_v = splat8(klo), splat8(khi)
    b = builder.select(builder.icmp_signed("<", b, lo_v), lo_v, b)
    b = builder.select(builder.icmp_signed(">", b, hi_v), hi_v, b)
    dst = _ptr(context, builder, sig.args[kout], args[kout], args[ko], sig.args[ko])
    builder.store(b, builder.bitcast(dst, v16i8.as_pointer()), align=1)


def _rq16_intrinsic(saturate: bool):  # type: ignore[no-untyped-def]
    """out[o:o+16] = clamp(zp + MBQM(sat32(acc[i:i+16] + bias), M0, -n), lo, hi) for channels c..c+15."""

    @intrinsic
    def rq16(typingctx, acc, i, p32, c, zp, lo, hi, out, o):  # type: ignore[no-untyped-def]
        if not (_flat(acc, types.int32) and _flat(p32, types.int32) and _flat(out, types.int8)
                and isinstance(c, types.Integer) and isinstance(i, types.Integer) and isinstance(o, types.Integer)):
            return None

        def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
            ys = []
            for h in (0, 8):
                p = _ptr(context, builder, sig.args[0], args[0], builder.add(args[1], ir.Constant(args[1].type, h)), sig.args[1])
                a = builder.load(builder.bitcast(p, _V8I32.as_pointer()), align=4)
                ys.append(_rq_lanes(context, builder, sig, args, a, 2, 3, 4, h, saturate))
            _pack16_store(context, builder, sig, args, ys, 5, 6, 7, 8)
            return context.get_dummy_value()

        return types.void(acc, i, p32, c, zp, lo, hi, out, o), codegen

    return rq16


def _rq16v_intrinsic(saturate: bool):  # type: ignore[no-untyped-def]
    """As :func:`_rq16_intrinsic`, the 16 accumulators given as two vectors (channels c..c+7, c+8..c+15)."""

    @intrinsic
    def rq16v(typingctx, a0, a1, p32, c, zp, lo, hi, out, o):  # type: ignore[no-untyped-def]
        if not (a0 == IVEC and a1 == IVEC and _flat(p32, types.int32) and _flat(out, types.int8)
                and isinstance(c, types.Integer) and isinstance(o, types.Integer)):
            return None

        def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
            ys = [_rq_lanes(context, builder, sig, args, args[k], 2, 3, 4, h, saturate) for k, h in ((0, 0), (1, 8))]
            _pack16_store(context, builder, sig, args, ys, 5, 6, 7, 8)
            return context.get_dummy_value()

        return types.void(a0, a1, p32, c, zp, lo, hi, out, o), codegen

    return rq16v


rq16vs = _rq16v_intrinsic(True)
rq16vn = _rq16v_intrinsic(False)
rq16s = _rq16_intrinsic(True)
rq16n = _rq16_intrinsic(False)


def _rq8_intrinsic(saturate: bool):  # type: ignore[no-untyped-def]
    """The lane-wise requantization ``clamp(zp + MBQM(sat32(acc + bias), M0, -n), lo, hi)`` for shifts <= 0.

    Exact rewrite of spec/INT8.md §3 for M0 in [0, 2^31) and right shifts
    n <= 31 (n >= 32 is stored as M0 = 0, the same zero result), with p = x*M0
    (64-bit, ``vpmuldq`` on even and odd lanes):

        SRDHM = floor((p + 2^30) / 2^31)  (= the spec's rounding, M0 >= 0; spec/INT8.md §3),
        which fits int32, so it is bits 31..62 of p + 2^30 (a logical 64-bit shift suffices);
        RDBPOT(r, n) = (r >> n) + [(r & (2^n - 1)) > ((2^n - 1) >> 1) + [r < 0]]  in int32 lanes,

    the spec's formula itself (arithmetic shift, ``vpsravd``). Parameters: :func:`lane_params`.

    ``saturate`` False: the caller has proven |x| = |acc + bias| < 2^30 (no
    saturation), and three operations fewer compute the same value. For n >= 1,
    RDBPOT(r, n) = floor((r + 2^(n-1) - [r < 0]) / 2^n) (both sides round r / 2^n
    half away from zero), and r + 2^(n-1) = floor((p + 2^30 + 2^(n-1) * 2^31) / 2^31),
    which fits int32 as |r| <= |x| < 2^30: one 64-bit nudge per channel then
    replaces SRDHM's. [r < 0] may be replaced by [x < 0]: they differ only when
    x < 0 and r = 0, where both give floor((2^(n-1) - [.]) / 2^n) = 0. So
        y = (r' + ([x < 0] ? -1 : 0)) >> n,  r' = bits 31..62 of p + 2^30 + 2^(n-1) * 2^31,
    and for n = 0 (y = r) the nudge is 2^30 and the sign term is masked off.
    tests/test_int8_kernels.py checks both forms against the int64 reference on
    ties, the extreme shifts and the bounds.
    """

    @intrinsic
    def rq8(typingctx, acc, p32, c, zp, lo, hi):  # type: ignore[no-untyped-def]
        if not (acc == IVEC and _flat(p32, types.int32) and isinstance(c, types.Integer)):
            return None

        def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
            y = _rq_lanes(context, builder, sig, args, args[0], 1, 2, 3, None, saturate)
            lo_v = _splat32(builder, context.cast(builder, args[4], sig.args[4], types.int32))
            hi_v = _splat32(builder, context.cast(builder, args[5], sig.args[5], types.int32))
            y = builder.select(builder.icmp_signed("<", y, lo_v), lo_v, y)
            return builder.select(builder.icmp_signed(">", y, hi_v), hi_v, y)

        return IVEC(acc, p32, c, zp, lo, hi), codegen

    return rq8


rq8s = _rq8_intrinsic(True)
rq8n = _rq8_intrinsic(False)


@njit(cache=True, nogil=True, inline="always")
def rq8(v, mode, p32, c, zp, lo, hi):  # pragma: no cover - compiled
    """:func:`rq8n` when ``mode`` is 2 (no saturation possible), else :func:`rq8s`."""
    if mode == 2:
        return rq8n(v, p32, c, zp, lo, hi)
    return rq8s(v, p32, c, zp, lo, hi)


@njit(cache=True, nogil=True)
def requant_lanes(acc, mode, p32, zp, lo, hi, out):  # pragma: no cover - compiled
    """out[i] = rq8 of acc[i] (channel i % width): the vector epilogue alone, for tests against the reference."""
    width = p32.size // RQ_VECTORS
    for i in range(0, acc.size, 8):
        c = i % width
        bstore8(out, i, rq8(ivload(acc, i), mode, p32, c, zp, lo, hi))


@njit(cache=True, nogil=True)
def put8(v, out, o, n):  # pragma: no cover - compiled
    """Store the first min(n, 8) lanes of v at out[o:]."""
    if n >= 8:
        bstore8(out, o, v)
    else:
        for lane in range(n):
            out[o + lane] = np.int8(iget(v, lane))



@njit(cache=True, nogil=True)
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
    """int32 acc[r*16 : r*16+16] = rows m0+r (r < 6; rows past nrows repeat the last) x the 16 channels of the panel
    at wp[wb:], summed over kp2 pairs."""
    last = m0 + nrows - 1
    a0 = ab[m0]
    a1 = ab[min(m0 + 1, last)]
    a2 = ab[min(m0 + 2, last)]
    a3 = ab[min(m0 + 3, last)]
    a4 = ab[min(m0 + 4, last)]
    a5 = ab[min(m0 + 5, last)]
    c00 = izero()
    c01 = izero()
    c10 = izero()
    c11 = izero()
    c20 = izero()
    c21 = izero()
    c30 = izero()
    c31 = izero()
    c40 = izero()
    c41 = izero()
    c50 = izero()
    c51 = izero()
    q = wb
    for t in range(kp2):
        w0 = wload8(wp, q)
        w1 = wload8(wp, q + 16)
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
        x = pbcast(a, a4 + k)
        c40 = madd(c40, x, w0)
        c41 = madd(c41, x, w1)
        x = pbcast(a, a5 + k)
        c50 = madd(c50, x, w0)
        c51 = madd(c51, x, w1)
        q += 32
    istore(acc, 0, c00)
    istore(acc, 8, c01)
    istore(acc, 16, c10)
    istore(acc, 24, c11)
    istore(acc, 32, c20)
    istore(acc, 40, c21)
    istore(acc, 48, c30)
    istore(acc, 56, c31)
    istore(acc, 64, c40)
    istore(acc, 72, c41)
    istore(acc, 80, c50)
    istore(acc, 88, c51)


@njit(cache=True, nogil=True)
def _tile_off(a, ab, m0, nrows, off, kp2, wp, wb, acc):  # pragma: no cover - compiled
    """As :func:`_tile`, pair t of row r read at a[ab[m0+r] + off[t]] (the input image itself, no im2col)."""
    last = m0 + nrows - 1
    a0 = ab[m0]
    a1 = ab[min(m0 + 1, last)]
    a2 = ab[min(m0 + 2, last)]
    a3 = ab[min(m0 + 3, last)]
    a4 = ab[min(m0 + 4, last)]
    a5 = ab[min(m0 + 5, last)]
    c00 = izero()
    c01 = izero()
    c10 = izero()
    c11 = izero()
    c20 = izero()
    c21 = izero()
    c30 = izero()
    c31 = izero()
    c40 = izero()
    c41 = izero()
    c50 = izero()
    c51 = izero()
    q = wb
    for t in range(kp2):
        w0 = wload8(wp, q)
        w1 = wload8(wp, q + 16)
        k = off[t]
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
        x = pbcast(a, a4 + k)
        c40 = madd(c40, x, w0)
        c41 = madd(c41, x, w1)
        x = pbcast(a, a5 + k)
        c50 = madd(c50, x, w0)
        c51 = madd(c51, x, w1)
        q += 32
    istore(acc, 0, c00)
    istore(acc, 8, c01)
    istore(acc, 16, c10)
    istore(acc, 24, c11)
    istore(acc, 32, c20)
    istore(acc, 40, c21)
    istore(acc, 48, c30)
    istore(acc, 56, c31)
    istore(acc, 64, c40)
    istore(acc, 72, c41)
    istore(acc, 80, c50)
    istore(acc, 88, c51)


@njit(cache=True, nogil=True)
def _tile1(a, ab, m0, kp2, wp, wb, acc):  # pragma: no cover - compiled
    """:func:`_tile` for one row (a Linear at batch 1, the last row of a block): acc[0:16]."""
    a0 = ab[m0]
    c0 = izero()
    c1 = izero()
    e0 = izero()
    e1 = izero()
    q = wb
    t = 0
    while t + 1 < kp2:  # two pairs per step: two independent accumulator chains
        x = pbcast(a, a0 + 2 * t)
        c0 = madd(c0, x, wload8(wp, q))
        c1 = madd(c1, x, wload8(wp, q + 16))
        x = pbcast(a, a0 + 2 * t + 2)
        e0 = madd(e0, x, wload8(wp, q + 32))
        e1 = madd(e1, x, wload8(wp, q + 48))
        q += 64
        t += 2
    if t < kp2:
        x = pbcast(a, a0 + 2 * t)
        c0 = madd(c0, x, wload8(wp, q))
        c1 = madd(c1, x, wload8(wp, q + 16))
    istore(acc, 0, iadd(c0, e0))
    istore(acc, 8, iadd(c1, e1))


def _make_tile8(offsets: bool):  # type: ignore[no-untyped-def]
    """:func:`_tile` (``offsets`` False) or :func:`_tile_off` (True) for a half panel (the last <= 8 channels, packed
    8 wide): acc[r*16 : r*16+8], no multiply-adds on the channels a 16-wide panel would pad with zeros."""

    @njit(cache=True, nogil=True)
    def tile8(a, ab, m0, nrows, off, kp2, wp, wb, acc):  # pragma: no cover - compiled
        last = m0 + nrows - 1
        a0 = ab[m0]
        a1 = ab[min(m0 + 1, last)]
        a2 = ab[min(m0 + 2, last)]
        a3 = ab[min(m0 + 3, last)]
        a4 = ab[min(m0 + 4, last)]
        a5 = ab[min(m0 + 5, last)]
        c0 = izero()
        c1 = izero()
        c2 = izero()
        c3 = izero()
        c4 = izero()
        c5 = izero()
        q = wb
        for t in range(kp2):
            w0 = wload8(wp, q)
            k = off[t] if offsets else 2 * t
            c0 = madd(c0, pbcast(a, a0 + k), w0)
            c1 = madd(c1, pbcast(a, a1 + k), w0)
            c2 = madd(c2, pbcast(a, a2 + k), w0)
            c3 = madd(c3, pbcast(a, a3 + k), w0)
            c4 = madd(c4, pbcast(a, a4 + k), w0)
            c5 = madd(c5, pbcast(a, a5 + k), w0)
            q += 16
        istore(acc, 0, c0)
        istore(acc, 16, c1)
        istore(acc, 32, c2)
        istore(acc, 48, c3)
        istore(acc, 64, c4)
        istore(acc, 80, c5)

    return tile8


_tile8 = _make_tile8(False)
_tile8_off = _make_tile8(True)
_NO_OFF = np.zeros(1, np.int64)


@njit(cache=True, nogil=True)
def _gemm_block(a, ab, mb, kp2, wp, npanel, bias, m0, left, right, mode, p32, zp, lo, hi, out, ob, nout):  # pragma: no cover
    """Requantized int8 rows out[ob[i] + c] for the mb patch rows of the block, channels c < nout."""
    acc = np.empty(ROWS * PANEL, np.int32)
    for p in range(npanel):
        c0 = p * PANEL
        wb = p * kp2 * 32
        n = min(PANEL, nout - c0)
        for r0 in range(0, mb, ROWS):
            nr = min(ROWS, mb - r0)
            if n <= 8:
                _tile8(a, ab, r0, nr, _NO_OFF, kp2, wp, wb, acc)
            elif nr == 1:
                _tile1(a, ab, r0, kp2, wp, wb, acc)
            else:
                _tile(a, ab, r0, nr, kp2, wp, wb, acc)
            if mode and n == PANEL:
                for r in range(nr):
                    if mode == 2:
                        rq16n(acc, r * PANEL, p32, c0, zp, lo, hi, out, ob[r0 + r] + c0)
                    else:
                        rq16s(acc, r * PANEL, p32, c0, zp, lo, hi, out, ob[r0 + r] + c0)
            elif mode:
                for r in range(nr):
                    o = ob[r0 + r] + c0
                    put8(rq8(ivload(acc, r * PANEL), mode, p32, c0, zp, lo, hi), out, o, n)
                    if n > 8:
                        put8(rq8(ivload(acc, r * PANEL + 8), mode, p32, c0 + 8, zp, lo, hi), out, o + 8, n - 8)
            else:
                for r in range(nr):
                    requant_run(acc, r * PANEL, bias, m0, left, right, c0, n, zp, lo, hi, out, ob[r0 + r] + c0)


@njit(cache=True, nogil=True)
def _qconv(xf, sb, sy, sx, cin0, n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, zin, a, block,
           wp, kp, npanel, bias, m0, left, right, mode, p32, zp, lo, hi, out, ldo, ocol, nout):  # pragma: no cover - compiled
    """int8 convolution of channels cin0..cin0+c of flat NHWC int8 ``xf`` (strides sb, sy, sx; channel stride 1).

    Patch rows (taps in (KH, KW, C) order, then zeros up to the even length
    kp) are widened and centered ``block`` rows at a time into an int16
    buffer; out-of-range taps are 0 (i.e. ``x_q = z_in``, real zero).
    """
    m = n * oh * ow
    bmax = max(1, min(block, m))
    ab = np.empty(bmax, np.int64)
    ob = np.empty(bmax, np.int64)
    kp2 = kp // 2
    k_len = kh * kw * c
    plain = kh == 1 and kw == 1 and sh == 1 and sw == 1 and pt == 0 and pl == 0 and oh == h and ow == w and sx == c and sy == w * c
    run = kw * c if sx == c and dw == 1 else 0  # a window row is one contiguous run of kw*C elements
    if kp > k_len:  # the pad column of an odd K: no patch row writes it, so zero it once
        for i in range(bmax):
            a[i * kp + k_len] = 0
    for r0 in range(0, m, bmax):
        mb = min(bmax, m - r0)
        for i in range(mb):
            ab[i] = i * kp
            ob[i] = (r0 + i) * ldo + ocol
        if plain:  # a pointwise conv over a contiguous input: patch rows are input rows, widened
            if kp == c:
                widen(xf, r0 * c, mb * c, zin, a, 0)
            else:
                for i in range(mb):
                    widen(xf, (r0 + i) * c, c, zin, a, i * kp)
            _gemm_block(a, ab, mb, kp2, wp, npanel, bias, m0, left, right, mode, p32, zp, lo, hi, out, ob, nout)
            continue
        b = r0 // (oh * ow)
        rem = r0 - b * (oh * ow)
        oy = rem // ow
        ox = rem - oy * ow
        for i in range(mb):
            q = i * kp
            iy0 = oy * sh - pt
            ix0 = ox * sw - pl
            inside_x = ix0 >= 0 and ix0 + (kw - 1) * dw < w
            for ti in range(kh):
                iy = iy0 + ti * dh
                if iy < 0 or iy >= h:
                    for e in range(kw * c):
                        a[q + e] = 0
                    q += kw * c
                    continue
                rowsrc = b * sb + iy * sy + cin0
                if inside_x and run:
                    widen(xf, rowsrc + ix0 * sx, run, zin, a, q)
                    q += run
                    continue
                for tj in range(kw):
                    ix = ix0 + tj * dw
                    if 0 <= ix < w:
                        widen(xf, rowsrc + ix * sx, c, zin, a, q)
                    else:
                        for cc in range(c):
                            a[q + cc] = 0
                    q += c
            ox += 1
            if ox == ow:
                ox = 0
                oy += 1
                if oy == oh:
                    oy = 0
                    b += 1
        _gemm_block(a, ab, mb, kp2, wp, npanel, bias, m0, left, right, mode, p32, zp, lo, hi, out, ob, nout)


class QPacked:
    """An int8 layer's weights packed for :func:`qconv`, with its requantization parameters (int64 per channel)."""

    __slots__ = ("k", "kp", "o", "npanel", "data", "bias", "m0", "left", "right", "mode", "p32")

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
        wide = np.zeros((self.kp, op), np.int8)  # int8 panels: half the bytes a layer streams from memory
        wide[:k, :o] = wq
        # [panel][pair t][channel j][2]: the pair (k=2t, 2t+1) of channel j adjacent; a last panel of <= 8 channels
        # is packed 8 wide (the kernels' half-panel tile), so panel p still starts at p * kp * 16
        panels = wide.reshape(self.kp // 2, 2, self.npanel, PANEL).transpose(2, 0, 3, 1)
        if o - (self.npanel - 1) * PANEL <= 8:
            self.data = np.concatenate([panels[:-1].reshape(-1), panels[-1, :, :8].reshape(-1)])
        else:
            self.data = np.ascontiguousarray(panels).reshape(-1)
        sh = np.asarray(shift, np.int64).reshape(-1)
        self.bias = np.ascontiguousarray(np.broadcast_to(np.asarray(bias, np.int64), (o,)))
        self.m0 = np.ascontiguousarray(np.broadcast_to(m0, (o,)))
        self.left = np.ascontiguousarray(np.broadcast_to(np.maximum(sh, 0), (o,)))
        self.right = np.ascontiguousarray(np.broadcast_to(np.maximum(-sh, 0), (o,)))
        self.mode, self.p32 = lane_params(self.bias, self.m0, self.left, self.right, self.npanel * PANEL, k)


RQ_VECTORS = 9  # int32 vectors of requantization parameters per 8 channels (see lane_params)


def lane_params(bias: np.ndarray, m0: np.ndarray, left: np.ndarray, right: np.ndarray, width: int, k: int) -> tuple[int, np.ndarray]:
    """Per-channel parameters of :func:`rq8` for ``width`` (a multiple of 8) channels, and the epilogue mode.

    Mode 0: some channel has a left shift (multiplier >= 1), the generic
    :func:`requant_run` does the work; 1: :func:`rq8s`; 2: :func:`rq8n`, when
    every accumulator of a reduction of length ``k`` plus its bias stays
    within +-2^30 (|x - z| <= 255, |w| <= 127), so no saturation can happen and
    r + 2^(n-1) fits int32 (the shorter rounding of :func:`_rq8_intrinsic`).
    A right shift n >= 32 always gives 0 (|SRDHM| < 2^31), as does M0 = 0 with
    n = 0, so such channels are stored that way to keep shifts within 0..31.
    Per 8-channel block (at RQ_VECTORS * c) nine int32 vectors: bias, M0 (its
    even lanes are read), M0 of the odd lanes moved to the even ones, 2^n - 1,
    (2^n - 1) >> 1, n, then for mode 2 the 64-bit nudges 2^30 + 2^(n-1) * 2^31
    (n >= 1; 2^30 for n = 0) of the even channels and of the odd channels (four
    int64 each), and -1 where n >= 1 (else 0).
    """
    o = bias.shape[0]
    b, m, n = (np.zeros(width, np.int64) for _ in range(3))
    big = right >= 32
    b[:o] = bias
    m[:o] = np.where(big, 0, m0)
    n[:o] = np.where(big, 0, right)
    mo = m.reshape(-1, 4, 2)[:, :, 1].repeat(2, axis=1).reshape(-1)  # lanes (1, 1, 3, 3, 5, 5, 7, 7)
    mask = (np.int64(1) << n) - 1
    nudge = np.where(n >= 1, np.left_shift(np.int64(1), np.maximum(n - 1, 0) + 31), 0) + (1 << 30)
    ne, no = (np.ascontiguousarray(nudge.reshape(-1, 4, 2)[:, :, j]).reshape(-1).view(np.int32).astype(np.int64) for j in (0, 1))
    vecs = [b, m, mo, mask, mask >> 1, n, ne, no, np.where(n >= 1, -1, 0)]
    assert len(vecs) == RQ_VECTORS
    p32 = np.stack([v.reshape(-1, 8) for v in vecs], 1).reshape(-1)
    if np.any(left):
        mode = 0
    elif k * 127 * 255 + int(np.max(np.abs(bias), initial=0)) < 2**30:
        mode = 2
    else:
        mode = 1
    # m0 < 2^31 and the masks < 2^31: every value is an int32 (M0 as its two's complement bits: vpmuldq reads it signed,
    # so M0 >= 2^31 would be wrong; QPacked rejects it)
    return mode, np.ascontiguousarray(p32.astype(np.int32))


ROW_BLOCK_BYTES = 96 * 1024  # int16 patch rows per block: stays in L2 while every panel passes over it


def qconv_prepare(shape: tuple[int, ...], zin: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int],
                  pads: tuple[int, ...], oh: int, ow: int, pk: QPacked, zp: int, lo: int, hi: int, out_cols: int,
                  ocol: int = 0, cin0: int = 0) -> Callable[[np.ndarray, np.ndarray], None]:
    """:func:`qconv` for inputs of one ``shape``, checked and its arguments built once: ``run(x, out)`` then costs
    one compiled call (a model calls every layer once per run, so per-call Python work is the overhead of a
    narrow layer)."""
    if len(shape) != 4:
        raise ValueError("qconv: input must be a C-contiguous 4-D int8 array")
    n, h, w, c_all = shape
    c = pk.k // max(1, kh * kw)
    if kh * kw * c != pk.k or not 0 <= cin0 <= c_all - c or min(kh, kw, *stride, *dil) < 1 or min(oh, ow) < 0 or min(pads) < 0:
        raise ValueError("qconv: operand shape mismatch")
    if not 0 <= ocol <= out_cols - pk.o:
        raise ValueError("qconv: output buffer shape/layout mismatch")
    if not (-128 <= lo <= hi <= 127 and -128 <= zin <= 127):
        raise ValueError("qconv: zero point or clamp outside int8")
    rows = n * oh * ow
    block = max(ROWS, (ROW_BLOCK_BYTES // (2 * pk.kp)) // ROWS * ROWS)
    scratch = min(block, rows) * pk.kp
    head = (h * w * c_all, w * c_all, c_all, cin0, n, h, w, c, kh, kw, stride[0], stride[1], dil[0], dil[1], pads[0], pads[1],
            oh, ow, np.int16(zin))
    tail = (block, pk.data, pk.kp, pk.npanel, pk.bias, pk.m0, pk.left, pk.right, pk.mode, pk.p32,
            np.int64(zp), np.int64(lo), np.int64(hi))

    oshape, last = (rows, out_cols), (out_cols, ocol, pk.o)

    def run(x: np.ndarray, out: np.ndarray) -> None:
        if x.shape != shape or x.dtype != _DT8 or not x.flags.c_contiguous:
            raise ValueError("qconv: input must be a C-contiguous 4-D int8 array of the prepared shape")
        if out.shape != oshape or out.dtype != _DT8 or not out.flags.c_contiguous:
            raise ValueError("qconv: output buffer shape/layout mismatch")
        if rows:  # the patch-row buffer (allocated per call: tracemalloc sees it; the kernel zeroes an odd K's pad column)
            _qconv(x.ravel(), *head, np.empty(scratch, _DT16), *tail, out.ravel(), *last)

    return run


def qconv(x: np.ndarray, zin: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int], pads: tuple[int, ...],
          oh: int, ow: int, pk: QPacked, zp: int, lo: int, hi: int, out: np.ndarray, ocol: int = 0, cin0: int = 0) -> None:
    """Requantized int8 convolution of channels cin0.. of C-contiguous NHWC int8 ``x`` into out[:, ocol:ocol+O]."""
    if x.dtype != np.int8 or x.ndim != 4 or not x.flags.c_contiguous:
        raise ValueError("qconv: input must be a C-contiguous 4-D int8 array")
    if out.ndim != 2:
        raise ValueError("qconv: output buffer shape/layout mismatch")
    qconv_prepare(x.shape, zin, kh, kw, stride, dil, pads, oh, ow, pk, zp, lo, hi, out.shape[1], ocol, cin0)(x, out)


@njit(cache=True, nogil=True)
def _qconv_implicit(xf, n, h, w, c, ce, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, zin, img, hp, wpd, off, block,
                    wp, kp2, npanel, bias, m0, left, right, mode, p32, zp, lo, hi, out, ldo, ocol, nout):  # pragma: no cover
    """int8 convolution over the whole input widened once into ``img``: (N, hp, wpd, ce) int16, centered, zero
    padding around it and in the channel pad ce - c; patch row (b, oy, ox) starts at its window origin and pair t
    lies off[t] further (implicit GEMM: no patch rows are copied)."""
    img[:] = 0
    for b in range(n):
        for iy in range(h):
            src = (b * h + iy) * w * c
            dst = ((b * hp + iy + pt) * wpd + pl) * ce
            if ce == c:  # one contiguous run per input row
                widen(xf, src, w * c, zin, img, dst)
            else:
                for ix in range(w):
                    widen(xf, src + ix * c, c, zin, img, dst + ix * ce)
    m = n * oh * ow
    bmax = max(1, min(block, m))
    ab = np.empty(bmax, np.int64)
    ob = np.empty(bmax, np.int64)
    acc = np.empty(ROWS * PANEL, np.int32)
    b = 0
    oy = 0
    ox = 0
    for r0 in range(0, m, bmax):
        mb = min(bmax, m - r0)
        for i in range(mb):  # output pixel counters instead of divisions
            ab[i] = ((b * hp + oy * sh) * wpd + ox * sw) * ce
            ob[i] = (r0 + i) * ldo + ocol
            ox += 1
            if ox == ow:
                ox = 0
                oy += 1
                if oy == oh:
                    oy = 0
                    b += 1
        for p in range(npanel):
            c0 = p * PANEL
            wb = p * kp2 * 32
            nc = min(PANEL, nout - c0)
            for t0 in range(0, mb, ROWS):
                nr = min(ROWS, mb - t0)
                if nc <= 8:
                    _tile8_off(img, ab, t0, nr, off, kp2, wp, wb, acc)
                else:
                    _tile_off(img, ab, t0, nr, off, kp2, wp, wb, acc)
                if mode and nc == PANEL:
                    for r in range(nr):
                        if mode == 2:
                            rq16n(acc, r * PANEL, p32, c0, zp, lo, hi, out, ob[t0 + r] + c0)
                        else:
                            rq16s(acc, r * PANEL, p32, c0, zp, lo, hi, out, ob[t0 + r] + c0)
                elif mode:
                    for r in range(nr):
                        o = ob[t0 + r] + c0
                        put8(rq8(ivload(acc, r * PANEL), mode, p32, c0, zp, lo, hi), out, o, nc)
                        if nc > 8:
                            put8(rq8(ivload(acc, r * PANEL + 8), mode, p32, c0 + 8, zp, lo, hi), out, o + 8, nc - 8)
                else:
                    for r in range(nr):
                        requant_run(acc, r * PANEL, bias, m0, left, right, c0, nc, zp, lo, hi, out, ob[t0 + r] + c0)


def implicit_layout(kw: int, c: int, dil_w: int) -> tuple[int, int]:
    """(image channels CE, reduction length per kernel row) of :func:`qconv_implicit`: with dil_w 1 a kernel row's
    taps are one contiguous run of kw*C image values, padded to even (CE = C); else each tap is padded to even C."""
    if dil_w == 1:
        return c, kw * c + ((kw * c) & 1)
    ce = c + (c & 1)
    return ce, kw * ce


def implicit_weights(wq: np.ndarray, dil_w: int = 1) -> np.ndarray:
    """(KH, KW, C, O) int8 weights as the (KH * row length, O) matrix of :func:`qconv_implicit` (pad rows zero),
    so every int16 pair lies within one kernel row (dil_w 1) or one tap."""
    kh, kw, c, o = wq.shape
    ce, row = implicit_layout(kw, c, dil_w)
    if ce == c:
        wide = np.zeros((kh, row, o), np.int8)
        wide[:, : kw * c] = wq.reshape(kh, kw * c, o)
    else:
        wide = np.zeros((kh, kw, ce, o), np.int8)
        wide[:, :, :c] = wq
    return wide.reshape(-1, o)


def qconv_implicit_prepare(shape: tuple[int, ...], zin: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int],
                           pads: tuple[int, ...], oh: int, ow: int, pk: QPacked, zp: int, lo: int, hi: int
                           ) -> Callable[[np.ndarray, np.ndarray], None]:
    """:func:`qconv_implicit` for inputs of one ``shape``, checked and its arguments built once (see :func:`qconv_prepare`)."""
    if len(shape) != 4:
        raise ValueError("qconv_implicit: input must be a C-contiguous 4-D int8 array")
    n, h, w, c = shape
    ce, row = implicit_layout(kw, c, dil[1])
    if kh * row != pk.k or min(kh, kw, *stride, *dil) < 1 or min(oh, ow) < 0 or min(pads) < 0:
        raise ValueError("qconv_implicit: operand shape mismatch")
    if not (-128 <= lo <= hi <= 127 and -128 <= zin <= 127):
        raise ValueError("qconv_implicit: zero point or clamp outside int8")
    rows = n * oh * ow
    hp = max(h + pads[0], (oh - 1) * stride[0] + (kh - 1) * dil[0] + 1)
    wpd = max(w + pads[1], (ow - 1) * stride[1] + (kw - 1) * dil[1] + 1)
    if ce == c:  # pairs along each kernel row's contiguous run
        ti, j = np.meshgrid(np.arange(kh), np.arange(row // 2), indexing="ij")
        off = (ti * dil[0] * wpd * ce + 2 * j).reshape(-1).astype(np.int64)
    else:
        ti, tj, q = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(ce // 2), indexing="ij")
        off = ((ti * dil[0] * wpd + tj * dil[1]) * ce + 2 * q).reshape(-1).astype(np.int64)
    block = max(ROWS, (ROW_BLOCK_BYTES // (2 * pk.kp)) // ROWS * ROWS)
    head = (n, h, w, c, ce, kh, kw, stride[0], stride[1], dil[0], dil[1], pads[0], pads[1], oh, ow, np.int16(zin))
    tail = (hp, wpd, off, block, pk.data, pk.kp // 2, pk.npanel, pk.bias, pk.m0, pk.left, pk.right,
            pk.mode, pk.p32, np.int64(zp), np.int64(lo), np.int64(hi))
    img = n * hp * wpd * ce + 2  # +2: a run's pad pair

    oshape, last = (rows, pk.o), (pk.o, 0, pk.o)

    def run(x: np.ndarray, out: np.ndarray) -> None:
        if x.shape != shape or x.dtype != _DT8 or not x.flags.c_contiguous:
            raise ValueError("qconv_implicit: input must be a C-contiguous 4-D int8 array of the prepared shape")
        if out.shape != oshape or out.dtype != _DT8 or not out.flags.c_contiguous:
            raise ValueError("qconv_implicit: output buffer shape/layout mismatch")
        if rows:  # the int16 image is allocated per call, so tracemalloc sees it
            _qconv_implicit(x.ravel(), *head, np.empty(img, _DT16), *tail, out.ravel(), *last)

    return run


def qconv_implicit(x: np.ndarray, zin: int, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int], pads: tuple[int, ...],
                   oh: int, ow: int, pk: QPacked, zp: int, lo: int, hi: int, out: np.ndarray) -> None:
    """:func:`qconv` (groups 1) without im2col, for ``pk`` packed from :func:`implicit_weights`: the input is widened
    once into a padded int16 image and the GEMM reads each tap's pairs from it in place."""
    if x.dtype != np.int8 or x.ndim != 4 or not x.flags.c_contiguous:
        raise ValueError("qconv_implicit: input must be a C-contiguous 4-D int8 array")
    qconv_implicit_prepare(x.shape, zin, kh, kw, stride, dil, pads, oh, ow, pk, zp, lo, hi)(x, out)


# ------------------------------------------------------------------ depthwise


@njit(cache=True, nogil=True)
def _qdepthwise(xf, n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, zin, w32, bias, m0, left, right, zp, lo, hi, of):  # pragma: no cover
    """Depthwise int8 convolution, NHWC, scalar with the generic epilogue: layers with a multiplier >= 1 (a left
    shift, which :func:`rq8` does not cover); every other layer runs :func:`_dw_pairs`."""
    acc = np.zeros(c, np.int32)
    for b in range(n):
        for oy in range(oh):
            iy0 = oy * sh - pt
            for ox in range(ow):
                ix0 = ox * sw - pl
                o = ((b * oh + oy) * ow + ox) * c
                for ch in range(c):
                    acc[ch] = 0
                for ti in range(kh):
                    iy = iy0 + ti * dh
                    if iy < 0 or iy >= h:
                        continue
                    for tj in range(kw):
                        ix = ix0 + tj * dw
                        if ix < 0 or ix >= w:
                            continue
                        src = ((b * h + iy) * w + ix) * c
                        wo = (ti * kw + tj) * c
                        for ch in range(c):
                            acc[ch] += (np.int32(xf[src + ch]) - zin) * w32[wo + ch]
                requant_run(acc, 0, bias, m0, left, right, 0, c, zp, lo, hi, of, o)

# ------------------------------------------------------------------ depthwise on horizontal tap pairs


@intrinsic
def pairw(typingctx, x, ia, ib, z, pr, o):  # type: ignore[no-untyped-def]
    """pr[o:o+16] = (x[ia+j] - z, x[ib+j] - z) for j < 8, interleaved as int16 (8 channel pairs for ``vpmaddwd``)."""
    if not (_flat(x, types.int8) and _flat(pr, types.int16) and isinstance(ia, types.Integer) and isinstance(o, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        v8 = ir.VectorType(ir.IntType(8), 8)

        def load(k):  # type: ignore[no-untyped-def]
            p = _ptr(context, builder, sig.args[0], args[0], args[k], sig.args[k])
            return builder.load(builder.bitcast(p, v8.as_pointer()), align=1)

        a, b = load(1), load(2)
        wide = builder.sext(builder.shuffle_vector(a, b, _PAIRS8), _V16I16)
        zs = _splat(builder, _zp16(context, builder, sig, args, 3), _V16I16)
        dst = _ptr(context, builder, sig.args[4], args[4], args[5], sig.args[5])
        builder.store(builder.sub(wide, zs), builder.bitcast(dst, _V16I16.as_pointer()), align=2)
        return context.get_dummy_value()

    return types.void(x, ia, ib, z, pr, o), codegen


def _pairw1_intrinsic(first: bool):  # type: ignore[no-untyped-def]
    """:func:`pairw` at a row border, one partner outside the row (centered 0): pr[o:o+16] = (x[i+j] - z, 0) for j < 8
    (``first``) or (0, x[i+j] - z)."""

    @intrinsic
    def pairw1(typingctx, x, i, z, pr, o):  # type: ignore[no-untyped-def]
        if not (_flat(x, types.int8) and _flat(pr, types.int16) and isinstance(i, types.Integer) and isinstance(o, types.Integer)):
            return None

        def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
            v8 = ir.VectorType(ir.IntType(8), 8)
            v8i16 = ir.VectorType(_I16, 8)
            p = _ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
            v = builder.sext(builder.load(builder.bitcast(p, v8.as_pointer()), align=1), v8i16)
            v = builder.sub(v, _splat(builder, _zp16(context, builder, sig, args, 2), v8i16))
            zero = ir.Constant(v8i16, [0] * 8)
            ops = (v, zero) if first else (zero, v)
            inter = builder.shuffle_vector(*ops, _PAIRS8)
            dst = _ptr(context, builder, sig.args[3], args[3], args[4], sig.args[4])
            builder.store(inter, builder.bitcast(dst, _V16I16.as_pointer()), align=2)
            return context.get_dummy_value()

        return types.void(x, i, z, pr, o), codegen

    return pairw1


pairw_first = _pairw1_intrinsic(True)
pairw_second = _pairw1_intrinsic(False)


@njit(cache=True, nogil=True)
def _gcd(a, b):  # pragma: no cover - compiled
    while b:
        a, b = b, a % b
    return a


@njit(cache=True, nogil=True)
def _pair_row(xf, rowbase, w, c, c8, cp, pl, dw, npos, step, z, pr, pb):  # pragma: no cover - compiled
    """pr[pb + (ixp*cp + ch)*2 + (0, 1)] = centered input at columns ixp - pl and ixp - pl + dw of one input row
    (0 outside the row, i.e. x_q = z_in, and for the pad channels c..cp-1), for ixp < npos, ixp a multiple of
    ``step`` (the only positions the outputs read: gcd(stride, 2 * dilation); half the work at stride 2).
    rowbase < 0: all zero."""
    for ixp in range(0, npos, step):
        ia = ixp - pl
        ib = ia + dw
        q = pb + ixp * cp * 2
        if rowbase >= 0 and ia >= 0 and ib < w:
            sa = rowbase + ia * c
            sb = rowbase + ib * c
            for c0 in range(0, c8, 8):
                pairw(xf, sa + c0, sb + c0, z, pr, q + 2 * c0)
            for ch in range(c8, cp):
                if ch < c:
                    pr[q + 2 * ch] = np.int16(xf[sa + ch]) - z
                    pr[q + 2 * ch + 1] = np.int16(xf[sb + ch]) - z
                else:
                    pr[q + 2 * ch] = 0
                    pr[q + 2 * ch + 1] = 0
        elif rowbase >= 0 and 0 <= ia < w:  # the right border: the second partner is padding
            sa = rowbase + ia * c
            for c0 in range(0, c8, 8):
                pairw_first(xf, sa + c0, z, pr, q + 2 * c0)
            for ch in range(c8, cp):
                pr[q + 2 * ch] = np.int16(xf[sa + ch]) - z if ch < c else np.int16(0)
                pr[q + 2 * ch + 1] = 0
        elif rowbase >= 0 and 0 <= ib < w:  # the left border: the first partner is padding
            sb = rowbase + ib * c
            for c0 in range(0, c8, 8):
                pairw_second(xf, sb + c0, z, pr, q + 2 * c0)
            for ch in range(c8, cp):
                pr[q + 2 * ch] = 0
                pr[q + 2 * ch + 1] = np.int16(xf[sb + ch]) - z if ch < c else np.int16(0)
        else:
            for e in range(2 * cp):
                pr[q + e] = 0


def _make_dw16(saturate: bool):  # type: ignore[no-untyped-def]
    """The 3x3 depthwise inner loop of :func:`_dw_pairs` over one output row for 16 channels (two vectors, one packed
    16-byte store per pixel), with the epilogue fixed at compile time (a mode test in the loop made LLVM rotate
    the twelve weight registers on every pixel)."""
    rq = rq16vs if saturate else rq16vn

    @njit(cache=True, nogil=True, inline="always")
    def dw16(pr, w2, cp, c0, r0, r1, r2, d2, ow, sw, p32, zp, lo, hi, of, ob, c):  # pragma: no cover - compiled
        wa00 = wload(w2, (0 * cp + c0) * 2)
        wa01 = wload(w2, (1 * cp + c0) * 2)
        wa10 = wload(w2, (2 * cp + c0) * 2)
        wa11 = wload(w2, (3 * cp + c0) * 2)
        wa20 = wload(w2, (4 * cp + c0) * 2)
        wa21 = wload(w2, (5 * cp + c0) * 2)
        wb00 = wload(w2, (0 * cp + c0) * 2 + 16)
        wb01 = wload(w2, (1 * cp + c0) * 2 + 16)
        wb10 = wload(w2, (2 * cp + c0) * 2 + 16)
        wb11 = wload(w2, (3 * cp + c0) * 2 + 16)
        wb20 = wload(w2, (4 * cp + c0) * 2 + 16)
        wb21 = wload(w2, (5 * cp + c0) * 2 + 16)
        for ox in range(ow):
            q = ox * sw * cp * 2
            a = madd(izero(), wload(pr, r0 + q), wa00)
            a = madd(a, wload(pr, r0 + q + d2), wa01)
            a = madd(a, wload(pr, r1 + q), wa10)
            a = madd(a, wload(pr, r1 + q + d2), wa11)
            a = madd(a, wload(pr, r2 + q), wa20)
            a = madd(a, wload(pr, r2 + q + d2), wa21)
            e = madd(izero(), wload(pr, r0 + q + 16), wb00)
            e = madd(e, wload(pr, r0 + q + d2 + 16), wb01)
            e = madd(e, wload(pr, r1 + q + 16), wb10)
            e = madd(e, wload(pr, r1 + q + d2 + 16), wb11)
            e = madd(e, wload(pr, r2 + q + 16), wb20)
            e = madd(e, wload(pr, r2 + q + d2 + 16), wb21)
            rq(a, e, p32, c0, zp, lo, hi, of, ob + ox * c)

    return dw16


_dw16n = _make_dw16(False)
_dw16s = _make_dw16(True)


@njit(cache=True, nogil=True)
def _dw_pairs(xf, n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, zin, w2, mode, p32, zp, lo, hi, of, pr, npos, nslot):  # pragma: no cover
    """Depthwise int8 convolution with ``vpmaddwd`` on horizontal tap pairs (tj, tj+1) of each kernel row.

    Every input row the outputs need is widened once into ``pr`` (a ring of
    ``nslot`` rows) as int16 pairs (x[ix] - z, x[ix+dw] - z) per channel,
    with zeros for padding; then one 32-byte load and one ``vpmaddwd`` do two
    taps of 8 channels. The weights ``w2`` are the matching (w[ti,tj], w[ti,tj+1])
    pairs (0 for the missing partner of an odd kernel width).
    """
    c8 = c // 8 * 8
    cp = -(-c // 8) * 8
    kw2 = (kw + 1) // 2
    rowlen = npos * cp * 2
    tag = np.full(nslot, -(2**40), np.int64)
    sbase = np.empty(kh, np.int64)
    three = kh == 3 and kw2 == 2
    step = _gcd(sw, 2 * dw)  # every column read below, ox*sw + 2*j*dw, is a multiple of it
    for b in range(n):
        tag[:] = -(2**40)
        for oy in range(oh):
            for ti in range(kh):
                iy = oy * sh - pt + ti * dh
                key = iy if 0 <= iy < h else -1
                # rows in use span (kh-1)*dh+1 < nslot-1 consecutive iy: distinct slots; the last slot is the zero row
                slot = iy % (nslot - 1) if key >= 0 else nslot - 1
                if tag[slot] != key:
                    _pair_row(xf, ((b * h + iy) * w) * c if key >= 0 else -1, w, c, c8, cp, pl, dw, npos, step, zin, pr, slot * rowlen)
                    tag[slot] = key
                sbase[ti] = slot * rowlen
            ob = ((b * oh + oy) * ow) * c
            c16 = c // 16 * 16 if three else 0
            for c0 in range(0, c16, 16):  # two vectors at a time: one 16-byte packed store per pixel
                r0 = sbase[0] + c0 * 2
                r1 = sbase[1] + c0 * 2
                r2 = sbase[2] + c0 * 2
                d2 = 2 * dw * cp * 2
                if mode == 2:
                    _dw16n(pr, w2, cp, c0, r0, r1, r2, d2, ow, sw, p32, zp, lo, hi, of, ob + c0, c)
                else:
                    _dw16s(pr, w2, cp, c0, r0, r1, r2, d2, ow, sw, p32, zp, lo, hi, of, ob + c0, c)
            for c0 in range(c16, cp, 8):
                nl = min(8, c - c0)
                if three:
                    wv00 = wload(w2, (0 * cp + c0) * 2)
                    wv01 = wload(w2, (1 * cp + c0) * 2)
                    wv10 = wload(w2, (2 * cp + c0) * 2)
                    wv11 = wload(w2, (3 * cp + c0) * 2)
                    wv20 = wload(w2, (4 * cp + c0) * 2)
                    wv21 = wload(w2, (5 * cp + c0) * 2)
                    r0 = sbase[0] + c0 * 2
                    r1 = sbase[1] + c0 * 2
                    r2 = sbase[2] + c0 * 2
                    d2 = 2 * dw * cp * 2
                    for ox in range(ow):
                        q = ox * sw * cp * 2
                        a = madd(izero(), wload(pr, r0 + q), wv00)
                        a = madd(a, wload(pr, r0 + q + d2), wv01)
                        a = madd(a, wload(pr, r1 + q), wv10)
                        a = madd(a, wload(pr, r1 + q + d2), wv11)
                        a = madd(a, wload(pr, r2 + q), wv20)
                        a = madd(a, wload(pr, r2 + q + d2), wv21)
                        put8(rq8(a, mode, p32, c0, zp, lo, hi), of, ob + ox * c + c0, nl)
                else:
                    for ox in range(ow):
                        a = izero()
                        for ti in range(kh):
                            for j in range(kw2):
                                a = madd(a, wload(pr, sbase[ti] + ((ox * sw + 2 * j * dw) * cp + c0) * 2), wload(w2, ((ti * kw2 + j) * cp + c0) * 2))
                        put8(rq8(a, mode, p32, c0, zp, lo, hi), of, ob + ox * c + c0, nl)


class DWPacked:
    """A depthwise layer's (KH, KW, C) int8 weights as int32 and its requantization parameters."""

    __slots__ = ("kh", "kw", "c", "w32", "w2", "bias", "m0", "left", "right", "mode", "p32")

    def __init__(self, wq: np.ndarray, bias: np.ndarray, m0: np.ndarray, shift: np.ndarray) -> None:
        self.kh, self.kw, self.c = wq.shape
        c = self.c
        self.w32 = np.ascontiguousarray(wq, dtype=np.int32).reshape(-1)
        # (KH, ceil(KW/2), C padded to 8, 2) int16: the tap pairs (tj, tj+1) of :func:`_dw_pairs`
        kw2, cp = (self.kw + 1) // 2, -(-c // 8) * 8
        w2 = np.zeros((self.kh, 2 * kw2, cp), np.int16)
        w2[:, : self.kw, :c] = wq
        self.w2 = np.ascontiguousarray(w2.reshape(self.kh, kw2, 2, cp).transpose(0, 1, 3, 2)).reshape(-1)
        sh = np.asarray(shift, np.int64).reshape(-1)
        m0 = np.asarray(m0, np.int64).reshape(-1)
        if np.any(m0 < 0) or np.any(m0 >= 2**31):
            raise ValueError("multipliers must be in [0, 2^31)")
        self.bias = np.ascontiguousarray(np.broadcast_to(np.asarray(bias, np.int64), (c,)))
        self.m0 = np.ascontiguousarray(np.broadcast_to(m0, (c,)))
        self.left = np.ascontiguousarray(np.broadcast_to(np.maximum(sh, 0), (c,)))
        self.right = np.ascontiguousarray(np.broadcast_to(np.maximum(-sh, 0), (c,)))
        self.mode, self.p32 = lane_params(self.bias, self.m0, self.left, self.right, -(-c // 8) * 8, self.kh * self.kw)


def qdepthwise_prepare(shape: tuple[int, ...], zin: int, stride: tuple[int, int], dil: tuple[int, int], pads: tuple[int, ...],
                       oh: int, ow: int, pk: DWPacked, zp: int, lo: int, hi: int) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`qdepthwise` for inputs of one ``shape``, checked and its arguments built once (see :func:`qconv_prepare`)."""
    if len(shape) != 4 or shape[3] != pk.c:
        raise ValueError("qdepthwise: input must be C-contiguous NHWC int8 with the layer's channels")
    if min(*stride, *dil) < 1 or min(oh, ow) < 0 or min(pads) < 0 or not (-128 <= lo <= hi <= 127 and -128 <= zin <= 127):
        raise ValueError("qdepthwise: bad geometry or range")
    n, h, w, c = shape
    geo = (n, h, w, c, pk.kh, pk.kw, stride[0], stride[1], dil[0], dil[1], pads[0], pads[1], oh, ow)
    if pk.mode:
        # input rows widened to int16 tap pairs: padded columns the outputs reach, a ring of rows (plus a zero row)
        npos = (ow - 1) * stride[1] + (pk.kw - 1) * dil[1] + 1
        nslot = (pk.kh - 1) * dil[0] + stride[0] + 2
        ring = nslot * npos * -(-c // 8) * 8 * 2
        mid = (np.int16(zin), pk.w2, pk.mode, pk.p32, np.int64(zp), np.int64(lo), np.int64(hi))
    else:
        mid = (np.int32(zin), pk.w32, pk.bias, pk.m0, pk.left, pk.right, np.int64(zp), np.int64(lo), np.int64(hi))

    oshape = (n, oh, ow, c)
    empty = not (n and oh and ow and c)

    def run(x: np.ndarray) -> np.ndarray:
        if x.shape != shape or x.dtype != _DT8 or not x.flags.c_contiguous:
            raise ValueError("qdepthwise: input must be C-contiguous NHWC int8 of the prepared shape")
        out = np.empty(oshape, _DT8)
        if empty:
            return out
        if pk.mode:
            _dw_pairs(x.ravel(), *geo, *mid, out.ravel(), np.empty(ring, _DT16), npos, nslot)
        else:
            _qdepthwise(x.ravel(), *geo, *mid, out.ravel())
        return out

    return run


def qdepthwise(x: np.ndarray, zin: int, stride: tuple[int, int], dil: tuple[int, int], pads: tuple[int, ...], oh: int, ow: int,
               pk: DWPacked, zp: int, lo: int, hi: int) -> np.ndarray:
    """Requantized int8 depthwise convolution of C-contiguous NHWC int8 ``x``; returns (N, OH, OW, C) int8."""
    if x.dtype != np.int8 or x.ndim != 4 or not x.flags.c_contiguous or x.shape[3] != pk.c:
        raise ValueError("qdepthwise: input must be C-contiguous NHWC int8 with the layer's channels")
    return qdepthwise_prepare(x.shape, zin, stride, dil, pads, oh, ow, pk, zp, lo, hi)(x)
