"""The op registry: one module per op (or per family of ops sharing one implementation).

Each module ``dcformat/ops/<name>.py`` defines its op(s) as :class:`OpDef`
(``OP = OpDef(...)``, or ``OPS = [...]`` for a family such as the clamps or
the arithmetic ops): attributes and their ranges, the first graph_version
that has it, shape rule, planner step (NumPy reference and compiled
kernels), folding rule, ONNX export and import, Caffe import. Modules are
found by listing this package, so adding an op is one new file plus its
tests (and, since the graph schema is closed, the spec's operator table
and a graph_version bump; see docs/ARCHITECTURE.md).

Shape inference (``graph.shapes``), the planner (``inference.plan``), folding
(``inference.fold``), ``onnx_io`` and ``legacy.graph`` dispatch through
:data:`OPS`, :data:`ONNX_IMPORT` and :data:`CAFFE_IMPORT`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

from ..errors import GraphError
from ._base import OpDef, check_attr


def _discover() -> dict[str, OpDef]:
    ops: dict[str, OpDef] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        defs = list(getattr(module, "OPS", [])) + ([module.OP] if hasattr(module, "OP") else [])
        if not defs:
            raise RuntimeError(f"dcformat.ops.{info.name} defines no OP / OPS")
        for d in defs:
            if d.name in ops:
                raise RuntimeError(f"op {d.name} is defined twice (dcformat.ops.{info.name})")
            if d.shape is None or d.plan is None or d.to_onnx is None:
                raise RuntimeError(f"op {d.name} (dcformat.ops.{info.name}) lacks a shape, plan or to_onnx rule")
            ops[d.name] = d
    return ops


def _claims(ops: dict[str, OpDef], attr: str) -> dict[str, Callable[..., None]]:
    """Foreign op type -> import rule; each foreign type is claimed by one op module only."""
    out: dict[str, Callable[..., None]] = {}
    for d in ops.values():
        for foreign, rule in getattr(d, attr).items():
            if foreign in out:
                raise RuntimeError(f"{attr}: {foreign!r} is claimed twice (second by {d.name})")
            out[foreign] = rule
    return out


OPS: dict[str, OpDef] = _discover()
ONNX_IMPORT = _claims(OPS, "from_onnx")  # ONNX op_type -> rule(importer, onnx node, attrs, inputs)
CAFFE_IMPORT = _claims(OPS, "from_caffe")  # Caffe layer type -> rule(builder, layer, inputs)
LAYERS = tuple(name for name, d in OPS.items() if d.layer)  # ops with a stored weight and optional bias (Conv2d, Linear)


def canonical_attrs(op: str, node: str, attrs: Any) -> dict[str, Any]:
    """Validate a node's attribute object and fill in defaults (canonical form)."""
    spec = OPS.get(op)
    if spec is None:
        raise GraphError(f"node {node!r}: unknown op {op!r}", field="op")
    if not isinstance(attrs, dict):
        raise GraphError(f"node {node!r} ({op}): 'attrs' must be an object", field="attrs")
    for key in attrs:
        if key not in spec.attrs:
            raise GraphError(f"node {node!r} ({op}): unknown attribute {key!r}", field="attrs")
    out: dict[str, Any] = {}
    for key, a in spec.attrs.items():
        if key in attrs:
            out[key] = check_attr(op, node, key, a, attrs[key])
        elif a.required:
            raise GraphError(f"node {node!r} ({op}): missing required attribute {key!r}", field="attrs")
        else:
            out[key] = list(a.default) if isinstance(a.default, list) else a.default
    return out


__all__ = ["OPS", "ONNX_IMPORT", "CAFFE_IMPORT", "LAYERS", "OpDef", "canonical_attrs"]
