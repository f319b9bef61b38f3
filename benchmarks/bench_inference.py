"""NumPy inference path vs onnxruntime, one thread, same weights, alternating in one process.

Usage:
    python benchmarks/bench_inference.py                    # MobileNet v2 + SqueezeNet 1.1, 224x224, batch 1 and 8
    python benchmarks/bench_inference.py --models all --rounds 5 --image-size 224
    python benchmarks/bench_inference.py --blas-coretype SKYLAKEX   # AVX-512 BLAS kernels, as onnxruntime uses

The two engines run back to back in every round (this machine's speed drifts),
and the reported ratio is the median over rounds of (ours / onnxruntime).
Goals (issue 6): <= 2.0x on MobileNet v2 and <= 1.5x on SqueezeNet 1.1.
With numba installed the engine uses its compiled kernels (dcformat.inference.fast);
DCFORMAT_ACCEL=0 measures the pure NumPy path.
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


# OpenBLAS picks its kernels when NumPy loads, from OPENBLAS_CORETYPE if set. This workplace
# sets OPENBLAS_CORETYPE=Haswell (AVX2 kernels) on an AVX-512 CPU, while onnxruntime always
# uses its own AVX-512 kernels; "--blas-coretype SKYLAKEX" measures with AVX-512 BLAS too.
if "--blas-coretype" in sys.argv[:-1]:
    os.environ["OPENBLAS_CORETYPE"] = sys.argv[sys.argv.index("--blas-coretype") + 1]

import argparse  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402
from _common import best_of  # noqa: E402  (benchmarks/_common.py: shared by the scripts)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dcformat.inference import Model  # noqa: E402
from dcformat.models import BUILDERS  # noqa: E402
from dcformat.onnx_io import to_onnx_model  # noqa: E402

GOALS = {"mobilenet_v2": 2.0, "squeezenet1_1": 1.5}


def pin_threads() -> str:
    """Limit BLAS to one thread; returns a description including the BLAS kernel architecture."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(1)
        arch = sorted({str(i.get("architecture")) for i in threadpool_info() if i.get("user_api") == "blas"})
        return f"threadpoolctl + env; BLAS kernels {'/'.join(arch)}"
    except ImportError:
        return f"env vars; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'auto')}"



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="mobilenet_v2,squeezenet1_1", help="comma list or 'all'")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="calls per engine per round (best is kept)")
    ap.add_argument("--blas-coretype", help="set OPENBLAS_CORETYPE (e.g. SKYLAKEX) before NumPy loads")
    args = ap.parse_args()
    import onnxruntime as ort

    pinning = pin_threads()
    names = [n for n in BUILDERS if not n.startswith("lenet")] if args.models == "all" else args.models.split(",")
    from dcformat.inference.kernels import fast_kernels

    fast = fast_kernels()
    kernels = f"numba kernels ({fast.LANES}-lane vectors)" if fast is not None else "NumPy only (numba missing or DCFORMAT_ACCEL=0)"
    print(f"numpy {np.__version__}, onnxruntime {ort.__version__}, threads pinned to 1 ({pinning}), "
          f"{args.rounds} rounds x best of {args.repeat}; engine: {kernels}")
    print(f"{'model':<16}{'batch':>6}{'numpy ms':>11}{'ort ms':>9}{'ratio':>8}{'goal':>7}")
    for name in names:
        graph, tensors = BUILDERS[name](seed=0, image_size=args.image_size)
        model = Model.from_graph(graph, tensors)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(to_onnx_model(graph, tensors).SerializeToString(), so, providers=["CPUExecutionProvider"])
        inp = graph.inputs[0].name
        for batch in (int(b) for b in args.batches.split(",")):
            x = np.random.default_rng(0).standard_normal((batch, 3, args.image_size, args.image_size)).astype(np.float32)
            ours, theirs = (lambda: model.run({inp: x})), (lambda: sess.run(None, {inp: x}))
            ours()
            theirs()  # warm-up (allocations, ORT graph optimisation)
            t_np, t_ort, ratios = [], [], []
            for r in range(args.rounds):
                pair = [("np", ours), ("ort", theirs)] if r % 2 == 0 else [("ort", theirs), ("np", ours)]
                got = {k: best_of(f, args.repeat) for k, f in pair}
                t_np.append(got["np"])
                t_ort.append(got["ort"])
                ratios.append(got["np"] / got["ort"])
            goal = GOALS.get(name)
            ratio = statistics.median(ratios)
            print(f"{name:<16}{batch:>6}{statistics.median(t_np) * 1e3:>11.2f}{statistics.median(t_ort) * 1e3:>9.2f}"
                  f"{ratio:>8.2f}{(f'{goal:.1f}' if goal else '-'):>7}{'  ok' if goal and ratio <= goal else ('  MISSED' if goal else '')}")


if __name__ == "__main__":
    main()
