#!/usr/bin/env python
"""Fuzz the dcformat readers: every input must end in a typed error or in identical output from both decoders.

Each execution feeds one mutated file to
  * the library: ``dcformat.decode`` and ``dcformat.open`` with every method
    (keys, info, codebook, csr, tensor, metadata, graph, verify);
  * the embedded decoder (``dcformat.embedded.decode_file``);
and records as a *finding* (with a reproducer file):
  * any exception that is not a ``FormatError`` (library) / ``EmbeddedFormatError`` (embedded),
    including MemoryError (both run with tight Limits, so none should occur) and RecursionError;
  * a disagreement: one decoder accepts a file the other rejects, or both accept with different
    arrays or metadata;
  * an execution slower than ``--slow`` seconds (CPU denial of service).

Mutations (structure-aware; CRCs are recomputed afterwards in most executions so that the
mutant reaches the parsers behind the checksums): bit flips, interesting bytes, truncation,
insertion/deletion/duplication of chunks, splices between corpus files, huge values
(2**32-1, 2**63-1, 2**64-1 as varint/u32/u64) written over fields, and section shuffles.

Engines: ``atheris`` (coverage-guided libFuzzer, with the mutator above as its custom
mutator) when ``pip install atheris`` worked, else ``random`` (the same mutator, seeded).

Commands (run from the project root; use ``nice`` on shared machines)::

    nice -n 10 python tools/fuzz.py run --engine atheris --executions 500000 --seed 1 --out fuzz-out/a1
    nice -n 10 python tools/fuzz.py run --engine random  --executions 500000 --seed 2 --out fuzz-out/r2
    nice -n 10 python tools/fuzz.py run --kernels on --executions 500000 --seed 3 --out fuzz-out/k3
    python tools/fuzz.py census            # every truncation and single-bit flip of the small vectors
    python tools/fuzz.py replay fuzz-out/a1/findings/*.dcf

``run`` writes ``OUT/stats.json`` (executions, outcome counts per error class for both
decoders, findings) and ``OUT/findings/`` (``<kind>-<sha1>.dcf`` + ``findings.jsonl``).
"""

from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import json
import os
import random
import resource
import struct
import sys
import time
import traceback
import warnings
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VECTORS = ROOT / "spec" / "vectors"
HUGE = (2**32 - 1, 2**63 - 1, 2**64 - 1, 2**31, 2**32, 2**20 + 1, 255, 256, 65535)
INTERESTING = (0x00, 0x01, 0x02, 0x07, 0x0F, 0x10, 0x18, 0x19, 0x1F, 0x20, 0x21, 0x7F, 0x80, 0x81, 0xFE, 0xFF)
SIGNATURE = b"\x89DCF\r\n\x1a\n"
MEMORY_CAP = 3 << 30  # address space of a fuzzing process


# ------------------------------------------------------------------------------------------
# Decoders under test (imported lazily so atheris can instrument them)
# ------------------------------------------------------------------------------------------

dcformat = embedded = FormatError = EmbeddedFormatError = None  # set by load_targets()
LIB_LIMITS = EMB_LIMITS = None


def load_targets() -> None:
    global dcformat, embedded, FormatError, EmbeddedFormatError, LIB_LIMITS, EMB_LIMITS
    import dcformat as _dc
    import dcformat.api  # noqa: F401  (resolve the lazy names now, inside instrumentation)
    import dcformat.container.reader  # noqa: F401
    import dcformat.graph  # noqa: F401
    from dcformat import embedded as _emb
    from dcformat.errors import FormatError as _fe
    from dcformat.limits import Limits

    dcformat, embedded, FormatError, EmbeddedFormatError = _dc, _emb, _fe, _emb.EmbeddedFormatError
    tight = dict(max_tensor_elements=1 << 20, max_tensor_bytes=1 << 23, max_total_bytes=1 << 25,
                 max_metadata_bytes=1 << 20)
    LIB_LIMITS = Limits(**tight)
    EMB_LIMITS = _emb.Limits(**tight)
    use_kernels()
    warnings.simplefilter("error")  # a warning on hostile input (e.g. NumPy overflow) is a finding too


