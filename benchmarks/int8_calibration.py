"""Which int8 calibration a user should get by default: every sensible combination of the options, measured.

    python benchmarks/int8_calibration.py                      # accuracy on LeNet-5, rapidocr, SqueezeNet + speed
    python benchmarks/int8_calibration.py --models squeezenet   # one of lenet, rapidocr, squeezenet, speed
    python benchmarks/int8_calibration.py --rounds 25           # more speed rounds

Accuracy (each calibrated on data it is not scored on, as tests/test_int8_accuracy.py does): LeNet-5 on the bundled
digits (400 scored, 100 calibration), rapidocr's text-direction classifier on 200 rendered lines (40 calibration),
the authors' SqueezeNet on nine skimage photos (``squeezenet`` fixture of the accuracy test): per combination the
photos whose top-1 / top-5 set / top-5 order match float, and the scores' SNR against float (dB, mean over photos).
Speed: the bundled MobileNet v2 and SqueezeNet 1.1 (224x224, batch 1, one thread) with each output and concat
option (and the defaults, whose ``mse`` ranges change the multipliers), the engines alternating in every round;
ratios are medians of per-round ratios against the first release's combination (``minmax``, int8 outputs, Concat
inputs calibrated separately).
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import dcformat  # noqa: E402
from bench_int8 import step_profile  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)
from dcformat.inference import Model  # noqa: E402
from dcformat.int8.calibrate import calibrate  # noqa: E402
from dcformat.int8.model import Int8Model  # noqa: E402

METHODS = ("minmax", "percentile", "mse")
REFERENCE = {"method": "minmax", "shared_concat": False, "float_outputs": False}


def combos(input_range: tuple[float, float] | None = None):
    """Every method x shared concat x float outputs (x the preprocessing's input range, where one is known)."""
    ranges = [None, input_range] if input_range else [None]
    for m, s, f, r in itertools.product(METHODS, (False, True), (False, True), ranges):
        yield {"method": m, "shared_concat": s, "float_outputs": f, **({"input_range": r} if r else {})}


def label(o: dict) -> str:
    return (f"{o['method']:10s} {'shared' if o['shared_concat'] else '-':6s} {'float-out' if o['float_outputs'] else 'int8-out':9s}"
            f" {'input-range' if o.get('input_range') else '-':11s}")


def int8(g, t, calib, o: dict) -> Int8Model:
    kw = dict(o)
    r = kw.pop("input_range", None)
    p = calibrate(g, t, {g.inputs[0].name: calib}, **kw,
                  input_ranges={g.inputs[0].name: r} if r else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Int8Model(g, t, p)


def snr(ref: np.ndarray, got: np.ndarray) -> float:
    err = float(((np.asarray(got, np.float64) - ref) ** 2).sum())
    return float("inf") if err == 0 else 10 * np.log10(float((np.asarray(ref, np.float64) ** 2).sum()) / err)


def lenet() -> None:
    from test_int8_accuracy import lenet5_digits

    g, t, calib, xs, ys = lenet5_digits()
    yf = Model.from_graph(g, t)(xs)
    print(f"LeNet-5, {len(ys)} digits (calibrated on 100 others): float {(yf.argmax(1) == ys).mean() * 100:.2f} %")
    for o in combos((0.0, 1.0)):
        yq = int8(g, t, calib, o)(xs)
        print(f"  {label(o)}  {(yq.argmax(1) == ys).mean() * 100:6.2f} %  agree {(yq.argmax(1) == yf.argmax(1)).sum()}/{len(ys)}"
              f"  SNR {snr(yf, yq):5.1f} dB")


def rapidocr() -> None:
    import importlib.util

    from dcformat.onnx_io import import_onnx
    from test_int8_accuracy import _rendered_lines

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    path = os.path.join(spec.submodule_search_locations[0], "models", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    g, t = import_onnx(path)
    calib, _ = _rendered_lines(40, seed=1)
    xs, ys = _rendered_lines(200, seed=2)
    yf = Model.from_graph(g, t)(xs)
    print(f"rapidocr text direction, {len(ys)} rendered lines (calibrated on 40 others): float {(yf.argmax(1) == ys).sum()} right")
    for o in combos((-1.0, 1.0)):
        yq = int8(g, t, calib, o)(xs)
        print(f"  {label(o)}  {(yq.argmax(1) == ys).sum():4d} right  agree {(yq.argmax(1) == yf.argmax(1)).sum()}/{len(ys)}"
              f"  SNR {snr(yf, yq):5.1f} dB")


def squeezenet_inputs():
    """The accuracy test's SqueezeNet setup: (graph, tensors, [(name, photo batch, calibration batch)])."""
    import subprocess
    import tempfile

    import skimage.data as d
    from test_int8_accuracy import SQUEEZE, _photo

    out = Path(tempfile.mkdtemp()) / "sq.dc"
    subprocess.run([sys.executable, "-m", "dcformat", "pack", "--legacy-prototxt", str(SQUEEZE / "SqueezeNet_deploy.prototxt"),
                    str(SQUEEZE / "compressed_SqueezeNet.net"), "-o", str(out)], check=True, capture_output=True, cwd=ROOT)
    with dcformat.open(out) as f:
        g, t = f.graph, {k: f.tensor(k) for k in f.graph.tensor_refs(f.keys())}
    size = g.inputs[0].shape[2]
    names = ["chelsea", "coffee", "astronaut", "rocket"]
    photos = [_photo(getattr(d, n)(), size) for n in names]
    motorcycle = _photo(d.stereo_motorcycle()[0], size)
    extra = [_photo(d.hubble_deep_field(), size), _photo(d.immunohistochemistry(), size)]
    sets = []
    for i, n in enumerate(names):
        others = [photos[j] for j in range(len(names)) if j != i]
        sets.append(([n], photos[i][None], np.stack(others + [o[:, :, ::-1].copy() for o in others] + [motorcycle] + extra)))
    more = ["stereo_motorcycle", "camera", "clock", "coins", "moon"]
    shots = np.stack([_photo(d.stereo_motorcycle()[1], size)] + [_photo(getattr(d, n)(), size) for n in more[1:]])
    sets.append((more, shots, np.stack(photos + [p[:, :, ::-1].copy() for p in photos] + extra)))
    return g, t, sets


def squeezenet(verbose: bool) -> None:
    from test_int8_accuracy import CAFFE_MEANS

    g, t, sets = squeezenet_inputs()
    fm = Model.from_graph(g, t)
    yf = {n: y for names, x, _ in sets for n, y in zip(names, fm(x).reshape(len(names), -1))}
    print("SqueezeNet (authors' Caffe model), 9 skimage photos: matches with float (top-1, top-5 set, top-5 order), "
          "SNR dB mean / min")
    rng = (-float(CAFFE_MEANS.max()), 255.0 - float(CAFFE_MEANS.min()))
    for o in combos(rng):
        yq = {}
        for names, x, calib in sets:
            yq.update(zip(names, int8(g, t, calib, o)(x).reshape(len(names), -1)))
        top = {n: (np.argsort(-yf[n], kind="stable")[:5], np.argsort(-yq[n], kind="stable")[:5]) for n in yf}
        t1 = sum(a[0] == b[0] for a, b in top.values())
        s5 = sum(set(a) == set(b) for a, b in top.values())
        o5 = sum((a == b).all() for a, b in top.values())
        snrs = [snr(yf[n], yq[n]) for n in yf]
        miss = [n for n, (a, b) in top.items() if set(a) != set(b)]
        print(f"  {label(o)}  top-1 {t1}/9  set {s5}/9  order {o5}/9  SNR {np.mean(snrs):5.1f} / {min(snrs):5.1f}"
              f"  set differs: {', '.join(miss) or '-'}")
        if verbose:
            for n in yf:
                a, b = top[n]
                print(f"      {n:18s} float {a.tolist()} int8 {b.tolist()}  rms err {np.sqrt(np.mean((yq[n] - yf[n]) ** 2)):.3f}")


def squeezenet_detail(o: dict) -> None:
    """Per photo, with calibration ``o``: the float and int8 top-5, the float margins that decide the set (5th vs 6th)
    and the order (the smallest gap inside the top-5), and the int8 noise (rms over the 1000 scores, largest on the
    float top-10)."""
    g, t, sets = squeezenet_inputs()
    fm = Model.from_graph(g, t)
    print(f"SqueezeNet per photo, {label(o).strip()}")
    for names, x, calib in sets:
        yf = fm(x).reshape(len(names), -1)
        yq = int8(g, t, calib, o)(x).reshape(len(names), -1)
        for n, f, q in zip(names, yf, yq):
            a, b = np.argsort(-f, kind="stable"), np.argsort(-q, kind="stable")
            gaps = -np.diff(f[a[:6]])
            err = q - f
            print(f"  {n:18s} set {'same' if set(a[:5]) == set(b[:5]) else 'DIFFERS'}  order "
                  f"{'same' if (a[:5] == b[:5]).all() else 'differs'}  float top-6 "
                  f"{[(int(c), round(float(f[c]), 3)) for c in a[:6]]}")
            print(f"  {'':18s} int8 top-6 {[(int(c), round(float(q[c]), 3)) for c in b[:6]]}")
            print(f"  {'':18s} 5th-6th margin {gaps[4]:.3f}, smallest top-5 gap {gaps[:4].min():.3f}; int8 error rms "
                  f"{np.sqrt(np.mean(err ** 2)):.3f}, on the float top-10 max {np.abs(err[a[:10]]).max():.3f}")


def speed(rounds: int) -> None:
    from dcformat.models import BUILDERS

    rng = np.random.default_rng(0)
    print(f"speed: int8 run time per output / concat option vs {label(REFERENCE).strip()} (224x224, batch 1, one thread, "
          f"{rounds} rounds, median of per-round ratios)")
    for name in ("mobilenet_v2", "squeezenet1_1"):
        g, t = BUILDERS[name](image_size=224)
        calib = rng.standard_normal((8, 3, 224, 224)).astype(np.float32)
        x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
        opts = [dict(REFERENCE, shared_concat=s, float_outputs=f) for s, f in itertools.product((False, True), (False, True))]
        opts.append({"method": "mse", "shared_concat": True, "float_outputs": True})  # ranges change multipliers
        models = [int8(g, t, calib, o) for o in opts]
        for m in models:
            m(x)
            m(x)
        times: list[list[float]] = [[] for _ in models]
        for _ in range(rounds):
            for k, m in enumerate(models):
                t0 = time.perf_counter()
                m(x)
                times[k].append(time.perf_counter() - t0)
        print(f"  {name}")
        for o, ts in zip(opts, times):
            ratio = statistics.median(a / b for a, b in zip(ts, times[0]))
            print(f"    {label(o)}  {statistics.median(ts) * 1e3:7.2f} ms median  {min(ts) * 1e3:7.2f} ms fastest  "
                  f"{ratio:.3f}x")
        # less sensitive to a loaded machine: each step's fastest time over the rounds, summed, and the steps that
        # differ from the reference's (by name: the output nodes' float steps, the Concat copies or requantizations)
        steps = [step_profile(m, x, rounds) for m in models]
        print(f"    per step, fastest of {rounds} rounds:")
        for o, st in zip(opts, steps):
            extra = {k: v for k, v in st.items() if k not in steps[0]}
            gone = {k: v for k, v in steps[0].items() if k not in st}
            print(f"    {label(o)}  sum {sum(st.values()):7.2f} ms; steps not in the reference "
                  f"{sum(extra.values()):.3f} ms ({', '.join(f'{k} {v:.3f}' for k, v in extra.items()) or '-'}); "
                  f"reference steps it drops {sum(gone.values()):.3f} ms ({', '.join(f'{k} {v:.3f}' for k, v in gone.items()) or '-'})")
            print(f"    {'':38s}  last steps: {', '.join(f'{k} {v:.3f}' for k, v in list(st.items())[-3:])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "rapidocr", "squeezenet", "speed"],
                    choices=["lenet", "rapidocr", "squeezenet", "speed"])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--verbose", action="store_true", help="SqueezeNet: every photo's top-5s")
    ap.add_argument("--detail", action="store_true", help="SqueezeNet: per photo margins and noise with the defaults")
    args = ap.parse_args()
    for m in args.models:
        t0 = time.perf_counter()
        if m == "lenet":
            lenet()
        elif m == "rapidocr":
            rapidocr()
        elif m == "squeezenet" and args.detail:
            squeezenet_detail({"method": "mse", "shared_concat": True, "float_outputs": True})
        elif m == "squeezenet":
            squeezenet(args.verbose)
        else:
            speed(args.rounds)
        print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
