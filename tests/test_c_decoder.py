"""The C99 single-header decoder (decoders/c/dcformat.h) against the spec's vectors and the library.

Oracles: the golden vectors' expected .npz files, the negative vectors' manifest (the spec's verdict), scipy's CSR of
the expected dense arrays, and the Python library (an independent implementation; its optional C extension, built
from this header, is switched off here) on files it writes from
hypothesis-generated tensors and on mutated files. The driver is compiled once per session and fed many files per
process. DCFORMAT_C_SANITIZE=1 builds it with AddressSanitizer + UndefinedBehaviorSanitizer (CI runs this file
again that way); DCFORMAT_CC picks the compiler (default: cc).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dcformat
from dcformat import CompressionConfig

ROOT = Path(__file__).resolve().parents[1]
CDIR = ROOT / "decoders" / "c"
VALID = ROOT / "spec" / "vectors"
INVALID = VALID / "invalid"
VALID_NAMES = sorted(p.name for p in VALID.glob("*.dcf"))
V11 = VALID / "v1_1"
V11_NAMES = sorted(p.name for p in V11.glob("*.dcf"))
MANIFEST = json.loads((INVALID / "manifest.json").read_text())
INVALID_NAMES = sorted(MANIFEST)

DTYPES = {1: "<f4", 2: "<f2", 3: "<f8", 4: "i1", 5: "<i2", 6: "<i4", 7: "<i8", 8: "u1", 9: "<u2", 10: "<u4",
          11: "<u8", 12: "?"}
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = os.environ.get("DCFORMAT_C_SANITIZE") == "1"
RUN_ENV = {**os.environ, "ASAN_OPTIONS": "allocator_may_return_null=1:detect_leaks=1",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}


@pytest.fixture(autouse=True)
def library_without_the_c_extension(monkeypatch):
    """The library side of every comparison decodes with its own NumPy/numba paths: with DCFORMAT_CDECODE unset it
    would hand payloads to dcformat._cdecode, i.e. to this very header, and the comparison would be with itself."""
    monkeypatch.setenv("DCFORMAT_CDECODE", "0")


def _compiler() -> str | None:
    cc = os.environ.get("DCFORMAT_CC", "cc")
    return shutil.which(cc)


def _has_zstd(cc: str, out: Path) -> bool:
    probe = out / "probe.c"
    probe.write_text("#include <zstd.h>\nint main(void){return (int)ZSTD_versionNumber() < 0;}\n")
    return subprocess.run([cc, str(probe), "-o", str(out / "probe"), "-lzstd"], capture_output=True).returncode == 0


class Builds:
    def __init__(self, cc: str, out: Path) -> None:
        self.out = out
        flags = STRICT + (["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
                          if SANITIZE else ["-O2"])
        self.plain = self._build(cc, "dcf_driver", flags, [])
        self.zstd = self._build(cc, "dcf_driver_zstd", flags + ["-DDCFORMAT_WITH_ZSTD"], ["-lzstd"]) \
            if _has_zstd(cc, out) else None

    def _build(self, cc: str, name: str, flags: list[str], libs: list[str]) -> Path:
        exe = self.out / name
        cmd = [cc, *flags, "-o", str(exe), str(CDIR / "tests" / "dcf_driver.c"), *libs]
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr}"
        assert done.stderr == "", done.stderr  # no warnings at all
        return exe

    def binaries(self) -> list[Path]:
        return [self.plain] + ([self.zstd] if self.zstd else [])


@pytest.fixture(scope="session")
def builds() -> Builds:
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler (set DCFORMAT_CC)")
    out = Path(tempfile.mkdtemp(prefix="dcf_c_"))
    try:
        yield Builds(cc, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_driver(exe: Path, blobs: list[bytes], dump: Path | None = None) -> list[dict]:
    """Decode many files in one driver process (length-prefixed on stdin); one result dict per file."""
    payload = b"".join(struct.pack("<Q", len(b)) + b for b in blobs)
    args = [str(exe), "dump", str(dump), "-"] if dump else [str(exe), "check", "-"]
    done = subprocess.run(args, input=payload, capture_output=True, env=RUN_ENV, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    assert b"runtime error" not in done.stderr and b"Sanitizer" not in done.stderr, done.stderr.decode()[-4000:]
    # one JSON line per file; messages quote names cut at 60 bytes (maybe inside a UTF-8 sequence, maybe holding U+0085)
    rows = [json.loads(line) for line in done.stdout.decode(errors="replace").split("\n") if line]
    assert [r["index"] for r in rows] == list(range(len(blobs)))
    return rows


def read_dump(dump: Path, fi: int, row: dict) -> dict[str, dict]:
    """The dense array and (for quantized tensors) CSR arrays the driver wrote for file fi."""
    out = {}
    for ti, t in enumerate(row["tensors"]):
        dense = np.fromfile(dump / f"{fi}_{ti}.dense", np.dtype(DTYPES[t["dtype"]])).reshape(t["shape"])
        entry = {"dense": dense, "encoding": t["encoding"]}
        if t["encoding"] != 0:
            entry["indptr"] = np.fromfile(dump / f"{fi}_{ti}.indptr", "<u8")
            entry["indices"] = np.fromfile(dump / f"{fi}_{ti}.indices", "<u4")
            entry["codes"] = np.fromfile(dump / f"{fi}_{ti}.codes", "<u2")
            entry["codebook"] = np.fromfile(dump / f"{fi}_{ti}.codebook", "<f4")
        out[t["name"]] = entry
    return out


def _same_array(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype, what
    assert got.shape == want.shape, what
    assert got.tobytes() == want.tobytes(), what


def _matrix(a: np.ndarray) -> np.ndarray:
    rows = a.shape[0] if a.ndim >= 2 else 1
    cols = int(np.prod(a.shape[1:])) if a.ndim >= 2 else a.size
    return a.reshape(rows, cols)


def check_csr(entry: dict, want_dense: np.ndarray, what: str) -> None:
    """The driver's CSR against scipy's CSR of the expected dense array (an independent oracle)."""
    scipy_sparse = pytest.importorskip("scipy.sparse")
    wide = np.float32 if want_dense.dtype == np.float16 else want_dense.dtype  # scipy has no float16 (exact widening)
    m = scipy_sparse.csr_matrix(_matrix(want_dense).astype(wide))
    m.eliminate_zeros()  # -0.0 is a zero too
    values = entry["codebook"][entry["codes"]].astype(want_dense.dtype) if entry["codes"].size else \
        np.zeros(0, want_dense.dtype)
    assert entry["indptr"].tolist() == m.indptr.tolist(), what
    assert entry["indices"].tolist() == m.indices.tolist(), what
    assert values.astype(wide).tobytes() == m.data.astype(wide).tobytes(), what


def compare_with_library(data: bytes, got: dict[str, dict], what: str) -> None:
    want = dcformat.decode(data)
    assert list(got) == list(want), what
    with dcformat.open(data) as f:
        for name, arr in want.items():
            _same_array(got[name]["dense"], arr, f"{what}: {name}")
            if got[name]["encoding"] != 0:
                indptr, indices, values = f.csr(name)
                e = got[name]
                assert e["indptr"].tolist() == indptr.tolist(), f"{what}: {name}"
                assert e["indices"].tolist() == indices.tolist(), f"{what}: {name}"
                mine = e["codebook"][e["codes"]].astype(arr.dtype) if e["codes"].size else np.zeros(0, arr.dtype)
                assert mine.tobytes() == np.asarray(values, arr.dtype).tobytes(), f"{what}: {name}"


# ---------------------------------------------------------------------------------------------------------------------
# Golden and negative vectors
# ---------------------------------------------------------------------------------------------------------------------


def test_golden_vectors_decode_exactly(builds: Builds, tmp_path: Path) -> None:
    blobs = [(VALID / n).read_bytes() for n in VALID_NAMES]
    for exe in builds.binaries():
        dump = tmp_path / exe.name
        dump.mkdir()
        rows = run_driver(exe, blobs, dump)
        for fi, (name, row) in enumerate(zip(VALID_NAMES, rows)):
            if name == "v-raw-zstd.dcf" and exe == builds.plain:
                assert row["status"] == "ZstdUnsupported", row
                continue
            assert row["status"] == "OK" and row["csr_status"] == "OK", (name, row)
            got = read_dump(dump, fi, row)
            with np.load(VALID / name.replace(".dcf", ".npz"), allow_pickle=False) as npz:
                assert list(got) == list(npz.files) or sorted(got) == sorted(npz.files), name
                for tname in npz.files:
                    _same_array(got[tname]["dense"], npz[tname], f"{name}: {tname}")
                    if got[tname]["encoding"] != 0:
                        check_csr(got[tname], npz[tname], f"{name}: {tname}")
            with dcformat.open(blobs[fi]) as f:  # META/GRPH payloads are exposed whole
                assert row["meta_len"] == (len(json.dumps(f.metadata, separators=(",", ":"), sort_keys=True,
                                                          ensure_ascii=False).encode()) if f.metadata else 0), name
                assert row["graph_len"] == len(f.graph_bytes or b""), name


def test_invalid_vectors_rejected_with_the_manifest_class(builds: Builds) -> None:
    """Every negative vector, graph-schema defects (GRAPH.md §2-§4) and the format 1.1 RANS defects (x-rans-*)
    included, fails with the manifest's class and names the manifest's tensor."""
    blobs = [(INVALID / n).read_bytes() for n in INVALID_NAMES]
    for exe in builds.binaries():
        rows = run_driver(exe, blobs)
        counts = {"exact": 0, "graph": 0, "rans": 0, "zstd-unsupported": 0}
        for name, row in zip(INVALID_NAMES, rows):
            info = MANIFEST[name]
            want = info["error"].removesuffix("Error")  # a 1.1 reader: the spec's class, not the 1.0 reader's
            if exe == builds.plain and want == "Decompression" and row["status"] == "ZstdUnsupported":
                counts["zstd-unsupported"] += 1
                continue
            assert row["status"] == want, (name, info["description"], row)
            assert row["csr_status"] in ("OK", want), (name, row)
            assert "offset" in row and row["field"], (name, row)
            if "tensor" in info:
                assert row["tensor"] == info["tensor"], (name, row)
            counts["exact"] += 1
            counts["graph"] += want == "Graph"
            counts["rans"] += name.startswith("x-rans-")
        print(exe.name, counts)
        assert counts["exact"] + counts["zstd-unsupported"] == len(INVALID_NAMES)
        assert counts["graph"] == sum(info["error"] == "GraphError" for info in MANIFEST.values())
        assert counts["rans"] == sum(n.startswith("x-rans-") for n in INVALID_NAMES) >= 25


def test_format_1_1_vectors_decode_exactly(builds: Builds, tmp_path: Path) -> None:
    """Every 1.1 golden vector (RANS streams: every model, K = 10..15, 1-32 lanes, certain symbols, maximal tables)
    equals its .npz bit for bit, scipy's CSR of it, and the library's dense and CSR decode."""
    assert len(V11_NAMES) >= 6
    blobs = [(V11 / n).read_bytes() for n in V11_NAMES]
    for exe in builds.binaries():
        dump = tmp_path / exe.name
        dump.mkdir()
        rows = run_driver(exe, blobs, dump)
        for fi, (name, row) in enumerate(zip(V11_NAMES, rows)):
            assert row["status"] == "OK" and row["csr_status"] == "OK", (name, row)
            got = read_dump(dump, fi, row)
            with np.load(V11 / name.replace(".dcf", ".npz"), allow_pickle=False) as npz:
                assert sorted(got) == sorted(npz.files), name
                for tname in npz.files:
                    _same_array(got[tname]["dense"], npz[tname], f"{name}: {tname}")
                    check_csr(got[tname], npz[tname], f"{name}: {tname}")
            compare_with_library(blobs[fi], got, name)


def test_rans_flag_rules_at_the_preamble(builds: Builds) -> None:
    """§2.2: bit 0 with version_minor 0 and any other must-understand bit are UnsupportedFeature at `flags`; bit 0
    in a file without RANS streams is valid (the library agrees on each)."""
    import zlib

    def with_header(data: bytes, minor: int, flags: int) -> bytes:
        b = bytearray(data)
        struct.pack_into("<HI", b, 10, minor, flags)
        struct.pack_into("<I", b, 20, zlib.crc32(bytes(b[8:20])))
        return bytes(b)

    v10 = (VALID / "v-sparse-row-classes.dcf").read_bytes()
    v11 = (V11 / "v11-sparse-models.dcf").read_bytes()
    cases = [(with_header(v10, 1, 1), "OK"), (with_header(v10, 7, 1 | 0xFFFF0000), "OK"),
             (with_header(v10, 0, 1), "UnsupportedFeature"), (with_header(v11, 1, 3), "UnsupportedFeature"),
             (with_header(v11, 1, 0x8001), "UnsupportedFeature"), (with_header(v11, 2, 1), "OK")]
    rows = run_driver(builds.plain, [c[0] for c in cases])
    for (blob, want), row in zip(cases, rows):
        assert row["status"] == want, row
        if want != "OK":
            assert row["field"] == "flags" and row["offset"] == 12, row
        assert _library_accepts(blob) == (want == "OK"), row


# ---------------------------------------------------------------------------------------------------------------------
# Files written by the library from generated tensors and settings
# ---------------------------------------------------------------------------------------------------------------------

SHAPES = st.sampled_from([(), (0,), (1,), (7,), (0, 5), (5, 0), (1, 1), (3, 8), (17, 33), (64, 40), (4, 3, 3, 3),
                          (8, 2, 5, 5), (2, 300), (130, 2)])


@st.composite
def cases(draw) -> tuple[dict[str, np.ndarray], CompressionConfig]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tensors = {}
    for i in range(draw(st.integers(1, 4))):
        shape = draw(SHAPES)
        dtype = draw(st.sampled_from([np.float32, np.float32, np.float16, np.float64, np.int8, np.int32, np.uint16,
                                      np.int64, np.bool_]))
        if dtype == np.bool_:
            a = rng.integers(0, 2, shape).astype(bool)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            a = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
        else:
            a = np.array(rng.standard_normal(shape) * draw(st.sampled_from([0.01, 1.0, 30.0])))
            if draw(st.booleans()) and a.size:
                a[np.asarray(rng.random(shape) < draw(st.floats(0.0, 1.0)))] = 0.0  # explicit zeros, incl. all-zero
            if draw(st.booleans()) and a.size:
                a = np.round(a * 4) / 4  # few distinct values: the lossless codebook path
            a = a.astype(dtype)
        tensors[f"t{i}.{'/'.join(map(str, shape))}"] = a
    encoding = draw(st.sampled_from(["auto", "sparse", "sparse", "dense", "raw"]))
    huffman = draw(st.booleans())
    config = dict(encoding=encoding, huffman=huffman,
                  entropy="rans" if huffman and draw(st.booleans()) else "huffman",
                  code_bits=draw(st.one_of(st.none(), st.integers(1, 9))),
                  raw_compression=draw(st.sampled_from(["none", "none", "zstd"])))
    if encoding in ("sparse", "auto"):
        config["index_bits"] = draw(st.one_of(st.none(), st.integers(1, 8)))
        config["density"] = draw(st.sampled_from(["auto", None, 0.01, 0.1, 0.5, 1.0]))
    return tensors, CompressionConfig(**config)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(cases(), min_size=4, max_size=8))
def test_library_written_files_decode_identically(builds: Builds, batch) -> None:
    blobs = [dcformat.encode(tensors, config=config) for tensors, config in batch]
    exe = builds.zstd or builds.plain
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_driver(exe, blobs, Path(tmp))
        for fi, (blob, row) in enumerate(zip(blobs, rows)):
            if row["status"] == "ZstdUnsupported" and exe == builds.plain:
                continue
            assert row["status"] == "OK" and row["csr_status"] == "OK", row
            compare_with_library(blob, read_dump(Path(tmp), fi, row), f"file {fi} ({batch[fi][1]})")


def test_large_sparse_tensors_with_row_classes(builds: Builds, tmp_path: Path) -> None:
    """Several row classes, long Huffman codes and the multi-symbol fast path on realistic sizes."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((512, 700)) * 0.05).astype(np.float32)
    w[rng.random(512) < 0.3] *= rng.random((1, 700)) < 0.02  # very sparse rows next to dense ones
    c = (rng.standard_normal((64, 32, 3, 3))).astype(np.float16)
    blobs = [dcformat.encode({"w": w, "c": c}, config=CompressionConfig(density=d, code_bits=q, index_bits=b,
                                                                      entropy=e))
             for d, q, b in [(0.1, 5, 5), (0.02, 8, 3), (0.6, 4, 1), (0.1, 16, 16)] for e in ("huffman", "rans")]
    rows = run_driver(builds.plain, blobs, tmp_path)
    models = set()
    for fi, (blob, row) in enumerate(zip(blobs, rows)):
        assert row["status"] == "OK", row
        compare_with_library(blob, read_dump(tmp_path, fi, row), f"file {fi}")
        with dcformat.open(blob) as f:
            for name in ("w", "c"):
                models |= {(key.split("[")[0], info.rans.model, len(info.rans.states))
                           for key, info in f.streams(name).items() if info.coding == "rans"}
    assert len(models) >= 3, models  # RANS streams of several kinds (lanes, K and models as the writer chose)


