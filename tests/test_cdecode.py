"""The optional C extension ``dcformat._cdecode`` against the NumPy path it stands in for.

Oracles: the NumPy reference path of the library (``DCFORMAT_ACCEL=0``) on the same bytes, the golden vectors'
expected arrays, the model arrays of the spec-built files (tests/test_valid_generator.py), NumPy's own float32 ->
float16 conversion, and the manifest class of every invalid vector. The contract under test: the C path returns
exactly what the NumPy path returns (dtype, shape, bytes; CSR dtypes too), or declines, so that the NumPy path
raises the library's error (same class, same message).

Skips when the extension is not built (no C compiler); CI sets DCFORMAT_REQUIRE_CDECODE=1 so a broken build fails
here instead of skipping.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import dcformat
from dcformat import accel, errors, switch
from dcformat.container.materialize import compiled_csr, compiled_dense, to_csr, to_dense
from dcformat.container.payload import parse
from dcformat.container.reader import DCFile
from dcformat.container.sections import verified_payload
from dcformat.limits import Limits
from mutants import fix_crcs  # tests/mutants.py

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors"
INVALID = VECTORS / "invalid"
GOLDEN = sorted(VECTORS.glob("*.dcf"))
GOLDEN_1_1 = sorted((VECTORS / "v1_1").glob("*.dcf"))  # format 1.1: RANS streams (FORMAT.md §6.1)
BAD = sorted(INVALID.glob("*.dcf"))
MANIFEST = json.loads((INVALID / "manifest.json").read_text())

if not switch.kernels_allowed():
    pytest.skip("DCFORMAT_ACCEL=0: compiled decoders switched off", allow_module_level=True)
if accel._import(accel.CDECODE_MODULE) is None:
    if os.environ.get("DCFORMAT_REQUIRE_CDECODE") == "1":
        raise RuntimeError("DCFORMAT_REQUIRE_CDECODE=1 but dcformat._cdecode is not built (python setup.py build_ext --inplace)")
    pytest.skip("dcformat._cdecode not built (python setup.py build_ext --inplace)", allow_module_level=True)


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


g = _load("generate_invalid", INVALID / "generate_invalid.py")
VALIDGEN = _load("valid_generator_for_cdecode", ROOT / "tests" / "test_valid_generator.py")


@pytest.fixture(autouse=True)
def c_on(monkeypatch):
    monkeypatch.setenv("DCFORMAT_ACCEL", "auto")  # the default: the C extension serves every tensor
    monkeypatch.delenv("DCFORMAT_CDECODE", raising=False)


@contextmanager
def decoder(name: str):
    """Run the library with one decoder: "c" (the default when built) or "numpy" (DCFORMAT_ACCEL=0)."""
    saved = {k: os.environ.get(k) for k in ("DCFORMAT_ACCEL", "DCFORMAT_CDECODE")}
    os.environ["DCFORMAT_ACCEL"] = "auto" if name == "c" else "0"
    os.environ.pop("DCFORMAT_CDECODE", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _array(a: np.ndarray) -> tuple:
    return ("ok", a.dtype.str, a.shape, a.tobytes())


def outcome(data: bytes, limits: Limits = Limits()) -> object:
    """Everything the reader says about a file: open(), then tensor() and csr() of each tensor (arrays with dtype and
    shape, or the error's class and message), then decode()."""
    try:
        f = dcformat.open(data, limits=limits)
    except errors.FormatError as exc:
        return (type(exc).__name__, str(exc))
    out: dict = {}
    with f:
        for name in f.keys():
            for method in (f.tensor, f.csr):
                try:
                    got = method(name)
                    out[name, method.__name__] = [_array(a) for a in got] if isinstance(got, tuple) else _array(got)
                except errors.FormatError as exc:
                    out[name, method.__name__] = (type(exc).__name__, str(exc))
    try:
        out["decode"] = {k: _array(v) for k, v in dcformat.decode(data, limits=limits).items()}
    except errors.FormatError as exc:
        out["decode"] = (type(exc).__name__, str(exc))
    return out


def same_with_and_without_c(data: bytes, limits: Limits = Limits()) -> object:
    with decoder("numpy"):
        want = outcome(data, limits)
    with decoder("c"):
        got = outcome(data, limits)
    assert got == want
    return got


def payloads(data: bytes, limits: Limits = Limits()):
    """(entry, CRC-verified payload bytes, payload offset) of every tensor whose section CRC holds."""
    with DCFile(data, limits=limits) as f:
        for name in f.keys():
            ref = f._data[name]
            try:
                body = bytes(verified_payload(f._buf, ref, tensor=name))
            except errors.ChecksumError:
                continue
            yield f.entry(name), body, ref.payload_offset


def rans_allowed(data: bytes) -> bool:
    """Header flag bit 0 (RANS_STREAMS, FORMAT.md §2.2): what the reader passes to the C decoder."""
    return len(data) >= 16 and bool(int.from_bytes(data[12:16], "little") & 1)


def numpy_dense(entry, body: bytes, offset: int, limits: Limits = Limits(), rans: bool = False) -> np.ndarray:
    with decoder("numpy"):
        return to_dense(parse(body, entry, limits, offset=offset, dense=True, rans_allowed=rans), limits)


def numpy_csr(entry, body: bytes, offset: int, limits: Limits = Limits(), rans: bool = False):
    with decoder("numpy"):
        return to_csr(parse(body, entry, limits, offset=offset, rans_allowed=rans), limits)[0]


def assert_same_csr(got, want) -> None:
    for field in ("indptr", "indices", "values", "codebook", "symbols"):
        a, b = getattr(got, field), getattr(want, field)
        assert (a is None) == (b is None), field
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), field


