"""Compile a folded node list into a flat list of NumPy steps over channels-last buffers.

Every rank-4 value is kept in NHWC (its logical meaning stays NCHW, the
graph's convention); conversions are inserted only where an op needs the
logical layout (Flatten, Reshape, Transpose, MatMul, rank-mixing broadcasts,
graph outputs). A liveness pass lets elementwise ops overwrite an input
buffer nothing reads later, and frees dead buffers as soon as possible.

With numba installed (and ``DCFORMAT_ACCEL`` not 0), convolutions and
pooling run through the compiled kernels of ``fast/`` instead (bias,
activation and padding fused; see :meth:`Planner.conv_fast`); without it the
NumPy steps below run unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import GraphError
from ..graph.shapes import Shape, pool_out
from . import kernels as K
from .fold import LNode

F32 = np.float32
NHWC, PLAIN = "nhwc", "plain"
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


_INF = F32(np.inf)
PHASE_MIN_SIZE = 56  # 1x1 convs feeding a strided depthwise emit phase-split output from this input size up
STEM_MAX_CHANNELS = 4  # convs on channels-first graph inputs with at most this many channels skip the NHWC transpose


def _bounds(lo: float | None, hi: float | None) -> tuple[np.float32, np.float32]:
    """Clip bounds as float32 with +-inf for "none": np.clip with two array-free bounds
    runs ~4x faster than np.maximum against a scalar (NumPy 2.4, AVX-512)."""
    return (-_INF if lo is None else F32(lo)), (_INF if hi is None else F32(hi))


def _act(act: tuple[str, float | None, float | None] | None) -> Callable[[np.ndarray], None]:
    """In-place activation fused into the producing layer."""
    if act is None or (act[1] is None and act[2] is None):
        return lambda y: None
    lo, hi = _bounds(act[1], act[2])

    def clip(y: np.ndarray) -> None:
        K.CLIP(y, lo, hi, out=y)

    return clip


def _project(a: np.ndarray, wt: np.ndarray, bias: np.ndarray | None, csr: Any) -> np.ndarray:
    """``a @ wt + bias``, from the pruned layer's CSR when that is faster at this many rows (``Csr.use_for``)."""
    if csr is not None and csr.use_for(a.shape[0]):
        y = csr.matmul_t(a)
        if bias is not None:
            y += bias
        return y
    return K.matmul_bias(a, wt, bias)


def _unary(op: str, attrs: dict[str, Any]) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    """Elementwise op as f(x, out) where out is None (allocate) or a buffer to overwrite (may be x)."""
    if op in ("ReLU", "ReLU6", "Clip"):
        lo, hi = {"ReLU": (0.0, None), "ReLU6": (0.0, 6.0)}.get(op) or (attrs["min"], attrs["max"])
        if lo is None and hi is None:
            return lambda x, out: x.copy() if out is None else out
        lo32, hi32 = _bounds(lo, hi)
        return lambda x, out: K.CLIP(x, lo32, hi32, out=out)
    if op == "Sigmoid":
        return lambda x, out: K.sigmoid(x, out=out)
    if op == "HardSigmoid":
        a, b = attrs["alpha"], attrs["beta"]
        return lambda x, out: K.hard_sigmoid(x, a, b, out=out)
    if op == "HardSwish":
        return lambda x, out: K.hard_swish(x, out=out)
    raise AssertionError(op)


