"""Conformance of the NumPy path with onnxruntime, and ONNX import/export.

Tolerance: max |ours - ort| <= 1e-5 * max |ort| per output. Both engines
compute in float32 and differ only in summation order and in where BatchNorm
is folded; for N-term dot products the float32 rounding error grows like
sqrt(N) * 2**-24 ~ 1e-6 relative for the largest layers here, and the
measured disagreement on every model is <= ~3e-6 (mostly ~5e-7), so 1e-5 is
ample while still catching any wrong index, padding or layout (those give
errors of order 1e-2 .. 1).
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import dcformat  # noqa: E402
from dcformat.errors import GraphError  # noqa: E402
from dcformat.inference import Model  # noqa: E402
from dcformat.models import BUILDERS  # noqa: E402
from model_cases import CASES  # noqa: E402  (tests/model_cases.py)
from dcformat.onnx_io import export_onnx, import_onnx, to_onnx_model  # noqa: E402

TOL = 1e-5


def session(model_or_path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    src = model_or_path if isinstance(model_or_path, (str, pathlib.Path)) else model_or_path.SerializeToString()
    return ort.InferenceSession(str(src) if isinstance(src, pathlib.Path) else src, so, providers=["CPUExecutionProvider"])


def rel_err(got, want):
    assert got.shape == want.shape
    return float(np.abs(got.astype(np.float64) - want).max()) / max(float(np.abs(want).max()), 1e-12)


def check_file_against_ort(path, batches, input_shape, seed=0):
    """Model.open(path) vs onnxruntime on the ONNX export of the file's decoded weights."""
    model = Model.open(path)
    with dcformat.open(path) as f:
        graph = f.graph
        decoded = {k: f.tensor(k) for k in f.keys()}
    sess = session(to_onnx_model(graph, decoded))
    name = graph.inputs[0].name
    errs = []
    for n in batches:
        x = np.random.default_rng(seed + n).standard_normal((n, *input_shape)).astype(np.float32)
        want = sess.run(None, {name: x})
        got = model.run({name: x})
        for v, w in zip(graph.outputs, want):
            errs.append(rel_err(got[v.name], w))
    assert max(errs) <= TOL, errs
    return errs




@pytest.mark.parametrize("name", sorted(CASES))
def test_builders_from_dc_file_agree_with_onnxruntime(tmp_path, name):
    kw, shape = CASES[name]
    graph, tensors = BUILDERS[name](seed=11, **kw)
    path = tmp_path / f"{name}.dc"
    dcformat.save(path, tensors, graph=graph)  # default config: pruned + quantized weights
    check_file_against_ort(path, (1, 8), shape)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,kw",
    [
        ("alexnet", {}),
        ("squeezenet1_0", {}),
        ("squeezenet1_1", {}),
        ("mobilenet_v1", {"alpha": 1.0}),
        ("mobilenet_v1", {"alpha": 0.25}),
        ("mobilenet_v2", {}),
        ("shufflenet_v1", {"groups": 1}),
        ("shufflenet_v1", {"groups": 8}),
        ("shufflenet_v2", {"width_mult": 0.5}),
        ("shufflenet_v2", {}),
    ],
)
def test_builders_full_size(tmp_path, name, kw):
    graph, tensors = BUILDERS[name](seed=5, **kw)
    path = tmp_path / f"{name}.dc"
    dcformat.save(path, tensors, graph=graph)
    size = graph.inputs[0].shape[2]  # 227 for AlexNet, 224 for the others
    check_file_against_ort(path, (1, 8), (3, size, size))


# -- the real packaged model ---------------------------------------------------------------------------


def rapidocr_cls_model() -> pathlib.Path:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")  # locates the package without importing it
    if spec is None or spec.origin is None:
        pytest.skip("rapidocr-onnxruntime is not installed")
    path = pathlib.Path(spec.origin).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    if not path.is_file():
        pytest.skip(f"{path.name} not found in rapidocr-onnxruntime")
    return path


def test_real_mobilenetv3_text_direction_classifier(tmp_path):
    src = rapidocr_cls_model()
    proto = onnx.load(str(src))
    assert len(proto.graph.initializer) == 0 and sum(n.op_type == "Constant" for n in proto.graph.node) > 100
    graph, tensors = import_onnx(src)
    ops = {n.op for n in graph.nodes}
    assert {"Conv2d", "HardSigmoid", "GlobalAvgPool", "MatMul", "Softmax"} <= ops
    # uncompressed: the imported graph reproduces the original file in onnxruntime
    x = np.random.default_rng(0).standard_normal((8, 3, 48, 192)).astype(np.float32)
    original = session(src).run(None, {"x": x})[0]
    assert rel_err(Model.from_graph(graph, tensors)(x), original) <= TOL
    # compressed: run from the .dc file, against onnxruntime on the same decoded weights
    path = tmp_path / "cls.dc"
    dcformat.save(path, tensors, graph=graph, config=dcformat.CompressionConfig(density=None))
    check_file_against_ort(path, (1, 8), (3, 48, 192))
    assert path.stat().st_size < src.stat().st_size / 2  # 8-bit codebooks, no pruning: ~2.2x smaller
    # quantization without pruning barely moves this pretrained model's class probabilities
    compressed = Model.open(path)(x)
    assert float(np.abs(compressed - original).max()) < 0.05


# -- import details ------------------------------------------------------------------------------------


