"""Hostile files under a hard address-space cap: a typed LimitError, never MemoryError, never a crash.

Each case runs in a subprocess with ``resource.setrlimit(RLIMIT_AS, 1 GiB)`` and the
DEFAULT Limits (which allow a 16 GiB tensor), so an allocation driven by a declared
size that is not checked first shows up as a MemoryError (or a killed process) instead
of quietly using the machine's memory. Files are tiny: every size they declare is
backed by nothing but CONSTANT streams, zstd frame headers or shape fields.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / "spec" / "vectors" / "invalid" / "generate_invalid.py"
_spec = importlib.util.spec_from_file_location("generate_invalid", GEN)
g = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(g)

CAP = 1 << 30
BIG = 1 << 16  # 2^16 x 2^16 = 2^32 elements: the default element limit, 16 GiB as float32


def _q(k: int = 1) -> bytes:
    return g.quant_head(1, 1, [0.5] * k)


HOSTILE: dict[str, tuple[bytes, dict[str, str]]] = {
    # name: (file, {operation: expected outcome}); operations: decode, tensor, csr, info, codebook, embedded
    "dense-constant-16GiB": (
        g.one("t", 1, 1, (BIG, BIG), g.quant_head(1, 0, [0.5]) + g.s_const(0)),
        {"decode": "LimitError", "tensor": "LimitError", "info": "ok", "codebook": "ok", "embedded": "Limit"},
    ),
    "sparse-full-constant-16GiB": (
        g.one("t", 1, 2, (BIG, BIG), _q() + g.s_const(BIG) + b"\x01" + g.varint(0) + g.s_const(1) + g.s_const(0)),
        {"decode": "LimitError", "tensor": "LimitError", "csr": "LimitError", "info": "ok", "codebook": "ok",
         "embedded": "Limit"},
    ),
    "sparse-2^32-rows-constant-counts": (
        g.one("t", 1, 2, (1 << 32, 1), _q() + g.s_const(0) + b"\x01" + g.varint(0) + g.s_const(0) + g.s_const(0)),
        {"decode": "LimitError", "tensor": "LimitError", "csr": "LimitError", "info": "ok", "codebook": "ok",
         "embedded": "Limit"},
    ),
    "sparse-f64-over-tensor-limit": (
        g.one("t", 3, 2, (1 << 32, 1), _q() + g.s_const(0) + b"\x01" + g.varint(0) + g.s_const(0) + g.s_const(0)),
        {"decode": "LimitError", "tensor": "LimitError", "info": "ok", "embedded": "Limit"},
    ),
    "sparse-fillers-constant": (  # 2^32 - 1 fillers, gap stream CONSTANT 0 then a trailing-filler error
        g.one("t", 1, 2, (BIG, BIG), _q() + g.s_const(0) + b"\x01" + g.varint(2**32 - 1) + g.s_const(0) + g.s_const(0)),
        {"decode": "LimitError", "tensor": "LimitError", "csr": "LimitError", "embedded": "Limit"},
    ),
    "raw-zstd-fcs-16GiB": (
        g.one("t", 1, 0, (1 << 32,), g.raw_payload(g.zstd_raw_frame(b"", fcs=1 << 34, fcs_bytes=8), 1)),
        {"decode": "LimitError", "tensor": "LimitError", "info": "ok", "embedded": "Limit"},
    ),
    "raw-zstd-fcs-lies": (  # frame claims 2^40 bytes; python-zstandard's one-shot API would allocate it
        g.one("t", 1, 0, (64,), g.raw_payload(g.zstd_raw_frame(bytes(256), fcs=1 << 40, fcs_bytes=8), 1)),
        {"decode": "DecompressionError", "tensor": "DecompressionError", "embedded": "Decompression"},
    ),
    "raw-zstd-window-2^41": (
        g.one("t", 1, 0, (64,), g.raw_payload(g.zstd_raw_frame(bytes(256), window_exp=41), 1)),
        {"decode": "LimitError", "embedded": "Limit"},
    ),
    "five-tensors-of-16GiB": (
        g.assemble([(b"TABL", g.table([g.entry(f"t{i}", 1, 0, (1 << 32,)) for i in range(5)]))] + [
            (b"DATA", g.raw_payload(g.zstd_raw_frame(b"", fcs=1 << 34, fcs_bytes=8), 1))] * 5),
        {"decode": "LimitError", "tensor": "LimitError", "embedded": "Limit"},
    ),
    "huffman-2^32-symbols-in-1-byte": (
        g.one("t", 1, 1, (BIG, BIG), g.quant_head(1, 0, [0.5, 1.0]) + bytes([1, 1]) + g.varint(2) + g.varint(1)
              + g.pack_msb([1, 1], 1) + b"\0"),
        {"decode": "LimitError", "tensor": "LimitError", "info": "LimitError", "embedded": "Limit"},
    ),
    "fixed-2^32-symbols-unbacked": (  # the 512 MiB of FIXED data are simply missing
        g.one("t", 1, 1, (BIG, BIG), g.quant_head(1, 0, [0.5, 1.0]) + bytes([0, 1]) + b"\0" * 8),
        {"decode": "TruncatedError", "tensor": "TruncatedError", "info": "TruncatedError", "embedded": "Truncated"},
    ),
    "metadata-nested-200k": (
        g.assemble([g.base_sections()[0], (b"META", b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}")]
                   + g.base_sections()[2:]),
        {"decode": "MetadataError", "embedded": "Metadata"},
    ),
    "graph-nested-200k": (
        g.graph_file(b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
        {"decode": "GraphError", "embedded": "Graph"},
    ),
    "tensor-count-2^20-unbacked": (
        g.assemble([(b"TABL", g.table([g.entry("d", 1, 1, (4,))], count=1 << 20)), (b"DATA", g.dense_d())]),
        {"decode": "TruncatedError", "embedded": "Truncated"},
    ),
    "section-count-2^20": (
        g.preamble(1 << 20) + bytes(64),
        {"decode": "TruncatedError", "embedded": "Truncated"},
    ),
}


RUNNER = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    sys.path.insert(0, {root!r})
    import numpy
    import dcformat, dcformat.api
    from dcformat import embedded
    data = sys.stdin.buffer.read()
    ops = {ops!r}
    out = {{}}

    def outcome(fn):
        try:
            fn()
            return "ok"
        except dcformat.FormatError as exc:
            return type(exc).__name__
        except embedded.EmbeddedFormatError as exc:
            return exc.kind
        except BaseException as exc:
            return "FOREIGN " + type(exc).__name__ + ": " + str(exc)[:120]

    def method(name):
        def run():
            with dcformat.open(data) as f:
                getattr(f, name)(f.keys()[0])
        return run

    for op in ops:
        if op == "decode":
            out[op] = outcome(lambda: dcformat.decode(data))
        elif op == "embedded":
            out[op] = outcome(lambda: embedded.decode(data))
        else:
            out[op] = outcome(method(op))
    print(json.dumps(out))
""")