def corpus() -> list[bytes]:
    """Small valid files: the golden vectors plus the invalid-vector generator's base files."""
    out = [p.read_bytes() for p in sorted(VECTORS.glob("*.dcf")) + sorted((VECTORS / "v1_1").glob("*.dcf"))
           if p.stat().st_size <= 4096]  # v1_1: RANS streams (format 1.1)
    gen = _generator()
    out += [gen.base_file(), gen.file_w(), gen.file_d(), gen.file_r(), gen.graph_file()]
    return out


@functools.lru_cache(maxsize=1)
def _generator():
    """spec/vectors/invalid/generate_invalid.py: its byte builders (varint, sections) serve the mutator too."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_invalid", VECTORS / "invalid" / "generate_invalid.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------------
# Mutations
# ------------------------------------------------------------------------------------------


def section_spans(data: bytes) -> list[tuple[int, int, int]]:
    """(header offset, payload offset, payload end) of each section found by a tolerant walk."""
    spans = []
    if len(data) < 24:
        return spans
    count = min(struct.unpack_from("<I", data, 16)[0], 64)
    pos = 24
    for _ in range(count):
        if pos + 16 > len(data):
            break
        length = struct.unpack_from("<Q", data, pos + 8)[0]
        end = pos + 16 + length
        if end + 4 > len(data):
            break
        spans.append((pos, pos + 16, end))
        pos = end + 4 + (-(end + 4)) % 8
    return spans


def fix_crcs(data: bytes) -> bytes:
    """Recompute header_crc and every section CRC the tolerant walk finds."""
    if len(data) < 24:
        return data
    buf = bytearray(data)
    buf[20:24] = struct.pack("<I", zlib.crc32(buf[8:20]))
    for head, _, end in section_spans(bytes(buf)):
        buf[end : end + 4] = struct.pack("<I", zlib.crc32(buf[head:end]))
    return bytes(buf)


def _target(rng: random.Random, data: bytes) -> int:
    """An offset, biased towards section payloads (where the parsers behind the CRCs live)."""
    spans = section_spans(data)
    if spans and rng.random() < 0.8:
        _, lo, hi = rng.choice(spans)
        if hi > lo:
            return rng.randrange(lo, hi)
    return rng.randrange(len(data))


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """One to three random mutations; CRCs are recomputed with probability 0.8."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not buf:
            buf += rng.choice(pool)[:24]
        op = rng.randrange(10)
        at = _target(rng, bytes(buf))
        if op <= 2:  # bit flips
            for _ in range(rng.choice((1, 1, 2))):
                i = _target(rng, bytes(buf))
                buf[i] ^= 1 << rng.randrange(8)
        elif op == 3:
            buf[at] = rng.choice(INTERESTING)
        elif op == 4:  # a huge value over a field
            v = rng.choice(HUGE)
            enc = rng.choice((_generator().varint(v), struct.pack("<I", v & 0xFFFFFFFF), struct.pack("<Q", v & (2**64 - 1))))
            buf[at : at + len(enc)] = enc
        elif op == 5:  # truncation
            del buf[rng.randrange(len(buf) + 1):]
        elif op == 6:  # delete a chunk
            del buf[at : at + rng.choice((1, 2, 4, 8, 16))]
        elif op == 7:  # insert bytes
            buf[at:at] = bytes(rng.choice((0, 0xFF, rng.randrange(256))) for _ in range(rng.choice((1, 2, 8))))
        elif op == 8:  # splice a chunk of another corpus file
            other = rng.choice(pool)
            lo = rng.randrange(len(other))
            chunk = other[lo : lo + rng.choice((4, 16, 64, 256))]
            buf[at : at + (len(chunk) if rng.random() < 0.5 else 0)] = chunk
        else:  # small arithmetic on a byte (counts, lengths, widths off by a little)
            buf[at] = (buf[at] + rng.choice((-2, -1, 1, 2, 8, -8))) & 0xFF
    out = bytes(buf)
    return fix_crcs(out) if rng.random() < 0.8 else out


