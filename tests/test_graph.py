"""The GRPH payload: canonical bytes, round trips, and rejection of every malformed graph with GraphError."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcformat.errors import FormatError, GraphError
from dcformat.graph import Graph, Node, ValueInfo, core, infer_shapes
from dcformat.models import BUILDERS, lenet_5, lenet_300_100

TENSORS = ["w", "b", "w2"]


def payload(**over):
    """A small valid graph as a JSON object; ``over`` replaces top-level keys."""
    obj = {
        "graph_version": 1,
        "inputs": [{"name": "x", "shape": ["N", 4], "dtype": "float32"}],
        "outputs": [{"name": "y", "shape": ["N", 3], "dtype": "float32"}],
        "nodes": [
            {"op": "Linear", "name": "fc", "inputs": ["x", "w", "b"], "outputs": ["h"], "attrs": {}},
            {"op": "ReLU", "name": "act", "inputs": ["h"], "outputs": ["y"], "attrs": {}},
        ],
    }
    obj.update(over)
    return obj


def enc(obj) -> bytes:
    return json.dumps(obj).encode()


def node(op, name, inputs, outputs, **attrs):
    return {"op": op, "name": name, "inputs": inputs, "outputs": outputs, "attrs": attrs}


def reject(obj_or_bytes, *needles, names=TENSORS):
    data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else enc(obj_or_bytes)
    with pytest.raises(GraphError) as info:
        Graph.from_bytes(data, names)
    for n in needles:
        assert n in str(info.value), str(info.value)
    return info.value


# -- canonical form and round trips ---------------------------------------------------------------


def test_small_graph_parses_and_fills_defaults():
    g = Graph.from_bytes(enc(payload()), TENSORS)
    assert [n.op for n in g.nodes] == ["Linear", "ReLU"]
    assert g.inputs[0] == ValueInfo("x", ("N", 4))
    conv = node("Conv2d", "c", ["x4", "w"], ["y"])
    g = Graph.from_bytes(enc(payload(inputs=[{"name": "x4", "shape": ["N", 1, 8, 8], "dtype": "float32"}], nodes=[conv])), TENSORS)
    assert g.nodes[0].attrs == {"stride": [1, 1], "padding": [0, 0, 0, 0], "dilation": [1, 1], "groups": 1}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_graphs_round_trip_canonically(name):
    kw = {} if name.startswith("lenet") else {"image_size": 64}
    if name == "alexnet":
        kw = {"image_size": 67, "width_mult": 0.25}
    graph, tensors = BUILDERS[name](**kw)
    data = graph.to_bytes()
    # independent statement of the canonical encoding
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    back = Graph.from_bytes(data, tensors.keys())
    assert back == graph and back.to_bytes() == data
    # deterministic: rebuilding with the same seed gives identical bytes
    assert BUILDERS[name](**kw)[0].to_bytes() == data
    infer_shapes(back, {k: v.shape for k, v in tensors.items()})


def test_lenet_tensor_names_and_shapes_are_fixed():
    _, t = lenet_300_100()
    assert {k: v.shape for k, v in t.items()} == {
        "ip1.weight": (300, 784), "ip1.bias": (300,), "ip2.weight": (100, 300), "ip2.bias": (100,),
        "ip3.weight": (10, 100), "ip3.bias": (10,),
    }
    g, t = lenet_5()
    assert {k: v.shape for k, v in t.items()} == {
        "conv1.weight": (20, 1, 5, 5), "conv1.bias": (20,), "conv2.weight": (50, 20, 5, 5), "conv2.bias": (50,),
        "ip1.weight": (500, 800), "ip1.bias": (500,), "ip2.weight": (10, 500), "ip2.bias": (10,),
    }
    assert g.inputs[0].name == "input" and g.outputs[0].name == "logits"
    assert all(v.dtype == np.float32 for v in t.values())


def test_files_without_graph_need_nothing_from_this_module():
    # a graph that references no tensors at all is fine, too
    obj = payload(nodes=[node("ReLU", "r", ["x"], ["y"])], outputs=[{"name": "y", "shape": ["N", 4], "dtype": "float32"}])
    assert Graph.from_bytes(enc(obj), []).nodes[0].op == "ReLU"


# -- rejections --------------------------------------------------------------------------------------


def test_error_is_a_format_error():
    assert issubclass(GraphError, FormatError) and issubclass(GraphError, ValueError)


@pytest.mark.parametrize(
    "data,needle",
    [
        (b"\xff\xfe{}", "UTF-8"),
        (b"\xef\xbb\xbf" + enc(payload()), "byte-order mark"),
        (b"{", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"graph_version":1,"graph_version":1}', "duplicate JSON key 'graph_version'"),
        (enc(payload()).replace(b'"attrs": {}', b'"attrs": {"a": 1, "a": 2}', 1), "duplicate JSON key 'a'"),
        (b'{"x": NaN}', "NaN"),
        (b'{"x": Infinity}', "Infinity"),
        (b'{"x": -Infinity}', "Infinity"),
        (b'{"x": 1e400}', "overflows"),
        (b'{"x": ' + b"9" * 5000 + b"}", "too large"),
        (b"[" * 100_000 + b"]" * 100_000, "nesting depth"),
        (b'{"x": "\\ud800"}', "lone surrogate"),
    ],
)
def test_payload_level_rejections(data, needle):
    if needle == "lone surrogate":
        obj = payload()
        obj["nodes"][0]["name"] = "\ud800"
        data = json.dumps(obj).encode()  # ensure_ascii escapes it as \ud800
    reject(data, needle)


def test_size_cap(monkeypatch):
    monkeypatch.setattr(core, "MAX_GRAPH_BYTES", 100)
    reject(enc(payload()), "limit 100")


def test_node_cap(monkeypatch):
    monkeypatch.setattr(core, "MAX_NODES", 1)
    reject(payload(), "exceed the limit of 1")


def test_deep_nesting_inside_attrs_is_graph_error():
    obj = payload()
    deep: object = 1
    for _ in range(50):
        deep = [deep]
    obj["nodes"][0]["attrs"] = {"x": deep}
    reject(obj, "nesting depth")


@pytest.mark.parametrize(
    "mutate,needles",
    [
        (lambda o: o.update(graph_version=3), ["graph_version 3"]),
        (lambda o: o.update(graph_version=0), ["graph_version 0"]),
        (lambda o: o.update(graph_version="1"), ["graph_version"]),
        (lambda o: o.update(graph_version=True), ["graph_version"]),
        (lambda o: o.update(extra=1), ["unknown top-level key 'extra'"]),
        (lambda o: o.pop("nodes"), ["missing top-level key 'nodes'"]),
        (lambda o: o.update(nodes={}), ["'nodes' must be a list"]),
        (lambda o: o["nodes"][0].update(op="Conv3d"), ["unknown op 'Conv3d'"]),
        (lambda o: o["nodes"][0].update(op=7), ["'op' must be a string"]),
        (lambda o: o["nodes"][1]["attrs"].update(alpha=0.1), ["unknown attribute 'alpha'"]),
        (lambda o: o["nodes"][0].update(extra=1), ["unknown key 'extra'"]),
        (lambda o: o["nodes"][0].pop("attrs"), ["missing key 'attrs'"]),
        (lambda o: o["nodes"][0].update(attrs=[]), ["'attrs' must be an object"]),
        (lambda o: o["nodes"].__setitem__(0, 5), ["must be an object"]),
        (lambda o: o["nodes"][0].update(inputs=["x", "missing_w", "b"]), ["'missing_w'", "stored tensor"]),
        (lambda o: o["nodes"][0].update(inputs=["ghost", "w", "b"]), ["'ghost'", "neither"]),
        (lambda o: o["nodes"][0].update(inputs=["x", "x", "b"]), ["input 1 'x' must be a stored tensor"]),
        (lambda o: o["nodes"][0].update(inputs=["x"]), ["takes 2..3 inputs"]),
        (lambda o: o["nodes"][0].update(outputs=[]), ["has 1..1 outputs"]),
        (lambda o: o["nodes"][0].update(outputs=["w"]), ["same name as a stored tensor"]),
        (lambda o: o["nodes"][1].update(outputs=["h"]), ["'h' is defined twice"]),
        (lambda o: o["nodes"][1].update(outputs=["x"]), ["'x' is defined twice"]),
        (lambda o: o["nodes"][1].update(name="fc"), ["node name 'fc' is used twice"]),
        (lambda o: o["nodes"].reverse(), ["'h' is neither"]),  # use before definition
        (lambda o: o["nodes"][0].update(name=""), ["non-empty string"]),
        (lambda o: o["nodes"][0].update(name="a\x00b"), ["control character"]),
        (lambda o: o["nodes"][0].update(name="n" * 2000), ["limit 1024"]),
        (lambda o: o["nodes"][0].update(inputs=["x", 3, "b"]), ["non-empty string"]),
        (lambda o: o["outputs"][0].update(name="nowhere"), ["output 'nowhere' is not produced"]),
        (lambda o: o["outputs"].append(dict(o["outputs"][0])), ["listed twice"]),
        (lambda o: o.update(outputs=[]), ["no outputs"]),
        (lambda o: o.update(inputs=[]), ["no inputs"]),
        (lambda o: o["inputs"][0].update(dtype="float16"), ["unsupported dtype 'float16'"]),
        (lambda o: o["inputs"][0].update(shape=["N", -4]), ["dimension -4"]),
        (lambda o: o["inputs"][0].update(shape=["N", True]), ["dimension True"]),
        (lambda o: o["inputs"][0].update(shape=["N", 2.5]), ["dimension 2.5"]),
        (lambda o: o["inputs"][0].update(shape=["9bad", 4]), ["dimension '9bad'"]),
        (lambda o: o["inputs"][0].update(shape=[None, 4]), ["dimension None"]),
        (lambda o: o["inputs"][0].update(shape=[1] * 9), ["at most 8"]),
        (lambda o: o["inputs"][0].update(name="w"), ["same name as a stored tensor"]),
        (lambda o: o["inputs"].append(dict(o["inputs"][0])), ["declared twice"]),
        (lambda o: o["inputs"][0].update(color="red"), ["unknown key 'color'"]),
    ],
)
def test_structural_rejections(mutate, needles):
    obj = payload()
    mutate(obj)
    reject(obj, *needles)


X4 = {"name": "x4", "shape": ["N", 2, 8, 8], "dtype": "float32"}


@pytest.mark.parametrize(
    "op,attrs,needles",
    [
        ("Conv2d", {"stride": [0, 1]}, ["'stride'", "outside"]),
        ("Conv2d", {"stride": [1]}, ["'stride'", "2..2 entries"]),
        ("Conv2d", {"stride": [1, True]}, ["'stride'", "only integers"]),
        ("Conv2d", {"stride": "1"}, ["'stride'", "list of integers"]),
        ("Conv2d", {"padding": [0, 0, -1, 0]}, ["'padding'", "outside"]),
        ("Conv2d", {"groups": 0}, ["'groups'", "outside"]),
        ("Conv2d", {"groups": 1.0}, ["'groups'", "must be an integer"]),
        ("Conv2d", {"groups": True}, ["'groups'", "must be an integer"]),
        ("Conv2d", {"dilation": [1, 2**40]}, ["'dilation'", "outside"]),
        ("MaxPool", {}, ["missing required attribute 'kernel'"]),
        ("MaxPool", {"kernel": [2, 2], "ceil_mode": 1}, ["'ceil_mode'", "true or false"]),
        ("AvgPool", {"kernel": [2, 2], "count_include_pad": "yes"}, ["'count_include_pad'"]),
        ("Transpose", {"perm": [0, 0, 1, 2]}, ["'perm'", "permutation"]),
        ("Reshape", {"shape": [-1, -1]}, ["'shape'", "more than one -1"]),
        ("Reshape", {"shape": [-2, 4]}, ["'shape'", "outside"]),
        ("Softmax", {"axis": 99}, ["'axis'", "outside"]),
        ("Clip", {"min": "0"}, ["'min'", "number"]),
        ("HardSigmoid", {"alpha": None}, ["'alpha'", "number"]),
        ("BatchNorm", {"epsilon": -1.0}, ["'epsilon'"]),
        ("ChannelShuffle", {}, ["missing required attribute 'groups'"]),
        ("Dropout", {"ratio": 1.5}, ["'ratio'"]),
        ("Concat", {"axis": 1, "mode": "x"}, ["unknown attribute 'mode'"]),
    ],
)
def test_attribute_rejections(op, attrs, needles):
    inputs = {"Conv2d": ["x4", "w"], "BatchNorm": ["x4", "w", "b", "w2", "w"]}.get(op, ["x4"])
    obj = payload(inputs=[X4], nodes=[node(op, "n1", inputs, ["y"], **attrs)])
    reject(obj, "'n1'", *needles)


LRN_OK = {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}


@pytest.mark.parametrize(
    "attrs,needles",
    [
        ({}, ["missing required attribute 'size'"]),
        ({**LRN_OK, "size": 0}, ["'size'", "outside"]),
        ({**LRN_OK, "size": 1025}, ["'size'", "outside"]),
        ({**LRN_OK, "size": 4}, ["'size'", "must be odd"]),
        ({**LRN_OK, "alpha": -1e-4}, ["'alpha'"]),
        ({**LRN_OK, "beta": -0.75}, ["'beta'"]),
        ({**LRN_OK, "bias": 0.0}, ["'bias'"]),
        ({**LRN_OK, "region": "within"}, ["unknown attribute 'region'"]),
    ],
)
def test_lrn_attribute_rejections(attrs, needles):
    obj = payload(graph_version=2, inputs=[X4], nodes=[node("LRN", "n1", ["x4"], ["y"], **attrs)])
    reject(obj, "'n1'", *needles)


def test_lrn_needs_graph_version_2_and_writers_declare_the_lowest_version():
    lrn = payload(graph_version=1, inputs=[X4], nodes=[node("LRN", "n1", ["x4"], ["y"], size=3)],
                  outputs=[{"name": "y", "shape": ["N", 2, 8, 8], "dtype": "float32"}])
    reject(lrn, "LRN needs graph_version >= 2")
    lrn["graph_version"] = 2
    g = Graph.from_bytes(enc(lrn), TENSORS)
    assert json.loads(g.to_bytes())["graph_version"] == 2
    assert g.nodes[0].attrs == {"size": 3, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}  # ONNX defaults
    # a version-2 graph without version-2 ops is valid, and is written back as version 1
    plain = Graph.from_bytes(enc(payload(graph_version=2)), TENSORS)
    assert json.loads(plain.to_bytes())["graph_version"] == 1
    assert all(json.loads(BUILDERS[n](image_size=64)[0].to_bytes())["graph_version"] == 1
               for n in ("squeezenet1_1", "mobilenet_v2"))
    assert json.loads(BUILDERS["alexnet"](image_size=67, width_mult=0.25)[0].to_bytes())["graph_version"] == 2


def test_alexnet_has_the_reference_parameter_count():
    """Caffe's BVLC AlexNet: 60,965,224 parameters (the paper's Table 4 model)."""
    _, t = BUILDERS["alexnet"]()
    assert sum(v.size for v in t.values()) == 60_965_224
    assert t["conv2.weight"].shape == (256, 48, 5, 5) and t["fc6.weight"].shape == (4096, 9216)


def test_split_sizes_must_match_outputs():
    obj = payload(inputs=[X4], nodes=[node("Split", "s", ["x4"], ["y", "z"], axis=1, split=[2])])
    reject(obj, "'split' has 1 sizes for 2 outputs")


def test_validate_checks_programmatic_graphs_too():
    g = Graph([ValueInfo("x", ("N", 4))], [ValueInfo("y", ("N", 4))], [Node("Gelu", "g", ["x"], ["y"])])
    with pytest.raises(GraphError, match="unknown op 'Gelu'"):
        g.validate([])
    with pytest.raises(GraphError, match="unknown op"):
        g.to_bytes()


def test_shape_inference_names_the_node():
    g = Graph.from_bytes(enc(payload()), TENSORS)
    with pytest.raises(GraphError, match="'fc'.*input features"):
        infer_shapes(g, {"w": (3, 5), "b": (3,), "w2": (1,)})
    with pytest.raises(GraphError, match="bias shape"):
        infer_shapes(g, {"w": (3, 4), "b": (4,), "w2": (1,)})
    with pytest.raises(GraphError, match="output 'y': declared shape"):
        infer_shapes(g, {"w": (7, 4), "b": (7,), "w2": (1,)})


# -- fuzzing: any bytes -> a Graph or GraphError, nothing else -----------------------------------------

VALID = [BUILDERS["lenet_5"]()[0].to_bytes(), enc(payload())]
NAMES = list(BUILDERS["lenet_5"]()[1]) + TENSORS


def _only_graph_error(data: bytes) -> None:
    try:
        Graph.from_bytes(data, NAMES)
    except GraphError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_byte_mutations(base, edits):
    data = bytearray(base)
    for pos, val in edits:
        data[pos % len(data)] = val
    _only_graph_error(bytes(data))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["inputs", "outputs", "nodes", "graph_version", "#0", "#0.attrs", "#0.inputs", "#1.op"]), json_values)
def test_fuzz_structured_replacements(where, value):
    obj = payload()
    if where.startswith("#"):
        idx, _, key = where[1:].partition(".")
        if key:
            obj["nodes"][int(idx)][key] = value
        else:
            obj["nodes"][int(idx)] = value
    else:
        obj[where] = value
    _only_graph_error(json.dumps(obj).encode())