def run_capped(data: bytes, ops: list[str]) -> dict[str, str]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    script = RUNNER.format(cap=CAP, root=str(ROOT), ops=ops)
    proc = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True, timeout=300, env=env)
    assert proc.returncode == 0, f"subprocess died ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_fails_cleanly_under_rlimit(name: str) -> None:
    data, want = HOSTILE[name]
    assert len(data) < 1 << 20
    got = run_capped(data, list(want))
    assert got == want


def test_the_cap_is_real() -> None:
    """The harness would notice an unchecked allocation: a plain np.zeros of 2 GiB fails under the cap."""
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP}))
        import numpy as np
        try:
            np.ones(1 << 31, np.uint8)
            print("allocated")
        except MemoryError:
            print("MemoryError")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "MemoryError"


def test_legitimate_expansion_still_decodes_under_the_cap() -> None:
    """A 16 MiB tensor from a small zstd frame (ratio < 1024) and a 4 MiB CONSTANT tensor decode fine."""
    import numpy as np

    content = np.random.default_rng(0).integers(0, 4, 16 << 20, dtype=np.uint8).tobytes()  # ~2 bits per byte
    frame = g.zstd_frame(content)
    assert (16 << 20) <= 1024 * len(frame)  # within the ratio limit
    data = g.assemble([
        (b"TABL", g.table([g.entry("z", 8, 0, (16 << 20,)), g.entry("c", 1, 1, (1024, 1024))])),
        (b"DATA", g.raw_payload(frame, 1)),
        (b"DATA", g.quant_head(1, 0, [0.5]) + g.s_const(0)),
    ])
    assert run_capped(data, ["decode", "embedded", "tensor", "csr"]) == {
        "decode": "ok", "embedded": "ok", "tensor": "ok", "csr": "ok"}