# ---------------------------------------------------------------------------------------------------------------------
# Mutations: the C decoder and the library agree on accept / reject
# ---------------------------------------------------------------------------------------------------------------------

MUTATED = ["v-sparse-row-classes.dcf", "v-sparse-f16.dcf", "v-dense-huffman.dcf", "v-meta.dcf", "v-raw-dtypes.dcf",
           "v-handmade-nonoptimal-huffman.dcf", "v-edge-shapes.dcf", "v-raw-zstd.dcf"]


def _library_accepts(data: bytes) -> bool:
    try:
        dcformat.decode(data)
    except dcformat.FormatError:
        return False
    return True


def _mutants(data: bytes, rng: np.random.Generator, flips: int) -> list[bytes]:
    out = [data[:n] for n in range(len(data))]  # every truncation
    for _ in range(flips):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 3))):
            i = int(rng.integers(len(b)))
            b[i] ^= 1 << int(rng.integers(8))
        out.append(bytes(b))
    for _ in range(flips // 4):  # a byte set to an extreme value, with the CRCs fixed so the payload is reached
        b = bytearray(data)
        i = int(rng.integers(24, len(b)))
        b[i] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF]))
        out.append(_fix_crcs(bytes(b)))
    return out


def _fix_crcs(data: bytes) -> bytes:
    """Recompute section CRCs where the framing still parses (so payload checks are exercised, not only CRCs)."""
    import zlib

    b = bytearray(data)
    pos = 24
    try:
        count = struct.unpack_from("<I", b, 16)[0]
        for _ in range(count):
            length = struct.unpack_from("<Q", b, pos + 8)[0]
            end = pos + 16 + length
            if end + 4 > len(b):
                break
            struct.pack_into("<I", b, end, zlib.crc32(bytes(b[pos:end])))
            pos = (end + 4 + 7) & ~7
    except struct.error:
        pass
    return bytes(b)