def _model(nodes, inputs, outputs, inits=(), opset=13):
    from onnx import helper

    m = helper.make_model(helper.make_graph(nodes, "t", inputs, outputs, list(inits)), opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def test_import_constants_gemm_and_shape_folding():
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((8 * 4 * 4, 5)).astype(np.float32)  # Gemm with transB=0
    b2 = rng.standard_normal(5).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["w1"], value=numpy_helper.from_array(w1)),
        helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        # PyTorch-style flatten: Shape -> Gather(0) -> Unsqueeze -> Concat([n, -1]) -> Reshape
        helper.make_node("Shape", ["r"], ["s"]),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Constant", [], ["axes"], value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Constant", [], ["m1"], value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Concat", ["n1", "m1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["r", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["g"], alpha=0.5, beta=2.0),
        helper.make_node("Softmax", ["g"], ["y"], axis=-1),
    ]
    m = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")],
    )
    graph, tensors = import_onnx(m.SerializeToString())
    assert [n.op for n in graph.nodes] == ["Conv2d", "ReLU", "Reshape", "Linear", "Softmax"]
    assert graph.nodes[2].attrs["shape"] == [0, -1]
    assert "w1" in tensors and tensors[graph.nodes[3].inputs[1]].shape == (5, 128)
    x = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    want = session(m).run(None, {"x": x})[0]
    assert rel_err(Model.from_graph(graph, tensors)(x), want) <= TOL
    # export of the import runs in onnxruntime too
    assert rel_err(session(to_onnx_model(graph, tensors)).run(None, {"x": x})[0], want) <= TOL


def test_import_rejects_what_it_cannot_map():
    from onnx import TensorProto, helper

    vi = helper.make_tensor_value_info
    m = _model([helper.make_node("Erf", ["x"], ["y"])], [vi("x", TensorProto.FLOAT, [1, 4])], [vi("y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(GraphError, match="unsupported ONNX op 'Erf'"):
        import_onnx(m.SerializeToString())
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", TensorProto.INT64, [1, 4])], [vi("y", TensorProto.INT64, [1, 4])])
    with pytest.raises(GraphError, match="only float32 inputs"):
        import_onnx(m.SerializeToString())
    m = _model([helper.make_node("Conv", ["x", "x"], ["y"])], [vi("x", TensorProto.FLOAT, [1, 1, 4, 4])], [vi("y", TensorProto.FLOAT, None)])
    with pytest.raises(GraphError, match="must be a constant"):
        import_onnx(m.SerializeToString())
    with pytest.raises(GraphError, match="not a readable ONNX model"):
        import_onnx(b"\x08\x07garbage\xff\xff")


def test_export_without_graph_holds_only_initializers(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.float32)}
    path = tmp_path / "t.onnx"
    export_onnx(None, tensors, path)
    m = onnx.load(str(path))
    got = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    assert got.keys() == tensors.keys() and all(np.array_equal(got[k], tensors[k]) for k in tensors)
    assert len(m.graph.node) == 0


def test_export_import_round_trip_of_builders():
    graph, tensors = BUILDERS["shufflenet_v2"](seed=1, image_size=32, width_mult=0.5)
    g2, t2 = import_onnx(to_onnx_model(graph, tensors).SerializeToString())
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    # the ChannelShuffle export becomes Reshape/Transpose/Reshape on import; results must agree
    assert rel_err(Model.from_graph(g2, t2)(x), Model.from_graph(graph, tensors)(x)) <= TOL
    graph, tensors = BUILDERS["alexnet"](seed=1, image_size=67, width_mult=0.25)
    g2, t2 = import_onnx(to_onnx_model(graph, tensors).SerializeToString())
    lrn = [{k: np.float32(v) for k, v in n.attrs.items()} for n in g2.nodes if n.op == "LRN"]  # ONNX keeps float32
    assert lrn == [{"size": 5, "alpha": np.float32(1e-4), "beta": 0.75, "bias": 1.0}] * 2
    x = np.random.default_rng(3).standard_normal((2, 3, 67, 67)).astype(np.float32)
    assert rel_err(Model.from_graph(g2, t2)(x), Model.from_graph(graph, tensors)(x)) <= TOL


@pytest.mark.parametrize("op,include_pad", [("MaxPool", False), ("AvgPool", False), ("AvgPool", True)])
@pytest.mark.parametrize(
    "k,stride,pad,ceil",
    [((3, 3), (2, 2), (0, 0, 0, 0), True), ((3, 3), (3, 3), (1, 1, 1, 1), True), ((3, 2), (2, 3), (1, 0, 1, 1), True), ((2, 2), (2, 2), (0, 0, 0, 0), False)],
)
def test_pooling_window_rules_match_onnxruntime(op, k, stride, pad, ceil, include_pad):
    """spec/GRAPH.md §4.1 (ceil mode, padded windows, divisors) against onnxruntime."""
    from dcformat.graph import Graph, Node, ValueInfo
    from dcformat.graph.ops import canonical_attrs

    attrs = dict(kernel=list(k), stride=list(stride), padding=list(pad), ceil_mode=ceil)
    if op == "AvgPool":
        attrs["count_include_pad"] = include_pad
    for size in ((7, 7), (8, 11), (10, 9)):
        node = Node(op, "p", ["x"], ["y"], canonical_attrs(op, "p", attrs))
        graph = Graph([ValueInfo("x", ("N", 2, *size))], [ValueInfo("y", ("N", 2, None, None))], [node])
        x = np.random.default_rng(sum(size)).standard_normal((2, 2, *size)).astype(np.float32)
        want = session(to_onnx_model(graph, {})).run(None, {"x": x})[0]
        assert rel_err(Model.from_graph(graph, {})(x), want) <= TOL, size
