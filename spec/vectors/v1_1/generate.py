"""Golden vectors of format 1.1 (RANS streams, spec/FORMAT.md §6.1): spec/vectors/v1_1/v11-*.dcf + .npz.

Provenance: hand-assembled from the spec with the byte builder and the spec-derived rANS encoder of
``spec/vectors/invalid/generate_invalid.py`` (never with the dcformat encoder), except ``v11-library-writer``,
which is the reference writer's output for ``CompressionConfig(entropy="rans")`` (so the test suite can check that
the writer still produces these exact bytes). Each .npz holds the tensors the .dcf must decode to, computed from
the construction (codebook[symbols] scattered to the positions), not by decoding. Every vector sets header flag
bit 0 and version_minor 1, so a 1.0 reader (e.g. decoders/c) rejects all of them with [UnsupportedFeature].
These live in their own folder so that the 1.0 vectors (spec/vectors/*.dcf) stay exactly what every 1.0 reader
accepts.

Usage:  python spec/vectors/v1_1/generate.py           (rewrites the files)
        python spec/vectors/v1_1/generate.py --check   (exit 1 if anything would change)
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
_spec = importlib.util.spec_from_file_location("generate_invalid", HERE.parent / "invalid" / "generate_invalid.py")
g = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(g)
from vector_files import OutputFiles  # noqa: E402  (spec/vectors, on the path since generate_invalid loaded)
SEED = 20261203


def _dense_file(name: str, book: list[float], q: int, values: list[int], stream: bytes) -> tuple[bytes, dict]:
    data = g.file_rans(g.quant_head(q, 0, book) + stream, name, 1, (len(values),))
    return data, {name: np.asarray(book, np.float32)[np.asarray(values, np.int64)]}


def certain() -> tuple[bytes, dict]:
    """One-symbol-certain table f = [0, 2^K]: 0 bits per symbol, no words, the state stays at L."""
    values = [1] * 50
    return _dense_file("d", [-0.5, 0.25], 1, values, g.s_rans(values, freqs=[[0, 4096]]))


def binary_t2() -> tuple[bytes, dict]:
    """T = 2, a skewed binary alphabet, K = 12, one lane."""
    rng = np.random.default_rng(SEED)
    values = (rng.random(300) < 0.1).astype(int).tolist()
    return _dense_file("d", [-1.0, 1.0], 1, values, g.s_rans(values))


def maximal_k10() -> tuple[bytes, dict]:
    """K = 10 and the maximal table T = 2^K = 1024 (every frequency 1: 10 bits per symbol)."""
    rng = np.random.default_rng(SEED + 1)
    values = rng.integers(0, 1024, 3000).tolist()
    values[-1] = 1023
    book = [float(i) / 8 for i in range(1024)]
    return _dense_file("d", book, 10, values, g.s_rans(values, k=10, freqs=[[1] * 1024]))


def k15_lanes32() -> tuple[bytes, dict]:
    """K = 15, N = 32 lanes, n = 125: S = 4 and the last lane owns a single symbol."""
    rng = np.random.default_rng(SEED + 2)
    values = np.minimum(rng.geometric(0.5, 125) - 1, 7).tolist()
    book = [-2.0, -1.0, -0.5, 0.0625, 0.5, 1.0, 2.0, 4.0]
    return _dense_file("d", book, 3, values, g.s_rans(values, k=15, lanes=32))


def sparse_models() -> tuple[bytes, dict]:
    """SPARSE with two row classes: row counts NONE (2 lanes), gaps PREV_GAP (some contexts unused), values
    ROW_CLASS. b = 3, so long skips need fillers."""
    rng = np.random.default_rng(SEED + 3)
    rows, cols, b = 24, 40, 3
    dense_sym = np.where(rng.random((rows, cols)) < np.linspace(0.05, 0.6, rows)[:, None],
                         rng.integers(0, 4, (rows, cols)), -1)
    book = [-1.5, -0.25, 0.5, 2.0]
    counts = (dense_sym >= 0).sum(axis=1).tolist()
    thr = 12
    cls = [int(c >= thr) for c in counts]
    mat = np.where(dense_sym >= 0, 1.0, 0.0).astype(np.float32)
    classes = bytes([2]) + g.varint(thr)
    body = b""
    for c in (0, 1):
        sub = mat[[r for r in range(rows) if cls[r] == c]]
        _, gaps, _ = g.gap_symbols(sub, b)
        fillers = sum(1 for x in gaps if x == 0)
        body += g.varint(fillers) + g.s_rans(gaps, model=1)
    values = [int(v) for v in dense_sym[dense_sym >= 0]]  # row-major entry order
    row_class = [cls[r] for r in range(rows) for _ in range(counts[r])]
    payload = (g.quant_head(2, b, book) + g.s_rans(counts, lanes=2) + classes + body +
               g.s_rans(values, model=2, row_class=row_class))
    data = g.file_rans(payload, "w", 2, (rows, cols))
    expected = np.zeros((rows, cols), np.float32)
    expected[dense_sym >= 0] = np.asarray(book, np.float32)[dense_sym[dense_sym >= 0]]
    return data, {"w": expected}


def library_writer() -> tuple[bytes, dict]:
    """The reference writer with entropy="rans" (K = 12, lane rule, model choice by exact bytes)."""
    sys.path.insert(0, str(ROOT))
    import dcformat
    from dcformat import CompressionConfig

    rng = np.random.default_rng(SEED + 4)
    tensors = {"fc": (rng.standard_normal((256, 640)) * 0.05).astype(np.float32),
               "emb": rng.standard_normal((40000,)).astype(np.float32)}
    cfg = CompressionConfig(density=0.1, code_bits=5, index_bits=5, entropy="rans",
                            overrides={"emb": {"encoding": "dense", "code_bits": 4}})
    data = dcformat.encode(tensors, config=cfg)
    return data, dcformat.decode(data)  # expected: checked against the embedded decoder and the HUFFMAN file by tests


VECTORS = {
    "v11-dense-certain": (certain, "f = [0, 2^K]: a certain symbol, no words, the state stays at L"),
    "v11-dense-t2": (binary_t2, "T = 2, skewed binary values, K = 12, N = 1"),
    "v11-dense-k10-maximal": (maximal_k10, "K = 10, maximal table T = 2^K = 1024, all frequencies 1"),
    "v11-dense-k15-lanes32": (k15_lanes32, "K = 15, N = 32, the last lane owns 1 of S = 4 symbols"),
    "v11-sparse-models": (sparse_models, "row counts NONE with 2 lanes; gaps PREV_GAP with unused contexts; values "
                                         "ROW_CLASS over 2 row classes"),
    "v11-library-writer": (library_writer, "reference writer, entropy='rans': SPARSE + DENSE, writer-chosen codings"),
}


def main(check: bool = False) -> int:
    manifest, out = {}, OutputFiles(check)
    for name, (make, desc) in VECTORS.items():
        data, expected = make()
        manifest[name + ".dcf"] = {"description": desc, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                   "error_1_0": "UnsupportedFeatureError",
                                   "generator": "library" if name == "v11-library-writer" else "handmade"}
        out.bytes(HERE / f"{name}.dcf", data)
        out.npz(HERE / f"{name}.npz", expected, lambda old, e=expected: sorted(old.files) == sorted(e) and all(
            np.array_equal(old[k], np.asarray(e[k])) for k in e))
    out.manifest(HERE / "MANIFEST.json", manifest)
    return out.finish()


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
