"""Compiled int8 helpers (spec/INT8.md §3-4): requantization of accumulator arrays, Add and Concat by lookup tables.

The NumPy reference (``dcformat.int8``) makes about ten int64 passes over an
accumulator tensor; ``requantize`` does one, with the same integer arithmetic.
Add and Concat map int8 inputs through tables the planner builds with the
reference arithmetic, so results are identical (tests/test_int8.py checks bit
equality); a Concat input already in the output's parameters is copied 32 bytes
at a time. Convolutions are in ``int8_gemm.py``.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.core.extending import intrinsic


_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1


@nb.njit(cache=True, nogil=True, inline="always")
def _mbqm(x, b, left, n):  # pragma: no cover - compiled
    if left > 0:
        x = x << left
    if x > _I32_MAX:
        x = _I32_MAX
    elif x < _I32_MIN:
        x = _I32_MIN
    if x == _I32_MIN and b == _I32_MIN:
        r = np.int64(_I32_MAX)
    else:
        p = x * b
        if p >= 0:
            r = (p + (1 << 30)) >> 31
        else:
            r = -((-(p + (1 - (1 << 30)))) >> 31)
    mask = (np.int64(1) << n) - 1
    rem = r & mask
    thr = (mask >> 1) + (1 if r < 0 else 0)
    return (r >> n) + (1 if rem > thr else 0)


@nb.njit(cache=True, nogil=True)
def _requant(acc, bias, m0, left, right, zp, lo, hi, out):  # pragma: no cover - compiled
    rows, cols = acc.shape
    for i in range(rows):
        for c in range(cols):
            r = _mbqm(np.int64(acc[i, c]) + bias[c], m0[c], left[c], right[c]) + zp
            if r < lo:
                r = lo
            elif r > hi:
                r = hi
            out[i, c] = r


def requantize(acc: np.ndarray, bias: np.ndarray, m0: np.ndarray, shift: np.ndarray, zp: int, lo: int, hi: int) -> np.ndarray:
    """int8 ``clamp(zp + MBQM(acc + bias, m0, shift), lo, hi)`` over the last axis's channels; ``acc`` integral (float32, float64 or int64)."""
    c = acc.shape[-1]
    a = np.ascontiguousarray(acc).reshape(-1, c)
    if a.dtype not in (np.float32, np.float64, np.int64):
        a = a.astype(np.int64)
    vec = [np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.int64), (c,))) for v in (bias, m0, shift)]
    if not (-128 <= lo <= hi <= 127):
        raise ValueError("clamp range outside int8")
    out = np.empty(a.shape, dtype=np.int8)
    _requant(a, vec[0], vec[1], np.maximum(vec[2], 0), np.maximum(-vec[2], 0), np.int64(zp), np.int64(lo), np.int64(hi), out)
    return out.reshape(acc.shape)


