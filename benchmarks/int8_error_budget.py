"""Where int8 loses accuracy on the authors' SqueezeNet: an error budget against a float64 fake-quantization model.

    python benchmarks/int8_error_budget.py [--photo coffee] [--first-release]

Packs ``../shared/data/songhan-squeezenet``, calibrates on the other test photos with the default calibration (as
tests/test_int8_accuracy.py does; ``--first-release``: minmax ranges, separately calibrated Concat inputs, int8
outputs) and prints, for the scored photo:

1. per conv layer, the SNR of its int8 per-channel weights (spec/INT8.md §2) and of the scores with only that
   layer's weights rounded;
2. the scores' SNR with all weights rounded (activations float), and the float top-5 gaps;
3. per int8 value, the scores' SNR with only that value fake-quantized (its stored scale and zero point);
4. node by node, the engine's int8 output against the fake-quantization of the same op on the engine's own int8
   inputs (torch, float64): any arithmetic bug would show as differences above one LSB.

torch is only the independent oracle here (an optional test dependency); SqueezeNet's ops (conv, ReLU, max pool,
concat, global average pool) are all it needs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import dcformat  # noqa: E402
from dcformat.int8.calibrate import calibrate  # noqa: E402
from dcformat.int8.model import Int8Model  # noqa: E402
from dcformat.int8.plan import weight_int8  # noqa: E402


def snr(ref: np.ndarray, got: np.ndarray) -> float:
    err = float(((np.asarray(got, np.float64) - ref) ** 2).sum())
    return float("inf") if err == 0 else 10 * np.log10(float((np.asarray(ref, np.float64) ** 2).sum()) / err)


class FakeQuant:
    """SqueezeNet's graph in torch float64; ``run`` can round weights and fake-quantize chosen values."""

    def __init__(self, graph, tensors) -> None:
        import torch

        self.torch, self.g = torch, graph
        self.w = {n.name: (torch.tensor(tensors[n.inputs[1]], dtype=torch.float64), torch.tensor(tensors[n.inputs[2]], dtype=torch.float64))
                  for n in graph.nodes if n.op == "Conv2d"}
        self.wq = {}
        for n in graph.nodes:
            if n.op == "Conv2d":
                q, s = weight_int8(tensors[n.inputs[1]])
                self.wq[n.name] = (torch.tensor(q.astype(np.float64) * s.astype(np.float64)[:, None, None, None]), self.w[n.name][1])

    def node(self, n, ins, weights):
        F, a = self.torch.nn.functional, n.attrs
        if n.op == "Conv2d":
            w, b = weights[n.name]
            p = a["padding"]
            return F.conv2d(F.pad(ins[0], (p[1], p[3], p[0], p[2])), w, b, stride=a["stride"], dilation=a["dilation"], groups=a["groups"])
        if n.op == "ReLU":
            return self.torch.relu(ins[0])
        if n.op == "MaxPool":
            return F.max_pool2d(ins[0], a["kernel"], a["stride"], ceil_mode=a["ceil_mode"])
        if n.op == "Concat":
            return self.torch.cat(ins, a["axis"])
        if n.op == "Dropout":
            return ins[0]
        if n.op == "GlobalAvgPool":
            return ins[0].mean((2, 3), keepdim=True)
        raise NotImplementedError(n.op)

    def fq(self, x, p):
        return (self.torch.clamp(self.torch.round(x / p.scale) + p.zero_point, -128, 127) - p.zero_point) * p.scale

    def run(self, x, rounded=(), quantized=None):
        quantized = quantized or {}
        v = {self.g.inputs[0].name: self.torch.tensor(x, dtype=self.torch.float64)}
        for k in list(v):
            if k in quantized:
                v[k] = self.fq(v[k], quantized[k])
        for n in self.g.nodes:
            weights = {k: (self.wq[k] if k in rounded else self.w[k]) for k in self.w}
            y = self.node(n, [v[i] for i in n.inputs if i in v], weights)
            o = n.outputs[0]
            v[o] = self.fq(y, quantized[o]) if o in quantized else y
        return v[self.g.outputs[0].name].numpy().reshape(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photo", default="coffee", choices=["chelsea", "coffee", "astronaut", "rocket"])
    ap.add_argument("--first-release", action="store_true",
                    help="calibrate as the first release did (minmax, separate Concat inputs, int8 outputs), not with the defaults")
    args = ap.parse_args()
    import skimage.data as d
    from test_int8_accuracy import _photo

    sq = ROOT.parent / "shared" / "data" / "songhan-squeezenet"
    out = Path(tempfile.mkdtemp()) / "sq.dc"
    subprocess.run([sys.executable, "-m", "dcformat", "pack", "--legacy-prototxt", str(sq / "SqueezeNet_deploy.prototxt"),
                    str(sq / "compressed_SqueezeNet.net"), "-o", str(out)], check=True, capture_output=True, cwd=ROOT)
    with dcformat.open(out) as f:
        g = f.graph
        t = {k: f.tensor(k) for k in g.tensor_refs(f.keys())}
    names = ["chelsea", "coffee", "astronaut", "rocket"]
    photos = [_photo(getattr(d, n)(), 227) for n in names]
    i = names.index(args.photo)
    others = [p for j, p in enumerate(photos) if j != i]
    extra = [_photo(d.stereo_motorcycle()[0], 227), _photo(d.hubble_deep_field(), 227), _photo(d.immunohistochemistry(), 227)]
    calib = np.stack(others + [o[:, :, ::-1].copy() for o in others] + extra)
    first = {"method": "minmax", "shared_concat": False, "float_outputs": False}
    params = calibrate(g, t, {"data": calib}, **(first if args.first_release else {}))
    x = photos[i][None]
    fq = FakeQuant(g, t)
    yf = fq.run(x)
    top = np.argsort(-yf)[:6]
    print(f"{args.photo}: float top-6 {[(int(c), round(float(yf[c]), 3)) for c in top]}")
    print("\n1. weights: layer, weight SNR dB, scores SNR dB with only this layer rounded")
    for n in g.nodes:
        if n.op == "Conv2d":
            w = t[n.inputs[1]]
            print(f"   {n.name:20s} {snr(w, fq.wq[n.name][0].numpy()):5.1f}  {snr(yf, fq.run(x, rounded={n.name})):5.1f}")
    yw = fq.run(x, rounded=set(fq.w))
    print(f"2. all weights rounded: scores SNR {snr(yf, yw):.1f} dB, top-5 {np.argsort(-yw)[:5].tolist()}")
    fused = {n.outputs[0] for n in g.nodes if n.op == "Conv2d"}
    held = [k for k in ["data"] + [n.outputs[0] for n in g.nodes] if k in params.activations and k not in fused]
    print("3. activations: value, scores SNR dB with only it quantized")
    for k in held:
        print(f"   {k:45s} {snr(yf, fq.run(x, quantized={k: params.activations[k]})):5.1f}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Int8Model(g, t, params)
    ev = model.run_int8({"data": x})
    qp = model._int8.qp
    yq = model(x).reshape(-1)
    print(f"   all of them + weights (the engine): scores SNR {snr(yf, yq):.1f} dB, top-5 {np.argsort(-yq, kind='stable')[:5].tolist()}")
    print("4. engine vs fake quantization of each node on the engine's own int8 inputs: max LSB, fraction differing")
    torch = fq.torch
    deq = {k: torch.tensor((ev[k].astype(np.float64) - qp[k].zero_point) * qp[k].scale) for k in ev}
    producer = {n.outputs[0]: n for n in g.nodes}
    for n in g.nodes:
        o = n.outputs[0]
        if o in fused or o not in ev or n.op == "Dropout":
            continue
        if n.op == "ReLU":  # fused into its conv: the conv reads the int8 input
            c = producer[n.inputs[0]]
            y = torch.relu(fq.node(c, [deq[c.inputs[0]]], fq.wq))
        else:
            y = fq.node(n, [deq[v] for v in n.inputs], fq.wq)
        p = qp[o]
        mine = torch.clamp(torch.round(y / p.scale) + p.zero_point, -128, 127).numpy()
        diff = np.abs(mine - ev[o].astype(np.float64))
        print(f"   {o:45s} {int(diff.max())}  {float((diff > 0).mean()):.5f}")


if __name__ == "__main__":
    main()
