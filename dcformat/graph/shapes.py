"""Shape inference over symbolic dimensions.

Ranks are always known; a dimension is an int, a symbol shared with an input
(e.g. the batch "N"), or None when it depends on unknown sizes. Inference is
how a file's weights are checked against the graph before anything runs
(a mismatch is a GraphError naming the node), and it tells the runtime each
value's rank for its layout choices.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from ..errors import GraphError
from .core import Dim, Graph, Node

Shape = tuple[Dim, ...]


def _fail(node: Node, why: str) -> GraphError:
    return GraphError(f"node {node.name!r} ({node.op}): {why}", field="shape")


def _same(node: Node, a: Dim, b: Dim, what: str) -> Dim:
    if isinstance(a, int) and isinstance(b, int) and a != b:
        raise _fail(node, f"{what}: {a} != {b}")
    if isinstance(a, int):
        return a
    return b if b is not None else a


def _axis(node: Node, axis: int, rank: int, inclusive: bool = False) -> int:
    top = rank + 1 if inclusive else rank
    if not -top <= axis < top:
        raise _fail(node, f"axis {axis} is out of range for rank {rank}")
    return axis % top if top else 0


def _prod(dims: Sequence[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)  # type: ignore[arg-type]
    if len(dims) == 1:
        return dims[0]
    return 0 if any(d == 0 for d in dims) else None


def broadcast(node: Node, a: Shape, b: Shape) -> Shape:
    """NumPy / ONNX multidirectional broadcasting."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out: list[Dim] = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        elif isinstance(x, int) and isinstance(y, int):
            raise _fail(node, f"shapes {a} and {b} do not broadcast")
        else:
            out.append(x if isinstance(x, int) else y if isinstance(y, int) else None)
    return tuple(out)


def conv_out(node: Node, size: Dim, k: int, s: int, p0: int, p1: int, d: int = 1) -> Dim:
    if not isinstance(size, int):
        return None
    span = size + p0 + p1 - d * (k - 1) - 1
    if span < 0:
        raise _fail(node, f"window {k} (dilation {d}) does not fit input size {size} with padding {p0}+{p1}")
    return span // s + 1