@nb.njit(cache=True, nogil=True)
def _lut2(a, b, lut, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = lut[((np.int64(a[i]) + 128) << 8) + np.int64(b[i]) + 128]


def add_lut(a: np.ndarray, b: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """An int8 Add by its 256 x 256 table (built from the spec's arithmetic by the planner): one lookup per element."""
    if a.shape != b.shape or lut.shape != (65536,) or lut.dtype != np.int8:
        raise ValueError("add_lut: shapes differ")
    out = np.empty(a.shape, dtype=np.int8)
    _lut2(np.ascontiguousarray(a, dtype=np.int8).reshape(-1), np.ascontiguousarray(b, dtype=np.int8).reshape(-1), lut, out.reshape(-1))
    return out


def _flat(a, dt) -> bool:  # type: ignore[no-untyped-def]
    return isinstance(a, nb.types.Array) and a.dtype == dt and a.ndim == 1 and a.layout == "C"


@intrinsic
def _lut32(typingctx, x, i, tables, out, o):  # type: ignore[no-untyped-def]
    """out[o:o+32] = lut[x[i:i+32] + 128] for a 256-entry int8 table stored as 16 sub-tables of 16 entries, each
    repeated in both 128-bit lanes (``tables``: 512 int8): the high nibble of x + 128 picks the sub-table, ``vpshufb``
    looks the low nibble up in every one and a compare-and-blend keeps the right one."""
    if not (_flat(x, nb.types.int8) and _flat(tables, nb.types.int8) and _flat(out, nb.types.int8)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        i8 = ir.IntType(8)
        v32 = ir.VectorType(i8, 32)

        def ptr(k, kidx):  # type: ignore[no-untyped-def]
            ary = context.make_array(sig.args[k])(context, builder, args[k])
            idx = context.cast(builder, args[kidx], sig.args[kidx], nb.types.intp) if kidx is not None else ir.Constant(ir.IntType(64), 0)
            return builder.bitcast(builder.gep(ary.data, [idx]), v32.as_pointer())

        v = builder.xor(builder.load(ptr(0, 1), align=1), ir.Constant(v32, [0x80] * 32))  # x + 128 as unsigned
        lo = builder.and_(v, ir.Constant(v32, [15] * 32))
        hi = builder.lshr(v, ir.Constant(v32, [4] * 32))
        shuf = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v32, [v32, v32]), "llvm.x86.avx2.pshuf.b")
        tab = context.make_array(sig.args[2])(context, builder, args[2])
        res = ir.Constant(v32, [0] * 32)
        for t in range(16):
            tp = builder.bitcast(builder.gep(tab.data, [ir.Constant(ir.IntType(64), 32 * t)]), v32.as_pointer())
            look = builder.call(shuf, [builder.load(tp, align=1), lo])
            res = builder.select(builder.icmp_unsigned("==", hi, ir.Constant(v32, [t] * 32)), look, res)
        builder.store(res, ptr(3, 4), align=1)
        return context.get_dummy_value()

    return nb.types.void(x, i, tables, out, o), codegen


def lut_tables(lut: np.ndarray) -> np.ndarray:
    """A 256-entry int8 table (indexed by x + 128) as the 16 lane-duplicated sub-tables of :func:`_lut32`."""
    t = np.asarray(lut, np.int8).reshape(16, 1, 16)
    return np.ascontiguousarray(np.broadcast_to(t, (16, 2, 16))).reshape(-1)


@nb.njit(cache=True, nogil=True)
def _concat_lut(x, lut, tables, c, out, ldo, ocol):  # pragma: no cover - compiled
    rows = x.size // c
    c32 = c // 32 * 32
    for r in range(rows):
        for ch in range(0, c32, 32):
            _lut32(x, r * c + ch, tables, out, r * ldo + ocol + ch)
        for ch in range(c32, c):
            out[r * ldo + ocol + ch] = lut[np.int64(x[r * c + ch]) + 128]


@intrinsic
def _copy32(typingctx, x, i, out, o):  # type: ignore[no-untyped-def]
    """out[o:o+32] = x[i:i+32] (int8), one unaligned 32-byte load and store."""
    if not (_flat(x, nb.types.int8) and _flat(out, nb.types.int8)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        v32 = ir.VectorType(ir.IntType(8), 32)

        def ptr(k, kidx):  # type: ignore[no-untyped-def]
            ary = context.make_array(sig.args[k])(context, builder, args[k])
            idx = context.cast(builder, args[kidx], sig.args[kidx], nb.types.intp)
            return builder.bitcast(builder.gep(ary.data, [idx]), v32.as_pointer())

        builder.store(builder.load(ptr(0, 1), align=1), ptr(2, 3), align=1)
        return context.get_dummy_value()

    return nb.types.void(x, i, out, o), codegen


@nb.njit(cache=True, nogil=True)
def _concat_copy(x, c, out, ldo, ocol):  # pragma: no cover - compiled
    rows = x.size // c
    c32 = c // 32 * 32
    for r in range(rows):
        src = r * c
        dst = r * ldo + ocol
        for ch in range(0, c32, 32):
            _copy32(x, src + ch, out, dst + ch)
        for ch in range(c32, c):
            out[dst + ch] = x[src + ch]


def concat_last(parts: list[np.ndarray], luts: list[np.ndarray | None]) -> np.ndarray:
    """Concatenate int8 arrays on the last axis, mapping each through its 256-entry requantization table (None: as is)."""
    lead = parts[0].shape[:-1]
    total = sum(p.shape[-1] for p in parts)
    out = np.empty((*lead, total), np.int8)
    flat = out.reshape(-1)
    col = 0
    for p, lut in zip(parts, luts):
        if p.shape[:-1] != lead:
            raise ValueError("concat: shapes differ")
        c = p.shape[-1]
        if lut is None:  # a copy, one row slice at a time (a memcpy each: faster than a table or a strided NumPy copy)
            _concat_copy(np.ascontiguousarray(p, dtype=np.int8).reshape(-1), c, flat, total, col)
            col += c
            continue
        _concat_lut(np.ascontiguousarray(p, dtype=np.int8).reshape(-1), lut, lut_tables(lut), c, flat, total, col)
        col += c
    return out


@nb.njit(cache=True, nogil=True)
def _quantize_to_nhwc(x, scale, zp, out):  # pragma: no cover - compiled
    n, c, h, w = x.shape
    row = np.empty(w, np.int8)
    for b in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):  # vectorised: divide, round, clamp a whole row
                    q = np.rint(x[b, ch, i, j] / scale) + zp
                    row[j] = np.int8(min(max(q, np.float32(-128.0)), np.float32(127.0)))
                for j in range(w):
                    out[b, i, j, ch] = row[j]


def quantize_to_nhwc(x: np.ndarray, scale: float, zp: int) -> np.ndarray:
    """ONNX QuantizeLinear of an NCHW float tensor (binary32 division, half to even, saturate; spec/INT8.md §3),
    written straight into channels-last int8 (one pass instead of a float transpose and a quantize)."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.ndim != 4:
        raise ValueError("quantize_to_nhwc: a 4-D array is needed")
    if np.isnan(a).any():  # NaN has no int8 value; let the reference define it
        raise ValueError("quantize_to_nhwc: NaN input")
    out = np.empty((a.shape[0], a.shape[2], a.shape[3], a.shape[1]), np.int8)
    _quantize_to_nhwc(a, np.float32(scale), np.float32(zp), out)
    return out


@nb.njit(cache=True, nogil=True)
def _channel_sums(x, hw, c, out):  # pragma: no cover - compiled
    n = x.size // (hw * c)
    for b in range(n):
        for ch in range(c):
            out[b * c + ch] = 0
        for p in range(hw):
            base = (b * hw + p) * c
            for ch in range(c):
                out[b * c + ch] += x[base + ch]


@nb.njit(cache=True, nogil=True)
def _gap(x, hw, c, zin, m0, left, right, zp, sums, out):  # pragma: no cover - compiled
    n = x.size // (hw * c)
    for b in range(n):
        for ch in range(c):
            sums[ch] = 0
        for p in range(hw):
            base = (b * hw + p) * c
            for ch in range(c):
                sums[ch] += x[base + ch]
        for ch in range(c):
            r = _mbqm(sums[ch] - zin * hw, m0, left, right) + zp
            out[b * c + ch] = min(max(r, -128), 127)


def global_avg_pool(x: np.ndarray, zin: int, m0: int, shift: int, zp: int) -> np.ndarray:
    """int8 GlobalAvgPool of NHWC ``x`` (spec/INT8.md §4): ``saturate(zp + MBQM(sum(x - zin), m0, shift))`` per
    channel, (N, 1, 1, C); one pass (sums and requantization fused, ``m0``/``shift`` those of the window size)."""
    if x.dtype != np.int8 or x.ndim != 4 or not 0 <= m0 < 2**31:
        raise ValueError("global_avg_pool: 4-D int8 input and a multiplier in [0, 2^31) are needed")
    n, h, w, c = x.shape
    out = np.empty((n, 1, 1, c), np.int8)
    _gap(np.ascontiguousarray(x).reshape(-1), h * w, c, np.int64(zin), np.int64(m0), np.int64(max(shift, 0)),
         np.int64(max(-shift, 0)), np.int64(zp), np.empty(c, np.int64), out.reshape(-1))
    return out


def channel_sums(x: np.ndarray) -> np.ndarray:
    """int64 sums over H and W of NHWC int8 ``x``: (N, 1, 1, C) (the reduction of GlobalAvgPool)."""
    n, h, w, c = x.shape
    out = np.empty(n * c, np.int64)
    _channel_sums(np.ascontiguousarray(x, dtype=np.int8).reshape(-1), h * w, c, out)
    return out.reshape(n, 1, 1, c)


@nb.njit(cache=True, nogil=True)
def _maxpool(x, kh, kw, sh, sw, pt, pl, oh, ow, lo, hi, out):  # pragma: no cover - compiled
    n, h, w, c = x.shape
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for ch in range(c):
                    out[b, oy, ox, ch] = -128
                for ti in range(kh):
                    iy = oy * sh - pt + ti
                    if iy < 0 or iy >= h:
                        continue
                    for tj in range(kw):
                        ix = ox * sw - pl + tj
                        if ix < 0 or ix >= w:
                            continue
                        for ch in range(c):
                            out[b, oy, ox, ch] = max(out[b, oy, ox, ch], x[b, iy, ix, ch])
                for ch in range(c):
                    out[b, oy, ox, ch] = min(max(out[b, oy, ox, ch], lo), hi)


def maxpool_nhwc(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], pads: tuple[int, int], oh: int, ow: int,
                 lo: int = -128, hi: int = 127) -> np.ndarray:
    """int8 MaxPool of NHWC ``x`` (spec/INT8.md §4): the max over each window's in-range positions (-128 when a
    window has none, as padding with -128 gives), then clamped to [lo, hi] (a fused clamp)."""
    if x.dtype != np.int8 or x.ndim != 4 or not (-128 <= lo <= hi <= 127):
        raise ValueError("maxpool_nhwc: 4-D int8 input and an int8 clamp range are needed")
    out = np.empty((x.shape[0], oh, ow, x.shape[3]), np.int8)
    _maxpool(np.ascontiguousarray(x), kernel[0], kernel[1], stride[0], stride[1], pads[0], pads[1], oh, ow, np.int8(lo), np.int8(hi), out)
    return out