# ------------------------------------------------------------------------------------------
# One execution
# ------------------------------------------------------------------------------------------


def run_library(data: bytes) -> tuple[str, object]:
    """('ok', (tensors, metadata, graph_ok)) or ('<ErrorClass>', None); other exceptions propagate."""
    try:
        tensors = dcformat.decode(data, limits=LIB_LIMITS)
    except FormatError as exc:
        decode_error = type(exc).__name__
    else:
        decode_error = None
    try:
        f = dcformat.open(data, limits=LIB_LIMITS)
    except FormatError as exc:
        if decode_error is None:
            raise AssertionError(f"open() rejected a file decode() accepted: {exc!r}") from None
        return type(exc).__name__, None
    with f:
        _ = f.metadata, f.graph, len(f), list(f)
        methods = [f.info, f.codebook, f.csr, f.tensor] + ([f.streams] if hasattr(f, "streams") else [])
        for name in f.keys():
            for method in methods:
                try:
                    method(name)
                except FormatError:
                    pass
        try:
            f.verify()
        except FormatError as exc:
            if decode_error is None:
                raise AssertionError(f"verify() rejected a file decode() accepted: {exc!r}") from None
        meta = f.metadata
    if decode_error is not None:
        return decode_error, None
    return "ok", (tensors, meta)


def run_embedded(data: bytes) -> tuple[str, object]:
    try:
        got = embedded.decode_file(data, limits=EMB_LIMITS)
    except EmbeddedFormatError as exc:
        return exc.kind + "Error", None
    return "ok", (got.tensors, got.metadata)


def same_output(a: tuple, b: tuple) -> bool:
    ta, ma = a
    tb, mb = b
    if list(ta) != list(tb) or ma != mb:
        return False
    return all(ta[k].dtype == tb[k].dtype and ta[k].shape == tb[k].shape and ta[k].tobytes() == tb[k].tobytes()
               for k in ta)


