"""Compile a folded node list into a flat list of NumPy steps over channels-last buffers.

Every rank-4 value is kept in NHWC (its logical meaning stays NCHW, the
graph's convention); conversions are inserted only where an op needs the
logical layout (Flatten, Reshape, Transpose, MatMul, rank-mixing broadcasts,
graph outputs). A liveness pass lets elementwise ops overwrite an input
buffer nothing reads later, and frees dead buffers as soon as possible.

What each op emits is its module's ``plan`` rule (``dcformat/ops/<op>.py``);
this module holds the machinery they share: layouts and conversions, steps,
fused activations, the producer-to-Concat fusion slot, and the liveness pass.
With numba installed (and ``DCFORMAT_ACCEL`` not 0 when the model is
planned) convolutions and pooling emit the compiled kernels of ``fast/``
(bias, activation and padding fused); without it the NumPy steps run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..ops import OPS
from ..ops._base import NHWC, PLAIN
from ..graph.shapes import Shape
from . import kernels as K
from .fold import Act, LNode

F32 = np.float32
TO_NHWC_AXIS = (0, 3, 1, 2)  # logical NCHW axis -> physical NHWC axis
Env = dict[str, Any]


@dataclass
class Step:
    """One executable step. ``make(reuse)`` builds the callable; ``reuse`` is a read position it may overwrite."""

    name: str
    reads: list[str]
    writes: list[str]
    make: Callable[[int | None], Callable[[Env], None]]
    reusable: tuple[int, ...] = ()
    views: dict[str, str] = field(default_factory=dict)  # write key -> read key it may alias
    run: Callable[[Env], None] | None = None
    free: list[str] = field(default_factory=list)


@dataclass
class ConcatSlot:
    """A conv output that a channel Concat reading only it may have written straight into its buffer.

    The conv registers one (``Planner.into_concat``) when it is planned; the
    Concat (``ops/concat.py``) fills in ``target`` if every input agrees, and
    the conv's step then writes its channel slice of the shared buffer.
    """

    step: int  # index of the conv's step (the first of the group allocates the buffer)
    act: Act | None  # the conv's fused activation (all inputs must share one)
    channels: int
    fast: bool  # planned with the numba kernels (they apply the activation while writing)
    w: np.ndarray | None = None  # NumPy path: (K, O) weights ...
    bias: np.ndarray | None = None  # ... and bias, joined into ``wb`` (bias row for a ones column) when fused
    wb: np.ndarray | None = None
    target: tuple[str, int, int, bool] | None = None  # (buffer key, first channel, total channels, allocates it)


_INF = F32(np.inf)


def bounds(lo: float | None, hi: float | None) -> tuple[np.float32, np.float32]:
    """Clip bounds as float32 with +-inf for "none": np.clip with two array-free bounds
    runs ~4x faster than np.maximum against a scalar (NumPy 2.4, AVX-512)."""
    return (-_INF if lo is None else F32(lo)), (_INF if hi is None else F32(hi))


def clip_bounds(act: Act | None) -> tuple[np.float32, np.float32]:
    """A fused activation's bounds for the compiled kernels (+-inf without one)."""
    return bounds(*act[1:]) if act is not None else (-_INF, _INF)


def act_fn(act: Act | None) -> Callable[[np.ndarray], None]:
    """In-place activation fused into the producing layer."""
    if act is None or (act[1] is None and act[2] is None):
        return lambda y: None
    lo, hi = bounds(act[1], act[2])

    def clip(y: np.ndarray) -> None:
        K.CLIP(y, lo, hi, out=y)

    return clip


def project(a: np.ndarray, wt: np.ndarray, bias: np.ndarray | None, csr: Any) -> np.ndarray:
    """``a @ wt + bias``, from the pruned layer's CSR when that is faster at this many rows (``Csr.use_for``)."""
    if csr is not None and csr.use_for(a.shape[0]):
        y = csr.matmul_t(a)
        if bias is not None:
            y += bias
        return y
    return K.matmul_bias(a, wt, bias)


