"""The compiled int8 kernels (inference/fast/int8_gemm.py) against an independent oracle.

Oracle: the convolution summed exactly in Python-int-safe int64 (np.einsum over
explicitly padded, centered input) and requantized by the NumPy reference of
spec/INT8.md §3 (``fixedpoint.mbqm``). Cases cover what the kernels special-case:
odd reduction lengths (a zero pad column), partial 16-channel panels and 8-lane
vectors, padding, stride, dilation, channel offsets (groups), batch > 1,
multipliers > 1 (left shift: the generic epilogue), right shifts >= 32 (mapped
to a zero multiplier), clamps, and accumulators near the int32 limits.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from dcformat.inference.fast.int8_gemm import DWPacked, QPacked, qconv, qdepthwise  # noqa: E402
from dcformat.int8.fixedpoint import mbqm, multipliers  # noqa: E402


def oracle(x, zin, w, bias, m0, sh, zp, lo, hi, stride, dil, pads, oh, ow, depthwise=False):
    """x (N,H,W,C) int8; w (KH,KW,C,O) int8 (depthwise: (KH,KW,C))."""
    kh, kw = w.shape[:2]
    xc = np.pad(x.astype(np.int64) - zin, ((0, 0), (pads[0], pads[2] + 8), (pads[1], pads[3] + 8), (0, 0)))
    acc = 0
    for i in range(kh):
        for j in range(kw):
            t = xc[:, i * dil[0] :: stride[0], j * dil[1] :: stride[1], :][:, :oh, :ow]
            if depthwise:
                acc = acc + t * w[i, j].astype(np.int64)
            else:
                acc = acc + np.einsum("nhwc,co->nhwo", t, w[i, j].astype(np.int64))
    y = mbqm(acc + bias, m0, sh) + zp
    return np.clip(y, lo, hi).astype(np.int8)


def _mults(rng, o, lo=1e-12, hi=3.0):
    m = np.exp(rng.uniform(np.log(lo), np.log(hi), o))
    return multipliers(m)


CASES = [  # n, h, w, c, o, kh, kw, stride, dil, pads
    (1, 9, 9, 3, 20, 3, 3, (2, 2), (1, 1), (1, 1, 1, 1)),
    (2, 7, 6, 16, 33, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0)),
    (1, 8, 8, 5, 17, 3, 3, (1, 1), (2, 2), (2, 2, 2, 2)),
    (1, 5, 5, 64, 130, 3, 3, (1, 2), (1, 1), (1, 0, 1, 0)),
    (1, 6, 7, 7, 9, 1, 1, (2, 2), (1, 1), (0, 0, 0, 0)),
    (3, 4, 4, 1, 1, 2, 2, (1, 1), (1, 1), (0, 0, 1, 1)),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mrange", [(1e-6, 0.5), (1e-12, 3.0)])
def test_qconv_matches_oracle(case, mrange) -> None:
    n, h, w, c, o, kh, kw, stride, dil, pads = case
    rng = np.random.default_rng(hash((case, mrange)) % 2**32)
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    wq = rng.integers(-127, 128, (kh, kw, c, o)).astype(np.int8)
    bias = rng.integers(-(2**31) + 1, 2**31, o) if mrange[0] < 1e-9 else rng.integers(-(2**20), 2**20, o)
    m0, sh = _mults(rng, o, *mrange)
    oh = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    for zin, zp, lo, hi in ((-7, 3, -100, 120), (127, -128, -128, 127)):
        want = oracle(x, zin, wq, bias, m0, sh, zp, lo, hi, stride, dil, pads, oh, ow)
        out = np.empty((n * oh * ow, o), np.int8)
        qconv(x, zin, kh, kw, stride, dil, pads, oh, ow, QPacked(wq.reshape(-1, o), bias, m0, sh), zp, lo, hi, out)
        assert np.array_equal(out.reshape(want.shape), want)


def test_qconv_group_slice_into_wider_output() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 6, 6, 12)).astype(np.int8)
    out = np.full((2 * 36, 20), 99, np.int8)
    wants = []
    for g, (cin0, c, ocol, o) in enumerate(((0, 5, 0, 9), (5, 7, 9, 11))):
        wq = rng.integers(-127, 128, (3, 3, c, o)).astype(np.int8)
        bias = rng.integers(-5000, 5000, o)
        m0, sh = _mults(rng, o, 1e-4, 1e-2)
        wants.append(oracle(x[..., cin0 : cin0 + c], 4, wq, bias, m0, sh, -2, -128, 127, (1, 1), (1, 1), (1, 1, 1, 1), 6, 6))
        qconv(x, 4, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 6, 6, QPacked(wq.reshape(-1, o), bias, m0, sh), -2, -128, 127, out,
              ocol=ocol, cin0=cin0)
    assert np.array_equal(out.reshape(2, 6, 6, 20), np.concatenate(wants, axis=-1))


def test_qconv_saturates_accumulators_near_int32_limits() -> None:
    # K = 66 000 / 2 taps of extreme values: the int32 sum plus a large bias must saturate before MBQM
    k = 33_000
    x = np.full((1, 1, 1, k), -128, np.int8)
    wq = np.full((k, 2), -127, np.int8)
    wq[:, 1] = 127
    bias = np.array([2**31 - 1, -(2**31) + 1])
    m0, sh = multipliers(np.array([2.0**-20, 2.0**-20]))
    want = oracle(x, 127, wq.reshape(1, 1, k, 2), bias, m0, sh, 0, -128, 127, (1, 1), (1, 1), (0, 0, 0, 0), 1, 1)
    out = np.empty((1, 2), np.int8)
    qconv(x, 127, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1, 1, QPacked(wq, bias, m0, sh), 0, -128, 127, out)
    assert np.array_equal(out.reshape(want.shape), want) and want.ravel().tolist() == [127, -128]


@pytest.mark.parametrize("c", [8, 32, 13])
@pytest.mark.parametrize("geo", [((1, 1), (1, 1), (1, 1, 1, 1)), ((2, 2), (1, 1), (0, 0, 1, 1)), ((1, 1), (2, 2), (2, 2, 2, 2))])
def test_qdepthwise_matches_oracle(c, geo) -> None:
    stride, dil, pads = geo
    rng = np.random.default_rng(c)
    x = rng.integers(-128, 128, (2, 9, 8, c)).astype(np.int8)
    wq = rng.integers(-127, 128, (3, 3, c)).astype(np.int8)
    oh = (9 + pads[0] + pads[2] - dil[0] * 2 - 1) // stride[0] + 1
    ow = (8 + pads[1] + pads[3] - dil[1] * 2 - 1) // stride[1] + 1
    big = np.where(rng.random(c) < 0.5, 2**31 - 1 - rng.integers(0, 2**18, c), -(2**31) + 1 + rng.integers(0, 2**18, c))
    for mrange, bias, mode in (((1e-5, 0.5), rng.integers(-(2**16), 2**16, c), 2), ((1e-12, 3.0), rng.integers(-(2**16), 2**16, c), None),
                               ((1e-9, 0.9), big, 1)):  # mode 1: biases near the int32 limits, the saturating epilogue
        m0, sh = _mults(rng, c, *mrange)
        want = oracle(x, 9, wq, bias, m0, sh, -5, -120, 110, stride, dil, pads, oh, ow, depthwise=True)
        pk = DWPacked(wq, bias, m0, sh)
        assert mode is None or pk.mode == mode
        got = qdepthwise(x, 9, stride, dil, pads, oh, ow, pk, -5, -120, 110)
        assert np.array_equal(got, want)


@pytest.mark.parametrize("mode", [1, 2])
def test_vector_requantization_matches_reference(mode) -> None:
    """The 8-lane epilogue (inference/fast/int8_gemm.rq8) against fixedpoint.mbqm on accumulators across the whole
    int32 range (mode 1, saturating) or within the no-saturation bound |acc + bias| < 2^30 (mode 2: the shorter
    rounding), every right shift 0..31 and some in 32..62."""
    from dcformat.inference.fast.int8_gemm import lane_params, requant_lanes

    rng = np.random.default_rng(mode)
    width = 64
    shifts = np.concatenate([-np.arange(0, 32), -rng.integers(32, 63, width - 32)])
    m0 = rng.integers(2**30, 2**31, width)
    m0[:3] = (0, 2**30, 2**31 - 1)
    if mode == 1:
        bias = rng.integers(-(2**31) + 1, 2**31, width)
        acc = rng.integers(-(2**31), 2**31, (400, width))
        acc[:8] = [[2**31 - 1], [-(2**31)], [0], [1], [-1], [2**30], [-(2**30)], [-(2**30) - 1]]
        k = 66_000
        bound = 2**31
    else:
        k = 9
        bound = k * 127 * 255
        bias = rng.integers(-(2**30) + bound + 1, 2**30 - bound, width) >> rng.integers(0, 31, width)
        acc = rng.integers(-bound, bound + 1, (400, width))
        acc[:4] = [[bound], [-bound], [0], [-1]]
    for extra in range(1, 20):  # values around rounding boundaries of each channel: x*M0 near multiples of 2^(30+n)
        near = np.rint(2.0 ** (30 - shifts.clip(-31, 0)) * extra / np.maximum(m0, 1)) * rng.choice([-1, 1], width) - bias
        acc[8 + extra] = np.clip(near + rng.integers(-2, 3, width), *((-(2**31), 2**31 - 1) if mode == 1 else (-bound, bound)))
    z = np.zeros(width, np.int64)
    got_mode, p32 = lane_params(bias, m0, z, -shifts, width, k)
    assert got_mode == mode
    for zp, lo, hi in ((0, -128, 127), (-100, -90, 100), (127, -128, 127)):
        out = np.empty(acc.size, np.int8)
        requant_lanes(np.ascontiguousarray(acc, dtype=np.int32).reshape(-1), mode, p32, zp, lo, hi, out)
        want = np.clip(mbqm(np.clip(acc + bias, -(2**31), 2**31 - 1), m0, shifts) + zp, lo, hi).astype(np.int8)
        assert np.array_equal(out.reshape(acc.shape), want)


@pytest.mark.parametrize("kernel", [(2, 2), (5, 3), (1, 4), (3, 1)])
@pytest.mark.parametrize("c", [8, 21])
def test_qdepthwise_tap_pairs_any_kernel(kernel, c) -> None:
    """The tap-pair path (odd and even kernel widths, a zero partner for the last tap) and the generic one."""
    kh, kw = kernel
    rng = np.random.default_rng(kh * 10 + kw + c)
    x = rng.integers(-128, 128, (2, 11, 10, c)).astype(np.int8)
    wq = rng.integers(-127, 128, (kh, kw, c)).astype(np.int8)
    for stride, dil, pads in (((1, 1), (1, 1), (1, 2, 0, 1)), ((2, 3), (2, 1), (2, 0, 2, 3))):
        oh = (11 + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (10 + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
        for mrange in ((1e-5, 0.5), (1e-12, 3.0)):
            bias = rng.integers(-(2**16), 2**16, c)
            m0, sh = _mults(rng, c, *mrange)
            want = oracle(x, -3, wq, bias, m0, sh, 4, -128, 127, stride, dil, pads, oh, ow, depthwise=True)
            got = qdepthwise(x, -3, stride, dil, pads, oh, ow, DWPacked(wq, bias, m0, sh), 4, -128, 127)
            assert np.array_equal(got, want)


@pytest.mark.parametrize("stride, dil", [((2, 2), (1, 1)), ((1, 4), (1, 1)), ((2, 4), (1, 2)), ((1, 6), (1, 3)), ((3, 3), (1, 1))])
def test_qdepthwise_strided_builds_only_the_columns_it_reads(stride, dil) -> None:
    """Wide strides widen only the tap-pair columns gcd(stride, 2 * dilation) apart (the ones the outputs read);
    left and right padding shift which input columns those are."""
    rng = np.random.default_rng(stride[1] * 7 + dil[1])
    c = 24
    x = rng.integers(-128, 128, (1, 7, 19, c)).astype(np.int8)
    wq = rng.integers(-127, 128, (3, 3, c)).astype(np.int8)
    for pads in ((1, 1, 1, 1), (0, 3, 2, 0), (1, 0, 0, 2)):
        oh = (7 + pads[0] + pads[2] - dil[0] * 2 - 1) // stride[0] + 1
        ow = (19 + pads[1] + pads[3] - dil[1] * 2 - 1) // stride[1] + 1
        bias = rng.integers(-(2**16), 2**16, c)
        m0, sh = _mults(rng, c, 1e-5, 0.5)
        want = oracle(x, 11, wq, bias, m0, sh, -2, -128, 127, stride, dil, pads, oh, ow, depthwise=True)
        got = qdepthwise(x, 11, stride, dil, pads, oh, ow, DWPacked(wq, bias, m0, sh), -2, -128, 127)
        assert np.array_equal(got, want)


def test_quantize_to_nhwc_and_channel_sums_match_reference() -> None:
    """The compiled graph-input quantization (NCHW float -> NHWC int8) against QParams.quantize (ONNX
    QuantizeLinear in NumPy), ties and saturation included; GlobalAvgPool's sums against NumPy's."""
    from dcformat.inference.fast.int8 import channel_sums, quantize_to_nhwc
    from dcformat.int8.params import QParams

    rng = np.random.default_rng(5)
    p = QParams(0.0375, -7)
    x = (rng.standard_normal((2, 3, 9, 13)) * 3).astype(np.float32)
    x[0, 0, 0, :7] = np.array([0.5, 1.5, -2.5, 1e9, -1e9, 4.7, -4.8], np.float32) * np.float32(0.0375)
    want = np.ascontiguousarray(p.quantize(x).transpose(0, 2, 3, 1))
    assert np.array_equal(quantize_to_nhwc(x, p.scale, p.zero_point), want)
    q = rng.integers(-128, 128, (2, 7, 5, 33)).astype(np.int8)
    assert np.array_equal(channel_sums(q), q.astype(np.int64).sum(axis=(1, 2), keepdims=True))
    for pos in ((0, 0, 0, 0), (1, 2, 8, 12)):  # a NaN anywhere (first / last element) is left to the reference
        y = x.copy()
        y[pos] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            quantize_to_nhwc(y, p.scale, p.zero_point)


@pytest.mark.parametrize("shift", [-3, -20, -40, 2])
def test_global_avg_pool_matches_reference(shift) -> None:
    """GlobalAvgPool in one pass (sums and requantization fused) against the NumPy reference of spec/INT8.md §4."""
    from dcformat.inference.fast.int8 import global_avg_pool
    from dcformat.int8.kernels import requantize

    rng = np.random.default_rng(abs(shift))
    x = rng.integers(-128, 128, (2, 7, 7, 40)).astype(np.int8)
    x[0, :, :, 0] = 127  # every position at the top: the largest sum
    x[1, :, :, 1] = -128
    m0 = int(rng.integers(2**30, 2**31))
    for zin, zp in ((-128, 0), (5, -7), (127, 127)):
        s = x.astype(np.int64).sum(axis=(1, 2), keepdims=True) - zin * 49
        want = requantize(s, np.int64(m0), np.int64(shift), zp, -128, 127)
        assert np.array_equal(global_avg_pool(x, zin, m0, shift, zp), want)


@pytest.mark.parametrize("geo", [((3, 3), (2, 2), (0, 0, 1, 1)), ((2, 3), (1, 2), (1, 1, 1, 2)), ((3, 3), (3, 3), (2, 2, 2, 2))])
def test_maxpool_matches_windowed_reference(geo) -> None:
    """Compiled int8 MaxPool against the NumPy windows over the input padded with -128 (spec/INT8.md §4)."""
    from dcformat.inference.fast.int8 import maxpool_nhwc

    (kh, kw), stride, pads = geo
    rng = np.random.default_rng(kh * 7 + kw)
    x = rng.integers(-128, 128, (2, 10, 9, 19)).astype(np.int8)
    oh = (10 + pads[0] + pads[2] - kh) // stride[0] + 1
    ow = (9 + pads[1] + pads[3] - kw) // stride[1] + 1
    xp = np.pad(x, ((0, 0), (pads[0], pads[2]), (pads[1], pads[3]), (0, 0)), constant_values=-128)
    want = np.full((2, oh, ow, 19), -128, np.int8)
    for i in range(kh):
        for j in range(kw):
            want = np.maximum(want, xp[:, i :: stride[0], j :: stride[1]][:, :oh, :ow])
    assert np.array_equal(maxpool_nhwc(x, (kh, kw), stride, pads[:2], oh, ow), want)
    assert np.array_equal(maxpool_nhwc(x, (kh, kw), stride, pads[:2], oh, ow, -20, 90), np.clip(want, -20, 90))


@pytest.mark.parametrize("case", [cs for cs in CASES if cs[5] * cs[6] > 1] + [(2, 12, 11, 3, 32, 3, 3, (2, 2), (1, 1), (0, 1, 1, 0))])
def test_qconv_implicit_matches_oracle(case) -> None:
    """The im2col-free convolution (padded int16 image; pairs along kernel-row runs, or per tap with odd C padded)."""
    from dcformat.inference.fast.int8_gemm import implicit_weights, qconv_implicit

    n, h, w, c, o, kh, kw, stride, dil, pads = case
    rng = np.random.default_rng(sum(map(hash, map(str, case))) % 2**32)
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    wq = rng.integers(-127, 128, (kh, kw, c, o)).astype(np.int8)
    oh = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    for mrange in ((1e-6, 0.5), (1e-12, 3.0)):
        bias = rng.integers(-(2**20), 2**20, o)
        m0, sh = _mults(rng, o, *mrange)
        for zin, zp, lo, hi in ((-7, 3, -100, 120), (127, -128, -128, 127)):
            want = oracle(x, zin, wq, bias, m0, sh, zp, lo, hi, stride, dil, pads, oh, ow)
            out = np.empty((n * oh * ow, o), np.int8)
            qconv_implicit(x, zin, kh, kw, stride, dil, pads, oh, ow, QPacked(implicit_weights(wq, dil[1]), bias, m0, sh), zp, lo, hi, out)
            assert np.array_equal(out.reshape(want.shape), want)


@pytest.mark.parametrize("implicit", [False, True])
def test_full_panels_with_saturating_epilogue(implicit) -> None:
    """Whole 16-channel panels (the 16-lane packed epilogue) in mode 1: biases near the int32 limits, so the
    accumulator plus bias must saturate, with multipliers < 1 (no left shift) and a clamp inside int8."""
    from dcformat.inference.fast.int8_gemm import implicit_weights, qconv_implicit

    rng = np.random.default_rng(11)
    n, h, w, c, o = 1, 7, 9, 40, 32
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    wq = rng.integers(-127, 128, (3, 3, c, o)).astype(np.int8)
    bias = np.where(rng.random(o) < 0.5, 2**31 - 1 - rng.integers(0, 2**19, o), -(2**31) + 1 + rng.integers(0, 2**19, o))
    bias[:4] = rng.integers(-1000, 1000, 4)
    m0, sh = _mults(rng, o, 1e-9, 0.9)
    want = oracle(x, 3, wq, bias, m0, sh, -9, -100, 101, (1, 1), (1, 1), (1, 1, 1, 1), h, w)
    out = np.empty((n * h * w, o), np.int8)
    if implicit:
        pk = QPacked(implicit_weights(wq, 1), bias, m0, sh)
        qconv_implicit(x, 3, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), h, w, pk, -9, -100, 101, out)
    else:
        pk = QPacked(wq.reshape(-1, o), bias, m0, sh)
        qconv(x, 3, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), h, w, pk, -9, -100, 101, out)
    assert pk.mode == 1
    assert np.array_equal(out.reshape(want.shape), want)


@pytest.mark.parametrize("k", [1, 5, 6, 33, 1280])
def test_single_row_gemm(k) -> None:
    """One patch row (a Linear at batch 1: the one-row tile), odd and even pair counts."""
    rng = np.random.default_rng(k)
    o = 37
    x = rng.integers(-128, 128, (1, 1, 1, k)).astype(np.int8)
    wq = rng.integers(-127, 128, (1, 1, k, o)).astype(np.int8)
    bias = rng.integers(-(2**20), 2**20, o)
    m0, sh = _mults(rng, o, 1e-6, 0.5)
    want = oracle(x, 5, wq, bias, m0, sh, 2, -128, 127, (1, 1), (1, 1), (0, 0, 0, 0), 1, 1)
    out = np.empty((1, o), np.int8)
    qconv(x, 5, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1, 1, QPacked(wq.reshape(k, o), bias, m0, sh), 2, -128, 127, out)
    assert np.array_equal(out.reshape(want.shape), want)


def test_concat_with_tables_matches_lookup() -> None:
    """Concat's int8 -> int8 requantization tables applied 32 bytes at a time (vpshufb on 16 sub-tables) and the
    channel tails one by one, against a plain NumPy lookup; identity inputs copied (32 bytes at a time, then the tail)."""
    from dcformat.inference.fast.int8 import concat_last

    rng = np.random.default_rng(21)
    parts = [rng.integers(-128, 128, (2, 3, 5, c)).astype(np.int8) for c in (64, 45, 7, 32, 5, 96)]
    luts = [rng.integers(-128, 128, 256).astype(np.int8), None, rng.integers(-128, 128, 256).astype(np.int8),
            np.arange(-128, 128).astype(np.int8)[::-1].copy(), None, None]  # identity copies: 32-byte runs and tails
    parts[0].reshape(-1)[:256] = np.arange(-128, 128)  # every table entry used
    want = np.concatenate([p if t is None else t[p.astype(np.int64) + 128] for p, t in zip(parts, luts)], axis=-1)
    assert np.array_equal(concat_last(parts, luts), want)


@pytest.mark.parametrize("o", [8, 24, 25, 40])
@pytest.mark.parametrize("implicit", [False, True])
def test_half_panel_tile(o, implicit) -> None:
    """A last panel of <= 8 channels is packed 8 wide and run by the half-panel tile (O = 8, 24, 40: exactly 8;
    25: a full panel and a 9-channel one), in every epilogue mode: 2 (no saturation possible), 1 (biases near the
    int32 limits), 0 (multipliers > 1)."""
    from dcformat.inference.fast.int8_gemm import implicit_weights, qconv_implicit

    rng = np.random.default_rng(o + 100 * implicit)
    n, h, w, c = 2, 6, 7, 13
    kh = kw = 3 if implicit else 1
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    wq = rng.integers(-127, 128, (kh, kw, c, o)).astype(np.int8)
    pads = (1, 1, 1, 1) if implicit else (0, 0, 0, 0)
    for want_mode, bias, mrange in ((2, rng.integers(-5000, 5000, o), (1e-6, 0.5)),
                                     (1, np.where(rng.random(o) < 0.5, 2**31 - 5000, -(2**31) + 5000), (1e-9, 0.9)),
                                     (0, rng.integers(-5000, 5000, o), (1e-3, 3.0))):
        m0, sh = _mults(rng, o, *mrange)
        if want_mode == 0:
            sh[0] = max(sh[0], 1)  # at least one multiplier >= 1
        pk = QPacked(implicit_weights(wq, 1) if implicit else wq.reshape(-1, o), bias, m0, sh)
        assert pk.mode == want_mode
        want = oracle(x, -4, wq, bias, m0, sh, 6, -128, 127, (1, 1), (1, 1), pads, h, w)
        out = np.empty((n * h * w, o), np.int8)
        if implicit:
            qconv_implicit(x, -4, kh, kw, (1, 1), (1, 1), pads, h, w, pk, 6, -128, 127, out)
        else:
            qconv(x, -4, kh, kw, (1, 1), (1, 1), pads, h, w, pk, 6, -128, 127, out)
        assert np.array_equal(out.reshape(want.shape), want)


@pytest.mark.parametrize("c", [24, 37, 48])
@pytest.mark.parametrize("implicit", [False, True])
def test_vector_widening_across_blocks(c, implicit) -> None:
    """Input rows widened 16 bytes at a time (a channel tail of 8, 5 or none) over more patch rows than one block
    holds, so later blocks start mid-image: pointwise (one contiguous run per block, or per row when C is odd), a
    3x3 window (per-row runs, per-tap copies at the borders) and the implicit kernel's padded image."""
    from dcformat.inference.fast.int8_gemm import ROW_BLOCK_BYTES, implicit_weights, qconv_implicit

    rng = np.random.default_rng(c + 7 * implicit)
    for kh in ([3] if implicit else [1, 3]):
        h = w = 2 + int(np.sqrt(ROW_BLOCK_BYTES // (2 * (kh * kh * c + 1)) * 1.5))  # 1.5 blocks of rows
        pads = (kh // 2,) * 4
        x = rng.integers(-128, 128, (1, h, w, c)).astype(np.int8)
        wq = rng.integers(-127, 128, (kh, kh, c, 40)).astype(np.int8)
        bias = rng.integers(-5000, 5000, 40)
        m0, sh = _mults(rng, 40, 1e-6, 0.5)
        want = oracle(x, 13, wq, bias, m0, sh, -3, -128, 127, (1, 1), (1, 1), pads, h, w)
        out = np.empty((h * w, 40), np.int8)
        if implicit:
            qconv_implicit(x, 13, kh, kh, (1, 1), (1, 1), pads, h, w, QPacked(implicit_weights(wq, 1), bias, m0, sh), -3, -128, 127, out)
        else:
            qconv(x, 13, kh, kh, (1, 1), (1, 1), pads, h, w, QPacked(wq.reshape(-1, 40), bias, m0, sh), -3, -128, 127, out)
        assert np.array_equal(out.reshape(want.shape), want), kh


def test_short_rounding_at_ties_and_bounds() -> None:
    """Mode 2's epilogue (RDBPOT's half folded into SRDHM's nudge, its sign term taken from x) against the int64
    reference where the two roundings interact: every right shift 0..31, M0 = 2^30 (SRDHM = floor((x + 1) / 2), so
    x = 2r - 2 .. 2r + 1 straddles each RDBPOT tie r = (2j + 1) 2^(n-1) on both signs), M0 = 2^31 - 1 (r = x near 0),
    M0 = 1 and 0, and x at the mode's bound +-(2^30 - 1) - |bias|."""
    from dcformat.inference.fast.int8_gemm import lane_params, requant_lanes

    rng = np.random.default_rng(5)
    width = 128
    n = np.tile(np.arange(32), 4)
    m0 = np.repeat([2**30, 2**31 - 1, 1, 0], 32)
    m0[0::7] = rng.integers(2**30, 2**31, m0[0::7].size)
    k = (2**30 - 1 - 100) // (127 * 255)  # the longest reduction mode 2 allows with |bias| <= 100
    bound = k * 127 * 255
    bias = rng.integers(-100, 101, width)
    rows = []
    for j in range(-3, 3):
        r = j * (1 << n) + np.where(n > 0, 1 << np.maximum(n - 1, 0), 0)  # RDBPOT ties (and r = j for n = 0)
        for sign in (1, -1):
            for d in (-2, -1, 0, 1):
                x = np.where(m0 == 2**30, 2 * sign * r + d, sign * r + d)
                rows.append(np.clip(x, -bound, bound) - bias)
    rows += [np.full(width, bound) - bias, np.full(width, -bound) - bias, np.zeros(width, np.int64), -bias, -1 - bias]
    acc = np.stack(rows).astype(np.int64)
    z = np.zeros(width, np.int64)
    mode, p32 = lane_params(bias, m0, z, n, width, k)
    assert mode == 2 and np.abs(acc + bias).max() < 2**30
    for zp, lo, hi in ((0, -128, 127), (5, -20, 30)):
        out = np.empty(acc.size, np.int8)
        requant_lanes(np.ascontiguousarray(acc, dtype=np.int32).reshape(-1), mode, p32, zp, lo, hi, out)
        want = np.clip(mbqm(acc + bias, m0, -n) + zp, lo, hi).astype(np.int8)
        assert np.array_equal(out.reshape(acc.shape), want)