# ------------------------------------------------------------------------------------------ switches


def test_switches() -> None:
    assert accel.cdecode() is not None
    with decoder("numpy"):
        assert accel.cdecode() is None
    os.environ["DCFORMAT_CDECODE"] = "0"
    try:
        assert accel.cdecode() is None
    finally:
        del os.environ["DCFORMAT_CDECODE"]


def test_a_one_shot_load_uses_it_without_numba() -> None:
    """The default path of a fresh process: the C extension decodes every quantized tensor (the three RAW biases of
    LeNet stay on NumPy), RANS streams included, numba not imported."""
    code = ("import dcformat, sys; from dcformat.container import materialize as m; calls = []; f = m.compiled_dense\n"
            "def g(*a, **k):\n    r = f(*a, **k); calls.append(r is not None); return r\n"
            "m.compiled_dense = g\n"
            "import dcformat.container.reader as r; r.compiled_dense = m.compiled_dense\n"
            "t = dcformat.load(sys.argv[1]); print(len(t), len(calls), sum(calls), 'numba' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k not in ("DCFORMAT_ACCEL", "DCFORMAT_CDECODE")}
    for path, want in [(ROOT / "dcformat" / "data" / "lenet_300_100.dc", ["6", "6", "3", "False"]),
                       (VECTORS / "v1_1" / "v11-library-writer.dcf", ["2", "2", "2", "False"])]:  # RANS streams too
        out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.stdout.split() == want, (path.name, out.stdout, out.stderr)


# ------------------------------------------------------------------------------------------ valid files


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_vectors_c_path_equals_numpy_path_and_expected(path: Path) -> None:
    data = path.read_bytes()
    want = np.load(path.with_suffix(".npz"), allow_pickle=False)
    decoded_by_c = 0
    for entry, body, offset in payloads(data):
        got = compiled_dense(body, entry, Limits())
        if entry.encoding.name == "RAW":
            assert got is None  # RAW stays on the NumPy path (one copy there already)
            continue
        assert got is not None, f"{entry.name}: the C decoder declined a valid payload"
        ref = numpy_dense(entry, body, offset)
        assert got.dtype == ref.dtype and got.shape == ref.shape and got.tobytes() == ref.tobytes()
        if entry.name in want.files:
            assert got.tobytes() == np.ascontiguousarray(want[entry.name]).astype(got.dtype).tobytes()
        csr = compiled_csr(body, entry, Limits())
        assert csr is not None
        assert_same_csr(csr, numpy_csr(entry, body, offset))
        decoded_by_c += 1
    same_with_and_without_c(data)
    if "sparse" in path.name or "dense" in path.name:
        assert decoded_by_c


@pytest.mark.parametrize("path", GOLDEN_1_1, ids=lambda p: p.name)
def test_format_1_1_vectors_c_path_equals_numpy_path_and_expected(path: Path) -> None:
    """RANS streams (every model, K 10..15, 1..32 lanes, certain symbols, maximal tables) decode in C exactly as
    the NumPy path and the vector's .npz; without the file's flag bit 0 the C decoder declines them (§6.1.1 check 1)."""
    data = path.read_bytes()
    assert rans_allowed(data)
    want = np.load(path.with_suffix(".npz"), allow_pickle=False)
    decoded_by_c = 0
    for entry, body, offset in payloads(data):
        got = compiled_dense(body, entry, Limits(), rans_allowed=True)
        assert got is not None, f"{entry.name}: the C decoder declined a valid payload"
        ref = numpy_dense(entry, body, offset, rans=True)
        assert got.dtype == ref.dtype and got.shape == ref.shape and got.tobytes() == ref.tobytes()
        assert got.tobytes() == np.ascontiguousarray(want[entry.name]).astype(got.dtype).tobytes()
        csr = compiled_csr(body, entry, Limits(), rans_allowed=True)
        assert csr is not None
        assert_same_csr(csr, numpy_csr(entry, body, offset, rans=True))
        with DCFile(data) as f:
            uses_rans = any(i.coding == "rans" for i in f.streams(entry.name).values())
        if uses_rans:
            assert compiled_dense(body, entry, Limits()) is None and compiled_csr(body, entry, Limits()) is None
        decoded_by_c += 1
    assert decoded_by_c
    same_with_and_without_c(data)


def test_rans_writer_output_large_and_multiclass() -> None:
    """The reference writer's rANS choices (lanes, K, PREV_GAP and ROW_CLASS models, row classes) on tensors big
    enough for the slot-table loops: the C path returns the NumPy path's arrays."""
    rng = np.random.default_rng(31)
    w = (rng.laplace(size=(600, 700)) * 0.05).astype(np.float32)
    w[rng.random(600) < 0.3] *= rng.random((1, 700)) < 0.02  # very sparse rows next to dense ones: row classes
    tensors = {"w": w, "d": rng.choice(np.array([-1, 0.25, 0.5, 1], np.float32), p=[0.9, 0.05, 0.03, 0.02], size=300000),
               "h": (rng.laplace(size=(256, 96)) * 0.05).astype(np.float16)}
    data = dcformat.encode(tensors, config=dcformat.CompressionConfig(density=0.1, entropy="rans"))
    assert rans_allowed(data)
    with DCFile(data) as f:
        kinds = {(k.split("[")[0], i.rans.model, len(i.rans.states)) for n in f.keys()
                 for k, i in f.streams(n).items() if i.coding == "rans"}
    assert len(kinds) >= 3 and {m for _, m, _ in kinds} >= {0, 1}, kinds  # NONE and PREV_GAP, several lane counts
    out = same_with_and_without_c(data)
    assert all(v[0] == "ok" for v in out["decode"].values())
    for entry, body, _ in payloads(data):
        if entry.encoding.name != "RAW":
            assert compiled_dense(body, entry, Limits(), rans_allowed=True) is not None


@settings(max_examples=int(os.environ.get("DCFORMAT_VALIDGEN_EXAMPLES", "120")) // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(VALIDGEN.valid_files())
def test_spec_built_files_c_path_equals_model_and_numpy(case) -> None:
    data, exp = case
    for entry, body, offset in payloads(data):
        got = compiled_dense(body, entry, Limits())
        if entry.encoding.name == "RAW":
            continue
        assert got is not None, f"{entry.name}: the C decoder declined a valid payload"
        assert got.dtype == exp.tensors[entry.name].dtype and got.tobytes() == exp.tensors[entry.name].tobytes()
        assert_same_csr(compiled_csr(body, entry, Limits()), numpy_csr(entry, body, offset))
    same_with_and_without_c(data)


def test_encoder_output_large_and_multiclass() -> None:
    """The writer's own choices (row classes, Huffman of every stream) on tensors big enough for the fast loops."""
    rng = np.random.default_rng(3)
    tensors = {
        "fc": (rng.standard_normal((300, 784)) * 0.05).astype(np.float32),
        "conv": (rng.standard_normal((64, 32, 3, 3)) * 0.05).astype(np.float32),
        "half": (rng.standard_normal((128, 96)) * 0.05).astype(np.float16),
        "wide": (rng.standard_normal((5, 70000)) * 0.05).astype(np.float64),
    }
    data = dcformat.encode(tensors, config=dcformat.CompressionConfig(density=0.07))
    out = same_with_and_without_c(data)
    assert all(v[0] == "ok" for v in out["decode"].values())
    for entry, body, _ in payloads(data):
        if entry.encoding.name != "RAW":
            assert compiled_dense(body, entry, Limits()) is not None


def test_float16_conversion_matches_numpy_for_every_kind_of_value() -> None:
    """A DENSE float16 tensor whose 65536 codebook entries span float16's range (subnormals, ties, the largest
    finite values): the C decoder's float32 -> float16 rounding must be NumPy's, bit for bit."""
    rng = np.random.default_rng(0)
    f16 = np.arange(0x0000, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float32)  # every finite half >= 0
    lo, hi = f16[:-1], f16[1:]
    mids = (lo + (hi - lo) / 2).astype(np.float32)  # exact ties between neighbouring halves
    cands = np.concatenate([f16, mids, np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(1))])
    cands = cands[np.abs(cands.astype(np.float16).astype(np.float32)) < 65504.5]
    cb = rng.choice(cands, size=65536, replace=False) * rng.choice(np.array([-1, 1], np.float32), size=65536)
    cb = cb.astype(np.float32)
    symbols = np.arange(65536, dtype=np.uint32)
    payload = g.quant_head(16, 0, cb.tolist()) + g.s_fixed(symbols.tolist(), 16)
    data = g.assemble([(b"TABL", g.table([g.entry("h", 2, 1, (256, 256))])), (b"DATA", payload)])
    (entry, body, offset), = payloads(data)
    got = compiled_dense(body, entry, Limits())
    assert got is not None and got.dtype == np.float16
    assert got.reshape(-1).view(np.uint16).tolist() == cb.astype(np.float16).view(np.uint16).tolist()
    same_with_and_without_c(data)


def test_threads_decode_concurrently() -> None:
    """The GIL is released while decoding: several threads, same arrays."""
    rng = np.random.default_rng(5)
    data = dcformat.encode({"w": (rng.standard_normal((512, 512)) * 0.05).astype(np.float32)},
                           config=dcformat.CompressionConfig(density=0.1))
    want = dcformat.decode(data)["w"]
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(dcformat.decode(data)["w"])) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r.tobytes() == want.tobytes() for r in results)