class Planner:
    """Turns LNodes into Steps; ``consts`` maps tensor names to float32 arrays."""

    def __init__(self, consts: dict[str, np.ndarray], shapes: dict[str, Shape], graph_inputs: list[str]) -> None:
        self.consts = consts
        self.shapes = shapes
        self.const_env: Env = {}
        self.steps: list[Step] = []
        self.layout: dict[str, str] = {k: PLAIN for k in graph_inputs}
        self.converted: dict[tuple[str, str], str] = {}
        self.external: set[str] = set(graph_inputs)
        self.sole_reader: dict[str, LNode] = {}
        self.into_concat: dict[str, ConcatSlot] = {}  # conv output -> its slot, for a Concat that alone reads it

    def note_readers(self, nodes: list[LNode], outputs: list[str]) -> None:
        """Record each value's only reader (if it has exactly one and is not a graph output) for producer-side fusions."""
        readers: dict[str, list[LNode | None]] = {v: [None] for v in outputs}
        for n in nodes:
            for v in n.inputs:
                readers.setdefault(v, []).append(n)
        self.sole_reader = {v: r[0] for v, r in readers.items() if len(r) == 1 and r[0] is not None}

    # -- keys and layouts -------------------------------------------------------------------------
    def rank(self, v: str) -> int:
        return len(self.shapes[v])

    def const_key(self, name: str, want: str, rank: int | None = None) -> str:
        """Key of a constant, optionally broadcast up to ``rank`` dims and stored NHWC."""
        arr = self.consts[name]
        r = arr.ndim if rank is None else rank
        key = f"{name}\x00{want}\x00{r}"
        if key not in self.const_env:
            a = arr.reshape((1,) * (r - arr.ndim) + arr.shape)
            if want == NHWC and r == 4:
                a = np.ascontiguousarray(a.transpose(0, 2, 3, 1))
            self.const_env[key] = a
            self.external.add(key)
        return key

    def is_const(self, v: str) -> bool:
        return v in self.consts and v not in self.layout

    def need(self, v: str, want: str) -> str:
        """Env key holding value ``v`` in layout ``want`` (emitting a conversion step if needed)."""
        if self.is_const(v):
            return self.const_key(v, want)
        have = self.layout[v]
        if have == want or self.rank(v) != 4:
            return v
        if (v, want) in self.converted:
            return self.converted[(v, want)]
        key = f"{v}\x00{want}"
        perm = (0, 2, 3, 1) if want == NHWC else (0, 3, 1, 2)

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                env[key] = np.ascontiguousarray(env[v].transpose(perm))

            return run

        self.steps.append(Step(f"to_{want}({v})", [v], [key], make, views={key: v}))
        self.layout[key] = want
        self.converted[(v, want)] = key
        return key

    def emit(self, name: str, reads: list[str], writes: list[str], layout: str, make: Callable, reusable: tuple[int, ...] = (), views: dict[str, str] | None = None) -> None:
        for w in writes:
            self.layout[w] = layout
        self.steps.append(Step(name, reads, writes, make, reusable, views or {}))

    def simple(self, n: LNode, reads: list[str], layout: str, fn: Callable[..., np.ndarray], views: bool = False) -> None:
        """A step computing one output from its reads with no buffer reuse."""
        out = n.outputs[0]

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                env[out] = fn(*[env[k] for k in reads])

            return run

        self.emit(n.name, reads, [out], layout, make, views={out: reads[0]} if views else None)

    def source(self, v: str) -> str:
        """Env key to read value ``v`` from in whatever layout it has (a constant as stored)."""
        return self.need(v, PLAIN) if self.is_const(v) else v

    def unary(self, n: LNode, f: Callable[[np.ndarray, np.ndarray | None], np.ndarray]) -> None:
        """An elementwise step ``f(x, out)``: ``out`` is None (allocate) or a buffer to overwrite (may be x)."""
        key = self.source(n.inputs[0])
        out = n.outputs[0]

        def make(reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                a = env[key]
                env[out] = f(a, a if reuse is not None else None)

            return run

        self.emit(n.name, [key], [out], self.layout.get(key, PLAIN), make, reusable=(0,))

    # -- ops ----------------------------------------------------------------------------------------
    def add(self, n: LNode) -> None:
        """Emit the steps of one node: its op module's plan rule."""
        OPS[n.op].plan(self, n)  # type: ignore[misc]  # every registered op has one

    # -- finishing ------------------------------------------------------------------------------------
    def finish(self, outputs: list[str]) -> tuple[list[Step], list[str]]:
        """Emit output conversions, decide buffer reuse, attach free lists; returns (steps, output keys)."""
        out_keys = [self.need(v, PLAIN) for v in outputs]
        keep = set(out_keys)
        last: dict[str, int] = {}
        for i, s in enumerate(self.steps):
            for k in s.reads:
                last[k] = i
        parent: dict[str, str] = {}

        def find(k: str) -> str:
            while parent.get(k, k) != k:
                k = parent[k]
            return k

        members: dict[str, set[str]] = {}

        def union(a: str, b: str) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[ra] = rb
                members.setdefault(rb, {rb}).update(members.pop(ra, {ra}))

        for s in self.steps:
            for w, r in s.views.items():
                union(w, r)
        for i, s in enumerate(self.steps):
            reuse = None
            for pos in s.reusable:
                r = s.reads[pos]
                group = members.get(find(r), {find(r)})
                if any(k in self.external or k in keep or last.get(k, -1) > i for k in group):
                    continue
                reuse = pos
                for w in s.writes:
                    union(w, r)
                break
            s.run = s.make(reuse)
        for i, s in enumerate(self.steps):
            s.free = [k for k in s.reads if last.get(k) == i and k not in keep and k not in self.external]
        return self.steps, out_keys
