"""Generate the golden (valid) test vectors of spec/FORMAT.md.

Provenance: written for dcformat; every input is seeded, so running this again
on any machine gives the same bytes (tests/test_vectors.py checks that the
library still decodes each file to its expected arrays and that the encoder
still writes the same bytes for the encoder-made vectors).

Usage:  python spec/vectors/generate.py            (rewrites spec/vectors/)
        python spec/vectors/generate.py --check    (exit 1 if anything would change)

Naming: v-<encoding>-<feature>.dcf, with <name>.npz holding the expected arrays
(np.load(..., allow_pickle=False)) and MANIFEST.json the SHA-256 of both files,
the settings used and what the vector covers. Vectors marked "handmade" hold
legal choices the encoder never makes; they are assembled here field by field
from the spec, not by the encoder.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))  # vector_files, shared by the generators

import dcformat  # noqa: E402
from vector_files import OutputFiles  # noqa: E402
from dcformat import CompressionConfig  # noqa: E402
from dcformat.binary import varint  # noqa: E402
from dcformat.container.format import SIGNATURE  # noqa: E402
from dcformat.container.sections import build_section  # noqa: E402
from dcformat.entropy.bitpack import pack_bits  # noqa: E402
from dcformat.entropy.huffman import huffman_encode  # noqa: E402


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def tiny_sparse() -> dict[str, np.ndarray]:
    """A 3x8 matrix with an emptied row and a long gap, small enough to dump in hex."""
    w = np.zeros((3, 8), np.float32)
    w[0, [0, 1, 7]] = [0.5, -0.25, 0.5]
    w[2, [5]] = [-0.25]
    return {"fc": w}


def conv_and_fc(seed: int) -> dict[str, np.ndarray]:
    r = rng(seed)
    return {
        "conv1.weight": (r.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32),
        "conv1.bias": r.standard_normal(8).astype(np.float32),
        "fc1.weight": (r.standard_normal((20, 72)) * 0.1).astype(np.float32),
        "fc1.bias": r.standard_normal(20).astype(np.float32),
    }


def all_dtypes() -> dict[str, np.ndarray]:
    r = rng(3)
    out = {}
    for dt in ("f4", "f2", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"):
        info = np.iinfo(dt) if dt[0] in "iu" else None
        if info is None:
            a = r.standard_normal((2, 3)).astype(dt)
            a.flat[0], a.flat[1], a.flat[2] = np.nan, -np.inf, -0.0
        else:
            a = np.array([[info.min, info.max, 0], [1, 2, 3]], dt)
        out[f"raw.{np.dtype(dt).name}"] = a
    out["raw.bool"] = np.array([True, False, True])
    return out


def gap_edges() -> dict[str, np.ndarray]:
    """b = 3: skips of 6, 7, 8 and 15 zeros around the filler stride 2**3 - 1 = 7, in a 4-D conv weight."""
    w = np.zeros((4, 2, 3, 4), np.float32)  # 4 rows x 24 columns
    flat = w.reshape(4, 24)
    flat[0, [6, 14, 23]] = [1.0, 2.0, 3.0]  # skip 6, 7, 8
    flat[1, [15]] = [4.0]  # skip 15 = 2 fillers + symbol 2
    flat[2, :] = 5.0  # full row
    flat[3, [7, 8]] = [6.0, 7.0]
    return {"conv.weight": w}


def edge_shapes() -> dict[str, np.ndarray]:
    return {
        "scalar": np.array(2.5, np.float32),
        "empty.rows": np.zeros((0, 5), np.float32),
        "empty.cols": np.zeros((5, 0), np.float32),
        "one": np.array([[0.75]], np.float32),
        "zero.rows": np.zeros((3, 4), np.float32),
        "one.value": np.array([[0.5, 0, 0.5], [0, 0.5, 0]], np.float32),
    }


def handmade_file(sections: list[tuple[bytes, bytes]], *, minor: int = 0, flags: int = 0) -> bytes:
    """Assemble a file from raw section payloads (spec §2, §3), bypassing the encoder."""
    head = struct.pack("<HHII", 1, minor, flags, len(sections))
    out = bytearray(SIGNATURE + head + struct.pack("<I", zlib.crc32(head)))
    for kind, payload in sections:
        out += build_section(kind, payload, len(out))
    return bytes(out)


def table(entries: list[tuple[str, int, int, tuple[int, ...]]]) -> bytes:
    out = [varint(len(entries))]
    for name, dtype, enc, shape in entries:
        raw = name.encode()
        out += [varint(len(raw)), raw, bytes([dtype, enc, len(shape)])] + [varint(d) for d in shape]
    return b"".join(out)


def huffman_stream(symbols: np.ndarray, lengths: list[int]) -> bytes:
    lw = max(lengths).bit_length()
    data, _ = huffman_encode(np.asarray(symbols), np.asarray(lengths, np.uint8))
    return bytes([1, lw]) + varint(len(lengths)) + varint(len(data)) + pack_bits(np.array(lengths), lw) + data


def nonoptimal_huffman() -> tuple[bytes, dict[str, np.ndarray]]:
    """SPARSE tensor whose streams use legal but non-optimal Huffman tables, a CONSTANT and a FIXED wider than needed."""
    codebook = np.array([-1.0, 0.5, 2.0], np.float32)
    rows_cols = (2, 20)
    counts = np.array([3, 2])
    # b = 2 (stride 3): row 0 entries at 0, 4, 19 ; row 1 entries at 1, 2
    # row 0: col 0 -> 1; col 4: skip 3 -> filler + 1; col 19: skip 14 -> 4 fillers + (14 % 3) + 1 = 3
    gaps = np.array([1, 0, 1, 0, 0, 0, 0, 3, 2, 1])
    values = np.array([0, 1, 2, 2, 0])
    payload = bytes([3, 2]) + varint(3) + codebook.tobytes()
    payload += bytes([0, 7]) + pack_bits(counts, 7)  # FIXED width 7 (encoder would use 2)
    payload += bytes([1])  # one row class
    payload += varint(5)  # n_fillers
    payload += huffman_stream(gaps, [3, 1, 3, 2])  # complete, not optimal for these counts
    payload += huffman_stream(values, [1, 2, 2])
    data = handmade_file([(b"TABL", table([("w", 1, 2, rows_cols)])), (b"DATA", payload)])
    w = np.zeros(rows_cols, np.float32)
    w[0, [0, 4, 19]] = codebook[[0, 1, 2]]
    w[1, [1, 2]] = codebook[[2, 0]]
    return data, {"w": w}


def future_minor_and_ancillary() -> tuple[bytes, dict[str, np.ndarray]]:
    """Version 1.7 with an ignorable flag bit and an unknown ancillary section: a 1.0 reader must accept it."""
    w = np.arange(6, dtype=np.int16).reshape(2, 3)
    raw = bytes([0]) + bytes(7) + w.astype("<i2").tobytes()
    data = handmade_file(
        [(b"TABL", table([("counter", 5, 0, (2, 3))])), (b"zNOT", b"ignored by 1.0 readers"), (b"DATA", raw)],
        minor=7,
        flags=1 << 20,
    )
    return data, {"counter": w}


def dense_constant_zero_sign() -> tuple[bytes, dict[str, np.ndarray]]:
    """DENSE with a CONSTANT value stream, and a DENSE codebook holding both -0.0 and +0.0."""
    a = np.full((3, 3), 0.125, np.float32)
    b = np.array([-0.0, 0.0, -0.0, 1.0], np.float32)
    return dcformat.encode({"a": a, "b": b}, config=CompressionConfig(encoding="dense", code_bits=2)), {"a": a, "b": b}


def row_density_spread() -> dict[str, np.ndarray]:
    """Rows of very different densities (as in trained layers), so the encoder splits the gaps into row classes."""
    r = rng(9)
    w = (r.standard_normal((64, 256)) * 0.05).astype(np.float32)
    keep = r.random((64, 256)) < np.geomspace(0.02, 0.6, 64)[:, None]
    return {"fc.weight": np.where(keep, w, 0).astype(np.float32)}


ENCODER_VECTORS = {
    "v-sparse-tiny": (tiny_sparse, {"density": None, "code_bits": 2, "index_bits": 2}, None,
                      "SPARSE, Huffman streams, emptied row, fillers (b=2); the worked example"),
    "v-sparse-fixed": (tiny_sparse, {"density": None, "code_bits": 2, "index_bits": 2, "huffman": False}, None,
                       "SPARSE in the paper's fixed-width layout (FIXED q, FIXED b)"),
    "v-sparse-kmeans": (lambda: conv_and_fc(1), {"preset": "paper"}, {"model": "conv_and_fc", "seed": 1},
                        "the paper preset: conv 8/8 bits at 35 %, FC 5/5 bits at 10 %, k-means, raw biases"),
    "v-sparse-random-init": (lambda: conv_and_fc(2), {"preset": "paper", "init": "random", "seed": 5, "code_bits": 3}, None,
                             "SPARSE with Forgy initialisation, 3-bit codes"),
    "v-sparse-gap-edges": (gap_edges, {"density": None, "code_bits": 3, "index_bits": 3}, None,
                           "gaps of exactly 2^b-1, 2^b, 2^b+1 and two fillers, a full row, 4-D shape"),
    "v-sparse-row-classes": (row_density_spread, {"density": None, "code_bits": 4, "index_bits": 4}, None,
                             "SPARSE with several row classes (one gap stream and Huffman table per class)"),
    "v-sparse-f16": (lambda: {k: v.astype(np.float16) for k, v in conv_and_fc(4).items()}, {"preset": "paper", "code_bits": 4}, None,
                     "float16 tensors: codebook rounded through float16"),
    "v-dense-huffman": (lambda: {"emb": (rng(5).standard_normal((16, 12)) * 0.3).astype(np.float32)},
                        {"encoding": "dense", "code_bits": 4}, None, "DENSE (quantized, not pruned), Huffman values"),
    "v-dense-fixed": (lambda: {"emb": (rng(5).standard_normal((16, 12)) * 0.3).astype(np.float32)},
                      {"encoding": "dense", "code_bits": 4, "huffman": False}, None, "DENSE, FIXED(q) values"),
    "v-raw-dtypes": (all_dtypes, {"encoding": "raw"}, None, "RAW of every dtype incl. NaN, -Inf, -0.0, int extremes"),
    "v-raw-zstd": (lambda: {"big": np.tile(np.arange(64, dtype=np.float32), 64)},
                   {"encoding": "raw", "raw_compression": "zstd"}, None, "RAW with a zstd frame"),
    "v-edge-shapes": (edge_shapes, {"encoding": "sparse", "density": None, "code_bits": 1, "index_bits": 1}, None,
                      "scalar, empty tensors, 1x1, an all-zero matrix (K=0), one value (K=1, CONSTANT streams)"),
}

META = {"description": "metadata vector", "unicode": "权重 ✓", "nested": {"list": [1, 2.5, None, True]}}


def build_all() -> dict[str, tuple[bytes, dict[str, np.ndarray], dict]]:
    out = {}
    for name, (make, settings, _, note) in ENCODER_VECTORS.items():
        tensors = make()
        data = dcformat.encode(tensors, config=CompressionConfig(**settings))
        expected = dcformat.decode(data)  # recorded once; later runs must match these bytes
        out[name] = (data, expected, {"settings": settings, "covers": note, "encoder": True})
    tensors = tiny_sparse()
    data = dcformat.encode(tensors, config=CompressionConfig(density=None, code_bits=2, index_bits=2), metadata=META)
    out["v-meta"] = (data, tensors, {"settings": {"density": None, "code_bits": 2, "index_bits": 2}, "metadata": META,
                                     "covers": "META section with nested JSON and non-ASCII text", "encoder": True})
    for name, make, note in [
        ("v-handmade-nonoptimal-huffman", nonoptimal_huffman,
         "handmade: non-optimal complete Huffman tables, a FIXED stream wider than needed, filler runs"),
        ("v-handmade-minor7-ancillary", future_minor_and_ancillary,
         "handmade: minor version 7, ignorable flag bit 20, unknown ancillary section zNOT"),
        ("v-dense-constant-signed-zero", dense_constant_zero_sign,
         "DENSE with a CONSTANT stream and a codebook holding -0.0 and +0.0"),
    ]:
        data, expected = make()
        out[name] = (data, expected, {"covers": note, "encoder": name.startswith("v-dense")})
    return out


def main(check: bool = False) -> int:
    vectors = build_all()
    manifest = {}
    out = OutputFiles(check)
    for name, (data, expected, info) in sorted(vectors.items()):
        entry = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), **info}
        if "zstd" in json.dumps(info.get("settings", {})):
            # zstd's output bytes depend on the libzstd version; a different version may only decode the vector.
            import zstandard

            entry["zstd_version"] = zstandard.ZSTD_VERSION
            dcf = HERE / f"{name}.dcf"
            if check and dcf.exists() and dcf.read_bytes() != data:
                old = json.loads((HERE / "MANIFEST.json").read_text()).get(name + ".dcf", {})
                if old.get("zstd_version") != zstandard.ZSTD_VERSION:
                    manifest[name + ".dcf"] = old
                    continue
        manifest[name + ".dcf"] = entry
        out.bytes(HERE / f"{name}.dcf", data)
        out.npz(HERE / f"{name}.npz", expected, lambda old, e=expected: set(old.files) == set(e) and all(
            old[k].dtype == e[k].dtype and old[k].tobytes() == np.asarray(e[k]).tobytes() for k in e))
    out.manifest(HERE / "MANIFEST.json", manifest, ensure_ascii=False)
    out.changed += write_example(check)
    return out.finish()


def example_markdown(data: bytes) -> str:
    """Annotate v-sparse-tiny field by field. The field list follows FORMAT.md; values are read from the bytes."""
    import struct as st

    rows: list[tuple[int, int, str, str]] = []
    pos = 0

    def field(n: int, name: str, meaning: str) -> None:
        nonlocal pos
        rows.append((pos, n, name, meaning))
        pos += n

    u16 = lambda o: st.unpack_from("<H", data, o)[0]  # noqa: E731
    u32 = lambda o: st.unpack_from("<I", data, o)[0]  # noqa: E731
    u64 = lambda o: st.unpack_from("<Q", data, o)[0]  # noqa: E731
    field(8, "signature", "\\x89 D C F \\r \\n \\x1a \\n (§2.1)")
    field(2, "version_major", f"{u16(8)}")
    field(2, "version_minor", f"{u16(10)}")
    field(4, "flags", "no flags")
    field(4, "section_count", f"{u32(16)} sections: TABL, DATA")
    field(4, "header_crc", f"CRC-32 of bytes 8..19 = {u32(20):#010x}")
    # TABL
    field(4, "TABL.kind", "critical section: tensor table (§4)")
    field(4, "TABL.flags", "0")
    tlen = u64(pos)
    field(8, "TABL.length", f"{tlen} payload bytes")
    field(1, "tensor_count", f"varint {data[pos]}")
    field(1, "name_len", f"varint {data[pos]}")
    field(2, "name", repr(data[pos:pos + 2].decode()))
    field(1, "dtype", "1 = float32")
    field(1, "encoding", "2 = SPARSE")
    field(1, "ndim", f"{data[pos]}")
    field(1, "shape[0]", f"{data[pos]} rows")
    field(1, "shape[1]", f"{data[pos]} columns")
    field(4, "TABL.crc", f"CRC-32 of the section's kind..payload = {u32(pos):#010x}")
    field(3, "padding", "to the next multiple of 8")
    # DATA
    field(4, "DATA.kind", "critical section: payload of tensor 0 (§5)")
    field(4, "DATA.flags", "0")
    field(8, "DATA.length", f"{u64(pos)} payload bytes")
    field(1, "code_bits", f"q = {data[pos]}")
    field(1, "index_bits", f"b = {data[pos]}: gap symbols 1..3 skip 0..2 zeros, symbol 0 is a filler (skip 3)")
    k = data[pos]
    field(1, "codebook_size", f"K = {k}")
    for i in range(k):
        field(4, f"codebook[{i}]", f"{st.unpack_from('<f', data, pos)[0]}")
    field(1, "row_counts.coding", "0 = FIXED")
    field(1, "row_counts.width", f"{data[pos]} bits")
    field(1, "row_counts.data", f"{data[pos]:08b}: counts 3, 0, 1 + 2 zero padding bits")
    field(1, "n_classes", f"{data[pos]}: one row class, so no thresholds follow")
    field(1, "n_fillers[0]", f"varint {data[pos]}")
    field(1, "gaps[0].coding", "0 = FIXED")
    field(1, "gaps[0].width", f"{data[pos]} bits (= b)")
    field(2, "gaps[0].data", f"{data[pos]:08b} {data[pos + 1]:08b}: 1 1 0 3 (row 0), 0 3 (row 2), 4 padding bits")
    field(1, "values.coding", "0 = FIXED")
    field(1, "values.width", f"{data[pos]} bit (bit length of the largest symbol)")
    field(1, "values.data", f"{data[pos]:08b}: 1 0 1 0 -> 0.5, -0.25, 0.5, -0.25")
    field(4, "DATA.crc", f"{u32(pos):#010x}")
    field(len(data) - pos, "padding", "to the next multiple of 8; the file ends here")
    assert pos == len(data)
    lines = [
        "# Worked example: `spec/vectors/v-sparse-tiny.dcf`",
        "",
        "Generated by `spec/vectors/generate.py` (do not edit by hand). The file stores one float32 tensor `fc` of",
        "shape (3, 8) with the weights below, encoded SPARSE with q = 2, b = 2 and no further pruning (its four",
        "nonzeros take two distinct values, so they are stored exactly):",
        "",
        "```",
        "row 0:  0.5  -0.25  0  0  0  0  0  0.5",
        "row 1:  0     0     0  0  0  0  0  0",
        "row 2:  0     0     0  0  0 -0.25 0  0",
        "```",
        "",
        "Row 0's third entry is 5 zeros after the second, more than b = 2 bits can say directly (at most 2 zeros),",
        "so a filler (symbol 0, skip 3) comes first and the entry follows with symbol 3 (skip 2). Row 2 likewise.",
        "All streams are FIXED because, at this size, a Huffman table would cost more than it saves.",
        "",
        "| offset | bytes | field | meaning |",
        "|---|---|---|---|",
    ]
    for off, n, name, meaning in rows:
        lines.append(f"| {off:#06x} | `{data[off:off + n].hex(' ')}` | {name} | {meaning} |")
    lines += [
        "",
        "Decoding: `indptr = [0, 3, 3, 4]`; row 0's gaps 1, 1, 0, 3 give columns 0, 1, then cursor 2 + 3 = 5, column",
        "5 + 3 − 1 = 7; row 2's gaps 0, 3 give column 3 + 3 − 1 = 5. Values index the codebook [−0.25, 0.5].",
        "",
        "Larger tensors usually get several row classes (`v-sparse-row-classes.dcf`): rows are grouped by their entry",
        "count, and each group's gaps get their own stream and Huffman table.",
        "",
        "For a HUFFMAN stream see `v-handmade-nonoptimal-huffman.dcf`: its gap stream is",
        "`01 02 04 <nbytes> <lengths> <codewords>`: coding 1, lw = 2 bits per code length, T = 4 lengths [3, 1, 3, 2]",
        "(packed MSB first: `11 01 11 10` = 0xDE), so the canonical codes are 1 → `0`, 3 → `10`, 0 → `110`, 2 → `111`.",
        "",
    ]
    return "\n".join(lines)


def write_example(check: bool) -> list[str]:
    text = example_markdown((HERE / "v-sparse-tiny.dcf").read_bytes())
    path = HERE.parent / "EXAMPLE.md"
    if path.exists() and path.read_text() == text:
        return []
    if not check:
        path.write_text(text)
    return [path.name]


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
