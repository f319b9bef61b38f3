"""The graph model: typed values in, an ordered node list, typed values out.

A :class:`Graph` is plain data (no tensors). Its canonical bytes are the
payload of the container's optional ``GRPH`` section (spec/GRAPH.md), and
:meth:`Graph.from_bytes` is the only way a file's graph enters the library,
so every check a hostile file could need lives in :meth:`Graph.validate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Sequence

from ..errors import GraphError
from .. import safejson
from ..names import name_problem
from .ops import MAX_DIM, MAX_RANK, OPS, canonical_attrs

GRAPH_VERSION = 2  # the newest graph_version this code reads and writes (spec/GRAPH.md §7)
DTYPES = ("float32",)
MAX_GRAPH_BYTES = 16 * 1024 * 1024
MAX_NESTING = 8
MAX_NODES = 100_000
MAX_GRAPH_IO = 64
MAX_NAME_CHARS = 1024  # GRAPH.md §2
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")

Dim = int | str | None  # concrete size, symbolic size (e.g. "N"), or unknown (outputs only)
_TOP_KEYS = {"graph_version", "inputs", "outputs", "nodes"}
_NODE_KEYS = {"op", "name", "inputs", "outputs", "attrs"}
_IO_KEYS = {"name", "shape", "dtype"}


def check_name(value: Any, what: str) -> str:
    """A graph name: the one name rule of ``dcformat.names``, with GRAPH.md's limit of 1024 characters."""
    if not isinstance(value, str) or not value:
        raise GraphError(f"{what} must be a non-empty string, got {value!r:.60}")
    problem = name_problem(value, max_bytes=None, max_chars=MAX_NAME_CHARS)
    if problem:
        raise GraphError(f"{what} {value!r:.80} {problem}")
    return value


def _check_dim(d: Any, where: str, allow_unknown: bool) -> Dim:
    if isinstance(d, bool):
        raise GraphError(f"{where}: dimension {d!r} is not an integer or symbol", field="shape")
    if isinstance(d, int):
        if not 0 <= d <= MAX_DIM:
            raise GraphError(f"{where}: dimension {d} is outside [0, {MAX_DIM}]", field="shape")
        return d
    if isinstance(d, str) and _SYMBOL.match(d):
        return d
    if d is None and allow_unknown:
        return None
    raise GraphError(f"{where}: dimension {d!r:.40} is not an integer or symbol", field="shape")


def _exact_keys(obj: Any, keys: set[str], where: str) -> None:
    """``obj`` must be a JSON object with exactly ``keys`` (unknown keys are must-understand, GRAPH.md §3)."""
    if not isinstance(obj, dict):
        raise GraphError(f"{where} must be an object")
    unknown = set(obj) - keys
    if unknown:
        raise GraphError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    missing = keys - set(obj)
    if missing:
        raise GraphError(f"{where}: missing key {sorted(missing)[0]!r}")


@dataclass(frozen=True)
class ValueInfo:
    """Name, shape (ints, symbols like "N", or None = unknown for outputs) and dtype of a graph input/output."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def parse(cls, obj: Any, where: str, allow_unknown: bool) -> "ValueInfo":
        _exact_keys(obj, _IO_KEYS, where)
        name = check_name(obj["name"], f"{where} name")
        shape = obj["shape"]
        if not isinstance(shape, list) or len(shape) > MAX_RANK:
            raise GraphError(f"{where} {name!r}: shape must be a list of at most {MAX_RANK} entries", field="shape")
        dims = tuple(_check_dim(d, f"{where} {name!r}", allow_unknown) for d in shape)
        if obj["dtype"] not in DTYPES:
            raise GraphError(f"{where} {name!r}: unsupported dtype {obj['dtype']!r:.40} (only float32)", field="dtype")
        return cls(name, dims, obj["dtype"])


@dataclass
class Node:
    """One operator application. ``attrs`` are canonical (all defaults present) after validation."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "name": self.name, "inputs": list(self.inputs), "outputs": list(self.outputs), "attrs": self.attrs}

    @classmethod
    def parse(cls, obj: Any, index: int) -> "Node":
        where = f"node #{index}"
        _exact_keys(obj, _NODE_KEYS, where)
        name = check_name(obj["name"], f"{where} name")
        op = obj["op"]
        if not isinstance(op, str):
            raise GraphError(f"node {name!r}: 'op' must be a string", field="op")
        lists = []
        for key in ("inputs", "outputs"):
            v = obj[key]
            if not isinstance(v, list):
                raise GraphError(f"node {name!r}: {key!r} must be a list of names")
            lists.append([check_name(x, f"node {name!r} {key[:-1]}") for x in v])
        return cls(op, name, lists[0], lists[1], obj["attrs"])


