"""Register-blocked GEMM fused with im2col, bias, clip and a strided store (convolutions, 1x1 convs, Concat slices).

A 4x4 (or 8x2) tile of output rows x channel vectors keeps its accumulators in
registers over the whole K loop; patch rows are read straight from the NHWC
input where the window lies inside it and copied (zero-padded) only at the
borders, so there is no im2col buffer for the bulk of a layer.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .simd import F32, LANES, _tap_ranges, empty, vbload, vclip, vfma, vget, vload, vstore


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