def test_mutants_accepted_and_rejected_like_the_library(builds: Builds) -> None:
    rng = np.random.default_rng(2026)
    exe = builds.zstd or builds.plain
    blobs = []
    for name in MUTATED:
        if name == "v-raw-zstd.dcf" and builds.zstd is None:
            continue
        blobs += _mutants((VALID / name).read_bytes(), rng, 120)
    rows = run_driver(exe, blobs)
    disagree = []
    both_reject = same_class = 0
    for blob, row in zip(blobs, rows):
        c_ok = row["status"] == "OK"
        py_ok = _library_accepts(blob)
        if c_ok != py_ok:
            disagree.append((blob.hex(), row))
        elif not c_ok:
            both_reject += 1
            try:
                dcformat.decode(blob)
            except dcformat.FormatError as exc:
                same_class += type(exc).__name__ == row["status"] + "Error"
    assert not disagree, disagree[:3]
    assert both_reject > len(blobs) // 2
    print(f"{len(blobs)} mutants, {both_reject} rejected by both, same class on {same_class}")


def test_rans_mutants_accepted_and_rejected_like_the_library(builds: Builds) -> None:
    """Truncations, bit flips and CRC-fixed byte edits of every 1.1 vector (most edits land in RANS headers, tables,
    states and words): the C decoder accepts exactly what the library accepts, with the library's class."""
    import random

    from mutants import fix_crcs  # tests/mutants.py

    rng = np.random.default_rng(1101)
    blobs = []
    for name in V11_NAMES:
        data = (V11 / name).read_bytes()
        cuts = rng.choice(len(data), size=min(len(data), 250), replace=False)  # truncations (sampled: one file is 38 KB)
        blobs += [data[:int(n)] for n in cuts] + _mutants(data, rng, 60)[len(data):]
        r = random.Random(name)
        for _ in range(150):  # CRC-fixed edits inside the DATA payloads, where the RANS streams are
            b = bytearray(data)
            for _ in range(r.randint(1, 3)):
                i = r.randrange(min(len(b) - 1, 80), len(b))
                b[i] = r.choice([b[i] ^ (1 << r.randrange(8)), 0, 0xFF, r.randrange(256)])
            blobs.append(fix_crcs(bytes(b)))
    rows = run_driver(builds.zstd or builds.plain, blobs)
    disagree, classes, other = [], {}, []
    for blob, row in zip(blobs, rows):
        try:
            dcformat.decode(blob)
            py = "OK"
        except dcformat.FormatError as exc:
            py = type(exc).__name__.removesuffix("Error")
        if (py == "OK") != (row["status"] == "OK"):
            disagree.append((py, row))
        elif py != row["status"]:  # several defects (a mutant of the framing): either class is conforming (§9)
            other.append((py, row["status"]))
        classes[py] = classes.get(py, 0) + 1
    assert not disagree, disagree[:3]
    print(sorted(set(other)))
    assert classes.get("RansTable", 0) and classes.get("Bitstream", 0) and classes.get("OK", 0), classes
    print(f"{len(blobs)} 1.1 mutants, classes {classes}")