# ------------------------------------------------------------------------------------------ invalid files


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_invalid_vectors_decline_and_numpy_raises_the_manifest_class(path: Path) -> None:
    data = path.read_bytes()
    got = same_with_and_without_c(data)
    with decoder("c"), pytest.raises(errors.FormatError) as info:
        dcformat.decode(data)
    assert type(info.value).__name__ == MANIFEST[path.name]["error"]
    if isinstance(got, tuple):  # rejected by open(): no payload reached a decoder
        return
    rans = rans_allowed(data)  # as the reader passes it
    for entry, body, _ in payloads(data):
        if got[entry.name, "tensor"][0] != "ok":
            assert compiled_dense(body, entry, Limits(), rans_allowed=rans) is None, \
                f"C accepted {entry.name}, the library rejects it"
        if not isinstance(got[entry.name, "csr"], list):  # an error (class, message), not the three arrays
            assert compiled_csr(body, entry, Limits(), rans_allowed=rans) is None, \
                f"C accepted {entry.name}, the library rejects it"


def test_unknown_stream_coding_declines_to_unsupported_feature() -> None:
    """An unknown stream coding (4, 255), or RANS (3) in a file without header flag bit 0: the C decoder declines
    and the NumPy path raises UnsupportedFeatureError."""
    cb = [-0.5, 0.25, 1.0]
    for coding in (3, 4, 255):
        payload = g.quant_head(2, 0, cb) + bytes([coding, 1, 2, 3, 4])
        data = g.assemble([(b"TABL", g.table([g.entry("t", 1, 1, (4,))])), (b"DATA", payload)])
        (entry, body, _), = payloads(data)
        assert compiled_dense(body, entry, Limits()) is None
        got = same_with_and_without_c(data)
        assert got["t", "tensor"][0] == "UnsupportedFeatureError"


