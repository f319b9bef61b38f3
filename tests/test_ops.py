"""The op registry (dcformat/ops/): every op, one node at a time, against onnxruntime.

One case per registered op, and the table must cover the registry exactly, so a
new op module cannot land without its case. For each op, with the numba
kernels on and off: shape inference predicts the engine's output shape; our
engine agrees with onnxruntime running the op's own ONNX export (the oracle:
an independent implementation of each ONNX op; tolerance 1e-5 relative, as in
test_onnx_conformance.py); importing that export back gives a graph that
computes the same; the graph's written graph_version is the op's ``since``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from dcformat.errors import GraphError  # noqa: E402
from dcformat.graph import Graph, Node, ValueInfo  # noqa: E402
from dcformat.graph.ops import canonical_attrs  # noqa: E402
from dcformat.graph.shapes import infer_shapes  # noqa: E402
from dcformat.inference import Model  # noqa: E402
from dcformat.inference import kernels as K  # noqa: E402
from dcformat.onnx_io import import_onnx, to_onnx_model  # noqa: E402
from dcformat.ops import CAFFE_IMPORT, LAYERS, ONNX_IMPORT, OPS  # noqa: E402

TOL = 1e-5
rng = np.random.default_rng(13)


def r(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


X4 = (2, 16, 7, 9)  # 16 channels: at least one vector of channels, so the compiled kernels take it
# op -> (input shapes of the computed inputs, stored tensors by input position, attrs)
CASES: dict[str, tuple[list[tuple[int, ...]], dict[int, np.ndarray], dict[str, Any]]] = {
    "Conv2d": ([X4], {1: r(24, 8, 3, 2), 2: r(24)}, {"stride": [2, 1], "padding": [1, 0, 2, 1], "dilation": [1, 2], "groups": 2}),
    "Linear": ([(3, 10)], {1: r(7, 10), 2: r(7)}, {}),
    "MatMul": ([(2, 3, 4), (4, 5)], {}, {}),
    "BatchNorm": ([X4], {1: r(16), 2: r(16), 3: r(16), 4: np.abs(r(16)) + 0.5}, {"epsilon": 1e-3}),
    "ReLU": ([X4], {}, {}),
    "ReLU6": ([(3, 5)], {}, {}),
    "Clip": ([X4], {}, {"min": -0.5, "max": None}),
    "HardSwish": ([X4], {}, {}),
    "HardSigmoid": ([(4, 6)], {}, {"alpha": 0.3, "beta": 0.4}),
    "Sigmoid": ([X4], {}, {}),
    "LRN": ([X4], {}, {"size": 5, "alpha": 1e-2, "beta": 0.75, "bias": 2.0}),
    "Softmax": ([X4], {}, {"axis": 1}),
    "MaxPool": ([X4], {}, {"kernel": [3, 2], "stride": [2, 2], "padding": [1, 1, 1, 0], "ceil_mode": True}),
    "AvgPool": ([X4], {}, {"kernel": [2, 3], "stride": [1, 2], "padding": [0, 1, 1, 1], "count_include_pad": True}),
    "GlobalAvgPool": ([X4], {}, {}),
    "Concat": ([X4, (2, 5, 7, 9)], {}, {"axis": 1}),
    "Split": ([X4], {}, {"axis": -1, "split": [4, 5]}),
    "Add": ([X4, (16, 1, 1)], {}, {}),
    "Sub": ([(3, 4), (4,)], {}, {}),
    "Mul": ([X4, X4], {}, {}),
    "Div": ([X4, (1, 16, 7, 1)], {}, {}),
    "ChannelShuffle": ([X4], {}, {"groups": 4}),
    "Flatten": ([X4], {}, {"axis": 2}),
    "Reshape": ([X4], {}, {"shape": [0, -1, 9]}),
    "Transpose": ([X4], {}, {"perm": [0, 2, 3, 1]}),
    "Dropout": ([X4], {}, {"ratio": 0.25}),
    "Identity": ([(3, 4)], {}, {}),
}


def test_every_registered_op_has_a_case() -> None:
    assert set(CASES) == set(OPS)


def test_registry_rules_and_claims() -> None:
    for name, d in OPS.items():
        assert d.name == name and d.shape and d.plan and d.to_onnx, name
        assert d.since >= 1
    assert set(LAYERS) == {"Conv2d", "Linear"}
    assert OPS["LRN"].since == 2 and all(d.since == 1 for n, d in OPS.items() if n != "LRN")  # spec/GRAPH.md §7
    # every ONNX op our export writes directly for a single op imports back (ChannelShuffle's subgraph excepted)
    assert {"Conv", "Gemm", "Relu", "Clip", "LRN", "AveragePool", "MaxPool", "Split", "Identity"} <= set(ONNX_IMPORT)
    assert set(CAFFE_IMPORT) == {"Convolution", "InnerProduct", "Pooling", "ReLU", "LRN", "Dropout", "Concat", "Softmax", "Flatten"}


def _graph(op: str) -> tuple[Graph, dict[str, np.ndarray], dict[str, np.ndarray]]:
    shapes, stored, attrs = CASES[op]
    n_in = len(shapes) + len(stored)
    names, feeds, tensors, inputs = [], {}, {}, []
    computed = iter(range(len(shapes)))
    for pos in range(n_in):
        if pos in stored:
            names.append(f"t{pos}")
            tensors[f"t{pos}"] = stored[pos]
        else:
            i = next(computed)
            names.append(f"x{i}")
            feeds[f"x{i}"] = r(*shapes[i]) * 2
            inputs.append(ValueInfo(f"x{i}", shapes[i]))
    n_out = len(attrs.get("split", [0]))
    outs = [f"y{i}" for i in range(n_out)]
    node = Node(op, "n", names, outs, canonical_attrs(op, "n", attrs))
    probe = Graph(inputs, [], [node])
    inferred = infer_shapes(probe, {k: v.shape for k, v in tensors.items()})
    graph = Graph(inputs, [ValueInfo(o, inferred[o]) for o in outs], [node])
    return graph, tensors, feeds


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "numpy"])
@pytest.mark.parametrize("op", sorted(CASES))
def test_op_agrees_with_onnxruntime(op: str, kernels: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not kernels:
        monkeypatch.setenv("DCFORMAT_ACCEL", "0")
    elif K.fast_kernels() is None:
        pytest.skip("numba kernels unavailable")
    graph, tensors, feeds = _graph(op)
    assert graph.version == OPS[op].since
    ours = Model.from_graph(graph, tensors).run(feeds)
    onnx_model = to_onnx_model(graph, tensors)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    for v in graph.outputs:
        got, ref = ours[v.name], want[v.name]
        assert got.shape == ref.shape == tuple(v.shape), (v.name, got.shape, ref.shape, v.shape)
        err = float(np.abs(got.astype(np.float64) - ref).max(initial=0.0)) / max(float(np.abs(ref).max(initial=0.0)), 1e-12)
        assert err <= TOL, (op, v.name, err)
    g2, t2 = import_onnx(onnx_model.SerializeToString())
    back = Model.from_graph(g2, t2).run(feeds)
    for v in graph.outputs:
        np.testing.assert_allclose(back[v.name], ours[v.name], rtol=0, atol=TOL * max(float(np.abs(ours[v.name]).max()), 1e-12))


def test_op_rules_reject_bad_shapes_with_graph_errors() -> None:
    # each op's shape rule names the node; a mismatch never escapes as another exception class
    bad = {
        "Conv2d": ([(2, 15, 7, 9)], {1: r(24, 8, 3, 2)}, {"groups": 2}),  # 15 input channels vs 2 groups x 8
        "Linear": ([(3, 11)], {1: r(7, 10)}, {}),
        "Concat": ([(2, 3, 4), (2, 3)], {}, {"axis": 0}),
        "Split": ([(2, 9)], {}, {"axis": 1, "split": [4, 4]}),
        "ChannelShuffle": ([(1, 6, 2, 2)], {}, {"groups": 4}),
        "Reshape": ([(2, 9)], {}, {"shape": [4, -1]}),
        "Transpose": ([(2, 9)], {}, {"perm": [0, 2, 1]}),
        "MaxPool": ([(1, 1, 2, 2)], {}, {"kernel": [3, 3]}),
        "Add": ([(2, 3), (4,)], {}, {}),
    }
    for op, case in bad.items():
        saved = CASES[op]
        CASES[op] = case
        try:
            with pytest.raises(GraphError, match=r"node 'n'"):
                _graph(op)
        finally:
            CASES[op] = saved


NEW_OP_MODULE = '''
"""Softsign: x / (1 + |x|) (ONNX ``Softsign``). A hypothetical op: everything about it is in this one file."""

from __future__ import annotations

import numpy as np

from ._base import UNARY, OpDef, emit_as
from ._shape import same_shape


def plan(P, n):
    P.unary(n, lambda x, out: np.divide(x, np.abs(x) + np.float32(1), out=out))


def to_onnx(ex, n):
    ex.node("Softsign", n.inputs, n.outputs, n.name)


OP = OpDef("Softsign", UNARY, since=3, shape=same_shape, plan=plan, to_onnx=to_onnx, from_onnx={"Softsign": emit_as("Softsign")})
'''


def test_a_new_op_is_one_module(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping one module into dcformat/ops/ is all the library needs to validate, infer, plan, run, export and
    import an op (the schema being closed, its graph_version is one no reader accepts yet)."""
    import sys

    import dcformat.ops as registry

    (tmp_path / "softsign.py").write_text(NEW_OP_MODULE)
    monkeypatch.setattr(registry, "__path__", [*registry.__path__, str(tmp_path)])
    try:
        found = registry._discover()
        assert set(found) == set(OPS) | {"Softsign"}
        monkeypatch.setitem(OPS, "Softsign", found["Softsign"])
        monkeypatch.setitem(ONNX_IMPORT, "Softsign", found["Softsign"].from_onnx["Softsign"])
        w = r(6, 3, 3, 3)
        nodes = [Node("Conv2d", "c", ["x", "w"], ["h"], canonical_attrs("Conv2d", "c", {"padding": [1, 1, 1, 1]})),
                 Node("Softsign", "s", ["h"], ["y"], canonical_attrs("Softsign", "s", {}))]
        graph = Graph([ValueInfo("x", ("N", 3, 5, 4))], [ValueInfo("y", ("N", 6, 5, 4))], nodes)
        graph.validate({"w"})
        assert graph.version == 3
        with pytest.raises(GraphError, match="graph_version 3 is not supported"):
            Graph.from_bytes(graph.to_bytes(), {"w"})
        x = r(2, 3, 5, 4)
        ours = Model.from_graph(graph, {"w": w})(x)
        onnx_model = to_onnx_model(graph, {"w": w})
        want = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        assert float(np.abs(ours - want).max()) <= TOL * float(np.abs(want).max())
        g2, t2 = import_onnx(onnx_model.SerializeToString())
        assert [n.op for n in g2.nodes] == ["Conv2d", "Softsign"]
        np.testing.assert_array_equal(Model.from_graph(g2, t2)(x), ours)
    finally:
        sys.modules.pop("dcformat.ops.softsign", None)