def test_fuzz_regressions_like_the_library(builds: Builds) -> None:
    """Inputs the fuzzer once crashed on (decoders/c/fuzz/regressions/, found by fuzz/fuzz_dcformat.c), as they are
    and with their CRCs fixed as the harness runs them: accepted or rejected as the library does, and (under
    DCFORMAT_C_SANITIZE=1) without a sanitizer report."""
    from mutants import fix_crcs  # tests/mutants.py

    paths = sorted((CDIR / "fuzz" / "regressions").glob("*.bin"))
    assert paths
    blobs = [b for p in paths for b in (p.read_bytes(), fix_crcs(p.read_bytes()))]
    for blob, row in zip(blobs, run_driver(builds.zstd or builds.plain, blobs)):
        assert (row["status"] == "OK") == _library_accepts(blob), row


def _invalid_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_invalid", INVALID / "generate_invalid.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rich_graph() -> dict:
    """A graph_version 2 graph using every op of GRAPH.md §4 (schema only: shapes are not checked at open)."""
    n = [("Linear", ["x", "fc.w", "fc.b"], {}), ("Linear", ["x", "fc.w"], {}), ("ReLU", None, {}), ("ReLU6", None, {}),
         ("Clip", None, {"min": None, "max": 6}), ("Clip", None, {"min": -1.5e0}), ("HardSigmoid", None, {"alpha": 1}),
         ("HardSwish", None, {}), ("Sigmoid", None, {}), ("LRN", None, {"size": 5, "bias": 2, "beta": 0.75}),
         ("Softmax", None, {"axis": -8}), ("MaxPool", None, {"kernel": [3, 3], "ceil_mode": True}),
         ("AvgPool", None, {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 1, 0, 1], "count_include_pad": False}),
         ("GlobalAvgPool", None, {}), ("Concat", "2", {"axis": 1}), ("Add", "2", {}), ("Sub", "2", {}), ("Mul", "2", {}),
         ("Div", "2", {}), ("MatMul", "2", {}), ("ChannelShuffle", None, {"groups": 2}), ("Flatten", None, {"axis": 8}),
         ("Reshape", None, {"shape": [0, -1, 2147483647]}), ("Transpose", None, {"perm": [1, 0, 2]}),
         ("Dropout", None, {"ratio": 1}), ("Identity", None, {}),
         ("Conv2d", ["v3", "fc.w"], {"stride": [1, 2], "padding": [0, 0, 1, 1], "dilation": [1, 1], "groups": 1}),
         ("BatchNorm", ["v4", "fc.b", "fc.b", "fc.b", "fc.b"], {"epsilon": 1e-5})]
    nodes, last = [], "x"
    for i, (op, ins, attrs) in enumerate(n):
        ins = [last] if ins is None else [last, "x"] if ins == "2" else ins
        nodes.append({"op": op, "name": f"n{i}", "inputs": ins, "outputs": [f"v{i}"], "attrs": attrs})
        last = f"v{i}"
    nodes.append({"op": "Split", "name": "sp", "inputs": [last], "outputs": ["a", "b"], "attrs": {"axis": 0, "split": [1, 0]}})
    return {"graph_version": 2, "inputs": [{"name": "x", "shape": ["N", 4, 8, "_h9"], "dtype": "float32"}],
            "outputs": [{"name": "a", "shape": [None, 0, 2147483647], "dtype": "float32"},
                        {"name": "v3", "shape": [], "dtype": "float32"}], "nodes": nodes}


