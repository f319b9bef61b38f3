#!/usr/bin/env python
"""Fuzz the RANS stream decoders (spec/FORMAT.md §6.1) at the stream level, fast enough for millions of executions.

Each execution mutates one RANS stream from a corpus (streams assembled from the spec by the vector builder, with
K = 10..15, 1..32 lanes and all three context models, plus streams the library writer chose) and decodes it with
  * the library's stream reader (``entropy.streams.parse_stream``: NumPy path, and every ``--kernel-every``-th
    execution also the numba kernel via DCFORMAT_ACCEL=1 semantics), and
  * the embedded decoder's ``_rans_stream`` (independent code from the spec text),
with the same context (n, alphabet, allowed models, row classes). A *finding* is any exception that is not the
decoder's format error, or a disagreement: one accepts and the other rejects, both accept with different symbols,
or both reject with different error classes. ``tools/fuzz.py`` fuzzes whole files (RANS vectors included); this
one spends every execution inside the new coding.

    nice -n 10 python tools/fuzz_rans.py --executions 1000000 --seed 1 --out fuzz-out/rans1

Run for issue 9 (2026-12-03, final decoders, two processes on the shared 2-core machine):
``--executions 500000 --seed 101`` and ``--seed 202``: 1,000,000 executions, 100,000 of them also through the numba
kernel, 0 findings (no crash, no disagreement); outcomes per run ~35 % Bitstream, 27 % RansTable, 24 % Truncated,
8 % UnsupportedFeature, 3.5 % Limit, 1.5 % accepted (identical symbols), ~0.3 % HuffmanTable (mutated coding byte).
1,211 s and 1,223 s wall time.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import json
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcformat import accel, embedded  # noqa: E402
from dcformat.binary import Cursor  # noqa: E402
from dcformat.errors import FormatError  # noqa: E402
from dcformat.entropy import streams  # noqa: E402
from dcformat.entropy.streams import RansContext  # noqa: E402

_spec = importlib.util.spec_from_file_location("generate_invalid", ROOT / "spec" / "vectors" / "invalid" /
                                               "generate_invalid.py")
g = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(g)

HUGE = (2**32 - 1, 2**16 - 1, 2**16, 2**31, 255, 256, 65535, 4096, 4097, 0)


class Case:
    """One corpus stream with its decoding context."""

    def __init__(self, data: bytes, n: int, alphabet: int, models: tuple[int, ...], n_classes: int = 1,
                 row_class: np.ndarray | None = None) -> None:
        self.data, self.n, self.alphabet, self.models = data, n, alphabet, models
        self.n_classes, self.row_class = n_classes, row_class


def corpus(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    out: list[Case] = []
    for k in (10, 12, 15):
        for lanes in (1, 2, 8, 32):
            for n in (lanes, 3 * lanes + 1, 200):
                if (lanes - 1) * -(-n // lanes) >= n:
                    continue
                syms = np.minimum(rng.geometric(0.4, n) - 1, 9).tolist()
                syms[0] = max(syms[0], 1)
                out.append(Case(g.s_rans(syms, k=k, lanes=lanes), n, 10, (0,)))
                gaps = np.minimum(rng.geometric(0.3, n) - 1, 15).tolist()
                gaps[-1] = max(gaps[-1], 1)
                out.append(Case(g.s_rans(gaps, k=k, lanes=lanes, model=1), n, 16, (0, 1)))
                rc = rng.integers(0, 3, n)
                out.append(Case(g.s_rans(syms, k=k, lanes=lanes, model=2, row_class=rc.tolist(), n_ctx=3), n, 10,
                                (0, 2), 3, rc))
    out.append(Case(g.s_rans([1] * 50, freqs=[[0, 4096]]), 50, 2, (0,)))
    big = rng.integers(0, 300, 400).tolist()
    big[0] = 299
    out.append(Case(g.s_rans(big, k=10), 400, 300, (0,)))
    # streams the library writer chose (K = 12, lane rule, cheapest model)
    for n in (600, 2000):  # short: every execution decodes in pure Python in the embedded decoder
        syms = np.minimum(rng.geometric(0.35, n) - 1, 31).astype(np.uint32)
        data = streams.write_stream(syms, 32, rans=RansContext(models=(0, 1)))
        if data[0] == 3:
            out.append(Case(data, n, 32, (0, 1)))
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    op = rng.randrange(9)
    if op == 0 and b:  # bit flip
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    elif op == 1 and b:  # interesting byte
        b[rng.randrange(len(b))] = rng.choice((0, 1, 2, 7, 0x0F, 0x10, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xFF))
    elif op == 2:  # truncate
        del b[rng.randrange(len(b) + 1):]
    elif op == 3:  # insert
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4))))
    elif op == 4 and len(b) > 1:  # delete
        i = rng.randrange(len(b))
        del b[i:i + rng.choice((1, 2, 4))]
    elif op == 5 and len(b) > 1:  # params byte
        b[1] = rng.randrange(256)
    elif op == 6 and len(b) > 2:  # T / nwords varint overwritten
        i = rng.choice((2, 3))
        b[i:i + 1] = g.varint(rng.choice(HUGE + (rng.randrange(64),)))
    elif op == 7 and len(b) > 8:  # a 32-bit state/word region value
        i = rng.randrange(4, len(b) - 3)
        b[i:i + 4] = (rng.choice(HUGE) & 0xFFFFFFFF).to_bytes(4, "little")
    else:  # several flips
        for _ in range(rng.randrange(2, 6)):
            if b:
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def run_library(case: Case, data: bytes, kernel: bool) -> tuple[str, np.ndarray | None]:
    ctx = RansContext(case.models, case.n_classes, case.row_class)
    old = os.environ.get("DCFORMAT_ACCEL")
    os.environ["DCFORMAT_ACCEL"] = "1" if kernel else "0"
    try:
        _, syms = streams.parse_stream(Cursor(data), case.n, case.alphabet, "s", rans=ctx)
        return "ok", syms
    except FormatError as exc:
        return type(exc).__name__, None
    finally:
        if old is None:
            os.environ.pop("DCFORMAT_ACCEL", None)
        else:
            os.environ["DCFORMAT_ACCEL"] = old


def run_embedded(case: Case, data: bytes) -> tuple[str, np.ndarray | None]:
    cur = embedded._In(memoryview(data), 0, len(data), None, True)
    try:
        syms = embedded._stream(cur, case.n, case.alphabet, "s", case.models, case.row_class, case.n_classes)
        return "ok", syms
    except embedded.EmbeddedFormatError as exc:
        return exc.kind + "Error", None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executions", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kernel-every", type=int, default=10, help="also run the numba kernel every N-th execution")
    ap.add_argument("--out", type=Path, default=Path("fuzz-out/rans"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "findings").mkdir(exist_ok=True)
    cases = corpus(args.seed)
    kernels = accel._import("dcformat.entropy._kernels") is not None
    rng = random.Random(args.seed)
    outcomes: collections.Counter = collections.Counter()
    findings = 0
    kernel_runs = 0
    t0 = time.time()
    warnings.simplefilter("error")
    for i in range(args.executions):
        case = rng.choice(cases)
        data = mutate(case.data, rng)
        if rng.random() < 0.3:
            data = mutate(data, rng)
        problem = None
        try:
            lib, lib_syms = run_library(case, data, False)
            em, em_syms = run_embedded(case, data)
            if lib != em:
                problem = f"library {lib}, embedded {em}"
            elif lib == "ok" and not np.array_equal(lib_syms, em_syms):
                problem = "both accept, symbols differ"
            if problem is None and kernels and i % args.kernel_every == 0:
                kernel_runs += 1
                kl, k_syms = run_library(case, data, True)
                if kl != lib or (kl == "ok" and not np.array_equal(k_syms, lib_syms)):
                    problem = f"kernel {kl} vs NumPy {lib}"
        except Exception as exc:  # noqa: BLE001 - any foreign exception is a finding
            problem, lib = f"crash: {type(exc).__name__}: {exc}", "crash"
        outcomes[lib] += 1
        if problem is not None:
            findings += 1
            h = hashlib.sha1(data).hexdigest()[:12]
            (args.out / "findings" / f"{h}.bin").write_bytes(data)
            with open(args.out / "findings" / "findings.jsonl", "a") as fh:
                fh.write(json.dumps({"sha1": h, "problem": problem, "n": case.n, "alphabet": case.alphabet,
                                     "models": case.models, "n_classes": case.n_classes}) + "\n")
        if (i + 1) % 100000 == 0:
            print(f"{i + 1:,} executions, {findings} findings, {time.time() - t0:.0f} s", flush=True)
    stats = {"executions": args.executions, "kernel_executions": kernel_runs, "findings": findings,
             "corpus_streams": len(cases), "seconds": round(time.time() - t0, 1), "outcomes": dict(outcomes)}
    (args.out / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True) + "\n")
    print(json.dumps(stats, sort_keys=True))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
