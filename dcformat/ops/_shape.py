"""Shape arithmetic the op modules share: symbolic dimensions, broadcasting, window sizes.

A dimension is an int, a symbol shared with an input (e.g. the batch "N"),
or None when it depends on unknown sizes. Failures are GraphErrors naming
the node (``node`` is anything with ``name`` and ``op``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..errors import GraphError
from ._base import Shape

Dim = Any  # int | str | None, as dcformat.graph.core.Dim


def fail(node: Any, why: str) -> GraphError:
    return GraphError(f"node {node.name!r} ({node.op}): {why}", field="shape")


def same(node: Any, a: Dim, b: Dim, what: str) -> Dim:
    """The one size two dimensions must share (an int wins over a symbol)."""
    if isinstance(a, int) and isinstance(b, int) and a != b:
        raise fail(node, f"{what}: {a} != {b}")
    if isinstance(a, int):
        return a
    return b if b is not None else a


def axis(node: Any, ax: int, rank: int, inclusive: bool = False) -> int:
    """``ax`` normalised to 0..rank-1 (0..rank with ``inclusive``), or a GraphError."""
    top = rank + 1 if inclusive else rank
    if not -top <= ax < top:
        raise fail(node, f"axis {ax} is out of range for rank {rank}")
    return ax % top if top else 0


def prod(dims: Sequence[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)
    if len(dims) == 1:
        return dims[0]
    return 0 if any(d == 0 for d in dims) else None


def total(dims: Sequence[Dim]) -> Dim:
    return sum(dims) if all(isinstance(d, int) for d in dims) else None


def rank(node: Any, shape: Shape, *ranks: int) -> None:
    if len(shape) not in ranks:
        raise fail(node, f"expects an input of rank {' or '.join(map(str, ranks))}, got shape {shape}")


def broadcast(node: Any, a: Shape, b: Shape) -> Shape:
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
            raise fail(node, f"shapes {a} and {b} do not broadcast")
        else:
            out.append(x if isinstance(x, int) else y if isinstance(y, int) else None)
    return tuple(out)


def conv_output_size(size: int, k: int, s: int, p0: int, p1: int, d: int = 1) -> int:
    """Output length of a convolution window along one axis (ONNX ``Conv``, floor mode).

    The one copy of this formula: shape inference, the planner's kernels and the Caffe converter all call it.
    Below 1 when the dilated window does not fit the padded input.
    """
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


def conv_out(node: Any, size: Dim, k: int, s: int, p0: int, p1: int, d: int = 1) -> Dim:
    """:func:`conv_output_size` for a symbolic size; a GraphError if the window does not fit."""
    if not isinstance(size, int):
        return None
    out = conv_output_size(size, k, s, p0, p1, d)
    if out < 1:
        raise fail(node, f"window {k} (dilation {d}) does not fit input size {size} with padding {p0}+{p1}")
    return out


def pool_out(node: Any, size: Dim, k: int, s: int, p0: int, p1: int, ceil: bool) -> Dim:
    """Output length of a pooling window; ceil mode drops a last window that starts in the end padding (GRAPH.md §4.1)."""
    if not isinstance(size, int):
        return None
    if p0 >= k or p1 >= k:
        raise fail(node, f"padding {p0}/{p1} must be smaller than the kernel {k}")
    span = size + p0 + p1 - k
    if span < 0:
        raise fail(node, f"kernel {k} does not fit input size {size} with padding {p0}+{p1}")
    out = -(-span // s) + 1 if ceil else span // s + 1
    if ceil and (out - 1) * s >= size + p0:
        out -= 1
    return out


def reshape_target(node: Any, shape_in: Shape, spec: Sequence[int]) -> Shape:
    """ONNX Reshape (allowzero=0): 0 copies the input dim, one -1 is inferred."""
    out: list[Dim] = []
    for i, v in enumerate(spec):
        if v == 0:
            if i >= len(shape_in):
                raise fail(node, f"shape entry {i} is 0 (copy) but the input has rank {len(shape_in)}")
            out.append(shape_in[i])
        else:
            out.append(v)
    if -1 in out:
        whole, known = prod(shape_in), prod([d for d in out if d != -1])
        if isinstance(whole, int) and isinstance(known, int):
            if known == 0 or whole % known:
                raise fail(node, f"cannot reshape {shape_in} to {list(spec)}")
            out[out.index(-1)] = whole // known
        else:
            out[out.index(-1)] = None
    else:
        a, b = prod(shape_in), prod(out)
        if isinstance(a, int) and isinstance(b, int) and a != b:
            raise fail(node, f"cannot reshape {shape_in} ({a} elements) to {list(spec)} ({b} elements)")
    return tuple(out)


def same_shape(node: Any, ins: list[Shape]) -> list[Shape]:
    """The shape rule of elementwise unary ops: the output has the input's shape."""
    return [ins[0]]