_POOL = [0, 1, -1, 2, 3, 7, 8, -8, -9, 1023, 1024, 2**31 - 1, 2**31, 10**20, 0.5, 1.0, -0.0, 1e-7, 2.5e-6, 1e300,
         True, False, None, "", "N", "x", "v0", "fc.w", "fc.b", "a\n", "\u0085", "é", "9N", "N" * 65, "A" * 1025,
         "float32", "float16", [], [0], [1, 0], [0, 0], [1, 1], [-1, -1], [0, 1, 2, 3, 4, 5, 6, 7, 8], [0] * 65, {},
         {"axis": 1}, "ReLU", "LRN", "Swish", "Linear"]


def _graph_mutant(doc: dict, rng: np.random.Generator) -> dict:
    """One random schema-level edit: a value replaced, a key dropped or added, nodes reordered or duplicated."""
    import copy

    doc = copy.deepcopy(doc)
    paths = []  # (container, key) pairs over the whole document

    def walk(obj):
        items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
        for k, v in items:
            paths.append((obj, k))
            walk(v)

    walk(doc)
    what = int(rng.integers(6))
    obj, key = paths[int(rng.integers(len(paths)))]
    value = _POOL[int(rng.integers(len(_POOL)))]
    if isinstance(value, str):
        value = value.replace("\\n", "\n").replace("\\u0085", "\x85")
    if what <= 2:
        obj[key] = value
    elif what == 3 and isinstance(obj, dict):
        del obj[key]
    elif what == 3:
        obj.pop(key)
    elif what == 4 and isinstance(obj, dict):
        obj[str(value) if not isinstance(value, str) else value or "k"] = 0
    elif what == 4:
        obj.insert(key, value)
    else:
        nodes = doc["nodes"] if isinstance(doc.get("nodes"), list) else []
        if nodes:
            i, j = int(rng.integers(len(nodes))), int(rng.integers(len(nodes)))
            nodes[i], nodes[j] = nodes[j], copy.deepcopy(nodes[i])
    return doc


