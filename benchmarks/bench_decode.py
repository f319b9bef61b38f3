"""Decode speed: whole-file decode to dense float32 vs np.load of the same weights as .npy, and entries/s.

Run:  python benchmarks/bench_decode.py [--repeat 5]

Both sides run alternately in this one process on the same decoded weights (so drift on a shared machine hits both);
the best of --repeat runs is reported. Goals (issue 2): decode <= 2x np.load; >= 50 M entries/s.
Each case is measured twice: with the compiled kernels of dcformat.accel ("kernels", needs numba:
pip install dcformat[fast]) and with the pure NumPy path ("numpy", what runs without numba).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import best_of  # noqa: E402  (benchmarks/_common.py: shared by the scripts)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dcformat  # noqa: E402
from dcformat import CompressionConfig, accel  # noqa: E402



def use_kernels(on: bool) -> None:
    """The steady state: kernels on every stream (the one-shot cost is printed separately), or none."""
    os.environ["DCFORMAT_ACCEL"] = "1" if on else "0"



def fresh_process_load(path: Path, mode: str) -> float:
    """Wall time of `import dcformat; dcformat.load(path)` in a new interpreter (best of 3): the first-use cost."""
    code = "import time; t = time.perf_counter(); import dcformat, sys; dcformat.load(sys.argv[1]); print(time.perf_counter() - t)"
    env = {**os.environ, "DCFORMAT_ACCEL": mode}
    return min(float(subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                                     check=True).stdout) for _ in range(3))


def case(label: str, tensors: dict[str, np.ndarray], cfg: CompressionConfig, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dc = Path(tmp) / "m.dc"
        dcformat.save(dc, tensors, config=cfg)
        decoded = dcformat.load(dc)
        npys = {}
        for k, v in decoded.items():
            p = Path(tmp) / f"{k}.npy"
            np.save(p, v)
            npys[k] = p
        with dcformat.open(dc) as f:
            entries = sum(f.info(k).nnz + f.info(k).n_fillers for k in f.keys() if f.info(k).encoding == "sparse")
        for mode in ("kernels", "numpy") if accel.available() else ("numpy",):
            use_kernels(mode == "kernels")
            t_npy, t_dc = [], []
            for _ in range(repeat):  # alternate the two sides
                t_npy.append(best_of(lambda: [np.load(p, allow_pickle=False) for p in npys.values()], 1))
                t_dc.append(best_of(lambda: dcformat.load(dc), 1))
            t_npy, t_dc = min(t_npy), min(t_dc)
            with dcformat.open(dc) as f:
                t_csr = best_of(lambda: [f.csr(k) for k in f.keys()], repeat)
            print(
                f"{label:<28} {mode:<7}  load .dc {t_dc * 1e3:7.1f} ms  np.load {t_npy * 1e3:6.1f} ms  "
                f"ratio {t_dc / t_npy:5.2f}x  entries {entries:>10,}  dense decode {entries / t_dc / 1e6:5.1f} "
                f"M entries/s  CSR decode {entries / t_csr / 1e6:5.1f} M entries/s"
            )
        use_kernels(True)
        if accel.available():
            one_shot = {m: fresh_process_load(dc, m) for m in ("1", "0")}
            print(f"{'':<28} one-shot load in a fresh process (import dcformat + load): kernels forced "
                  f"(DCFORMAT_ACCEL=1) {one_shot['1']:.2f} s, NumPy (DCFORMAT_ACCEL=0) {one_shot['0']:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    case("4096x4096 FC at 10 %", {"fc": (rng.standard_normal((4096, 4096)) * 0.02).astype(np.float32)},
         CompressionConfig(density=0.1), args.repeat)
    lenet = {
        "ip1.weight": (rng.standard_normal((300, 784)) * 0.05).astype(np.float32),
        "ip2.weight": (rng.standard_normal((100, 300)) * 0.05).astype(np.float32),
        "ip3.weight": (rng.standard_normal((10, 100)) * 0.05).astype(np.float32),
    }
    case("LeNet-300-100 shapes at 8 %", lenet, CompressionConfig(density=0.08, code_bits=6), args.repeat)
    conv = {f"conv{i}.weight": (rng.standard_normal((256, 256, 3, 3)) * 0.02).astype(np.float32) for i in range(4)}
    case("4 conv 256x256x3x3 at 35 %", conv, CompressionConfig(), args.repeat)


if __name__ == "__main__":
    main()
