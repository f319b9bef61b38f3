"""What every kernel family shares: the SIMD vector type and its intrinsics, aligned buffers, tap ranges.

``VEC`` is an LLVM vector of ``LANES`` float32 (16 on AVX-512 hosts, else 8)
and the ``v*`` intrinsics load, store, splat, multiply-add and clip it: the
loop vectorizer alone keeps accumulators in memory (half of BLAS speed), so
the GEMM, depthwise, pooling and sparse kernels spell their vectors out.
"""

from __future__ import annotations

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


# ------------------------------------------------------------------ geometry and buffers


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