class Recorder:
    """Counts outcomes and stores findings with reproducers."""

    def __init__(self, out: Path | None, slow: float) -> None:
        self.out = out
        self.slow = slow
        self.executions = 0
        self.lib = collections.Counter()
        self.emb = collections.Counter()
        self.class_mismatch = collections.Counter()
        self.findings: dict[str, dict] = {}
        self.start = time.time()
        if out is not None:
            (out / "findings").mkdir(parents=True, exist_ok=True)

    def finding(self, kind: str, data: bytes, detail: str) -> None:
        key = f"{kind}-{hashlib.sha1(data).hexdigest()[:12]}"
        sig = kind + ":" + detail.splitlines()[-1][:160] if detail else kind
        if any(f["signature"] == sig for f in self.findings.values()):
            return  # one reproducer per distinct problem
        rec = {"kind": kind, "signature": sig, "detail": detail[-3000:], "file": f"{key}.dcf", "size": len(data)}
        self.findings[key] = rec
        if self.out is not None:
            (self.out / "findings" / f"{key}.dcf").write_bytes(data)
            with open(self.out / "findings" / "findings.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        print(f"FINDING {kind}: {sig}", flush=True)

    def one(self, data: bytes) -> None:
        self.executions += 1
        t0 = time.perf_counter()
        try:
            lib, lib_out = run_library(data)
        except AssertionError:
            lib, lib_out = "inconsistent", None
            self.finding("library-inconsistent", data, traceback.format_exc())
        except Exception:  # noqa: BLE001  (this is what we hunt)
            lib, lib_out = "foreign", None
            self.finding("library-foreign", data, traceback.format_exc())
        try:
            emb, emb_out = run_embedded(data)
        except Exception:  # noqa: BLE001
            emb, emb_out = "foreign", None
            self.finding("embedded-foreign", data, traceback.format_exc())
        self.lib[lib] += 1
        self.emb[emb] += 1
        if lib != "ok" and emb != "ok" and lib != emb:
            self.class_mismatch[f"{lib} / {emb}"] += 1  # both reject, for different reasons (ERRATA S11)
        if (lib == "ok") != (emb == "ok") and "foreign" not in (lib, emb) and lib != "inconsistent":
            self.finding("disagree", data, f"library: {lib}, embedded: {emb}")
        elif lib == emb == "ok" and not same_output(lib_out, emb_out):
            self.finding("different-output", data, "both decoders accept, outputs differ")
        elapsed = time.perf_counter() - t0
        if elapsed > self.slow:
            self.finding("slow", data, f"{elapsed:.2f} s")

    def stats(self) -> dict:
        return {
            "executions": self.executions,
            "seconds": round(time.time() - self.start, 1),
            "library_outcomes": dict(sorted(self.lib.items())),
            "embedded_outcomes": dict(sorted(self.emb.items())),
            "both_reject_different_class": sum(self.class_mismatch.values()),
            "class_pairs": dict(self.class_mismatch.most_common(12)),
            "findings": list(self.findings.values()),
        }

    def save(self, extra: dict) -> None:
        if self.out is not None:
            (self.out / "stats.json").write_text(json.dumps(self.stats() | extra, indent=1) + "\n")


# ------------------------------------------------------------------------------------------
# Engines
# ------------------------------------------------------------------------------------------


def cap_memory() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = MEMORY_CAP if hard == resource.RLIM_INFINITY else min(MEMORY_CAP, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def run_random(args: argparse.Namespace, rec: Recorder) -> None:
    load_targets()
    pool = corpus()
    rng = random.Random(args.seed)
    last = time.time()
    for _ in range(args.executions):
        rec.one(mutate(rng, rng.choice(pool), pool))
        if time.time() - last > args.report:
            last = time.time()
            print(json.dumps({"executions": rec.executions, "per_s": round(rec.executions / (last - rec.start)),
                              "findings": len(rec.findings)}), flush=True)
            rec.save({"engine": "random", "seed": args.seed})
    rec.save({"engine": "random", "seed": args.seed})


def run_atheris(args: argparse.Namespace, rec: Recorder) -> None:
    import atheris

    # The numba kernels cannot be compiled from instrumented bytecode; they are checked
    # differentially (against the embedded decoder) like everything else.
    with atheris.instrument_imports(include=["dcformat"], exclude=["dcformat.entropy._kernels", "dcformat.sparse._kernels", "dcformat.inference.fast"]):
        load_targets()
    pool = corpus()
    seed_dir = Path(args.out) / "corpus"
    seed_dir.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(pool):
        (seed_dir / f"seed-{i:03d}.dcf").write_bytes(data)
    last = [time.time()]

    def test_one(data: bytes) -> None:
        rec.one(data)
        if time.time() - last[0] > args.report:
            last[0] = time.time()
            print(json.dumps({"executions": rec.executions, "per_s": round(rec.executions / (last[0] - rec.start)),
                              "findings": len(rec.findings)}), flush=True)
            rec.save({"engine": "atheris", "seed": args.seed})
        if rec.executions >= args.executions:
            rec.save({"engine": "atheris", "seed": args.seed})
            os._exit(0)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.3:  # libFuzzer's own byte mutations, then CRCs fixed
            out = atheris.Mutate(data, max_size)
            return fix_crcs(out) if rng.random() < 0.8 else out
        return mutate(rng, data or rng.choice(pool), pool)[:max_size]

    argv = [sys.argv[0], str(seed_dir), f"-seed={args.seed}", "-max_len=8192", f"-rss_limit_mb={MEMORY_CAP >> 20}",
            "-timeout=30", "-print_final_stats=1"]
    atheris.Setup(argv, test_one, custom_mutator=custom_mutator)
    atheris.Fuzz()


# ------------------------------------------------------------------------------------------
# Census: every truncation and every single-bit flip of the small vectors
# ------------------------------------------------------------------------------------------


def census(args: argparse.Namespace) -> dict:
    """Counts per outcome for both decoders; 'identical' = decoded output equal to the original's."""
    load_targets()
    files = {p.name: p.read_bytes() for p in sorted(VECTORS.glob("*.dcf")) if p.stat().st_size <= args.max_size}
    gen = _generator()
    files["base-file"], files["graph-file"] = gen.base_file(), gen.graph_file()
    result = {"files": sorted(files), "bytes": sum(map(len, files.values()))}
    for mode in ("truncation", "bitflip"):
        lib, emb = collections.Counter(), collections.Counter()
        mutants = 0
        for data in files.values():
            ref = run_embedded(data)[1]
            variants = (
                (data[:k] for k in range(len(data)))
                if mode == "truncation"
                else (data[:i] + bytes([data[i] ^ (1 << b)]) + data[i + 1 :] for i in range(len(data)) for b in range(8))
            )
            for m in variants:
                mutants += 1
                for counter, run in ((lib, run_library), (emb, run_embedded)):
                    try:
                        outcome, out = run(m)
                    except Exception as exc:  # noqa: BLE001
                        outcome, out = "FOREIGN " + type(exc).__name__, None
                    if outcome == "ok":
                        outcome = "identical" if same_output(out, ref) else "DIFFERENT"
                    counter[outcome] += 1
        result[mode] = {"mutants": mutants, "library": dict(sorted(lib.items())), "embedded": dict(sorted(emb.items()))}
    print(json.dumps(result, indent=1))
    return result


def replay(paths: list[str]) -> None:
    load_targets()
    rec = Recorder(None, slow=1e9)
    for p in paths:
        data = Path(p).read_bytes()
        print(p, "library:", end=" ")
        try:
            print(run_library(data)[0], end="; ")
        except Exception as exc:  # noqa: BLE001
            print("FOREIGN", repr(exc), end="; ")
        try:
            print("embedded:", run_embedded(data)[0])
        except Exception as exc:  # noqa: BLE001
            print("embedded: FOREIGN", repr(exc))
        rec.one(data)


KERNELS = "auto"  # --kernels, applied by load_targets()


def use_kernels() -> None:
    """Route the library's decoding through its compiled kernels (or not), as --kernels asks.

    "on" compiles the kernels right away with the memory cap lifted (LLVM needs
    more address space than the cap allows), then restores the cap.
    """
    from dcformat import accel

    if KERNELS == "off":
        os.environ["DCFORMAT_ACCEL"] = "0"
    elif KERNELS == "on":
        os.environ["DCFORMAT_ACCEL"] = "1"  # every stream, whatever its length
        if not accel.available():
            sys.exit("--kernels on needs numba (pip install numba)")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        try:
            for path in sorted(VECTORS.glob("v-sparse-*.dcf")):
                dcformat.decode(path.read_bytes())  # compile (or load from cache) every kernel now
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="fuzz")
    r.add_argument("--engine", choices=("atheris", "random"), default=None, help="default: atheris if importable")
    r.add_argument("--executions", type=int, default=100_000)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--out", default="fuzz-out/run")
    r.add_argument("--report", type=float, default=60.0, help="seconds between progress lines")
    r.add_argument("--slow", type=float, default=2.0, help="seconds after which an input is a finding")
    c = sub.add_parser("census", help="all truncations and single-bit flips of the small vectors")
    c.add_argument("--max-size", type=int, default=400)
    c.add_argument("--json", default=None, help="also write the counts here")
    p = sub.add_parser("replay", help="run saved inputs again")
    p.add_argument("files", nargs="+")
    for sp in (r, c, p):
        sp.add_argument("--kernels", choices=("auto", "on", "off"), default="auto",
                        help="the library's numba kernels (dcformat.accel): on = for every stream, off = pure NumPy, "
                             "auto = as in normal use (only long streams)")
    args = ap.parse_args()
    global KERNELS
    KERNELS = args.kernels
    cap_memory()
    if args.cmd == "census":
        res = census(args)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
        return 0
    if args.cmd == "replay":
        replay(args.files)
        return 0
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "random"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(out, args.slow)
    (run_atheris if engine == "atheris" else run_random)(args, rec)
    print(json.dumps(rec.stats() | {"engine": engine}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