def test_limits_are_honoured() -> None:
    rng = np.random.default_rng(2)
    data = dcformat.encode({"w": (rng.standard_normal((64, 64)) * 0.05).astype(np.float32)},
                           config=dcformat.CompressionConfig(density=0.2))
    small = Limits(max_tensor_bytes=64 * 64 * 4 - 1)
    (entry, body, _), = payloads(data)
    assert compiled_dense(body, entry, small) is None
    got = same_with_and_without_c(data, small)
    assert got["w", "tensor"][0] == "LimitError"
    with pytest.raises(errors.LimitError):
        with decoder("c"):
            dcformat.decode(data, limits=small)


def _mutation_pool() -> list[bytes]:
    return [p.read_bytes() for p in GOLDEN if p.stat().st_size < 20000 and "raw" not in p.name]


def test_bit_flips_behind_fixed_crcs_agree() -> None:
    """Mutation-style inputs: payload bit flips and byte overwrites with the CRCs fixed, so they reach the decoders."""
    rng = random.Random(9)
    pool = _mutation_pool()
    for _ in range(int(os.environ.get("DCFORMAT_CDECODE_MUTANTS", "400"))):
        data = bytearray(rng.choice(pool))
        offs = [o for _, _, o in payloads(bytes(data))]
        for _ in range(rng.choice((1, 1, 2, 3))):
            at = rng.randrange(min(offs) if offs else 24, len(data))
            if rng.random() < 0.7:
                data[at] ^= 1 << rng.randrange(8)
            else:
                data[at] = rng.choice((0, 1, 2, 3, 0x7F, 0x80, 0xFF))
        same_with_and_without_c(fix_crcs(bytes(data)))


