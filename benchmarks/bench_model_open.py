"""Model.open time: building an inference model from a .dc file, against decoding the same file once.

Run:  python benchmarks/bench_model_open.py [--repeat 5] [--baseline DIR]

Anchor (same process, alternating): ``dcformat.load`` of the same file, i.e. every
tensor decoded once to dense. ``Model.open`` also needs the CSR (codebook +
symbols) of each sparse layer weight and compiles the plan; before issue 13 it
decoded every sparse weight twice (``tensor()`` then ``csr()``) plus an ``info()``
and rebuilt each layer's codebook with ``np.unique``. ``--baseline DIR`` also
times ``Model.open`` with the package found in DIR (e.g. an export of an older
commit: ``git archive <rev> | tar -x -C DIR``) in a subprocess, alternating with
this tree, and prints the ratio baseline / this tree.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import best_of  # noqa: E402  (benchmarks/_common.py)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dcformat  # noqa: E402
from dcformat.inference import Model  # noqa: E402
from dcformat.models import BUILDERS  # noqa: E402

CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from dcformat.inference import Model
best = float("inf")
Model.open(sys.argv[2])  # warm: imports, numba cache
for _ in range(int(sys.argv[3])):
    t = time.perf_counter(); Model.open(sys.argv[2]); best = min(best, time.perf_counter() - t)
print(best)
"""


def child_time(tree: Path, path: Path, repeat: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(path), str(repeat)], capture_output=True,
                         text=True, check=True, cwd=tempfile.gettempdir())
    return float(out.stdout)


def files(tmp: Path) -> list[tuple[str, Path]]:
    out = [("lenet_300_100 (bundled)", ROOT / "dcformat" / "data" / "lenet_300_100.dc")]
    for name, kwargs in (("mobilenet_v2", {}), ("alexnet", {"width_mult": 0.5})):
        graph, tensors = BUILDERS[name](seed=0, **kwargs)
        path = tmp / f"{name}.dc"
        dcformat.save(path, tensors, graph=graph)
        out.append((name, path))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--baseline", type=Path, help="a directory holding an older dcformat package to compare with")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in files(Path(tmp)):
            Model.open(path)  # warm
            t_open, t_load = [], []
            for _ in range(args.repeat):  # alternate the two sides
                t_open.append(best_of(lambda: Model.open(path), 1))
                t_load.append(best_of(lambda: dcformat.load(path), 1))
            t_open, t_load = min(t_open), min(t_load)
            line = (f"{label:<24} Model.open {t_open * 1e3:8.1f} ms  load (decode once) {t_load * 1e3:8.1f} ms  "
                    f"ratio open/load {t_open / t_load:5.2f}x")
            if args.baseline:
                base, new = [], []
                for _ in range(2):
                    base.append(child_time(args.baseline, path, args.repeat))
                    new.append(child_time(ROOT, path, args.repeat))
                line += f"  | baseline {min(base) * 1e3:8.1f} ms, this tree {min(new) * 1e3:8.1f} ms, " \
                        f"baseline/this {min(base) / min(new):5.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    os.environ.setdefault("DCFORMAT_ACCEL", "auto")
    main()