_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}
UNARY_OPS = ("ReLU", "ReLU6", "Clip", "Sigmoid", "HardSigmoid", "HardSwish")


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
        self.into_concat: dict[str, dict[str, Any]] = {}  # conv output -> {"target": (buf key, c0, ctot, first) | None, ...}

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

    # -- ops ----------------------------------------------------------------------------------------
    def add(self, n: LNode) -> None:
        op = n.op
        if op == "Conv2d":
            self.conv(n)
        elif op == "Linear":
            self.linear(n)
        elif op in UNARY_OPS:
            self.unary(n)
        elif op in _BINARY:
            self.binary(n)
        elif op == "BatchNorm":
            self.batchnorm(n)
        elif op in ("MaxPool", "AvgPool"):
            self.pool(n)
        elif op == "GlobalAvgPool":
            x = self.need(n.inputs[0], NHWC)
            self.simple(n, [x], NHWC, lambda a: np.divide(a.sum(axis=(1, 2), keepdims=True, dtype=F32), F32(a.shape[1] * a.shape[2])))
        elif op == "Concat":
            self.concat(n)
        elif op == "Split":
            self.split(n)
        elif op == "ChannelShuffle":
            g = n.attrs["groups"]
            x = self.need(n.inputs[0], NHWC)

            def shuffle(a: np.ndarray) -> np.ndarray:
                b, h, w, c = a.shape
                return np.ascontiguousarray(a.reshape(b, h, w, g, c // g).transpose(0, 1, 2, 4, 3)).reshape(b, h, w, c)

            self.simple(n, [x], NHWC, shuffle)
        elif op == "LRN":
            a = n.attrs
            x = self.need(n.inputs[0], NHWC)
            self.simple(n, [x], NHWC, lambda t: K.lrn_channels_last(t, a["size"], a["alpha"], a["beta"], a["bias"]))
        elif op == "Softmax":
            v = n.inputs[0]
            key = self.need(v, PLAIN) if self.is_const(v) else v
            r = self.rank(v)
            ax = n.attrs["axis"] % r
            if self.layout.get(key) == NHWC and r == 4:
                ax = TO_NHWC_AXIS[ax]
            self.simple(n, [key], self.layout.get(key, PLAIN), lambda a: K.softmax(a, ax))
        elif op == "Flatten":
            x = self.need(n.inputs[0], PLAIN)
            ax = n.attrs["axis"] % (self.rank(n.inputs[0]) + 1)
            self.simple(n, [x], PLAIN, lambda a: a.reshape(int(np.prod(a.shape[:ax])), int(np.prod(a.shape[ax:]))), views=True)
        elif op == "Reshape":
            x = self.need(n.inputs[0], PLAIN)
            # a -1 whose size shape inference already knows is filled in (keeps batch-0 inputs working)
            known = self.shapes[n.outputs[0]]
            spec = [k if s == -1 and isinstance(k, int) else s for s, k in zip(n.attrs["shape"], known)]

            def reshape(a: np.ndarray) -> np.ndarray:
                target = [a.shape[i] if s == 0 else s for i, s in enumerate(spec)]
                return a.reshape(target)

            self.simple(n, [x], PLAIN, reshape, views=True)
        elif op == "Transpose":
            x = self.need(n.inputs[0], PLAIN)
            perm = tuple(n.attrs["perm"])
            self.simple(n, [x], PLAIN, lambda a: a.transpose(perm), views=True)
        elif op == "MatMul":
            a, b = (self.need(v, PLAIN) for v in n.inputs)
            self.simple(n, [a, b], PLAIN, np.matmul)
        elif op in ("Dropout", "Identity"):
            v = n.inputs[0]
            key = self.need(v, PLAIN) if self.is_const(v) else v
            self.simple(n, [key], self.layout.get(key, PLAIN), lambda a: a, views=True)
        else:  # pragma: no cover - every op in OPS is handled above
            raise GraphError(f"node {n.name!r}: op {op!r} has no kernel")

    def conv(self, n: LNode) -> None:
        w = n.weight
        assert w is not None
        o, cg, kh, kw = w.shape
        g = n.attrs["groups"]
        cin = cg * g
        stride = tuple(n.attrs["stride"])
        dil = tuple(n.attrs["dilation"])
        pads = tuple(n.attrs["padding"])
        bias = n.bias
        act = _act(n.act)
        csr = n.csr
        out = n.outputs[0]
        if g == 1 and kh == kw == 1:
            kind, wm = "pointwise", np.ascontiguousarray(w.reshape(o, cin).T)
        elif g == cin and o == cin:
            kind, wm = "depthwise", np.ascontiguousarray(w[:, 0].transpose(1, 2, 0))
            tiled: dict[int, np.ndarray] = {}  # per output width: weights (+ow) and bias (-ow)
        elif g == 1:
            kind, wm = "dense", np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(kh * kw * cin, o))
        else:
            og = o // g
            kind = "grouped"
            wm = np.ascontiguousarray(w.reshape(g, og, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(g, kh * kw * cg, og))
        if kind != "pointwise":
            csr = None
        phase = None  # (pads, stride) of the strided depthwise that alone reads this 1x1 conv's output
        m = self.sole_reader.get(out)
        if kind == "pointwise" and csr is None and stride == (1, 1) and not any(pads) and m is not None and m.op == "Conv2d" and m.inputs[0] == out:
            mw = m.weight
            if mw is not None and mw.shape[1] == 1 and m.attrs["groups"] == o == mw.shape[0] and tuple(m.attrs["stride"]) != (1, 1):
                phase = (tuple(m.attrs["padding"]), tuple(m.attrs["stride"]))
        fast = K.fast_kernels()
        if fast is not None and kind == "grouped" and min(cg * kh * kw, o // g) < fast.LANES:
            fast = None  # tiny groups (a depthwise with a channel multiplier): one batched NumPy matmul beats a kernel call per group
        if fast is not None and (kind == "depthwise" or phase is not None) and o < fast.LANES:
            # a pixel holds less than one vector of channels: NumPy's taps over whole (width x channels)
            # rows win (2-4x at 56x56 and up), and a 1x1 conv feeding such a strided depthwise stays
            # in NumPy to hand it phase-split input
            fast = None
        if fast is not None:
            self.conv_fast(n, kind, wm, csr, fast)
            return
        v_in = n.inputs[0]
        if kind == "dense" and cin <= STEM_MAX_CHANNELS and not self.is_const(v_in) and self.layout.get(v_in) == PLAIN and self.rank(v_in) == 4:
            # a channels-first stem (RGB input): patches straight from NCHW, no layout conversion step
            b = np.zeros(o, F32) if bias is None else bias
            wcb = np.ascontiguousarray(np.concatenate([w.reshape(o, cin * kh * kw).T, b[None]], axis=0), dtype=F32)

            def make_stem(_reuse: int | None) -> Callable[[Env], None]:
                def run(env: Env) -> None:
                    a = env[v_in]
                    oh = K.conv_out_size(a.shape[2], kh, stride[0], pads[0], pads[2], dil[0])
                    ow = K.conv_out_size(a.shape[3], kw, stride[1], pads[1], pads[3], dil[1])
                    y = K.conv_nchw_input(a, wcb, pads, oh, ow, kh, kw, stride, dil)
                    act(y)
                    env[out] = y

                return run

            self.emit(n.name, [v_in], [out], NHWC, make_stem)
            return
        x = self.need(v_in, NHWC)
        fuse: dict[str, Any] = {"target": None, "step": len(self.steps), "act": n.act, "channels": o, "w": wm, "bias": bias}
        if kind in ("pointwise", "dense") and csr is None and phase is None:
            self.into_concat[out] = fuse  # a Concat that alone reads this may ask for direct writes into its buffer

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                a = env[x]
                src = None
                if isinstance(a, K.Phased):  # produced phase-split by the 1x1 conv before (see ``phase``)
                    src, nb, h, wd = a.data, a.data.shape[2], a.h, a.w
                else:
                    nb, h, wd, _ = a.shape
                oh = K.conv_out_size(h, kh, stride[0], pads[0], pads[2], dil[0])
                ow = K.conv_out_size(wd, kw, stride[1], pads[1], pads[3], dil[1])
                if kind == "depthwise":
                    if ow not in tiled:
                        tiled[ow] = np.ascontiguousarray(np.broadcast_to(wm[:, :, None, :], (kh, kw, ow, o)))
                        if bias is not None:
                            tiled[-ow] = np.ascontiguousarray(np.broadcast_to(bias, (ow, o)))
                    env[out] = K.depthwise(a if src is None else None, pads, tiled[ow], tiled.get(-ow), oh, ow, stride, dil, act, src=src)
                    return
                if phase is not None and min(h, wd) >= PHASE_MIN_SIZE:
                    # split the narrow input into the depthwise's padded stride phases and multiply those:
                    # the wide output comes out phase-split (padding pixels get act(bias) and are re-zeroed)
                    ppads, pstride = phase
                    xph = K.padded_phases(a, ppads, pstride)
                    y = K.matmul_bias(xph.reshape(-1, cin), wm, bias).reshape(xph.shape[:-1] + (o,))
                    act(y)
                    K.zero_phase_borders(y, K.phase_regions(h, wd, ppads, pstride)[2])
                    env[out] = K.Phased(y, h, wd)
                    return
                xp = K.pad_nhwc(a, pads)
                if kind == "grouped":
                    y = K.group_conv(xp, wm, bias, oh, ow, kh, kw, g, stride, dil)
                else:
                    target = fuse["target"]
                    if target is not None:
                        # write straight into this input's channel slice of the concat buffer; a ones column
                        # in the patches brings the bias (last row of ``wb``) out of the product itself
                        key, c0, ctot, first = target
                        if first:
                            env[key] = np.empty((nb, oh, ow, ctot), dtype=F32)
                        cols1 = K.im2col(xp, oh, ow, kh, kw, stride, dil, ones=True)
                        np.matmul(cols1, fuse["wb"], out=env[key].reshape(nb * oh * ow, ctot)[:, c0 : c0 + o])
                        return
                    cols = K.im2col(xp, oh, ow, kh, kw, stride, dil)
                    y = _project(cols, wm, bias, csr).reshape(nb, oh, ow, o)
                act(y)
                env[out] = y

            return run

        self.emit(n.name, [x], [out], NHWC, make)

    def conv_fast(self, n: LNode, kind: str, wm: np.ndarray, csr: Any, F: Any) -> None:
        """Convolution through the numba kernels (``fast``): bias and activation fused, no padding copy.

        Pointwise and dense convs are one GEMM with im2col done block by block
        inside the kernel (a channels-first stem is read through a transposed
        view, so it needs no layout conversion either); depthwise handles any
        stride directly (no phase split). A pruned pointwise layer still takes
        its CSR when ``Csr.use_for`` says that wins.
        """
        w = n.weight
        assert w is not None
        o, cg, kh, kw = w.shape
        cin = cg * n.attrs["groups"]
        stride = tuple(n.attrs["stride"])
        dil = tuple(n.attrs["dilation"])
        pads = tuple(n.attrs["padding"])
        lo, hi = _bounds(*n.act[1:]) if n.act is not None else (-_INF, _INF)
        out = n.outputs[0]
        v_in = n.inputs[0]

        def geometry(h: int, wd: int) -> tuple[int, int]:
            return K.conv_out_size(h, kh, stride[0], pads[0], pads[2], dil[0]), K.conv_out_size(wd, kw, stride[1], pads[1], pads[3], dil[1])

        if kind == "depthwise":
            x = self.need(v_in, NHWC)
            bias = np.zeros(o, F32) if n.bias is None else np.ascontiguousarray(n.bias, dtype=F32)

            def make_dw(_reuse: int | None) -> Callable[[Env], None]:
                def run(env: Env) -> None:
                    a = np.ascontiguousarray(env[x])
                    oh, ow = geometry(a.shape[1], a.shape[2])
                    env[out] = F.depthwise(a, wm, bias, pads, oh, ow, stride, dil, lo, hi)

                return run

            self.emit(n.name, [x], [out], NHWC, make_dw)
            return
        if kind == "grouped":
            self.grouped_fast(n, wm, F, lo, hi, geometry)
            return
        pw = F.Packed(wm, n.bias)
        stem = kind == "dense" and cin <= STEM_MAX_CHANNELS and not self.is_const(v_in) and self.layout.get(v_in) == PLAIN and self.rank(v_in) == 4
        x = v_in if stem else self.need(v_in, NHWC)
        act = _act(n.act)
        fuse: dict[str, Any] = {"target": None, "step": len(self.steps), "act": n.act, "channels": o, "fast": True}
        if csr is None and not stem:
            self.into_concat[out] = fuse  # a Concat that alone reads this may ask for direct writes into its buffer

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                a = env[x]
                if stem:
                    a = a.transpose(0, 2, 3, 1)  # NCHW read as an NHWC view; the kernel takes any strides
                nb, h, wd, _ = a.shape
                oh, ow = geometry(h, wd)
                rows = nb * oh * ow
                if csr is not None and csr.use_for(rows):
                    cols = K.im2col(K.pad_nhwc(a, pads), oh, ow, kh, kw, stride, dil)
                    y = _project(cols, wm, n.bias, csr).reshape(nb, oh, ow, o)
                    act(y)
                    env[out] = y
                    return
                target = fuse["target"]
                if target is not None:
                    key, c0, ctot, first = target
                    if first:
                        env[key] = F.empty((nb, oh, ow, ctot))
                    buf, res = env[key].reshape(rows, ctot), None
                else:
                    buf, c0 = F.empty((rows, o)), 0
                    res = buf.reshape(nb, oh, ow, o)
                F.conv(a, kh, kw, stride, dil, pads, oh, ow, pw, lo, hi, buf, c0)  # a contiguous 1x1 conv is a plain GEMM inside
                if res is not None:
                    env[out] = res

            return run

        self.emit(n.name, [x], [out], NHWC, make)

    def grouped_fast(self, n: LNode, wm: np.ndarray, F: Any, lo: np.float32, hi: np.float32, geometry: Callable[[int, int], tuple[int, int]]) -> None:
        """Grouped convolution as one kernel call per group: each reads its channel slice of the input
        in place and writes its slice of the output (no per-group copies)."""
        w = n.weight
        assert w is not None
        o, cg, kh, kw = w.shape
        g = n.attrs["groups"]
        og = o // g
        stride, dil, pads = tuple(n.attrs["stride"]), tuple(n.attrs["dilation"]), tuple(n.attrs["padding"])
        pws = [F.Packed(wm[i], None if n.bias is None else n.bias[i * og : (i + 1) * og]) for i in range(g)]
        x = self.need(n.inputs[0], NHWC)
        out = n.outputs[0]

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                a = np.ascontiguousarray(env[x])  # once, not per group (a Split view is strided)
                nb, h, wd, _ = a.shape
                oh, ow = geometry(h, wd)
                buf = F.empty((nb * oh * ow, o))
                for i, pw in enumerate(pws):
                    F.conv(a, kh, kw, stride, dil, pads, oh, ow, pw, lo, hi, buf, ocol=i * og, cin0=i * cg)
                env[out] = buf.reshape(nb, oh, ow, o)

            return run

        self.emit(n.name, [x], [out], NHWC, make)

    def linear(self, n: LNode) -> None:
        w, bias, csr, act = n.weight, n.bias, n.csr, _act(n.act)
        assert w is not None
        wt = np.ascontiguousarray(w.T)
        x = self.need(n.inputs[0], PLAIN)
        out = n.outputs[0]

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                y = _project(env[x], wt, bias, csr)
                act(y)
                env[out] = y

            return run

        self.emit(n.name, [x], [out], PLAIN, make)

    def unary(self, n: LNode) -> None:
        v = n.inputs[0]
        key = self.need(v, PLAIN) if self.is_const(v) else v
        f = _unary(n.op, n.attrs)
        out = n.outputs[0]

        def make(reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                a = env[key]
                env[out] = f(a, a if reuse is not None else None)

            return run

        self.emit(n.name, [key], [out], self.layout.get(key, PLAIN), make, reusable=(0,))

    def binary(self, n: LNode) -> None:
        out = n.outputs[0]
        r_out = self.rank(out)
        vals = [v for v in n.inputs if not self.is_const(v)]
        want = PLAIN
        if r_out == 4 and all(self.rank(v) == 4 for v in vals) and any(self.layout[v] == NHWC for v in vals):
            want = NHWC
        keys = [self.const_key(v, want, r_out if want == NHWC else None) if self.is_const(v) else self.need(v, want) for v in n.inputs]
        ufunc = _BINARY[n.op]
        shape_out = self.shapes[out]
        reusable = tuple(
            i for i, v in enumerate(n.inputs) if not self.is_const(v) and self.shapes[v] == shape_out and None not in shape_out
        )

        def make(reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                a, b = env[keys[0]], env[keys[1]]
                env[out] = ufunc(a, b, out=None if reuse is None else (a, b)[reuse])

            return run

        self.emit(n.name, keys, [out], want, make, reusable=reusable)

    def batchnorm(self, n: LNode) -> None:
        g, beta, mean, var = (self.consts[k].astype(np.float64) for k in n.inputs[1:])
        s = g / np.sqrt(var + n.attrs["epsilon"])
        t = beta - mean * s
        v = n.inputs[0]
        key = self.need(v, PLAIN) if self.is_const(v) else v
        r = self.rank(v)
        lay = self.layout.get(key, PLAIN)
        shape = (-1,) if (lay == NHWC and r == 4) else (-1,) + (1,) * (r - 2)
        s32, t32 = s.astype(F32).reshape(shape), t.astype(F32).reshape(shape)
        out = n.outputs[0]

        def make(reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                a = env[key]
                y = np.multiply(a, s32, out=a if reuse is not None else None)
                y += t32
                env[out] = y

            return run

        self.emit(n.name, [key], [out], lay, make, reusable=(0,))

    def pool(self, n: LNode) -> None:
        (kh, kw), stride, pads, ceil = n.attrs["kernel"], tuple(n.attrs["stride"]), tuple(n.attrs["padding"]), n.attrs["ceil_mode"]
        is_max = n.op == "MaxPool"
        act = _act(n.act)
        include_pad = n.attrs.get("count_include_pad", False)
        x = self.need(n.inputs[0], NHWC)
        counts: dict[tuple[int, int], np.ndarray] = {}

        def geometry(h: int, w: int) -> tuple[int, int, tuple[int, int]]:
            oh = pool_out(n, h, kh, stride[0], pads[0], pads[2], ceil)  # type: ignore[arg-type]
            ow = pool_out(n, w, kw, stride[1], pads[1], pads[3], ceil)  # type: ignore[arg-type]
            extra = (max(0, (oh - 1) * stride[0] + kh - (h + pads[0] + pads[2])), max(0, (ow - 1) * stride[1] + kw - (w + pads[1] + pads[3])))
            return oh, ow, extra  # type: ignore[return-value]

        def divisor(h: int, w: int) -> np.ndarray:
            if (h, w) not in counts:
                oh, ow, extra = geometry(h, w)
                if include_pad:
                    ones = np.ones((1, h + pads[0] + pads[2], w + pads[1] + pads[3], 1), F32)
                    cp = K.pad_nhwc(ones, (0, 0, 0, 0), 0.0, extra)
                else:
                    cp = K.pad_nhwc(np.ones((1, h, w, 1), F32), pads, 0.0, extra)
                counts[(h, w)] = K.sum_pool(cp, oh, ow, (kh, kw), stride)
            return counts[(h, w)]

        F = K.fast_kernels()
        lo, hi = _bounds(*n.act[1:]) if n.act is not None else (-_INF, _INF)

        def pool(a: np.ndarray) -> np.ndarray:
            _, h, w, _ = a.shape
            oh, ow, extra = geometry(h, w)
            if F is not None and a.shape[3] >= F.LANES:  # one compiled pass; out-of-range taps are skipped, which is the padding rule
                return F.pool(np.ascontiguousarray(a), (kh, kw), stride, pads, oh, ow, None if is_max else divisor(h, w), lo, hi)
            if is_max:
                y = K.max_pool(K.pad_nhwc(a, pads, -np.inf, extra), oh, ow, (kh, kw), stride)
                act(y)
                return y
            y = K.sum_pool(K.pad_nhwc(a, pads, 0.0, extra), oh, ow, (kh, kw), stride)
            y /= divisor(h, w)
            return y

        self.simple(n, [x], NHWC, pool)

    def concat(self, n: LNode) -> None:
        out = n.outputs[0]
        r = self.rank(out)
        vals = [v for v in n.inputs if not self.is_const(v)]
        want = NHWC if r == 4 and any(self.layout[v] == NHWC for v in vals) else PLAIN
        keys = [self.const_key(v, want) if self.is_const(v) else self.need(v, want) for v in n.inputs]
        ax = n.attrs["axis"] % r
        if want == NHWC:
            ax = TO_NHWC_AXIS[ax]
            if ax == 3 and self.fuse_concat(n, keys):
                return

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                env[out] = np.concatenate([env[k] for k in keys], axis=ax)

            return run

        self.emit(n.name, keys, [out], want, make)

    def fuse_concat(self, n: LNode, keys: list[str]) -> bool:
        """Let the convolutions feeding a channel Concat write straight into its buffer.

        Applies when every input is a dense/pointwise conv output that only this
        Concat reads and all share one activation (SqueezeNet's fire modules):
        no concatenation copy, no separate bias pass, one activation pass.
        """
        infos = [self.into_concat.get(k) for k in keys]
        if len(keys) < 2 or len(set(keys)) != len(keys):
            return False
        if any(i is None or i["target"] is not None or self.sole_reader.get(k) is not n for i, k in zip(infos, keys)):
            return False
        if len({i["act"] for i in infos}) != 1 or len({bool(i.get("fast")) for i in infos}) != 1:  # type: ignore[union-attr, index]
            return False
        out = n.outputs[0]
        buf = f"{out}\x00concat"
        ctot = sum(i["channels"] for i in infos)  # type: ignore[index]
        first = min(i["step"] for i in infos)  # type: ignore[index]
        c0 = 0
        for i in infos:
            assert i is not None
            i["target"] = (buf, c0, ctot, i["step"] == first)
            if not i.get("fast"):
                bias = np.zeros(i["channels"], F32) if i["bias"] is None else i["bias"]
                i["wb"] = np.concatenate([i["w"], bias[None]], axis=0).astype(F32)  # weights + bias row (ones column)
            c0 += i["channels"]
        # the numba kernels apply each conv's activation as they write; the NumPy path does it here, once
        act = _act(None if all(i.get("fast") for i in infos) else infos[0]["act"])  # type: ignore[union-attr, index]

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                y = env[buf]
                act(y)
                env[out] = y

            return run

        self.emit(n.name, [buf], [out], NHWC, make, views={out: buf})
        return True

    def split(self, n: LNode) -> None:
        v = n.inputs[0]
        key = self.need(v, PLAIN) if self.is_const(v) else v
        lay = self.layout.get(key, PLAIN)
        r = self.rank(v)
        ax = n.attrs["axis"] % r
        if lay == NHWC and r == 4:
            ax = TO_NHWC_AXIS[ax]
        bounds = np.cumsum([0] + n.attrs["split"]).tolist()
        outs = list(n.outputs)

        def make(_reuse: int | None) -> Callable[[Env], None]:
            def run(env: Env) -> None:
                a = env[key]
                idx = [slice(None)] * a.ndim
                for o, lo, hi in zip(outs, bounds[:-1], bounds[1:]):
                    idx[ax] = slice(lo, hi)
                    env[o] = a[tuple(idx)]

            return run

        self.emit(n.name, [key], outs, lay, make, views={o: key for o in outs})

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
