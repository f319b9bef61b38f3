"""What the writer's per-stream precision choice buys: RANS files with K = 12 only vs every K in 10..15.

The format lets every RANS stream carry its own K (spec/FORMAT.md §6.1.1); the writer tries all six for streams of
at most ``RANS_WRITER_SHORT_STREAM`` symbols (§11) and keeps the smallest. This script encodes the same tensors
with the threshold at 0 (K = 12 everywhere), 2**14, 2**17 (the writer's setting) and unlimited, in one process.

Cases: all-MiniLM-L6-v2's 37 Linear weights (10 %, q = 5, b = 5) and the legacy SqueezeNet's tensors with the
lossless legacy overrides (tensors only: no graph or metadata, so sizes are a few hundred bytes below the CLI's).

Run:  PYTHONPATH=$PWD python benchmarks/bench_rans_k.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _common import SQUEEZENET_NET, SQUEEZENET_PROTOTXT, default_minilm_path, minilm_linear_weights  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dcformat  # noqa: E402
from dcformat import CompressionConfig  # noqa: E402
from dcformat.entropy import streams  # noqa: E402

THRESHOLDS = (0, 1 << 14, 1 << 17, 1 << 40)


def sizes(label: str, tensors: dict, cfg: CompressionConfig) -> None:
    base = len(dcformat.encode(tensors, config=cfg))
    rcfg = CompressionConfig(**{**cfg.__dict__, "entropy": "rans"})
    print(f"{label}: HUFFMAN {base:,} B")
    saved = streams.RANS_WRITER_SHORT_STREAM
    try:
        for short in THRESHOLDS:
            streams.RANS_WRITER_SHORT_STREAM = short
            t0 = time.perf_counter()
            n = len(dcformat.encode(tensors, config=rcfg))
            print(f"  rANS, every K for streams <= {short:>13,} symbols: {n:,} B ({n / base:.4f} x HUFFMAN, "
                  f"encode {time.perf_counter() - t0:.1f} s)")
    finally:
        streams.RANS_WRITER_SHORT_STREAM = saved


def main() -> None:
    path = default_minilm_path()
    if path is not None:
        sizes("MiniLM-L6 37 Linear, 10 %, q=5, b=5", minilm_linear_weights(path), CompressionConfig(density=0.1, code_bits=5, index_bits=5))
    if SQUEEZENET_NET.exists():
        from dcformat.legacy.convert import load_legacy

        model = load_legacy(str(SQUEEZENET_NET), str(SQUEEZENET_PROTOTXT))
        sizes("legacy SqueezeNet tensors (lossless)", dict(model.tensors()),
              CompressionConfig(overrides=model.overrides(index_bits=4)))


if __name__ == "__main__":
    main()