def test_graph_mutants_accepted_and_rejected_like_the_library(builds: Builds) -> None:
    """GRAPH.md §2-§4 against the library: schema edits of a graph using every op, and byte edits of its JSON text."""
    gen = _invalid_generator()
    rng = np.random.default_rng(10)
    docs = [gen.graph_doc(), _rich_graph()]
    payloads = [json.dumps(d, separators=(",", ":")).encode() for d in docs]
    payloads.append(json.dumps(docs[1], indent=1, ensure_ascii=True).encode())  # whitespace, \u escapes
    for _ in range(700):
        doc = _graph_mutant(docs[int(rng.integers(2))], rng)
        for _ in range(int(rng.integers(0, 3))):
            doc = _graph_mutant(doc, rng)
        payloads.append(json.dumps(doc, ensure_ascii=bool(rng.integers(2)), sort_keys=bool(rng.integers(2))).encode())
    for _ in range(300):  # byte edits of the text: syntax, UTF-8, escapes, numbers
        b = bytearray(payloads[int(rng.integers(3))])
        i = int(rng.integers(len(b)))
        edit = int(rng.integers(3))
        if edit == 0:
            b[i] ^= 1 << int(rng.integers(8))
        elif edit == 1:
            del b[i]
        else:
            b[i:i] = bytes([int(rng.choice([0x22, 0x5C, 0x7B, 0x5B, 0x2C, 0x30, 0x2D, 0x65, 0xC3, 0xED, 0xEF]))])
        payloads.append(bytes(b))
    blobs = [gen.graph_file(p) for p in payloads]
    rows = run_driver(builds.plain, blobs)
    disagree, accepted = [], 0
    for payload, blob, row in zip(payloads, blobs, rows):
        try:
            dcformat.decode(blob)
            py = "OK"
        except dcformat.FormatError as exc:
            py = type(exc).__name__.removesuffix("Error")
        if row["status"] != py:
            disagree.append((payload[:300], py, row.get("message")))
        accepted += py == "OK"
    assert not disagree, disagree[:3]
    assert rows[0]["status"] == rows[1]["status"] == rows[2]["status"] == "OK"
    assert 30 < accepted < len(blobs) - 300, accepted  # both outcomes are exercised
    print(f"{len(blobs)} graph mutants, {accepted} accepted by both, the rest rejected by both as Graph")


