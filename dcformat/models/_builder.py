"""A small graph-building helper shared by the model builders.

It appends nodes, creates seeded weights with fan-in scaling (so deep random
networks neither explode nor vanish and conformance tolerances stay meaningful)
and tracks shapes through the same inference the loader uses.
"""

from __future__ import annotations

import numpy as np

from ..graph.core import Dim, Graph, Node, ValueInfo
from ..graph.ops import canonical_attrs
from ..graph.shapes import infer_node


class Builder:
    """Accumulates nodes and float32 tensors; ``finish`` returns (Graph, tensors)."""

    def __init__(self, seed: int, input_name: str, input_shape: tuple[Dim, ...]) -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: dict[str, np.ndarray] = {}
        self.nodes: list[Node] = []
        self.inputs = [ValueInfo(input_name, tuple(input_shape))]
        self.shapes: dict[str, tuple[Dim, ...]] = {input_name: tuple(input_shape)}
        self._count: dict[str, int] = {}

    # -- plumbing --------------------------------------------------------------------------------
    def _uid(self, prefix: str) -> str:
        n = self._count.get(prefix, 0)
        self._count[prefix] = n + 1
        return f"{prefix}_{n}" if n else prefix

    def op(self, op: str, inputs: list[str], name: str | None = None, n_out: int = 1, **attrs: object) -> list[str]:
        name = self._uid(name or op.lower())
        outs = [name] if n_out == 1 else [f"{name}:{i}" for i in range(n_out)]
        node = Node(op, name, list(inputs), outs, canonical_attrs(op, name, attrs))
        for o, s in zip(outs, infer_node(node, [self.shapes[i] for i in inputs])):
            self.shapes[o] = s
        self.nodes.append(node)
        return outs

    def op1(self, op: str, inputs: list[str], name: str | None = None, **attrs: object) -> str:
        return self.op(op, inputs, name, **attrs)[0]

    def tensor(self, name: str, value: np.ndarray) -> str:
        if name in self.tensors:
            raise ValueError(f"tensor {name!r} defined twice")
        self.tensors[name] = np.ascontiguousarray(value, dtype=np.float32)
        self.shapes[name] = tuple(value.shape)
        return name

    def channels(self, x: str) -> int:
        c = self.shapes[x][1]
        assert isinstance(c, int)
        return c

    # -- layers ----------------------------------------------------------------------------------
    def conv(
        self, x: str, out: int, k: int, *, name: str, stride: int = 1, pad: int = 0, groups: int = 1, bias: bool = True
    ) -> str:
        cin = self.channels(x)
        fan_in = cin // groups * k * k
        w = self.rng.standard_normal((out, cin // groups, k, k)) * np.sqrt(2.0 / fan_in)
        ins = [x, self.tensor(f"{name}.weight", w)]
        if bias:
            ins.append(self.tensor(f"{name}.bias", self.rng.uniform(-0.1, 0.1, out)))
        return self.op1("Conv2d", ins, name, stride=[stride, stride], padding=[pad] * 4, groups=groups)

    def bn(self, x: str, *, name: str) -> str:
        c = self.channels(x)
        ins = [
            x,
            self.tensor(f"{name}.weight", self.rng.uniform(0.5, 1.5, c)),
            self.tensor(f"{name}.bias", self.rng.uniform(-0.2, 0.2, c)),
            self.tensor(f"{name}.running_mean", self.rng.uniform(-0.2, 0.2, c)),
            self.tensor(f"{name}.running_var", self.rng.uniform(0.5, 2.0, c)),
        ]
        return self.op1("BatchNorm", ins, name, epsilon=1e-5)

    def linear(self, x: str, out: int, *, name: str) -> str:
        fan_in = self.shapes[x][1]
        assert isinstance(fan_in, int)
        w = self.rng.standard_normal((out, fan_in)) * np.sqrt(1.0 / fan_in)
        b = self.rng.uniform(-0.1, 0.1, out)
        return self.op1("Linear", [x, self.tensor(f"{name}.weight", w), self.tensor(f"{name}.bias", b)], name)

    def finish(self, outputs: dict[str, str]) -> tuple[Graph, dict[str, np.ndarray]]:
        """Rename the final values to the public output names and build the Graph."""
        rename = {v: k for k, v in outputs.items()}
        for n in self.nodes:
            n.outputs = [rename.get(o, o) for o in n.outputs]
            n.inputs = [rename.get(i, i) for i in n.inputs]
        outs = [ValueInfo(k, tuple(self.shapes[v])) for k, v in outputs.items()]
        graph = Graph(self.inputs, outs, self.nodes)
        graph.validate(self.tensors.keys())
        return graph, self.tensors