def pool_out(node: Node, size: Dim, k: int, s: int, p0: int, p1: int, ceil: bool) -> Dim:
    """Output length of a pooling window; ceil mode drops a last window that starts in the end padding."""
    if not isinstance(size, int):
        return None
    if p0 >= k or p1 >= k:
        raise _fail(node, f"padding {p0}/{p1} must be smaller than the kernel {k}")
    span = size + p0 + p1 - k
    if span < 0:
        raise _fail(node, f"kernel {k} does not fit input size {size} with padding {p0}+{p1}")
    out = -(-span // s) + 1 if ceil else span // s + 1
    if ceil and (out - 1) * s >= size + p0:
        out -= 1
    return out


def reshape_target(node: Node, shape_in: Shape, spec: Sequence[int]) -> Shape:
    """ONNX Reshape (allowzero=0): 0 copies the input dim, one -1 is inferred."""
    out: list[Dim] = []
    for i, v in enumerate(spec):
        if v == 0:
            if i >= len(shape_in):
                raise _fail(node, f"shape entry {i} is 0 (copy) but the input has rank {len(shape_in)}")
            out.append(shape_in[i])
        else:
            out.append(v)
    if -1 in out:
        total, known = _prod(shape_in), _prod([d for d in out if d != -1])
        if isinstance(total, int) and isinstance(known, int):
            if known == 0 or total % known:
                raise _fail(node, f"cannot reshape {shape_in} to {list(spec)}")
            out[out.index(-1)] = total // known
        else:
            out[out.index(-1)] = None
    else:
        a, b = _prod(shape_in), _prod(out)
        if isinstance(a, int) and isinstance(b, int) and a != b:
            raise _fail(node, f"cannot reshape {shape_in} ({a} elements) to {list(spec)} ({b} elements)")
    return tuple(out)


def _rank(node: Node, shape: Shape, *ranks: int) -> None:
    if len(shape) not in ranks:
        raise _fail(node, f"expects an input of rank {' or '.join(map(str, ranks))}, got shape {shape}")


def infer_node(node: Node, ins: list[Shape]) -> list[Shape]:
    """Output shapes of one node from its input shapes (attrs must be canonical)."""
    op, a = node.op, node.attrs
    x = ins[0]
    if op == "Conv2d":
        w = ins[1]
        _rank(node, x, 4)
        if len(w) != 4:
            raise _fail(node, f"weight must have rank 4, got {w}")
        g = a["groups"]
        o, cg, kh, kw = w
        if o % g:
            raise _fail(node, f"{o} output channels are not divisible by groups={g}")
        _same(node, x[1], cg * g, "input channels vs weight in/groups*groups")
        if len(ins) == 3 and ins[2] != (o,):
            raise _fail(node, f"bias shape {ins[2]} != ({o},)")
        (sh, sw), (pt, pl, pb, pr), (dh, dw) = a["stride"], a["padding"], a["dilation"]
        return [(x[0], o, conv_out(node, x[2], kh, sh, pt, pb, dh), conv_out(node, x[3], kw, sw, pl, pr, dw))]
    if op == "Linear":
        w = ins[1]
        _rank(node, x, 2)
        if len(w) != 2:
            raise _fail(node, f"weight must have rank 2 (out, in), got {w}")
        _same(node, x[1], w[1], "input features vs weight columns")
        if len(ins) == 3 and ins[2] != (w[0],):
            raise _fail(node, f"bias shape {ins[2]} != ({w[0]},)")
        return [(x[0], w[0])]
    if op == "MatMul":
        b = ins[1]
        if len(x) < 1 or len(b) < 1:
            raise _fail(node, "MatMul operands must have rank >= 1")
        xa = x if len(x) > 1 else (1,) + tuple(x)
        bb = b if len(b) > 1 else tuple(b) + (1,)
        _same(node, xa[-1], bb[-2], "inner dimensions")
        batch = broadcast(node, xa[:-2], bb[:-2])
        out = batch + ((xa[-2],) if len(x) > 1 else ()) + ((bb[-1],) if len(b) > 1 else ())
        return [out]
    if op == "BatchNorm":
        if len(x) < 2:
            raise _fail(node, f"input must have rank >= 2, got {x}")
        for i, s in enumerate(ins[1:], 1):
            if len(s) != 1:
                raise _fail(node, f"parameter {i} must have rank 1, got {s}")
            _same(node, x[1], s[0], f"channels vs parameter {i}")
        return [x]
    if op in ("ReLU", "ReLU6", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "Dropout", "Identity"):
        return [x]
    if op == "Softmax":
        _axis(node, a["axis"], len(x))
        return [x]
    if op == "LRN":
        _rank(node, x, 4)
        return [x]
    if op in ("MaxPool", "AvgPool"):
        _rank(node, x, 4)
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["stride"], a["padding"]
        c = a["ceil_mode"]
        return [(x[0], x[1], pool_out(node, x[2], kh, sh, pt, pb, c), pool_out(node, x[3], kw, sw, pl, pr, c))]
    if op == "GlobalAvgPool":
        _rank(node, x, 4)
        return [(x[0], x[1], 1, 1)]
    if op == "Concat":
        ax = _axis(node, a["axis"], len(x))
        out = list(x)
        for s in ins[1:]:
            if len(s) != len(x):
                raise _fail(node, f"inputs have ranks {len(x)} and {len(s)}")
            for i in range(len(x)):
                if i != ax:
                    out[i] = _same(node, out[i], s[i], f"dimension {i}")
        out[ax] = _prod_sum([s[ax] for s in ins])
        return [tuple(out)]
    if op == "Split":
        ax = _axis(node, a["axis"], len(x))
        _same(node, x[ax], sum(a["split"]), f"sum of split sizes vs dimension {ax}")
        return [tuple(x[:ax]) + (k,) + tuple(x[ax + 1 :]) for k in a["split"]]
    if op in ("Add", "Sub", "Mul", "Div"):
        return [broadcast(node, x, ins[1])]
    if op == "ChannelShuffle":
        _rank(node, x, 4)
        if isinstance(x[1], int) and x[1] % a["groups"]:
            raise _fail(node, f"{x[1]} channels are not divisible by groups={a['groups']}")
        return [x]
    if op == "Flatten":
        ax = _axis(node, a["axis"], len(x), inclusive=True)
        return [(_prod(x[:ax]) if ax else 1, _prod(x[ax:]) if ax < len(x) else 1)]
    if op == "Reshape":
        return [reshape_target(node, x, a["shape"])]
    if op == "Transpose":
        perm = a["perm"]
        if len(perm) != len(x):
            raise _fail(node, f"perm {perm} does not match rank {len(x)}")
        return [tuple(x[p] for p in perm)]
    raise _fail(node, "no shape rule")  # pragma: no cover - every op in OPS has a rule


def _prod_sum(dims: Sequence[Dim]) -> Dim:
    return sum(dims) if all(isinstance(d, int) for d in dims) else None  # type: ignore[arg-type]


def infer_shapes(graph: Graph, tensor_shapes: Mapping[str, Shape], input_shapes: Mapping[str, Shape] | None = None) -> dict[str, Shape]:
    """Shapes of every value and tensor the graph touches; GraphError on any inconsistency."""
    shapes: dict[str, Shape] = {k: tuple(v) for k, v in tensor_shapes.items()}
    for v in graph.inputs:
        shapes[v.name] = tuple(input_shapes[v.name]) if input_shapes and v.name in input_shapes else tuple(v.shape)
    for node in graph.nodes:
        try:
            ins = [shapes[i] for i in node.inputs]
        except KeyError as exc:
            raise GraphError(f"node {node.name!r}: input {exc.args[0]!r} has no known shape") from None
        outs = infer_node(node, ins)
        for name, s in zip(node.outputs, outs):
            if any(isinstance(d, int) and d < 0 for d in s):
                raise _fail(node, f"negative output dimension {s}")
            shapes[name] = s
    for v in graph.outputs:
        got = shapes[v.name]
        if len(got) != len(v.shape):
            raise GraphError(f"output {v.name!r}: declared rank {len(v.shape)} but the graph computes shape {got}", field="shape")
        for d, e in zip(got, v.shape):
            if isinstance(d, int) and isinstance(e, int) and d != e:
                raise GraphError(f"output {v.name!r}: declared shape {v.shape} but the graph computes {got}", field="shape")
    return shapes