# ---------------------------------------------------------------------------------------------------------------------
# The API test program and the LeNet-300-100 example app
# ---------------------------------------------------------------------------------------------------------------------


def _build_extra(builds: Builds, source: str, name: str) -> Path:
    cc = _compiler()
    flags = STRICT + (["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"] if SANITIZE
                      else ["-O2"])
    exe = builds.out / name
    done = subprocess.run([cc, *flags, "-o", str(exe), str(CDIR / source)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return exe


def test_api_allocator_limits_and_misuse(builds: Builds) -> None:
    """Caller allocators (counting; failing at every call, 1.1 files too), lowered limits, the file convenience,
    misuse, and the payload entry point's file_flags (a RANS stream needs flag bit 0)."""
    exe = _build_extra(builds, "tests/dcf_api_test.c", "dcf_api_test")
    done = subprocess.run([str(exe), str(VALID / "v-sparse-row-classes.dcf"), str(VALID / "v-raw-dtypes.dcf"),
                           str(V11 / "v11-sparse-models.dcf"), str(V11 / "v11-library-writer.dcf")],
                          capture_output=True, text=True, env=RUN_ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok ") and int(done.stdout.split()[1]) > 100


def test_lenet_example_matches_the_python_engine(builds: Builds, tmp_path: Path) -> None:
    """The C example's sparse mat-vec LeNet-300-100 classifies the bundled digits like dcformat.inference."""
    import importlib.util

    from dcformat.inference import Model

    exe = _build_extra(builds, "examples/lenet_mnist.c", "lenet_mnist")
    spec = importlib.util.spec_from_file_location("export_digits", CDIR / "examples" / "export_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    digits = tmp_path / "digits.raw"
    mod.main(str(digits))
    model_path = ROOT / "dcformat" / "data" / "lenet_300_100.dc"
    done = subprocess.run([str(exe), str(model_path), str(digits)], capture_output=True, text=True, env=RUN_ENV,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    with np.load(mod.SOURCE, allow_pickle=False) as z:
        x = z["x"].astype(np.float32) / np.float32(int(z["pixel_divisor"]))
        y = z["y"].astype(np.int64)
    logits = np.asarray(Model.open(model_path).run({"input": x})["logits"])
    correct = int(np.sum(logits.argmax(axis=1) == y))
    assert done.stdout.strip() == (f"accuracy on {len(y)} bundled MNIST test digits: {correct}/{len(y)} = "
                                   f"{100 * correct / len(y):.1f}%")
