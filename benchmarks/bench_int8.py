"""int8 inference vs our float path vs onnxruntime's own int8 model: time and activation memory (issue 11).

Usage:
    python benchmarks/bench_int8.py                     # MobileNet v2 + SqueezeNet 1.1, 224x224, batch 1
    python benchmarks/bench_int8.py --rounds 7 --models mobilenet_v2
    python benchmarks/bench_int8.py --profile 15        # plus the 15 slowest int8 steps and onnxruntime's nodes

One thread everywhere; the engines run back to back in every round (this
machine's speed drifts) and the ratios are medians over rounds (the ratio of the
fastest runs is printed too: on a shared machine it is the less noisy figure). onnxruntime's
int8 model is its own static quantization (``quantize_static``, QDQ, S8S8,
per-channel weights) of the same float model, calibrated on the same samples; ``ort-int8`` quantizes
the exported model as is (its BatchNorms stay float nodes), ``ort-int8-pp`` after onnxruntime's
``quant_pre_process`` (BatchNorm folded: fewer float nodes, the faster and fairer anchor).
Memory: peak bytes allocated during one batch-1 run (tracemalloc, which sees
NumPy's buffers) next to the largest input+output activation pair of any node.
Goals: int8 >= 2x faster than our float path, <= 1.0x onnxruntime int8's time;
activations <= 2x the largest pair.
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dcformat.inference import Model  # noqa: E402
from dcformat.int8.calibrate import calibrate  # noqa: E402
from dcformat.int8.model import Int8Model  # noqa: E402
from dcformat.models import BUILDERS  # noqa: E402
from dcformat.onnx_io import to_onnx_model  # noqa: E402


def ort_int8(graph, tensors, calib: np.ndarray, path: str, preprocess: bool = False):
    """onnxruntime's own static int8 (QDQ) model of the graph; ``preprocess``: run onnxruntime's
    ``quant_pre_process`` first (folds BatchNorm into Conv, infers shapes), as its documentation recommends."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    fp = path + ".f32.onnx"
    onnx.save_model(to_onnx_model(graph, tensors), fp)
    if preprocess:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(fp, path + ".pre.onnx")
        fp = path + ".pre.onnx"
    name = graph.inputs[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{name: calib[i : i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(fp, path, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {name: x})[0]


def ort_node_profile(path: str, x: np.ndarray, name: str, rounds: int) -> dict[str, tuple[str, float]]:
    """onnxruntime's own per-node kernel times (SessionOptions.enable_profiling): {node: (op, median ms)}."""
    import json

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(os.path.dirname(path), "ortprof")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(rounds):
        sess.run(None, {name: x})
    with open(sess.end_profiling()) as f:
        events = json.load(f)
    acc: dict[str, tuple[str, list[float]]] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            acc.setdefault(e["name"][: -len("_kernel_time")], (e["args"].get("op_name", "?"), []))[1].append(e["dur"] / 1e3)
    return {k: (op, statistics.median(v)) for k, (op, v) in acc.items()}


def step_profile(model, x: np.ndarray, rounds: int) -> dict[str, float]:
    """Our int8 engine's per-step times (fastest of ``rounds``), in ms."""
    times: dict[str, list[float]] = {}
    name = model.graph.inputs[0].name
    for _ in range(rounds):
        env = dict(model._const_env)
        env.update(model._bind({name: x}))
        for s in model._steps:
            t0 = time.perf_counter()
            s.run(env)
            times.setdefault(s.name, []).append((time.perf_counter() - t0) * 1e3)
    return {k: min(v) for k, v in times.items()}


def step_kinds(graph, tensors) -> dict[str, str]:
    """A label per node for grouping the profile: depthwise / pointwise / KxK convolutions, else the op."""
    kinds = {}
    for n in graph.nodes:
        kind = n.op
        if n.op == "Conv2d":
            w = np.shape(tensors[n.inputs[1]])
            if n.attrs.get("groups", 1) > 1 and w[1] == 1:
                kind = "Conv depthwise"
            else:
                kind = "Conv 1x1" if w[2] == w[3] == 1 else f"Conv {w[2]}x{w[3]}"
        kinds[n.name] = kind
    return kinds


def print_profiles(ours: dict[str, float], theirs: dict[str, tuple[str, float]], top: int, kinds: dict[str, str] | None = None) -> None:
    print(f"  per-step profile, int8 (fastest of the rounds), total {sum(ours.values()):.1f} ms; slowest {top}:")
    if kinds is not None:
        groups: dict[str, float] = {}
        for k, v in ours.items():
            label = kinds.get(k, k.split("(")[0])
            groups[label] = groups.get(label, 0.0) + v
        print("    by kind: " + ", ".join(f"{g} {v:.2f}" for g, v in sorted(groups.items(), key=lambda kv: -kv[1])))
    for k, v in sorted(ours.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {v:7.3f} ms  {k.replace(chr(0), '/')}")
    by_op: dict[str, float] = {}
    for op, v in theirs.values():
        by_op[op] = by_op.get(op, 0.0) + v
    print(f"  onnxruntime int8 (ort-int8-pp) per-node profile (median), total {sum(by_op.values()):.1f} ms by op: "
          + ", ".join(f"{op} {v:.2f}" for op, v in sorted(by_op.items(), key=lambda kv: -kv[1])))
    for k, (op, v) in sorted(theirs.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"    {v:7.3f} ms  {k} ({op})")


def peak_bytes(fn, x) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def largest_pair(shapes, graph, itemsize: int, batch: int = 1) -> int:
    def size(v):
        return int(np.prod([batch if isinstance(d, str) else d for d in shapes[v]])) * itemsize

    return max(sum(size(v) for v in n.inputs if v in shapes and v not in graph_tensors(graph)) + sum(size(o) for o in n.outputs)
               for n in graph.nodes)


def graph_tensors(graph) -> set[str]:
    return {n.inputs[i] for n in graph.nodes for i in range(1, len(n.inputs)) if n.op in ("Conv2d", "Linear")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mobilenet_v2", "squeezenet1_1"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--calib", type=int, default=8)
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="also print the N slowest steps of ours and of onnxruntime")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for name in args.models:
        g, t = BUILDERS[name](image_size=args.image_size)
        shape = (1, 3, args.image_size, args.image_size)
        calib = rng.standard_normal((args.calib, *shape[1:])).astype(np.float32)
        x = rng.standard_normal(shape).astype(np.float32)
        fmodel = Model.from_graph(g, t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            qmodel = Int8Model(g, t, calibrate(g, t, {g.inputs[0].name: calib}))
        with tempfile.TemporaryDirectory() as d:
            ort8 = ort_int8(g, t, calib, os.path.join(d, "q.onnx"))
            ort8p = ort_int8(g, t, calib, os.path.join(d, "qp.onnx"), preprocess=True)
            engines = {"float": fmodel, "int8": qmodel, "ort-int8": ort8, "ort-int8-pp": ort8p}
            for fn in engines.values():
                fn(x)  # warm-up (numba compilation, caches)
            times: dict[str, list[float]] = {k: [] for k in engines}
            load0 = os.getloadavg()[0]
            for _ in range(args.rounds):
                for k, fn in engines.items():
                    t0 = time.perf_counter()
                    fn(x)
                    times[k].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            ratios_f = statistics.median([a / b for a, b in zip(times["int8"], times["float"])])
            ratios_o = statistics.median([a / b for a, b in zip(times["int8"], times["ort-int8"])])
            best = {k: min(v) for k, v in times.items()}
            print(f"{name} {args.image_size}x{args.image_size} batch 1, one thread, {args.rounds} rounds "
                  f"(load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after: the machine's other work slows every engine)")
            for k, v in med.items():
                print(f"  {k:9s} {v * 1e3:8.1f} ms median, {best[k] * 1e3:8.1f} ms fastest")
            print(f"  int8 / float     = {ratios_f:.2f}x median of rounds, {best['int8'] / best['float']:.2f}x fastest"
                  f"  (goal <= 0.5x: {'met' if ratios_f <= 0.5 else 'MISSED'})")
            print(f"  int8 / ort-int8  = {ratios_o:.2f}x median of rounds, {best['int8'] / best['ort-int8']:.2f}x fastest"
                  f"  (goal <= 1.0x: {'met' if ratios_o <= 1.0 else 'MISSED'})")
            ratios_p = statistics.median([a / b for a, b in zip(times["int8"], times["ort-int8-pp"])])
            print(f"  int8 / ort-int8-pp = {ratios_p:.2f}x median of rounds, {best['int8'] / best['ort-int8-pp']:.2f}x fastest"
                  f"  (onnxruntime's model made after its quant_pre_process: BatchNorm folded, the stronger anchor)")
            if args.profile:
                print_profiles(step_profile(qmodel, x, args.rounds), ort_node_profile(os.path.join(d, "qp.onnx"), x, g.inputs[0].name,
                                                                                      args.rounds), args.profile, step_kinds(g, t))
            shapes = qmodel._shapes
            pf, pq = peak_bytes(fmodel, x), peak_bytes(qmodel, x)
            lf, lq = largest_pair(shapes, g, 4), largest_pair(shapes, g, 1)
            wf = sum(a.nbytes for a in t.values())
            wq = sum(p["wq"].nbytes + 4 * p["sw"].size + 8 * p["bq"].size for p in qmodel._int8.layer_params.values())
            print(f"  weights: float {wf / 2**20:.1f} MiB, int8 {wq / 2**20:.1f} MiB (int8 layers; the int8 model also "
                  f"keeps its float32 source weights: {wf / 2**20:.1f} MiB)")
            print(f"  peak allocation during one run (tracemalloc): float {pf / 2**20:.2f} MiB ({pf / lf:.2f}x largest float pair "
                  f"{lf / 2**20:.2f} MiB); int8 {pq / 2**20:.2f} MiB ({pq / lq:.2f}x largest int8 pair {lq / 2**20:.2f} MiB)"
                  f"  (goal int8 <= 2x: {'met' if pq <= 2 * lq else 'MISSED'})")


if __name__ == "__main__":
    main()
