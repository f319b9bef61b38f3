"""The optional numba inference kernels (dcformat.inference.fast) against the NumPy path they stand in for.

Each kernel is compared with the NumPy code that runs without numba (or with
DCFORMAT_ACCEL=0) over random shapes, strides, paddings, dilations, channel
counts (multiples of the vector width and not) and batch sizes; output
buffers carry sentinels around the written region, so a kernel writing out
of bounds fails too. End to end, every model builder runs with the kernels
on and off, and the tests check that the kernels were actually called.
Tolerance: 1e-5 relative to the output scale, as in the onnxruntime
conformance tests (the kernels only sum in a different order); where random
sums cancel, relative to the size of the summed terms (the bound float32
rounding obeys), which still exposes any wrong or missing term.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from dcformat import switch  # noqa: E402

if not switch.kernels_allowed():
    pytest.skip("DCFORMAT_ACCEL=0: kernels switched off", allow_module_level=True)

import dcformat  # noqa: E402
from dcformat.graph import Graph, Node, ValueInfo  # noqa: E402
from dcformat.graph.ops import canonical_attrs  # noqa: E402
from dcformat.graph.shapes import conv_output_size, infer_node  # noqa: E402
from dcformat.inference import Model  # noqa: E402
from dcformat.inference import fast as F  # noqa: E402
from dcformat.inference import kernels as K  # noqa: E402
from dcformat.inference import sparse as S  # noqa: E402
from dcformat.models import BUILDERS  # noqa: E402
from model_cases import CASES  # noqa: E402  (tests/model_cases.py)

RTOL = 1e-5
F32 = np.float32
INF = F32(np.inf)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def close(got: np.ndarray, want: np.ndarray, rtol: float = RTOL, scale_of: np.ndarray | None = None) -> None:
    """|got - want| <= rtol * max|scale_of| (default: want), with NaN in the same places."""
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(np.isnan(got), np.isnan(want)), "NaN in different places"
    ok = ~np.isnan(want)
    ref = want if scale_of is None else scale_of
    scale = max(float(np.abs(ref[~np.isnan(ref)]).max(initial=0.0)), 1e-12)
    err = float(np.abs(got[ok].astype(np.float64) - want[ok]).max(initial=0.0)) / scale
    assert err <= rtol, f"relative error {err:.3g}"


def numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, models are planned as without numba."""
    monkeypatch.setattr(K, "fast_kernels", lambda: None)


def counting(monkeypatch: pytest.MonkeyPatch, *names: str) -> dict[str, int]:
    """Count calls of fast.<name> (so a test notices when the planner stops using a kernel)."""
    calls = {n: 0 for n in names}
    for n in names:
        real = getattr(F, n)

        def wrapper(*a: Any, _real: Any = real, _n: str = n, **k: Any) -> Any:
            calls[_n] += 1
            return _real(*a, **k)

        monkeypatch.setattr(F, n, wrapper)
    return calls


