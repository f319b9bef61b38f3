"""Conv2d: 2-D cross-correlation with zero padding, as ONNX ``Conv`` (spec/GRAPH.md §4).

The planner picks one of five variants from the weight's shape (see
:class:`ConvGeometry`): a channels-first stem, pointwise (one GEMM, or the
pruned layer's CSR), depthwise, dense (im2col + GEMM) and grouped, each as a
NumPy step or, with the numba kernels, a compiled one (bias, activation and
padding fused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from ._base import MAX_DIM, NHWC, PLAIN, Attr, OpDef, Shape, pair, pads
from ._shape import conv_out, conv_output_size, fail, rank, same

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter

F32 = np.float32
PHASE_MIN_SIZE = 56  # 1x1 convs feeding a strided depthwise emit phase-split output from this input size up
STEM_MAX_CHANNELS = 4  # convs on channels-first graph inputs with at most this many channels skip the NHWC transpose

Kind = Literal["pointwise", "depthwise", "dense", "grouped"]


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x, w = ins[0], ins[1]
    rank(node, x, 4)
    if len(w) != 4:
        raise fail(node, f"weight must have rank 4, got {w}")
    a = node.attrs
    g = a["groups"]
    o, cg, kh, kw = w
    if o % g:
        raise fail(node, f"{o} output channels are not divisible by groups={g}")
    same(node, x[1], cg * g, "input channels vs weight in/groups*groups")
    if len(ins) == 3 and ins[2] != (o,):
        raise fail(node, f"bias shape {ins[2]} != ({o},)")
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = a["stride"], a["padding"], a["dilation"]
    return [(x[0], o, conv_out(node, x[2], kh, sh, pt, pb, dh), conv_out(node, x[3], kw, sw, pl, pr, dw))]


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution's weight shape and window attributes, typed (what every variant of the plan reads)."""

    out_channels: int
    group_channels: int  # input channels per group
    kh: int
    kw: int
    groups: int
    stride: tuple[int, int]
    dil: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right

    @classmethod
    def of(cls, n: LNode) -> "ConvGeometry":
        o, cg, kh, kw = n.weight.shape
        a = n.attrs
        return cls(o, cg, kh, kw, a["groups"], tuple(a["stride"]), tuple(a["dilation"]), tuple(a["padding"]))  # type: ignore[arg-type]

    @property
    def in_channels(self) -> int:
        return self.group_channels * self.groups

    @property
    def kind(self) -> Kind:
        if self.groups == 1 and self.kh == self.kw == 1:
            return "pointwise"
        if self.groups == self.in_channels and self.out_channels == self.in_channels:
            return "depthwise"
        return "dense" if self.groups == 1 else "grouped"

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        p = self.pads
        return (conv_output_size(h, self.kh, self.stride[0], p[0], p[2], self.dil[0]),
                conv_output_size(w, self.kw, self.stride[1], p[1], p[3], self.dil[1]))

    def weight_matrix(self, w: np.ndarray) -> np.ndarray:
        """The weights in the layout the variant multiplies by (see :attr:`kind`)."""
        o, cg, kh, kw, g = self.out_channels, self.group_channels, self.kh, self.kw, self.groups
        kind = self.kind
        if kind == "pointwise":
            return np.ascontiguousarray(w.reshape(o, self.in_channels).T)
        if kind == "depthwise":
            return np.ascontiguousarray(w[:, 0].transpose(1, 2, 0))  # (KH, KW, C)
        if kind == "dense":
            return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(kh * kw * self.in_channels, o))
        return np.ascontiguousarray(w.reshape(g, o // g, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(g, kh * kw * cg, o // g))


def _phase_of_reader(P: Planner, n: LNode, geo: ConvGeometry) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(pads, stride) of the strided depthwise conv that alone reads this 1x1 conv's output, else None."""
    if geo.kind != "pointwise" or n.csr is not None or geo.stride != (1, 1) or any(geo.pads):
        return None
    m = P.sole_reader.get(n.outputs[0])
    if m is None or m.op != "Conv2d" or m.inputs[0] != n.outputs[0] or m.weight is None:
        return None
    mw = m.weight
    if mw.shape[1] == 1 and m.attrs["groups"] == geo.out_channels == mw.shape[0] and tuple(m.attrs["stride"]) != (1, 1):
        return tuple(m.attrs["padding"]), tuple(m.attrs["stride"])
    return None


def _is_stem(P: Planner, n: LNode, geo: ConvGeometry) -> bool:
    """A dense conv over a channels-first graph input with few channels (RGB): read NCHW directly, no conversion."""
    v = n.inputs[0]
    return geo.kind == "dense" and geo.in_channels <= STEM_MAX_CHANNELS and not P.is_const(v) and P.layout.get(v) == PLAIN and P.rank(v) == 4


def plan(P: Planner, n: LNode) -> None:
    """Choose the variant: compiled kernels where they win, else the NumPy steps."""
    from ..inference import kernels as K

    geo = ConvGeometry.of(n)
    kind = geo.kind
    csr = n.csr if kind == "pointwise" else None
    phase = _phase_of_reader(P, n, geo)
    fast = K.fast_kernels()
    if fast is not None and kind == "grouped" and min(geo.group_channels * geo.kh * geo.kw, geo.out_channels // geo.groups) < fast.LANES:
        fast = None  # tiny groups (a depthwise with a channel multiplier): one batched NumPy matmul beats a kernel call per group
    if fast is not None and (kind == "depthwise" or phase is not None) and geo.out_channels < fast.LANES:
        # a pixel holds less than one vector of channels: NumPy's taps over whole (width x channels)
        # rows win (2-4x at 56x56 and up), and a 1x1 conv feeding such a strided depthwise stays
        # in NumPy to hand it phase-split input
        fast = None
    if fast is None and _is_stem(P, n, geo):
        _numpy_stem(P, n, geo)
        return
    wm = geo.weight_matrix(n.weight)
    if fast is None:
        _numpy(P, n, geo, wm, csr, phase)
    elif kind == "depthwise":
        _fast_depthwise(P, n, geo, wm, fast)
    elif kind == "grouped":
        _fast_grouped(P, n, geo, wm, fast)
    else:
        _fast_gemm(P, n, geo, wm, csr, fast)


# ------------------------------------------------------------------ NumPy steps (the reference)


def _numpy_stem(P: Planner, n: LNode, geo: ConvGeometry) -> None:
    """A channels-first stem (RGB input): patches straight from NCHW, no layout conversion step."""
    from ..inference import kernels as K
    from ..inference.plan import act_fn

    o, cin, kh, kw = geo.out_channels, geo.in_channels, geo.kh, geo.kw
    b = np.zeros(o, F32) if n.bias is None else n.bias
    wcb = np.ascontiguousarray(np.concatenate([n.weight.reshape(o, cin * kh * kw).T, b[None]], axis=0), dtype=F32)
    act = act_fn(n.act)
    v_in, out = n.inputs[0], n.outputs[0]

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            a = env[v_in]
            oh, ow = geo.out_size(a.shape[2], a.shape[3])
            y = K.conv_nchw_input(a, wcb, geo.pads, oh, ow, kh, kw, geo.stride, geo.dil)
            act(y)
            env[out] = y

        return run

    P.emit(n.name, [v_in], [out], NHWC, make)


def _numpy(P: Planner, n: LNode, geo: ConvGeometry, wm: np.ndarray, csr: Any, phase: tuple[Any, Any] | None) -> None:
    """Pointwise, dense, grouped or depthwise convolution in NumPy over channels-last buffers."""
    from ..inference import kernels as K
    from ..inference.plan import ConcatSlot, act_fn, project

    kind, bias, act = geo.kind, n.bias, act_fn(n.act)
    o, cin, kh, kw, stride, dil, pads = geo.out_channels, geo.in_channels, geo.kh, geo.kw, geo.stride, geo.dil, geo.pads
    tiled: dict[int, np.ndarray] = {}  # depthwise, per output width: weights (+ow) and bias (-ow)
    out = n.outputs[0]
    x = P.need(n.inputs[0], NHWC)
    slot = ConcatSlot(step=len(P.steps), act=n.act, channels=o, fast=False, w=wm, bias=bias)
    if kind in ("pointwise", "dense") and csr is None and phase is None:
        P.into_concat[out] = slot  # a Concat that alone reads this may ask for direct writes into its buffer

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            a = env[x]
            src = None
            if isinstance(a, K.Phased):  # produced phase-split by the 1x1 conv before (see ``phase``)
                src, nb, h, wd = a.data, a.data.shape[2], a.h, a.w
            else:
                nb, h, wd, _ = a.shape
            oh, ow = geo.out_size(h, wd)
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
                y = K.group_conv(xp, wm, bias, oh, ow, kh, kw, geo.groups, stride, dil)
            else:
                if slot.target is not None:
                    # write straight into this input's channel slice of the concat buffer; a ones column
                    # in the patches brings the bias (last row of ``wb``) out of the product itself
                    key, c0, ctot, first = slot.target
                    if first:
                        env[key] = np.empty((nb, oh, ow, ctot), dtype=F32)
                    cols1 = K.im2col(xp, oh, ow, kh, kw, stride, dil, ones=True)
                    np.matmul(cols1, slot.wb, out=env[key].reshape(nb * oh * ow, ctot)[:, c0 : c0 + o])
                    return
                cols = K.im2col(xp, oh, ow, kh, kw, stride, dil)
                y = project(cols, wm, bias, csr).reshape(nb, oh, ow, o)
            act(y)
            env[out] = y

        return run

    P.emit(n.name, [x], [out], NHWC, make)


# ------------------------------------------------------------------ compiled steps (numba kernels, ``inference/fast/``)


def _fast_depthwise(P: Planner, n: LNode, geo: ConvGeometry, wm: np.ndarray, F: Any) -> None:
    """Depthwise convolution in one compiled pass: any stride directly (no phase split), bias and clip fused."""
    from ..inference.plan import clip_bounds

    lo, hi = clip_bounds(n.act)
    x = P.need(n.inputs[0], NHWC)
    out = n.outputs[0]
    bias = np.zeros(geo.out_channels, F32) if n.bias is None else np.ascontiguousarray(n.bias, dtype=F32)

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            a = np.ascontiguousarray(env[x])
            oh, ow = geo.out_size(a.shape[1], a.shape[2])
            env[out] = F.depthwise(a, wm, bias, geo.pads, oh, ow, geo.stride, geo.dil, lo, hi)

        return run

    P.emit(n.name, [x], [out], NHWC, make)


def _fast_grouped(P: Planner, n: LNode, geo: ConvGeometry, wm: np.ndarray, F: Any) -> None:
    """Grouped convolution as one kernel call per group: each reads its channel slice of the input
    in place and writes its slice of the output (no per-group copies)."""
    from ..inference.plan import clip_bounds

    lo, hi = clip_bounds(n.act)
    o, cg, g = geo.out_channels, geo.group_channels, geo.groups
    og = o // g
    pws = [F.Packed(wm[i], None if n.bias is None else n.bias[i * og : (i + 1) * og]) for i in range(g)]
    x = P.need(n.inputs[0], NHWC)
    out = n.outputs[0]

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            a = np.ascontiguousarray(env[x])  # once, not per group (a Split view is strided)
            nb, h, wd, _ = a.shape
            oh, ow = geo.out_size(h, wd)
            buf = F.empty((nb * oh * ow, o))
            for i, pw in enumerate(pws):
                F.conv(a, geo.kh, geo.kw, geo.stride, geo.dil, geo.pads, oh, ow, pw, lo, hi, buf, ocol=i * og, cin0=i * cg)
            env[out] = buf.reshape(nb, oh, ow, o)

        return run

    P.emit(n.name, [x], [out], NHWC, make)


def _fast_gemm(P: Planner, n: LNode, geo: ConvGeometry, wm: np.ndarray, csr: Any, F: Any) -> None:
    """Pointwise and dense convs as one GEMM with im2col done block by block inside the kernel.

    A channels-first stem is read through a transposed view, so it needs no
    layout conversion either. A pruned pointwise layer still takes its CSR
    when ``Csr.use_for`` says that wins.
    """
    from ..inference import kernels as K
    from ..inference.plan import ConcatSlot, act_fn, clip_bounds, project

    lo, hi = clip_bounds(n.act)
    o, kh, kw, stride, dil, pads = geo.out_channels, geo.kh, geo.kw, geo.stride, geo.dil, geo.pads
    pw = F.Packed(wm, n.bias)
    stem = _is_stem(P, n, geo)
    x = n.inputs[0] if stem else P.need(n.inputs[0], NHWC)
    out = n.outputs[0]
    act = act_fn(n.act)
    slot = ConcatSlot(step=len(P.steps), act=n.act, channels=o, fast=True)
    if csr is None and not stem:
        P.into_concat[out] = slot  # a Concat that alone reads this may ask for direct writes into its buffer

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            a = env[x]
            if stem:
                a = a.transpose(0, 2, 3, 1)  # NCHW read as an NHWC view; the kernel takes any strides
            nb, h, wd, _ = a.shape
            oh, ow = geo.out_size(h, wd)
            rows = nb * oh * ow
            if csr is not None and csr.use_for(rows):
                cols = K.im2col(K.pad_nhwc(a, pads), oh, ow, kh, kw, stride, dil)
                y = project(cols, wm, n.bias, csr).reshape(nb, oh, ow, o)
                act(y)
                env[out] = y
                return
            if slot.target is not None:
                key, c0, ctot, first = slot.target
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

    P.emit(n.name, [x], [out], NHWC, make)


# ------------------------------------------------------------------ conversions


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    a = n.attrs
    w = ex.tensors[n.inputs[1]]
    ex.node("Conv", n.inputs, n.outputs, n.name, kernel_shape=list(w.shape[2:]), strides=a["stride"], pads=a["padding"],
            dilations=a["dilation"], group=a["groups"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    w = imp.const_of(node, ins[1])
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise imp.fail(node, f"auto_pad={a['auto_pad']!r} is not supported")
    if w.ndim != 4:
        raise imp.fail(node, f"only 2-D convolution is supported (weight rank {w.ndim})")
    imp.emit("Conv2d", node, [i for i in ins if i], stride=list(a.get("strides", [1, 1])), padding=list(a.get("pads", [0, 0, 0, 0])),
             dilation=list(a.get("dilations", [1, 1])), groups=int(a.get("group", 1)))


def from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    p = b.param(layer, "convolution_param")
    (sh, sw), (ph, pw), (dh, dw) = b.pair(p, "stride", 1), b.pair(p, "pad", 0), b.pair(p, "dilation", 1)
    attrs = {"stride": [sh, sw], "padding": [ph, pw, ph, pw], "dilation": [dh, dw], "groups": int(p.get("group", 1))}
    b.add("Conv2d", layer, [xs[0], *b.params(layer)], attrs)


OP = OpDef(
    "Conv2d",
    (2, 3),
    const_inputs=frozenset({1, 2}),
    attrs={
        "stride": pair([1, 1]),
        "padding": pads(),
        "dilation": pair([1, 1]),
        "groups": Attr("int", 1, lo=1, hi=MAX_DIM),
    },
    shape=shape,
    plan=plan,
    to_onnx=to_onnx,
    from_onnx={"Conv": from_onnx},
    from_caffe={"Convolution": from_caffe},
    layer=True,
)