def test_truncated_and_spliced_payloads_agree() -> None:
    rng = random.Random(11)
    pool = _mutation_pool()
    for _ in range(200):
        a, b = rng.choice(pool), rng.choice(pool)
        at = rng.randrange(24, len(a))
        chunk = b[rng.randrange(len(b)):][: rng.choice((1, 4, 16, 64))]
        mutant = a[:at] + chunk + a[at + (len(chunk) if rng.random() < 0.5 else 0):] if rng.random() < 0.6 else a[:at]
        same_with_and_without_c(fix_crcs(mutant))


def test_rans_mutants_behind_fixed_crcs_agree() -> None:
    """CRC-fixed bit flips and byte overwrites of the 1.1 vectors, aimed at their DATA payloads (RANS headers,
    tables, states, words): the C path and the NumPy path accept and reject the same files, same class and message."""
    rng = random.Random(1101)
    pool = [p.read_bytes() for p in GOLDEN_1_1]
    rejected = 0
    for _ in range(int(os.environ.get("DCFORMAT_CDECODE_MUTANTS", "400")) // 2):
        data = bytearray(rng.choice(pool))
        offs = [o for _, _, o in payloads(bytes(data))]
        for _ in range(rng.choice((1, 1, 2, 3))):
            at = rng.randrange(min(offs), len(data))
            if rng.random() < 0.7:
                data[at] ^= 1 << rng.randrange(8)
            else:
                data[at] = rng.choice((0, 1, 2, 3, 0x7F, 0x80, 0xFF))
        got = same_with_and_without_c(fix_crcs(bytes(data)))
        rejected += isinstance(got, tuple) or any(v[0] != "ok" for k, v in got.items() if k != "decode" and
                                                  isinstance(v, tuple))
    assert rejected > 10


# ------------------------------------------------------------------------------------------ two-thread row walk

def _dense_call(c, entry, body: bytes, rans: bool, threads: int, populate: int = 1) -> tuple:
    """c.dense on a fresh zeroed output: (status, message, output bytes when decoded). populate (ABI 4): whether the
    second thread populates the output's pages while the first decodes two HUFFMAN streams."""
    out = np.zeros(entry.shape, entry.np_dtype)
    extra = (populate,) if getattr(c, "ABI", 1) >= 4 else ()
    status, msg = c.dense(body, entry.name, int(entry.dtype), int(entry.encoding), entry.shape,
                          Limits().max_tensor_elements, Limits().max_tensor_bytes, out, True, int(rans), threads,
                          *extra)
    return status, msg, out.tobytes() if status == 0 else None


def _threaded_cases() -> list[bytes]:
    """SPARSE float32 tensors with the shapes that stress a row split: 1-3 rows, empty rows around the middle,
    fillers (long gaps), several row classes; Huffman and rANS streams (PREV_GAP, ROW_CLASS, NONE)."""
    rng = np.random.default_rng(77)
    tensors = {"one_row": (rng.standard_normal((1, 5000)) * 0.05).astype(np.float32),
               "two_rows": (rng.standard_normal((2, 3000)) * 0.05).astype(np.float32),
               "three_rows": (rng.standard_normal((3, 900)) * 0.05).astype(np.float32)}
    w = (rng.laplace(size=(401, 1500)) * 0.05).astype(np.float32)
    w[195:206] = 0  # empty rows around the middle row
    w[rng.random(401) < 0.3] *= rng.random((1, 1500)) < 0.01  # very sparse rows next to dense ones: row classes
    tensors["classes"] = w
    tensors["fillers"] = np.where(rng.random((64, 4000)) < 0.004, rng.standard_normal((64, 4000)), 0).astype(np.float32)
    return [dcformat.encode(tensors, config=dcformat.CompressionConfig(density=0.1, code_bits=5, index_bits=3,
                                                                       entropy=e)) for e in ("huffman", "rans")]


def test_two_thread_walk_equals_one_thread_and_numpy() -> None:
    """threads=2 (rows [0, mid) and [mid, rows) written by two threads, the second starting from the walk state it
    computes at mid) gives the one-thread decode's bytes, and those are the NumPy path's."""
    c = accel.cdecode()
    if getattr(c, "ABI", 1) < 3:
        pytest.skip("stale build of dcformat._cdecode (python setup.py build_ext --inplace)")
    checked = 0
    for data in _threaded_cases():
        rans = rans_allowed(data)
        for entry, body, offset in payloads(data):
            if entry.encoding.name != "SPARSE":
                continue
            one, two = _dense_call(c, entry, body, rans, 1), _dense_call(c, entry, body, rans, 2)
            assert one[0] == 0 and two == one, entry.name
            assert _dense_call(c, entry, body, rans, 2, populate=0) == one, entry.name
            assert two[2] == numpy_dense(entry, body, offset, rans=rans).tobytes(), entry.name
            checked += 1
    assert checked == 10


def test_two_thread_walk_rejects_like_one_thread() -> None:
    """Hostile payloads (bit flips and byte overwrites, most in the gap and value streams): the two-thread decode
    returns the one-thread decode's status and message (the first bad row in row order), and its output when valid."""
    c = accel.cdecode()
    if getattr(c, "ABI", 1) < 3:
        pytest.skip("stale build of dcformat._cdecode (python setup.py build_ext --inplace)")
    rng = random.Random(4242)
    bodies = [(e, b, rans_allowed(d)) for d in _threaded_cases() for e, b, _ in payloads(d)
              if e.encoding.name == "SPARSE" and e.numel >= 1000]
    statuses = set()
    for _ in range(300):
        entry, body, rans = rng.choice(bodies)
        data = bytearray(body)
        for _ in range(rng.choice((1, 1, 2, 4))):
            at = rng.randrange(len(data) // 3, len(data))
            if rng.random() < 0.7:
                data[at] ^= 1 << rng.randrange(8)
            else:
                data[at] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
        one = _dense_call(c, entry, bytes(data), rans, 1)
        assert _dense_call(c, entry, bytes(data), rans, 2) == one  # HUFFMAN: pages populated during the streams
        assert _dense_call(c, entry, bytes(data), rans, 2, populate=0) == one
        statuses.add(one[1].split(":")[0] if one[0] else "ok")
    assert len(statuses) > 3, statuses


def test_load_uses_two_threads_for_large_sparse_float32(monkeypatch) -> None:
    """The reader asks for two threads from THREADS_MIN_BYTES on when it may use two CPUs (DCFORMAT_CDECODE_THREADS=1:
    one), and load() returns the NumPy path's arrays either way (the threshold lowered so that test-sized tensors
    cross it)."""
    from dcformat.container import materialize

    c = accel.cdecode()
    if getattr(c, "ABI", 1) < 3:
        pytest.skip("stale build of dcformat._cdecode (python setup.py build_ext --inplace)")
    data = _threaded_cases()[0]
    with DCFile(data) as f:
        entry = f.entry("classes")
    assert materialize._threads(c, entry) == 1  # 2.4 MB < 8 MiB
    monkeypatch.setattr(materialize, "THREADS_MIN_BYTES", 0)
    monkeypatch.setattr(materialize, "_cpus", lambda: 1)
    assert materialize._threads(c, entry) == 1  # one CPU: no second thread
    monkeypatch.setattr(materialize, "_cpus", lambda: 2)
    assert materialize._threads(c, entry) == 2
    for data in _threaded_cases():
        same_with_and_without_c(data)
    monkeypatch.setenv(materialize.THREADS_ENV, "1")
    assert materialize._threads(c, entry) == 1


def test_populating_pages_keeps_results_and_can_be_switched_off(monkeypatch) -> None:
    """A large SPARSE float32 tensor with HUFFMAN streams (the second thread populates its output's pages while the
    first decodes the streams; rows so sparse that the populate step skips them included): load() gives the NumPy
    path's array with populate on and off (DCFORMAT_CDECODE_POPULATE=0 passes populate=0 to the extension)."""
    from dcformat.container import materialize

    c = accel.cdecode()
    if getattr(c, "ABI", 1) < 4:
        pytest.skip("stale build of dcformat._cdecode (python setup.py build_ext --inplace)")
    rng = np.random.default_rng(9)
    w = (rng.standard_normal((300, 4000)) * 0.05).astype(np.float32)
    w[::3] *= rng.random((1, 4000)) < 0.0005  # every third row has fewer entries than one per 1024 columns
    data = dcformat.encode({"w": w}, config=dcformat.CompressionConfig(density=0.1))
    monkeypatch.setattr(materialize, "THREADS_MIN_BYTES", 0)
    monkeypatch.setattr(materialize, "_cpus", lambda: 2)
    calls = []
    real = c.dense

    class Spy:  # the extension, recording the trailing arguments of dense()
        def __getattr__(self, name):
            return getattr(c, name)

        def dense(self, *args):
            calls.append(args[9:])
            return real(*args)

    orig = materialize.accel.cdecode
    monkeypatch.setattr(materialize.accel, "cdecode", lambda: Spy() if orig() is not None else None)
    ref = same_with_and_without_c(data)
    monkeypatch.setenv(materialize.POPULATE_ENV, "0")
    assert same_with_and_without_c(data) == ref
    assert (0, 2) in calls and (0, 2, 0) in calls, calls