def both(monkeypatch: pytest.MonkeyPatch, build: Any, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Outputs of ``build()`` (graph, tensors[, csr]) compiled with the kernels and without."""
    args = build()
    fast = Model.from_graph(*args).run(feeds)
    with monkeypatch.context() as m:
        numpy_path(m)
        ref = Model.from_graph(*build()).run(feeds)
    return fast, ref


rng = np.random.default_rng(2024)


def rand(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(F32)


def test_kernels_are_in_use_here() -> None:
    assert K.fast_kernels() is F
    a = F.empty((3, 5, 7))
    assert a.ctypes.data % 64 == 0 and a.shape == (3, 5, 7) and a.dtype == F32


def test_env_switch_keeps_numba_out() -> None:
    code = (
        "import sys, numpy as np\n"
        "from dcformat.inference import Model, kernels\n"
        "from dcformat.models import mobilenet_v2\n"
        "g, t = mobilenet_v2(image_size=32)\n"
        "Model.from_graph(g, t)(np.zeros((1, 3, 32, 32), np.float32))\n"
        "print(kernels.fast_kernels() is None, 'numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "DCFORMAT_ACCEL": "0"}, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["True", "False"], out.stderr


def test_env_switch_is_read_on_every_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """DCFORMAT_ACCEL flipped inside one process switches the inference path (as it does decoding)."""
    graph, tensors = BUILDERS["mobilenet_v2"](seed=3, image_size=32)
    x = rand(2, 3, 32, 32)
    calls = counting(monkeypatch, "conv", "depthwise")
    monkeypatch.setenv("DCFORMAT_ACCEL", "0")
    assert K.fast_kernels() is None
    off = Model.from_graph(graph, tensors)(x)
    assert calls == {"conv": 0, "depthwise": 0}
    monkeypatch.setenv("DCFORMAT_ACCEL", "auto")
    assert K.fast_kernels() is F
    on = Model.from_graph(graph, tensors)(x)
    assert calls["conv"] > 0 and calls["depthwise"] > 0
    seen = dict(calls)
    monkeypatch.setenv("DCFORMAT_ACCEL", "off")
    again = Model.from_graph(graph, tensors)(x)
    assert calls == seen  # planned with the kernels off: none of them ran
    close(on, off)
    np.testing.assert_array_equal(again, off)


def test_import_does_not_load_numba() -> None:
    code = "import sys, dcformat, dcformat.inference; dcformat.Model; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False"], out.stderr


# ---------------------------------------------------------------- convolution as GEMM


@st.composite
def conv_case(draw: Any) -> dict[str, Any]:
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pads[0] - pads[2]), 13))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pads[1] - pads[3]), 13))
    return {
        "n": draw(st.integers(0, 3)), "h": h, "w": w, "c": draw(st.integers(1, 40)), "o": draw(st.integers(1, 150)),
        "k": (kh, kw), "stride": (sh, sw), "dil": (dh, dw), "pads": pads,
        "layout": draw(st.sampled_from(["nhwc", "nchw", "group"])), "extra_cols": draw(st.integers(0, 20)),
        "bounds": draw(st.sampled_from([(-INF, INF), (F32(0), F32(6)), (F32(0), INF), (F32(-0.5), F32(0.5))])),
        "bias": draw(st.booleans()),
    }


@given(conv_case())
@SETTINGS
def test_conv_kernel_equals_numpy_im2col(case: dict[str, Any]) -> None:
    n, h, w, c, o = case["n"], case["h"], case["w"], case["c"], case["o"]
    (kh, kw), stride, dil, pads = case["k"], case["stride"], case["dil"], case["pads"]
    lo, hi = case["bounds"]
    oh, ow = conv_output_size(h, kh, stride[0], pads[0], pads[2], dil[0]), conv_output_size(w, kw, stride[1], pads[1], pads[3], dil[1])
    cin0 = 0
    if case["layout"] == "nchw":  # a network input read through its NHWC view
        x = rand(n, c, h, w).transpose(0, 2, 3, 1)
        xs = x
    elif case["layout"] == "group":  # channels cin0:cin0+c of a wider contiguous input
        cin0 = 3
        x = rand(n, h, w, c + 5)
        xs = x[..., cin0 : cin0 + c]
    else:
        x = xs = rand(n, h, w, c)
    wm, bias = rand(kh * kw * c, o), (rand(o) if case["bias"] else None)
    ocol = case["extra_cols"] // 2
    out = np.full((n * oh * ow, o + case["extra_cols"]), 7.5, F32)  # sentinels outside the written columns
    F.conv(x, kh, kw, stride, dil, pads, oh, ow, F.Packed(wm, bias), lo, hi, out, ocol=ocol, cin0=cin0)
    cols = K.im2col(K.pad_nhwc(np.ascontiguousarray(xs), pads), oh, ow, kh, kw, stride, dil)
    exact = cols.astype(np.float64) @ wm.astype(np.float64) + (0 if bias is None else bias)
    size = np.abs(cols) @ np.abs(wm) + (0 if bias is None else np.abs(bias))  # sums cancel: bound by the terms' size
    close(out[:, ocol : ocol + o], np.clip(exact, lo, hi), scale_of=size)
    close(np.clip(K.matmul_bias(cols, wm, bias), lo, hi), np.clip(exact, lo, hi), scale_of=size)  # the NumPy path, same bound
    assert np.all(out[:, :ocol] == 7.5) and np.all(out[:, ocol + o :] == 7.5)


@given(m=st.integers(0, 70), k=st.integers(0, 300), o=st.integers(1, 200))
@SETTINGS
def test_gemm_equals_matmul(m: int, k: int, o: int) -> None:
    a, wm, b = rand(m, k), rand(k, o), rand(o)
    out = np.full((m, o), np.nan, F32)
    F.gemm(a, F.Packed(wm, b), -INF, INF, out)
    close(out, a.astype(np.float64) @ wm + b, scale_of=np.abs(a) @ np.abs(wm) + np.abs(b))


def test_conv_kernel_propagates_nan_and_rejects_bad_operands() -> None:
    x = rand(1, 6, 6, 20)
    x[0, 2, 3, 5] = np.nan
    wm = rand(9 * 20, 18)
    out = np.empty((36, 18), F32)
    F.conv(x, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 6, 6, F.Packed(wm, None), F32(0), F32(6), out)
    want = np.clip(K.im2col(K.pad_nhwc(x, (1, 1, 1, 1)), 6, 6, 3, 3, (1, 1), (1, 1)) @ wm, 0, 6)
    close(out, want)
    assert np.isnan(out).sum() == 9 * 18  # the 3x3 neighbourhood of the NaN pixel, every channel
    with pytest.raises(ValueError):
        F.conv(x, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 6, 6, F.Packed(rand(9 * 20 + 1, 18), None), F32(0), F32(6), out)  # K != 9 * C
    with pytest.raises(ValueError):
        F.conv(x, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 6, 6, F.Packed(rand(9 * 21, 18), None), F32(0), F32(6), out)  # > C channels
    with pytest.raises(ValueError):
        F.conv(x, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 6, 6, F.Packed(wm, None), F32(0), F32(6), out[:35])  # rows
    with pytest.raises(ValueError):
        F.conv(x, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 6, 6, F.Packed(wm, None), F32(0), F32(6), out, ocol=1)  # columns
    with pytest.raises(ValueError):
        F.conv(x, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 6, 6, F.Packed(rand(9 * 10, 18), None), F32(0), F32(6), out, cin0=11)


# ---------------------------------------------------------------- depthwise and pooling


@st.composite
def window_case(draw: Any, max_k: int = 5) -> dict[str, Any]:
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(max(1, dil[0] * (kh - 1) + 1 - pads[0] - pads[2]), 12))
    w = draw(st.integers(max(1, dil[1] * (kw - 1) + 1 - pads[1] - pads[3]), 12))
    c = draw(st.sampled_from([F.LANES, F.LANES + 1, F.LANES + 7, 2 * F.LANES, 3 * F.LANES + 5, 4 * F.LANES, 5 * F.LANES + 3]))
    return {"n": draw(st.integers(1, 3)), "h": h, "w": w, "c": c, "k": (kh, kw), "stride": stride, "dil": dil, "pads": pads,
            "bounds": draw(st.sampled_from([(-INF, INF), (F32(0), F32(6))]))}


@given(window_case(), st.booleans())
@SETTINGS
def test_depthwise_kernel_equals_numpy(case: dict[str, Any], three: bool) -> None:
    if three:  # the 3x3 fast path (interior pixels) with any stride, dilation and padding
        case["k"] = (3, 3)
        case["h"] = max(case["h"], 2 * case["dil"][0] + 1)
        case["w"] = max(case["w"], 2 * case["dil"][1] + 1)
    n, h, w, c = case["n"], case["h"], case["w"], case["c"]
    (kh, kw), stride, dil, pads = case["k"], case["stride"], case["dil"], case["pads"]
    lo, hi = case["bounds"]
    oh, ow = conv_output_size(h, kh, stride[0], pads[0], pads[2], dil[0]), conv_output_size(w, kw, stride[1], pads[1], pads[3], dil[1])
    x, wt, b = rand(n, h, w, c), rand(kh, kw, c), rand(c)
    got = F.depthwise(x, wt, b, pads, oh, ow, stride, dil, lo, hi)
    tiled = np.ascontiguousarray(np.broadcast_to(wt[:, :, None, :], (kh, kw, ow, c)))
    want = K.depthwise(x, pads, tiled, b, oh, ow, stride, dil, lambda y: K.CLIP(y, lo, hi, out=y))
    close(got, want, scale_of=K.depthwise(np.abs(x), pads, np.abs(tiled), np.abs(b), oh, ow, stride, dil))


@given(window_case(max_k=4), st.booleans())
@SETTINGS
def test_pool_kernel_equals_numpy(case: dict[str, Any], is_max: bool) -> None:
    n, h, w, c = case["n"], case["h"], case["w"], case["c"]
    k, stride = case["k"], case["stride"]
    pads = tuple(min(p, kk - 1) for p, kk in zip(case["pads"], (k[0], k[1], k[0], k[1])))  # pads < kernel
    h, w = max(h, k[0]), max(w, k[1])
    lo, hi = case["bounds"]
    oh, ow = (h + pads[0] + pads[2] - k[0]) // stride[0] + 1, (w + pads[1] + pads[3] - k[1]) // stride[1] + 1
    x = rand(n, h, w, c)
    x[0, 0, 0, 0] = np.nan  # max and mean both propagate NaN
    if is_max:
        got = F.pool(x, k, stride, pads, oh, ow, None, lo, hi)
        want = K.CLIP(K.max_pool(K.pad_nhwc(x, pads, -np.inf), oh, ow, k, stride), lo, hi)
    else:
        div = K.sum_pool(K.pad_nhwc(np.ones((1, h, w, 1), F32), pads), oh, ow, k, stride)
        got = F.pool(x, k, stride, pads, oh, ow, div, lo, hi)
        want = K.CLIP(K.sum_pool(K.pad_nhwc(x, pads), oh, ow, k, stride) / div, lo, hi)
    close(got, want)


def test_window_kernels_need_one_vector_of_channels() -> None:
    x = rand(1, 5, 5, F.LANES - 1)
    with pytest.raises(ValueError):
        F.depthwise(x, rand(3, 3, F.LANES - 1), rand(F.LANES - 1), (1, 1, 1, 1), 5, 5, (1, 1), (1, 1), -INF, INF)
    with pytest.raises(ValueError):
        F.pool(x, (2, 2), (2, 2), (0, 0, 0, 0), 2, 2, None, -INF, INF)


# ---------------------------------------------------------------- single ops through the planner


def one_op(op: str, x_shape: tuple[int, ...], consts: dict[str, np.ndarray], **attrs: Any) -> Any:
    def build() -> tuple[Graph, dict[str, np.ndarray]]:
        sym = ("N",) + tuple(x_shape[1:])
        nd = Node(op, "n", ["x", *consts], ["y"], canonical_attrs(op, "n", attrs))
        (shape,) = infer_node(nd, [sym] + [tuple(v.shape) for v in consts.values()])
        g = Graph([ValueInfo("x", sym)], [ValueInfo("y", shape)], [nd])
        return Graph.from_bytes(g.to_bytes(), consts.keys()), consts

    return build


@pytest.mark.parametrize(
    "c,o,k,groups,stride,pad,dil",
    [
        (3, 24, 3, 1, (2, 2), (1, 1, 1, 1), (1, 1)),  # stem: NCHW input read in place
        (24, 40, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),  # pointwise
        (24, 40, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1)),  # strided pointwise
        (20, 33, 3, 1, (1, 2), (0, 1, 2, 1), (2, 1)),  # dense, asymmetric
        (40, 40, 3, 40, (2, 2), (1, 1, 1, 1), (1, 1)),  # depthwise
        (40, 40, 5, 40, (1, 1), (2, 2, 2, 2), (1, 1)),  # depthwise 5x5
        (48, 48, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),  # grouped, 16 channels per group
        (48, 96, 1, 3, (1, 1), (0, 0, 0, 0), (1, 1)),  # grouped pointwise (ShuffleNet v1)
    ],
)
def test_conv_op_with_kernels_equals_numpy(monkeypatch: pytest.MonkeyPatch, c: int, o: int, k: int, groups: int, stride: tuple[int, int], pad: tuple[int, ...], dil: tuple[int, int]) -> None:
    calls = counting(monkeypatch, "conv", "depthwise")
    build = one_op("Conv2d", (2, c, 11, 10), {"w": rand(o, c // groups, k, k), "b": rand(o)},
                   stride=list(stride), padding=list(pad), dilation=list(dil), groups=groups)
    x = rand(2, c, 11, 10)
    for n in (1, 2, 0):
        fast, ref = both(monkeypatch, build, {"x": x[:n]})
        close(fast["y"], ref["y"])
    assert calls["depthwise" if groups == c == o else "conv"] > 0


@pytest.mark.parametrize(
    "op,k,stride,pad,ceil,include_pad",
    [("MaxPool", 3, 2, 0, True, False), ("MaxPool", 2, 2, 1, False, False)]
    + [("AvgPool", *case, inc) for case in ((3, 2, 1, True), (3, 1, 1, False)) for inc in (False, True)],
)
def test_pool_op_with_kernels_equals_numpy(monkeypatch: pytest.MonkeyPatch, op: str, k: int, stride: int, pad: int, ceil: bool, include_pad: bool) -> None:
    calls = counting(monkeypatch, "pool")
    extra = {"count_include_pad": include_pad} if op == "AvgPool" else {}
    build = one_op(op, (3, 20, 9, 12), {}, kernel=[k, k], stride=[stride, stride], padding=[pad] * 4, ceil_mode=ceil, **extra)
    x = rand(3, 20, 9, 12)
    fast, ref = both(monkeypatch, build, {"x": x})
    close(fast["y"], ref["y"])
    assert calls["pool"] > 0


# ---------------------------------------------------------------- sparse (pruned + quantized) Linear


@st.composite
def sparse_case(draw: Any) -> dict[str, Any]:
    rows = draw(st.integers(1, 40))
    cols = draw(st.sampled_from([1, 7, 100, 300, 70_000]))  # 70_000: 32-bit column indices
    n_codes = draw(st.sampled_from([1, 5, 256, 257, 3000]))  # 257 and up: 16-bit codebook indices
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0])) if cols < 70_000 else 0.001
    return {"rows": rows, "cols": cols, "codes": n_codes, "density": density, "batch": draw(st.integers(1, 40)),
            "scale": draw(st.booleans()), "seed": draw(st.integers(0, 2**31))}


@given(sparse_case())
@SETTINGS
def test_sparse_kernel_equals_dense_product(case: dict[str, Any]) -> None:
    r = np.random.default_rng(case["seed"])
    rows, cols = case["rows"], case["cols"]
    flat = np.flatnonzero(r.random(rows * cols) < case["density"])
    rr, cc = flat // cols, flat % cols  # row-major: CSR order
    codebook = r.standard_normal(case["codes"]).astype(F32)
    q = r.integers(0, case["codes"], rr.size)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rr, minlength=rows))])
    scale = r.standard_normal(rows) if case["scale"] else None
    sr = F.SparseRows(indptr, cc, q, codebook, (rows, cols), scale)
    assert sr.width == (1 if case["codes"] <= 256 else 2) + (2 if cols <= 1 << 16 else 4)
    x = r.standard_normal((case["batch"], cols)).astype(F32)
    vals = codebook[q].astype(np.float64) * (1.0 if scale is None else scale.astype(F32)[rr])
    want, size = np.zeros((case["batch"], rows)), np.zeros((case["batch"], rows))
    np.add.at(want.T, rr, (x[:, cc] * vals).T)  # the product over the stored weights only, in float64
    np.add.at(size.T, rr, np.abs(x[:, cc] * vals).T)
    close(F.sparse_matmul_t(sr, x), want, scale_of=size)


def test_sparse_layout_rejects_inconsistent_arrays() -> None:
    indptr, cols, q, cb = np.array([0, 1, 2]), np.array([0, 3]), np.array([0, 1]), np.ones(2, F32)
    F.SparseRows(indptr, cols, q, cb, (2, 4))
    for bad in (
        (np.array([0, 2, 1]), cols, q, cb, (2, 4)),  # decreasing row pointers
        (indptr, np.array([0, 4]), q, cb, (2, 4)),  # column out of range
        (indptr, np.array([0, -1]), q, cb, (2, 4)),
        (indptr, cols, np.array([0, 2]), cb, (2, 4)),  # codebook index out of range
        (np.array([0, 1, 3]), cols, q, cb, (2, 4)),  # last pointer != nnz
        (indptr, cols, q, cb, (3, 4)),  # pointer count != rows + 1
    ):
        with pytest.raises(ValueError):
            F.SparseRows(*bad)
    with pytest.raises(ValueError):
        F.sparse_matmul_t(F.SparseRows(indptr, cols, q, cb, (2, 4)), np.ones((1, 5), F32))


def _pruned_quantized(shape: tuple[int, int], density: float, bits: int = 5) -> np.ndarray:
    w = rand(*shape)
    w[np.abs(w) < np.quantile(np.abs(w), 1 - density)] = 0
    nz = w != 0
    codebook = np.linspace(w[nz].min(), w[nz].max(), 1 << bits).astype(F32)
    w[nz] = codebook[np.abs(w[nz][:, None] - codebook[None]).argmin(1)]
    return w


def test_sparse_linear_through_the_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch, "sparse_matmul_t")
    w, b = _pruned_quantized((1024, 600), 0.1), rand(1024)
    rows, cols = np.nonzero(w)
    csr = (np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=1024))]), cols, w[rows, cols])
    node = Node("Linear", "fc", ["x", "w", "b"], ["y"], {})
    graph = Graph([ValueInfo("x", ("N", 600))], [ValueInfo("y", ("N", 1024))], [node])
    x = rand(700, 600)
    for n in (1, 3, 17, 700):
        fast, ref = both(monkeypatch, lambda: (graph, {"w": w, "b": b}, {"w": csr}), {"x": x[:n]})
        close(fast["y"], ref["y"])
        close(fast["y"], x[:n].astype(np.float64) @ w.T.astype(np.float64) + b)
    assert calls["sparse_matmul_t"] == 3  # 700 rows at 10% density: past the measured crossover, BLAS


def test_sparse_thresholds_follow_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _pruned_quantized((1024, 600), 0.28)
    rows, cols = np.nonzero(w)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=1024))])
    fast = S.Csr(indptr, cols, w[rows, cols], w.shape)
    assert fast.compact() is not None and fast.use_for(1)  # compact kernel: batch 1 up to 30% density
    assert not fast.use_for(2_000)
    with monkeypatch.context() as m:
        numpy_path(m)
        slow = S.Csr(indptr, cols, w[rows, cols], w.shape)
        assert slow.compact() is None and not slow.use_for(1)  # scipy CSR: only up to 25%
    w10 = _pruned_quantized((1024, 600), 0.1)
    rows, cols = np.nonzero(w10)
    c10 = S.Csr(np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=1024))]), cols, w10[rows, cols], w10.shape)
    assert c10.use_for(400) and not c10.use_for(600)


def test_sparse_compact_keeps_the_codebook_through_batchnorm_folding() -> None:
    w = _pruned_quantized((300, 1000), 0.1)
    rows, cols = np.nonzero(w)
    c = S.Csr(np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=300))]), cols, w[rows, cols], w.shape)
    s1, s2 = np.abs(rng.standard_normal(300)) + 0.5, np.abs(rng.standard_normal(300)) + 0.5
    folded = c.scale_rows(s1).scale_rows(s2)
    sr = folded.compact()
    assert sr is not None and sr.codebook.size <= 32  # the unscaled codebook, scale per row
    x = rand(5, 1000)
    close(folded.matmul_t(x), x.astype(np.float64) @ (w.astype(np.float64) * (s1 * s2)[:, None]).T)


# ---------------------------------------------------------------- whole models




@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builders_agree_with_kernels_on_and_off(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    kw, shape = CASES.get(name, ({}, None))
    if shape is None:
        pytest.fail(f"add a small configuration of {name!r} to CASES")
    calls = counting(monkeypatch, "conv", "depthwise", "pool")
    graph, tensors = BUILDERS[name](seed=3, **kw)
    x = np.random.default_rng(5).standard_normal((3, *shape)).astype(F32)
    fast, ref = both(monkeypatch, lambda: (graph, tensors), {graph.inputs[0].name: x})
    for k in ref:
        close(fast[k], ref[k])
    if len(shape) == 3:
        assert calls["conv"] > 0, "a convolutional network ran without the conv kernel"
    if name.startswith("mobilenet"):
        assert calls["depthwise"] > 0
    if name.startswith("squeezenet"):
        assert calls["pool"] > 0


def test_saved_file_with_sparse_layers(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A compressed .dc file: its sparse-encoded weights keep their CSR, and the compact kernel runs them."""
    monkeypatch.setattr(S, "FAST_MIN_ELEMENTS", 0)  # LeNet's layers are small; take the sparse path anyway
    monkeypatch.setattr(S, "MIN_ELEMENTS", 0)
    calls = counting(monkeypatch, "sparse_matmul_t")
    graph, tensors = BUILDERS["lenet_300_100"](seed=1)
    path = tmp_path / "lenet.dc"
    dcformat.save(path, tensors, graph=graph, config=dcformat.CompressionConfig(preset="paper"))  # pruned layers
    x = np.random.default_rng(0).standard_normal((4, 784)).astype(F32)
    name = graph.inputs[0].name
    fast = Model.open(path)
    got = fast.run({name: x})
    assert fast.sparse_layers and calls["sparse_matmul_t"] > 0
    with monkeypatch.context() as m:
        numpy_path(m)
        want = Model.open(path).run({name: x})
    for k in want:
        close(got[k], want[k])


EIGHT_LANES = """
import sys
import numpy as np
from dcformat.inference import Model, fast as F, kernels as K
from dcformat.inference.sparse import Csr
from dcformat.models import BUILDERS
assert F.LANES == 8, F.LANES
worst = 0.0
for name, kw, shape in [("mobilenet_v2", {"image_size": 32}, (3, 32, 32)), ("squeezenet1_1", {"image_size": 48}, (3, 48, 48)),
                        ("alexnet", {"image_size": 67, "width_mult": 0.25}, (3, 67, 67))]:
    graph, tensors = BUILDERS[name](seed=4, **kw)
    x = np.random.default_rng(1).standard_normal((3, *shape)).astype(np.float32)
    fast = Model.from_graph(graph, tensors)(x)
    real, K.fast_kernels = K.fast_kernels, lambda: None
    ref = Model.from_graph(graph, tensors)(x)
    K.fast_kernels = real
    worst = max(worst, float(np.abs(fast - ref).max() / np.abs(ref).max()))
w = np.random.default_rng(2).standard_normal((300, 900)).astype(np.float32)
w[np.random.default_rng(3).random(w.shape) > 0.1] = 0
w = np.round(w * 4) / 4
r, c = np.nonzero(w)
indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=300))])
csr = Csr(indptr, c, w[r, c], (300, 900))
packed = csr.compact()
x = np.random.default_rng(4).standard_normal((5, 900)).astype(np.float32)
for rows in (x[:1], x):
    got = F.sparse_matmul_t(packed, rows)
    worst = max(worst, float(np.abs(got - rows @ w.T).max() / np.abs(rows @ w.T).max()))
print(worst)
"""


def test_eight_lane_kernels_for_cpus_without_avx512() -> None:
    """The 8-float vector path (AVX2 hosts) compiled here by naming a Haswell target, checked against NumPy."""
    out = subprocess.run([sys.executable, "-c", EIGHT_LANES], env={**os.environ, "NUMBA_CPU_NAME": "haswell"},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) <= RTOL
