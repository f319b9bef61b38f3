"""Parsing speed: open() + info() of every tensor of a many-tensor file, streams(), and whole-file decode.

Run:  python benchmarks/bench_parse.py [--tensors 400] [--repeat 7] [--baseline DIR]

The fixed-layout records of the format are construct Structs read through a
compiled ``struct.Struct`` (container/format.py ``Record``). This measures the
structural work a reader does per tensor (table entry, payload and stream
headers), which is where a per-record parse cost would show. Prints ms per
operation and, with ``--baseline DIR`` (a directory holding an older dcformat
package, e.g. ``git archive <rev> | tar -x -C DIR``), the same figures for it,
both trees measured alternately in subprocesses, and the ratio baseline / this
tree (> 1: this tree is faster). Runs the NumPy path (DCFORMAT_ACCEL=0).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import dcformat
path, repeat = sys.argv[2], int(sys.argv[3])

def best(fn):
    b = float("inf")
    for _ in range(repeat):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b

def info_all():
    with dcformat.open(path) as f:
        for k in f.keys():
            f.info(k)

def streams_all():
    with dcformat.open(path) as f:
        for k in f.keys():
            f.streams(k)

info_all(); dcformat.load(path)  # warm
print(json.dumps({"open": best(lambda: dcformat.open(path).close()), "open+info": best(info_all),
                  "open+streams": best(streams_all), "load": best(lambda: dcformat.load(path))}))
"""


def measure(tree: Path, path: Path, repeat: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(path), str(repeat)], capture_output=True,
                         text=True, check=True, cwd=tempfile.gettempdir(), env={**os.environ, "DCFORMAT_ACCEL": "0"})
    return json.loads(out.stdout)


def many_tensor_file(path: Path, n: int) -> None:
    """Like a transformer checkpoint: many smallish matrices (sparse, some dense) and vectors (raw)."""
    sys.path.insert(0, str(ROOT))
    import dcformat
    from dcformat import CompressionConfig

    rng = np.random.default_rng(0)
    tensors = {}
    for i in range(n):
        if i % 4 == 3:
            tensors[f"layer{i}.bias"] = rng.normal(size=64).astype(np.float32)
        else:
            tensors[f"layer{i}.weight"] = rng.normal(size=(64, 96)).astype(np.float32)
    cfg = CompressionConfig(overrides={"*2.weight": {"encoding": "dense"}, "*6.weight": {"encoding": "dense"}})
    dcformat.save(path, tensors, config=cfg)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tensors", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--baseline", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "many.dc"
        many_tensor_file(path, args.tensors)
        trees = [("this tree", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in trees}
        for _ in range(3):  # alternate the trees
            for label, tree in trees:
                runs[label].append(measure(tree, path, args.repeat))
        best = {label: {k: min(r[k] for r in rs) for k in rs[0]} for label, rs in runs.items()}
        print(f"{args.tensors} tensors, {path.stat().st_size:,} bytes, NumPy path (DCFORMAT_ACCEL=0)")
        for key, t in best["this tree"].items():
            line = f"  {key:<13} this tree {t * 1e3:8.2f} ms"
            if args.baseline:
                b = best["baseline"][key]
                line += f"  baseline {b * 1e3:8.2f} ms  baseline/this {b / t:5.2f}x"
            print(line)


if __name__ == "__main__":
    main()
