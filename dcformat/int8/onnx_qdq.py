"""Export an :class:`Int8Model` as a QDQ ONNX model (the onnxruntime oracle of spec/INT8.md §7).

Every value the int8 engine holds in int8 gets QuantizeLinear → DequantizeLinear
with its parameters; layers read per-channel int8 weights (``axis=0``) and int32
biases through DequantizeLinear, which onnxruntime fuses into QLinearConv /
QLinearMatMul. The int8 tensors (``<value>/q``) are extra graph outputs, so a
test can compare them with :meth:`Int8Model.run_int8` value by value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import OPS
from .plan import CLAMPS, MOVEMENT

OPSET = 17


def to_qdq_model(model: Any) -> Any:
    """``onnx.ModelProto`` of ``model`` (an Int8Model) in QDQ form; outputs: the float outputs, then ``<v>/q``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ..onnx_io import OnnxExporter

    q = model._int8
    ex = OnnxExporter({})
    inits: list[Any] = []
    produced_int8 = {v for v, k in q.qkey.items() if k == v}

    def init(arr: np.ndarray, name: str) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def fl(v: str) -> str:  # name a float reader uses
        return v + "/dq" if v in produced_int8 else v

    def qd(v: str) -> str:  # name an int8 reader uses
        return v + "/dq"

    def raw(v: str) -> str:  # name the op writes
        return v + "/raw" if v in produced_int8 else v

    def clip(src: str, dst: str, name: str, act: Any) -> None:
        lo, hi = act[1], act[2]
        ins = [src, ex.const(lo, np.float32) if lo is not None else "", ex.const(hi, np.float32) if hi is not None else ""]
        while ins[-1] == "":
            ins.pop()
        ex.node("Clip", ins, [dst], name)

    decisions = {d.node: d for d in q.report}
    qdq_done: set[str] = set()

    def qdq(v: str) -> None:
        if v in qdq_done or v not in q.qkey:
            return
        qdq_done.add(v)
        p = q.qp[v]
        s, z = ex.const(p.scale, np.float32), ex.const(p.zero_point, np.int8)
        ex.node("QuantizeLinear", [raw(v), s, z], [v + "/q"], v + "/Q")
        ex.node("DequantizeLinear", [v + "/q", s, z], [v + "/dq"], v + "/DQ")

    for v in model.graph.inputs:
        qdq(v.name)
    for n in model.lnodes:
        d = decisions[n.name]
        int8 = d.precision == "int8"
        ins = [qd(v) if int8 else fl(v) for v in n.inputs]
        outs = [raw(o) for o in n.outputs]
        body = outs if n.act is None else [o + "/preact" for o in outs]
        if n.op in ("Conv2d", "Linear"):
            if int8:
                lp = q.layer_params[n.name]
                sw = lp["sw"].astype(np.float32)
                w = helper.make_node("DequantizeLinear", [init(lp["wq"], n.name + "/wq"), init(sw, n.name + "/sw"),
                                     init(np.zeros_like(sw, dtype=np.int8), n.name + "/wz")], [n.name + "/w"], n.name + "/wDQ", axis=0)
                bs = (np.float64(q.qp[n.inputs[0]].scale) * sw.astype(np.float64)).astype(np.float32)
                b = helper.make_node("DequantizeLinear", [init(lp["bq"].astype(np.int32), n.name + "/bq"), init(bs, n.name + "/bs"),
                                     init(np.zeros(bs.shape, np.int32), n.name + "/bz")], [n.name + "/b"], n.name + "/bDQ", axis=0)
                ex.nodes += [w, b]
                wn, bn = n.name + "/w", n.name + "/b"
            else:
                wn = init(n.weight, n.name + "/w")
                bn = init(n.bias if n.bias is not None else np.zeros(n.weight.shape[0], np.float32), n.name + "/b")
            if n.op == "Linear":
                ex.node("Gemm", [ins[0], wn, bn], body, n.name, transB=1)
            else:
                a = n.attrs
                ex.node("Conv", [ins[0], wn, bn], body, n.name, kernel_shape=list(n.weight.shape[2:]), strides=a["stride"],
                        pads=a["padding"], dilations=a["dilation"], group=a["groups"])
        elif int8 and n.op in CLAMPS:
            lo, hi = OPS[n.op].clip(n.attrs)  # type: ignore[misc]
            clip(ins[0], body[0], n.name, ("clip", lo, hi))
        else:
            OPS[n.op].to_onnx(ex, _Named(n, ins, body))  # type: ignore[misc]
        if n.act is not None:
            for b_, o in zip(body, outs):
                clip(b_, o, n.name + "/act", n.act)
        for o in n.outputs:
            qdq(o)

    def dims(v: str) -> list[Any]:
        return [d if isinstance(d, (int, str)) else None for d in model._shapes[v]]

    outs = []
    for v in model.graph.outputs:
        outs.append(helper.make_tensor_value_info(v.name, TensorProto.FLOAT, dims(v.name)))
        src = fl(v.name)
        if src != v.name:
            ex.node("Identity", [src], [v.name], v.name + "/out")
    for v in sorted(qdq_done):
        outs.append(helper.make_tensor_value_info(v + "/q", TensorProto.INT8, dims(v)))
    ins = [helper.make_tensor_value_info(v.name, TensorProto.FLOAT, [d if isinstance(d, (int, str)) else None for d in v.shape])
           for v in model.graph.inputs]
    g = helper.make_graph(ex.nodes, "dcformat_int8", ins, outs, inits + ex.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dcformat")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


class _Named:
    """An LNode seen by an op's ``to_onnx`` rule with renamed inputs and outputs."""

    def __init__(self, n: Any, ins: list[str], outs: list[str]) -> None:
        self.op, self.name, self.attrs = n.op, n.name, n.attrs
        self.inputs, self.outputs = ins, outs


__all__ = ["to_qdq_model", "MOVEMENT"]
