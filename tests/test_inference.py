"""The NumPy inference path against an independent float64 NCHW oracle written here, plus real .dc files."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dcformat
from dcformat.errors import GraphError
from dcformat.graph import Graph, Node, ValueInfo
from dcformat.graph.ops import canonical_attrs
from dcformat.inference import Model
from dcformat.inference.sparse import Csr
from dcformat.models import lenet_5, lenet_300_100, mobilenet_v2, shufflenet_v1

RTOL = 1e-5  # relative to the output scale; float32 vs float64 oracle differences are ~1e-7 here


# -- the oracle: direct NCHW definitions in float64 ----------------------------------------------------


def ref_conv(x, w, b, stride, pad, dil, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    pt, pl, pb, pr = pad
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                r, s = i * dil[0], j * dil[1]
                patch = xp[:, g * cg : (g + 1) * cg, r : r + stride[0] * oh : stride[0], s : s + stride[1] * ow : stride[1]]
                out[:, g * og : (g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og : (g + 1) * og, :, i, j])
    return out + (0 if b is None else b[None, :, None, None])


def ref_pool_len(size, k, s, p0, p1, ceil):
    span = (size + p0 + p1 - k) / s
    out = (math.ceil(span) if ceil else math.floor(span)) + 1
    if ceil and (out - 1) * s >= size + p0:
        out -= 1
    return out


def ref_pool(x, kind, k, stride, pad, ceil, include_pad=False):
    """Loop over output positions: each window clipped to the input (max) or counted per the rule (avg)."""
    n, c, h, w = x.shape
    oh = ref_pool_len(h, k[0], stride[0], pad[0], pad[2], ceil)
    ow = ref_pool_len(w, k[1], stride[1], pad[1], pad[3], ceil)
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride[0] - pad[0], j * stride[1] - pad[1]
            r1, c1 = r0 + k[0], c0 + k[1]
            win = x[:, :, max(r0, 0) : min(r1, h), max(c0, 0) : min(c1, w)]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                if include_pad:
                    cnt = (min(r1, h + pad[2]) - r0) * (min(c1, w + pad[3]) - c0)
                else:
                    cnt = win.shape[2] * win.shape[3]
                out[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return out


def run_single(op, x, consts=None, n_out=1, **attrs):
    """Build a one-node graph around ``op`` and run it with Model."""
    consts = consts or {}
    outs = ["y"] if n_out == 1 else [f"y{i}" for i in range(n_out)]
    sym = ("N",) + tuple(x.shape[1:])
    nd = Node(op, "n", ["x", *consts], outs, canonical_attrs(op, "n", attrs))
    from dcformat.graph.shapes import infer_node

    shapes = infer_node(nd, [sym] + [tuple(v.shape) for v in consts.values()])
    g = Graph([ValueInfo("x", sym)], [ValueInfo(o, s) for o, s in zip(outs, shapes)], [nd])
    res = Model.from_graph(Graph.from_bytes(g.to_bytes(), consts.keys()), consts).run({"x": x})
    return res["y"] if n_out == 1 else [res[o] for o in outs]


def close(got, want, rtol=RTOL):
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-12)
    err = float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale
    assert err <= rtol, f"relative error {err:.3g}"


rng = np.random.default_rng(1234)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# -- single ops ----------------------------------------------------------------------------------------

CONV_CASES = [
    # (N, C, H, W, O, k, stride, pad, dil, groups)
    (2, 3, 9, 11, 4, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (1, 4, 10, 10, 6, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),  # pointwise
    (3, 4, 10, 9, 6, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1),  # strided pointwise
    (2, 5, 8, 8, 5, 3, (2, 1), (1, 0, 2, 1), (1, 1), 5),  # depthwise, asymmetric stride/pad
    (1, 6, 12, 12, 6, 3, (1, 1), (2, 2, 2, 2), (2, 2), 6),  # dilated depthwise
    (2, 6, 7, 7, 9, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),  # grouped 3x3
    (2, 6, 7, 7, 9, 1, (1, 1), (0, 0, 0, 0), (1, 1), 3),  # grouped 1x1 (ShuffleNet v1)
    (1, 4, 7, 7, 8, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4),  # depthwise with multiplier 2
    (1, 3, 15, 15, 4, 7, (2, 2), (0, 0, 0, 0), (1, 1), 1),  # SqueezeNet 1.0 stem
    (1, 2, 9, 9, 3, 3, (1, 2), (0, 1, 0, 1), (2, 1), 1),
    (1, 4, 5, 5, 4, 5, (1, 1), (0, 0, 0, 0), (1, 1), 1),  # output 1x1
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(case, bias):
    n, c, h, w, o, k, stride, pad, dil, groups = case
    x, wt, b = rand(n, c, h, w), rand(o, c // groups, k, k), rand(o)
    consts = {"w": wt, "b": b} if bias else {"w": wt}
    got = run_single("Conv2d", x, consts, stride=list(stride), padding=list(pad), dilation=list(dil), groups=groups)
    close(got, ref_conv(x.astype(np.float64), wt.astype(np.float64), b.astype(np.float64) if bias else None, stride, pad, dil, groups))


POOL_CASES = [
    ((3, 3), (2, 2), (0, 0, 0, 0), True),  # SqueezeNet: ceil mode
    ((3, 3), (2, 2), (0, 0, 0, 0), False),
    ((3, 3), (2, 2), (1, 1, 1, 1), False),  # ShuffleNet stem
    ((2, 2), (2, 2), (0, 0, 0, 0), True),
    ((3, 2), (2, 3), (1, 0, 1, 1), True),
    ((3, 3), (3, 3), (1, 1, 1, 1), True),  # ceil drops a window starting in the padding
]


@pytest.mark.parametrize("k,stride,pad,ceil", POOL_CASES)
@pytest.mark.parametrize("size", [(7, 7), (8, 11)])
def test_pools(k, stride, pad, ceil, size):
    x = rand(2, 3, *size)
    x64 = x.astype(np.float64)
    close(run_single("MaxPool", x, kernel=list(k), stride=list(stride), padding=list(pad), ceil_mode=ceil), ref_pool(x64, "max", k, stride, pad, ceil))
    for inc in (False, True):
        got = run_single("AvgPool", x, kernel=list(k), stride=list(stride), padding=list(pad), ceil_mode=ceil, count_include_pad=inc)
        close(got, ref_pool(x64, "avg", k, stride, pad, ceil, inc))


def test_elementwise_and_shape_ops():
    x = rand(2, 6, 3, 5)
    x64 = x.astype(np.float64)
    relu6 = np.clip(x64, 0, 6)
    close(run_single("ReLU", x), np.maximum(x64, 0))
    close(run_single("ReLU6", x * 4), np.clip(x64 * 4, 0, 6))
    close(run_single("Clip", x, min=-0.5, max=None), np.maximum(x64, -0.5))
    close(run_single("Clip", x, min=None, max=None), x64)
    close(run_single("Sigmoid", x * 50), 1 / (1 + np.exp(-x64 * 50)))
    close(run_single("HardSigmoid", x, alpha=0.2, beta=0.5), np.clip(0.2 * x64 + 0.5, 0, 1))
    close(run_single("HardSwish", x * 3), x64 * 3 * np.clip(x64 * 3 + 3, 0, 6) / 6)
    for axis in (1, -1, 2):
        e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
        close(run_single("Softmax", x, axis=axis), e / e.sum(axis=axis, keepdims=True))
    close(run_single("GlobalAvgPool", x), x64.mean(axis=(2, 3), keepdims=True))
    close(run_single("Flatten", x, axis=2), x64.reshape(12, 15))
    close(run_single("Reshape", x, shape=[0, 3, -1]), x64.reshape(2, 3, 30))
    close(run_single("Transpose", x, perm=[0, 2, 3, 1]), x64.transpose(0, 2, 3, 1))
    close(run_single("Dropout", x, ratio=0.5), x64)
    close(run_single("Identity", x), x64)
    shuffled = x64.reshape(2, 3, 2, 3, 5).transpose(0, 2, 1, 3, 4).reshape(2, 6, 3, 5)
    close(run_single("ChannelShuffle", x, groups=3), shuffled)
    a, b = run_single("Split", x, n_out=2, axis=1, split=[2, 4])
    close(a, x64[:, :2])
    close(b, x64[:, 2:])
    c = rand(1, 6, 1, 1)
    for op, f in (("Add", np.add), ("Sub", np.subtract), ("Mul", np.multiply), ("Div", np.divide)):
        close(run_single(op, x, {"c": c}), f(x64, c.astype(np.float64)))
    w = rand(5, 7)
    a3 = rand(2, 3, 5)
    close(run_single("MatMul", a3, {"w": w}), a3.astype(np.float64) @ w.astype(np.float64))
    g, beta, mean, var = rand(6), rand(6), rand(6), np.abs(rand(6)) + 0.5
    bn = run_single("BatchNorm", x, {"g": g, "beta": beta, "mean": mean, "var": var}, epsilon=1e-3)
    s = g.astype(np.float64) / np.sqrt(var.astype(np.float64) + 1e-3)
    close(bn, (x64 - mean[None, :, None, None]) * s[None, :, None, None] + beta[None, :, None, None])
    assert relu6.shape == x.shape


def test_concat_of_channels_last_and_plain_values():
    # a concat whose inputs come from a conv (channels-last inside) and a reshape (logical layout)
    x = rand(2, 4, 3, 3)
    w = rand(2, 4, 1, 1)
    nodes = [
        Node("Conv2d", "c", ["x", "w"], ["a"], canonical_attrs("Conv2d", "c", {})),
        Node("Reshape", "r", ["x"], ["b"], canonical_attrs("Reshape", "r", {"shape": [0, 4, 3, 3]})),
        Node("Concat", "cat", ["a", "b", "k"], ["y"], canonical_attrs("Concat", "cat", {"axis": 1})),
    ]
    k = rand(1, 1, 3, 3)
    g = Graph([ValueInfo("x", (2, 4, 3, 3))], [ValueInfo("y", (2, 7, 3, 3))], nodes)
    with pytest.raises(GraphError):  # constant k has batch 1, not 2: concat needs equal non-axis dims
        Model.from_graph(g, {"w": w, "k": k})
    k = rand(2, 1, 3, 3)
    got = Model.from_graph(g, {"w": w, "k": k})(x)
    a = ref_conv(x.astype(np.float64), w.astype(np.float64), None, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    close(got, np.concatenate([a, x, k], axis=1))


def test_buffer_reuse_never_clobbers_live_values_or_inputs():
    x = rand(2, 3, 4, 4)
    keep = x.copy()
    a = {}
    nodes = [
        Node("ReLU", "r", ["x"], ["r"], a),
        Node("Sigmoid", "s", ["r"], ["s"], a),  # r is still needed below: must not be overwritten
        Node("Add", "add", ["r", "s"], ["t"], a),
        Node("Mul", "mul", ["t", "t"], ["u"], a),
        Node("HardSwish", "hs", ["u"], ["y"], a),
    ]
    g = Graph([ValueInfo("x", ("N", 3, 4, 4))], [ValueInfo("y", ("N", 3, 4, 4)), ValueInfo("t", ("N", 3, 4, 4))], nodes)
    out = Model.from_graph(g, {}).run({"x": x})
    r = np.maximum(x.astype(np.float64), 0)
    t = r + 1 / (1 + np.exp(-r))
    u = t * t
    close(out["t"], t)
    close(out["y"], u * np.clip(u + 3, 0, 6) / 6)
    assert np.array_equal(x, keep), "the caller's input was modified"


def test_batchnorm_folding_and_bias_add_folding_match_unfolded():
    # Conv -> BatchNorm -> Add(per-channel const) -> ReLU6 : everything folds into one conv step
    x = rand(3, 4, 6, 6)
    w = rand(5, 4, 3, 3)
    g, beta, mean, var = rand(5), rand(5), rand(5), np.abs(rand(5)) + 0.5
    c = rand(1, 5, 1, 1)
    nodes = [
        Node("Conv2d", "conv", ["x", "w"], ["a"], canonical_attrs("Conv2d", "conv", {"padding": [1, 1, 1, 1]})),
        Node("BatchNorm", "bn", ["a", "g", "beta", "mean", "var"], ["b"], canonical_attrs("BatchNorm", "bn", {})),
        Node("Add", "add", ["b", "c"], ["d"], {}),
        Node("ReLU6", "act", ["d"], ["y"], {}),
    ]
    graph = Graph([ValueInfo("x", ("N", 4, 6, 6))], [ValueInfo("y", ("N", 5, 6, 6))], nodes)
    tensors = {"w": w, "g": g, "beta": beta, "mean": mean, "var": var, "c": c}
    model = Model.from_graph(graph, tensors)
    # one compute step (BN, bias and ReLU6 folded into the conv) between the two layout conversions
    assert [st.name for st in model.steps if not st.name.startswith("to_")] == ["conv"]
    ref = ref_conv(x.astype(np.float64), w.astype(np.float64), None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    s = (g / np.sqrt(var.astype(np.float64) + 1e-5))[None, :, None, None]
    ref = np.clip((ref - mean[None, :, None, None]) * s + beta[None, :, None, None] + c, 0, 6)
    close(model(x), ref)


def _csr_of(w2d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(w2d)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=w2d.shape[0]))]).astype(np.int64)
    return indptr, cols.astype(np.int64), w2d[rows, cols]


def test_sparse_path_matches_dense_and_is_chosen_by_batch_size(monkeypatch):
    pytest.importorskip("scipy")
    calls = []
    original = Csr.matmul_t
    monkeypatch.setattr(Csr, "matmul_t", lambda self, x: calls.append(len(x)) or original(self, x))
    w = rand(1024, 600)
    w[np.abs(w) < np.quantile(np.abs(w), 0.9)] = 0  # 10% density
    b = rand(1024)
    node = Node("Linear", "fc", ["x", "w", "b"], ["y"], {})
    graph = Graph([ValueInfo("x", ("N", 600))], [ValueInfo("y", ("N", 1024))], [node])
    sparse = Model.from_graph(graph, {"w": w, "b": b}, csr={"w": _csr_of(w)})
    dense = Model.from_graph(graph, {"w": w, "b": b})
    assert sparse.sparse_layers == ["w"] and dense.sparse_layers == []
    c = Csr(*_csr_of(w), w.shape)
    assert c.use_for(1) and c.use_for(8) and not c.use_for(10_000)
    small = Csr(*_csr_of(w[:100]), (100, 600))
    assert not small.use_for(1)  # cache-resident layers stay dense
    x = rand(600, 600)
    for n in (1, 2, 8, 600):
        close(sparse(x[:n]), dense(x[:n]))
        close(sparse(x[:n]), x[:n].astype(np.float64) @ w.T.astype(np.float64) + b)
    assert calls == [1, 1, 2, 2, 8, 8]  # the CSR kernel ran for small batches only
    # a CSR whose shape disagrees with the weight is ignored, not trusted
    bad = Model.from_graph(graph, {"w": w, "b": b}, csr={"w": (np.zeros(3, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))})
    assert bad.sparse_layers == []


def test_sparse_csr_with_batchnorm_folding():
    pytest.importorskip("scipy")
    x = rand(1, 8, 5, 5)
    w = rand(6, 8, 1, 1)
    w[np.abs(w) < 1.2] = 0
    g, beta, mean, var = rand(6), rand(6), rand(6), np.abs(rand(6)) + 0.5
    nodes = [
        Node("Conv2d", "conv", ["x", "w"], ["a"], canonical_attrs("Conv2d", "conv", {})),
        Node("BatchNorm", "bn", ["a", "g", "beta", "mean", "var"], ["y"], canonical_attrs("BatchNorm", "bn", {})),
    ]
    graph = Graph([ValueInfo("x", ("N", 8, 5, 5))], [ValueInfo("y", ("N", 6, 5, 5))], nodes)
    tensors = {"w": w, "g": g, "beta": beta, "mean": mean, "var": var}
    m = Model.from_graph(graph, tensors, csr={"w": _csr_of(w.reshape(6, 8))})
    assert m.sparse_layers == ["w"]
    close(m(x), Model.from_graph(graph, tensors)(x))


def test_batches_of_any_size_agree_with_single_samples():
    graph, tensors = shufflenet_v1(seed=2, groups=3, image_size=32)
    model = Model.from_graph(graph, tensors)
    x = rand(5, 3, 32, 32)
    batched = model(x)
    for i in range(5):
        close(model(x[i : i + 1]), batched[i : i + 1])
    assert model(x[:0]).shape == (0, 1000)


def test_input_checks():
    graph, tensors = lenet_5()
    model = Model.from_graph(graph, tensors)
    assert [(v.name, v.shape) for v in model.inputs] == [("input", ("N", 1, 28, 28))]
    assert [(v.name, v.shape) for v in model.outputs] == [("logits", ("N", 10))]
    with pytest.raises(ValueError, match="expected shape"):
        model(rand(1, 1, 28, 27))
    with pytest.raises(ValueError, match="rank"):
        model(rand(28, 28))
    with pytest.raises(ValueError, match="missing"):
        model.run({"x": rand(1, 1, 28, 28)})
    with pytest.raises(ValueError, match="not numeric"):
        model(np.array([["a"]]))
    y64 = model(rand(2, 1, 28, 28).astype(np.float64))
    assert y64.dtype == np.float32


def test_weight_shape_mismatch_is_graph_error():
    graph, tensors = lenet_5()
    tensors["conv2.weight"] = tensors["conv2.weight"][:, :10]
    with pytest.raises(GraphError, match="'conv2'.*input channels"):
        Model.from_graph(graph, tensors)
    graph, tensors = lenet_5()
    del tensors["ip2.bias"]
    with pytest.raises(GraphError, match="ip2.bias"):
        Model.from_graph(graph, tensors)


def test_model_builders_against_oracle_for_lenet5():
    graph, t = lenet_5(seed=7)
    x = rand(3, 1, 28, 28)
    d = {k: v.astype(np.float64) for k, v in t.items()}
    a = ref_conv(x.astype(np.float64), d["conv1.weight"], d["conv1.bias"], (1, 1), (0,) * 4, (1, 1), 1)
    a = ref_pool(a, "max", (2, 2), (2, 2), (0,) * 4, False)
    a = ref_conv(a, d["conv2.weight"], d["conv2.bias"], (1, 1), (0,) * 4, (1, 1), 1)
    a = ref_pool(a, "max", (2, 2), (2, 2), (0,) * 4, False).reshape(3, -1)
    a = np.maximum(a @ d["ip1.weight"].T + d["ip1.bias"], 0) @ d["ip2.weight"].T + d["ip2.bias"]
    close(Model.from_graph(graph, t)(x), a)


# -- through real .dc files -------------------------------------------------------------------------


@pytest.mark.parametrize("builder", [lenet_300_100, lenet_5])
def test_save_open_run(tmp_path, builder):
    graph, tensors = builder(seed=1)
    path = tmp_path / "m.dc"
    dcformat.save(path, tensors, graph=graph)
    model = Model.open(path)
    decoded = dcformat.load(path)
    with dcformat.open(path) as f:
        assert f.graph == graph
        sparse_names = [k for k in f.keys() if f.info(k).encoding == "sparse"]
    assert sparse_names and set(model.sparse_layers) <= set(sparse_names)
    x = rand(4, *graph.inputs[0].shape[1:])
    close(model(x), Model.from_graph(graph, decoded)(x))
    close(model(x[:1]), Model.from_graph(graph, decoded)(x[:1]))  # batch 1 takes the CSR path


def test_model_open_needs_a_graph(tmp_path):
    path = tmp_path / "nograph.dc"
    dcformat.save(path, {"w": rand(3, 3)})
    with pytest.raises(GraphError, match="no graph"):
        Model.open(path)


def test_mobilenet_v2_small_runs_from_file(tmp_path):
    graph, tensors = mobilenet_v2(seed=0, image_size=32, num_classes=10)
    path = tmp_path / "mb.dc"
    dcformat.save(path, tensors, graph=graph, config=dcformat.CompressionConfig(encoding="raw"))
    x = rand(2, 3, 32, 32)
    close(Model.open(path)(x), Model.from_graph(graph, tensors)(x), rtol=0)


# -- CLI ----------------------------------------------------------------------------------------------


def test_cli_run(tmp_path, capsys):
    from dcformat.cli import main

    graph, tensors = lenet_5(seed=4)
    path = tmp_path / "l5.dc"
    dcformat.save(path, tensors, graph=graph)
    x = rand(2, 1, 28, 28)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    close(y, Model.open(path)(x), rtol=0)
    capsys.readouterr()
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    best = int(np.argmax(y[1]))
    assert "logits: shape (2, 10)" in out and f"[1] top-3: {best}:" in out
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["run", str(path), "--input", str(tmp_path / "obj.npy")]) == 1
    np.save(tmp_path / "bad.npy", rand(2, 3))
    assert main(["run", str(path), "--input", str(tmp_path / "bad.npy")]) == 1
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--top-k", "0"]) == 2


def test_activation_moved_past_maxpool_is_exact():
    # Conv -> ReLU6 -> MaxPool: the clip is applied after pooling (it commutes with max)
    x = rand(2, 3, 10, 10) * 4
    w = rand(4, 3, 3, 3)
    nodes = [
        Node("Conv2d", "conv", ["x", "w"], ["a"], canonical_attrs("Conv2d", "conv", {})),
        Node("ReLU6", "act", ["a"], ["b"], {}),
        Node("MaxPool", "pool", ["b"], ["y"], canonical_attrs("MaxPool", "pool", {"kernel": [3, 3], "stride": [2, 2], "ceil_mode": True})),
    ]
    graph = Graph([ValueInfo("x", ("N", 3, 10, 10))], [ValueInfo("y", ("N", 4, 4, 4))], nodes)
    ref = np.clip(ref_conv(x.astype(np.float64), w.astype(np.float64), None, (1, 1), (0,) * 4, (1, 1), 1), 0, 6)
    close(Model.from_graph(graph, {"w": w})(x), ref_pool(ref, "max", (3, 3), (2, 2), (0,) * 4, True))


def test_large_batches_run_in_chunks_with_identical_results():
    graph, tensors = mobilenet_v2(seed=1, image_size=64, num_classes=10)
    model = Model.from_graph(graph, tensors)
    assert model._chunk is not None and 1 <= model._chunk < 13
    x = rand(13, 3, 64, 64)
    chunked = model(x)
    model._chunk = None
    whole = model(x)
    close(chunked, whole)
    close(chunked[12:], model(x[12:]))


def test_graphs_that_mix_samples_are_never_chunked():
    from dcformat.inference.model import _batch_chunk
    from dcformat.graph import infer_shapes

    x = ValueInfo("x", ("N", 64, 32, 32))
    for node, out_shape in [
        (Node("Softmax", "s", ["x"], ["y"], {"axis": 0}), ("N", 64, 32, 32)),
        (Node("Transpose", "t", ["x"], ["y"], {"perm": [1, 0, 2, 3]}), (64, "N", 32, 32)),
        (Node("Reshape", "r", ["x"], ["y"], {"shape": [-1, 32]}), (None, 32)),
        (Node("ReLU", "ok", ["x"], ["y"], {}), ("N", 64, 32, 32)),
    ]:
        node.attrs = canonical_attrs(node.op, node.name, node.attrs)
        g = Graph([x], [ValueInfo("y", out_shape)], [node])
        chunk = _batch_chunk(g, infer_shapes(g, {}), {})
        assert (chunk is not None) == (node.op == "ReLU"), node.op


@pytest.mark.parametrize("stride", [1, 2])
def test_clip_then_depthwise_with_padding(stride):
    # 1x1 conv -> Clip -> depthwise 3x3: the clip folds into the 1x1 conv; the depthwise pads
    # the clipped values with zeros (min=0.5, so a clipped padding would show)
    x = rand(2, 3, 7, 7) * 3
    w1, w2 = rand(6, 3, 1, 1), rand(6, 1, 3, 3)
    nodes = [
        Node("Conv2d", "pw", ["x", "w1"], ["a"], canonical_attrs("Conv2d", "pw", {})),
        Node("Clip", "act", ["a"], ["b"], canonical_attrs("Clip", "act", {"min": 0.5, "max": 6.0})),
        Node("Conv2d", "dw", ["b", "w2"], ["y"], canonical_attrs("Conv2d", "dw", {"stride": [stride] * 2, "padding": [1] * 4, "groups": 6})),
    ]
    size = (7 - 1) // stride + 1
    graph = Graph([ValueInfo("x", ("N", 3, 7, 7))], [ValueInfo("y", ("N", 6, size, size))], nodes)
    model = Model.from_graph(graph, {"w1": w1, "w2": w2})
    a = np.clip(ref_conv(x.astype(np.float64), w1.astype(np.float64), None, (1, 1), (0,) * 4, (1, 1), 1), 0.5, 6)
    close(model(x), ref_conv(a, w2.astype(np.float64), None, (stride, stride), (1,) * 4, (1, 1), 6))


@pytest.mark.parametrize("pad,stride,dil", [((1, 1, 1, 1), (2, 2), (1, 1)), ((0, 2, 1, 0), (1, 2), (2, 1))])
def test_stem_conv_reads_channels_first_input_directly(pad, stride, dil):
    # a 3-channel conv on the graph input builds its patches from NCHW (no to_nhwc step); a second
    # consumer of the same input (a pool) still gets its own layout conversion; batch 0 works too
    x = rand(3, 3, 11, 9)
    w, b = rand(5, 3, 3, 3), rand(5)
    conv = Node("Conv2d", "stem", ["x", "w", "b"], ["y"], canonical_attrs("Conv2d", "stem", {"stride": list(stride), "padding": list(pad), "dilation": list(dil)}))
    pool = Node("MaxPool", "pool", ["x"], ["p"], canonical_attrs("MaxPool", "pool", {"kernel": [2, 2], "stride": [2, 2]}))
    from dcformat.graph.shapes import infer_shapes

    g0 = Graph([ValueInfo("x", ("N", 3, 11, 9))], [], [conv, pool])
    shapes = infer_shapes(g0, {"w": w.shape, "b": b.shape})
    graph = Graph(g0.inputs, [ValueInfo("y", shapes["y"]), ValueInfo("p", shapes["p"])], [conv, pool])
    model = Model.from_graph(graph, {"w": w, "b": b})
    stem = [s for s in model.steps if s.name == "stem"][0]
    assert stem.reads == ["x"]  # the plain (NCHW) input itself, not a converted copy
    got = model.run({"x": x})
    close(got["y"], ref_conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride, pad, dil, 1))
    close(got["p"], ref_pool(x.astype(np.float64), "max", (2, 2), (2, 2), (0,) * 4, False))
    close(model.run({"x": x[:0]})["y"], np.zeros((0,) + got["y"].shape[1:]))


@pytest.mark.parametrize("size,stride,pad,dil", [(7, (2, 2), (1, 1, 1, 1), (1, 1)), (8, (2, 3), (0, 2, 1, 1), (2, 1)), (9, (3, 2), (2, 0, 0, 1), (1, 1))])
def test_pointwise_emits_phase_split_input_for_strided_depthwise(monkeypatch, size, stride, pad, dil):
    # 1x1 conv -> Clip(min 0.5) -> strided depthwise: the 1x1 conv multiplies the padded, phase-split
    # input, so its padding pixels hold clip(bias) >= 0.5 until re-zeroed; a missed pixel would show
    from dcformat.inference import kernels as K
    from dcformat.ops import conv2d

    monkeypatch.setattr(K, "fast_kernels", lambda: None)  # this test is about the NumPy path's phase split
    calls = []
    real = K.zero_phase_borders
    monkeypatch.setattr(K, "zero_phase_borders", lambda out, regions: (calls.append(out.shape), real(out, regions)))
    monkeypatch.setattr(conv2d, "PHASE_MIN_SIZE", 0)
    x = rand(2, 3, size, size) * 3
    w1, b1, w2 = rand(6, 3, 1, 1), rand(6), rand(6, 1, 3, 3)
    nodes = [
        Node("Conv2d", "pw", ["x", "w1", "b1"], ["a"], canonical_attrs("Conv2d", "pw", {})),
        Node("Clip", "act", ["a"], ["b"], canonical_attrs("Clip", "act", {"min": 0.5, "max": 6.0})),
        Node("Conv2d", "dw", ["b", "w2"], ["y"], canonical_attrs("Conv2d", "dw", {"stride": list(stride), "padding": list(pad), "dilation": list(dil), "groups": 6})),
    ]
    from dcformat.graph.shapes import infer_shapes

    g0 = Graph([ValueInfo("x", ("N", 3, size, size))], [], nodes)
    shape = infer_shapes(g0, {"w1": w1.shape, "b1": b1.shape, "w2": w2.shape})["y"]
    model = Model.from_graph(Graph(g0.inputs, [ValueInfo("y", shape)], nodes), {"w1": w1, "b1": b1, "w2": w2})
    a = np.clip(ref_conv(x.astype(np.float64), w1.astype(np.float64), b1.astype(np.float64), (1, 1), (0,) * 4, (1, 1), 1), 0.5, 6)
    close(model(x), ref_conv(a, w2.astype(np.float64), None, stride, pad, dil, 6))
    assert calls, "the phase-split path was not taken"
    assert model(x[:0]).shape == (0,) + model(x).shape[1:]


@pytest.mark.parametrize("shared_act,extra_reader", [(True, False), (False, False), (True, True)])
def test_convs_write_straight_into_their_concat(shared_act, extra_reader):
    # a fire module: 1x1 and 3x3 convs on one input, ReLU each, channel concat (listed in the opposite
    # order to the one they run in). Fused when both convs share the activation and only the concat
    # reads them; a different activation or a second reader keeps the plain concatenation.
    x = rand(2, 6, 6, 7)  # 6 channels: not a stem conv reading NCHW directly
    w1, b1, w3 = rand(5, 6, 1, 1), rand(5), rand(3, 6, 3, 3)
    act3 = "ReLU" if shared_act else "ReLU6"
    nodes = [
        Node("Conv2d", "e1", ["x", "w1", "b1"], ["a1"], canonical_attrs("Conv2d", "e1", {})),
        Node("ReLU", "r1", ["a1"], ["y1"], {}),
        Node("Conv2d", "e3", ["x", "w3"], ["a3"], canonical_attrs("Conv2d", "e3", {"padding": [1, 1, 1, 1]})),
        Node(act3, "r3", ["a3"], ["y3"], {}),
        Node("Concat", "cat", ["y3", "y1"], ["y"], canonical_attrs("Concat", "cat", {"axis": 1})),
    ]
    outs = [ValueInfo("y", ("N", 8, 6, 7))] + ([ValueInfo("y1", ("N", 5, 6, 7))] if extra_reader else [])
    model = Model.from_graph(Graph([ValueInfo("x", ("N", 6, 6, 7))], outs, nodes), {"w1": w1, "b1": b1, "w3": w3})
    cat = [s for s in model.steps if s.name == "cat"][0]
    assert (len(cat.reads) == 1) == (shared_act and not extra_reader)
    x64 = x.astype(np.float64)
    y1 = np.maximum(ref_conv(x64, w1.astype(np.float64), b1.astype(np.float64), (1, 1), (0,) * 4, (1, 1), 1), 0)
    y3 = ref_conv(x64, w3.astype(np.float64), None, (1, 1), (1,) * 4, (1, 1), 1)
    y3 = np.maximum(y3, 0) if shared_act else np.clip(y3, 0, 6)
    got = model.run({"x": x})
    close(got["y"], np.concatenate([y3, y1], axis=1))
    if extra_reader:
        close(got["y1"], y1)
    assert model.run({"x": x[:0]})["y"].shape == (0, 8, 6, 7)