class Graph:
    """An ordered, acyclic dataflow graph over float32 tensors.

    Build one directly (model builders, ONNX import) and call :meth:`validate`,
    or decode one with :meth:`from_bytes`, which validates.
    """

    def __init__(
        self, inputs: Sequence[ValueInfo], outputs: Sequence[ValueInfo], nodes: Iterable[Node], version: int | None = None
    ) -> None:
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.nodes = list(nodes)
        self.declared_version = version  # as read from a file; None for graphs built in code

    @property
    def version(self) -> int:
        """The graph_version written: the oldest one that has every op used, so older readers keep working."""
        return max([1] + [OPS[n.op].since for n in self.nodes if n.op in OPS])

    # -- serialisation -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "graph_version": self.version,
            "inputs": [v.to_json() for v in self.inputs],
            "outputs": [v.to_json() for v in self.outputs],
            "nodes": [n.to_json() for n in self.nodes],
        }

    def to_bytes(self) -> bytes:
        """Canonical UTF-8 JSON (spec/GRAPH.md §2); equal graphs give equal bytes."""
        for n in self.nodes:  # canonicalise attrs so defaults are always written
            n.attrs = canonical_attrs(n.op, n.name, n.attrs)
        try:
            return safejson.dumps(self.to_json())
        except (TypeError, ValueError) as exc:
            raise GraphError(f"graph cannot be serialised: {exc}") from None

    @classmethod
    def from_bytes(cls, data: bytes, tensor_names: Collection[str]) -> "Graph":
        """Decode and fully validate a GRPH payload; raises only GraphError."""
        try:
            obj = safejson.loads(data, error=GraphError, max_bytes=MAX_GRAPH_BYTES, max_nesting=MAX_NESTING, field="json")
            graph = cls._from_json(obj)
            graph.validate(tensor_names)
            return graph
        except GraphError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OverflowError) as exc:
            # Safety net: explicit checks above should make this unreachable.
            raise GraphError(f"graph payload rejected: {type(exc).__name__}: {exc}") from None

    @classmethod
    def _from_json(cls, obj: Any) -> "Graph":
        if not isinstance(obj, dict):
            raise GraphError("graph payload must be a JSON object")
        unknown = set(obj) - _TOP_KEYS
        if unknown:
            raise GraphError(f"unknown top-level key {sorted(unknown)[0]!r}")
        missing = _TOP_KEYS - set(obj)
        if missing:
            raise GraphError(f"missing top-level key {sorted(missing)[0]!r}")
        version = obj["graph_version"]
        if isinstance(version, bool) or not isinstance(version, int):
            raise GraphError("'graph_version' must be an integer", field="graph_version")
        if not 1 <= version <= GRAPH_VERSION:
            raise GraphError(f"graph_version {version} is not supported (this reader knows 1..{GRAPH_VERSION})", field="graph_version")
        for key, cap in (("inputs", MAX_GRAPH_IO), ("outputs", MAX_GRAPH_IO), ("nodes", MAX_NODES)):
            if not isinstance(obj[key], list):
                raise GraphError(f"{key!r} must be a list")
            if len(obj[key]) > cap:
                raise GraphError(f"{len(obj[key])} {key} exceed the limit of {cap}", field=key)
        inputs = [ValueInfo.parse(v, f"input #{i}", False) for i, v in enumerate(obj["inputs"])]
        outputs = [ValueInfo.parse(v, f"output #{i}", True) for i, v in enumerate(obj["outputs"])]
        nodes = [Node.parse(n, i) for i, n in enumerate(obj["nodes"])]
        return cls(inputs, outputs, nodes, version)

    # -- validation ----------------------------------------------------------------------------
    def validate(self, tensor_names: Collection[str]) -> None:
        """Check ops, attributes, arity, names and def-before-use; canonicalise attrs in place.

        Values are in SSA form: each name is defined once (graph input or node
        output), before any use, and never shadows a stored tensor name. A node
        input may name a defined value or a stored tensor; inputs an op needs
        as constants (weights) must be stored tensors.
        """
        tensors = frozenset(tensor_names)
        if not self.inputs:
            raise GraphError("graph has no inputs")
        if not self.outputs:
            raise GraphError("graph has no outputs")
        if len(self.nodes) > MAX_NODES:
            raise GraphError(f"{len(self.nodes)} nodes exceed the limit of {MAX_NODES}", field="nodes")
        defined: set[str] = set()
        for v in self.inputs:
            if v.dtype not in DTYPES:
                raise GraphError(f"input {v.name!r}: unsupported dtype {v.dtype!r}", field="dtype")
            if v.name in tensors:
                raise GraphError(f"input {v.name!r} has the same name as a stored tensor")
            if v.name in defined:
                raise GraphError(f"input {v.name!r} is declared twice")
            if any(d is None for d in v.shape):
                raise GraphError(f"input {v.name!r}: every dimension must be an integer or symbol", field="shape")
            defined.add(v.name)
        node_names: set[str] = set()
        for node in self.nodes:
            spec = OPS.get(node.op) if isinstance(node.op, str) else None
            if spec is None:
                raise GraphError(f"node {node.name!r}: unknown op {node.op!r:.60}", field="op")
            if self.declared_version is not None and spec.since > self.declared_version:
                raise GraphError(
                    f"node {node.name!r}: op {node.op} needs graph_version >= {spec.since}, the graph declares "
                    f"{self.declared_version}",
                    field="op",
                )
            if node.name in node_names:
                raise GraphError(f"node name {node.name!r} is used twice")
            node_names.add(node.name)
            node.attrs = canonical_attrs(node.op, node.name, node.attrs)
            lo, hi = spec.inputs
            if not lo <= len(node.inputs) <= hi:
                raise GraphError(f"node {node.name!r} ({node.op}) takes {lo}..{hi} inputs, got {len(node.inputs)}")
            lo, hi = spec.outputs
            if not lo <= len(node.outputs) <= hi:
                raise GraphError(f"node {node.name!r} ({node.op}) has {lo}..{hi} outputs, got {len(node.outputs)}")
            if node.op == "Split" and len(node.attrs["split"]) != len(node.outputs):
                raise GraphError(f"node {node.name!r} (Split): 'split' has {len(node.attrs['split'])} sizes for {len(node.outputs)} outputs", field="attrs")
            for i, name in enumerate(node.inputs):
                if i in spec.const_inputs:
                    if name not in tensors:
                        raise GraphError(f"node {node.name!r} ({node.op}): input {i} {name!r} must be a stored tensor, and the file has none of that name")
                elif name not in defined and name not in tensors:
                    raise GraphError(f"node {node.name!r} ({node.op}): input {name!r} is neither a stored tensor nor a value defined earlier")
            for name in node.outputs:
                if name in tensors:
                    raise GraphError(f"node {node.name!r}: output {name!r} has the same name as a stored tensor")
                if name in defined:
                    raise GraphError(f"node {node.name!r}: output {name!r} is defined twice")
                defined.add(name)
        seen: set[str] = set()
        for v in self.outputs:
            if v.name not in defined:
                raise GraphError(f"output {v.name!r} is not produced by any node or input")
            if v.name in seen:
                raise GraphError(f"output {v.name!r} is listed twice")
            if v.dtype not in DTYPES:
                raise GraphError(f"output {v.name!r}: unsupported dtype {v.dtype!r}", field="dtype")
            seen.add(v.name)

    # -- conveniences --------------------------------------------------------------------------
    def tensor_refs(self, tensor_names: Collection[str]) -> list[str]:
        """Stored tensors the graph reads, in first-use order."""
        tensors, out, seen = set(tensor_names), [], set()
        for n in self.nodes:
            for x in n.inputs:
                if x in tensors and x not in seen:
                    seen.add(x)
                    out.append(x)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Graph) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"Graph(inputs={[v.name for v in self.inputs]}, outputs={[v.name for v in self.outputs]}, nodes={len(self.nodes)})"
