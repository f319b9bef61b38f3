"""RANS streams (format 1.1, spec/FORMAT.md §6.1): library coder, writer choice, versioning, both decoders.

Oracles: the spec's worked table example; the vector builder's rANS encoder and normalisation
(spec/vectors/invalid/generate_invalid.py, written from the spec text, no library code); the embedded decoder
(independent); the symbols a stream was built from; the HUFFMAN-only file of the same tensors (same settings must
give the same arrays); the golden 1.1 vectors and their expected arrays.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dcformat
from dcformat import CompressionConfig, accel, embedded, errors
from dcformat.binary import Cursor
from dcformat.container.format import FLAG_RANS_STREAMS, RANS_STATE_LOW, RansModel
from dcformat.entropy import rans
from dcformat.entropy.streams import RansContext, parse_stream, write_stream

ROOT = Path(__file__).resolve().parents[1]
V11 = ROOT / "spec" / "vectors" / "v1_1"
V11_MANIFEST = json.loads((V11 / "MANIFEST.json").read_text())
_spec = importlib.util.spec_from_file_location("generate_invalid", ROOT / "spec" / "vectors" / "invalid" /
                                               "generate_invalid.py")
g = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(g)


def lib_stream(data: bytes, n: int, alphabet: int, ctx: RansContext) -> np.ndarray:
    return parse_stream(Cursor(data), n, alphabet, "s", rans=ctx)[1]


def emb_stream(data: bytes, n: int, alphabet: int, ctx: RansContext) -> np.ndarray:
    cur = embedded._In(memoryview(data), 0, len(data), None, True)
    return embedded._stream(cur, n, alphabet, "s", ctx.models, ctx.row_class, ctx.n_classes)


# ------------------------------------------------------------------------------------------ tables, normalisation


def test_table_encoding_matches_the_spec_example() -> None:
    f = np.array([4000, 90, 6])
    assert rans.pack_tables([f], 12) == bytes.fromhex("be82d0")  # FORMAT.md §6.1.2
    t = rans.read_tables(bytes.fromhex("be82d0"), 1, 3, 12)
    assert t.nbytes == 3 and t.freqs[0].tolist() == [4000, 90, 6]
    assert g.rans_tables([[4000, 90, 6]], 12) == bytes.fromhex("be82d0")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=2, max_size=40).filter(lambda c: sum(c) > 0),
       st.sampled_from([10, 12, 15]))
def test_normalisation_matches_the_spec_rule(counts: list[int], k: int) -> None:
    if sum(1 for c in counts if c) > 1 << k:
        return
    got = rans.normalise(np.array(counts), k).tolist()
    assert got == g.rans_normalise(counts, k)
    assert sum(got) == 1 << k and all((f > 0) == (c > 0) for f, c in zip(got, counts))


# ------------------------------------------------------------------------------------------ coder vs spec encoder


@pytest.fixture(params=["python", "kernel"])
def encoder_path(request, monkeypatch) -> str:
    if request.param == "kernel":
        if not accel.available():
            pytest.skip("numba not installed (or DCFORMAT_ACCEL=0)")
        monkeypatch.setenv("DCFORMAT_ACCEL", "1")
    else:
        monkeypatch.setenv("DCFORMAT_ACCEL", "0")
    return request.param


@pytest.mark.parametrize("k", [10, 12, 15])
@pytest.mark.parametrize("lanes", [1, 2, 32])
@pytest.mark.parametrize("model", [0, 1, 2])
def test_library_encoder_equals_the_spec_encoder_and_both_decoders_invert_it(k: int, lanes: int, model: int,
                                                                             encoder_path: str) -> None:
    rng = np.random.default_rng(k * 100 + lanes * 3 + model)
    n = 40 * lanes + 7 if lanes > 1 else 333
    syms = np.minimum(rng.geometric(0.3, n) - 1, 15)
    syms[-1] = 15
    row_class = rng.integers(0, 3, n) if model == 2 else None
    data = g.s_rans(syms.tolist(), k=k, lanes=lanes, model=model,
                    row_class=None if row_class is None else row_class.tolist(), n_ctx=3 if model == 2 else None)
    ctx = RansContext(models=(0, model), n_classes=3, row_class=row_class)
    # the library's encoder, fed the builder's tables, emits the same states and words
    contexts = g.rans_contexts(syms.tolist(), model, lanes, None if row_class is None else row_class.tolist())
    n_ctx = {0: 1, 1: 6, 2: 3}[model]
    freqs = []
    for c in range(n_ctx):
        cnt = np.bincount(syms[np.array(contexts) == c], minlength=16)
        freqs.append(np.array(g.rans_normalise(cnt.tolist(), k)) if cnt.any() else None)
    states, words = rans.encode(syms, model, freqs, k, lanes, row_class)
    st_ref, w_ref = g.rans_encode(syms.tolist(), contexts, [None if f is None else f.tolist() for f in freqs], k, lanes)
    assert states.tolist() == st_ref and words.tolist() == w_ref
    assert np.array_equal(lib_stream(data, n, 16, ctx), syms)
    assert np.array_equal(emb_stream(data, n, 16, ctx), syms)


def test_certain_symbol_costs_nothing_and_keeps_the_state_at_l() -> None:
    data = g.s_rans([1] * 1000, freqs=[[0, 4096]])
    assert data[-4:] == RANS_STATE_LOW.to_bytes(4, "little") and data[3] == 0  # nwords = 0
    assert lib_stream(data, 1000, 2, RansContext()).tolist() == [1] * 1000


@pytest.mark.skipif(not accel._import("dcformat.entropy._kernels"), reason="numba not installed")
def test_kernel_returns_what_numpy_returns_or_declines(monkeypatch) -> None:
    rng = np.random.default_rng(7)
    cases = []
    for lanes, model in ((1, 0), (8, 1), (32, 2), (4, 0)):
        n = 50 * lanes + 3
        syms = np.minimum(rng.geometric(0.3, n) - 1, 15)
        syms[0] = 15
        rc = rng.integers(0, 3, n)
        data = g.s_rans(syms.tolist(), lanes=lanes, model=model, row_class=rc.tolist(), n_ctx=3 if model == 2 else None)
        cases.append((data, n, RansContext((0, model), 3, rc)))
    outcomes = set()
    for data, n, ctx in cases:
        for i in range(4, len(data)):  # every byte after the header flipped once
            bad = data[:i] + bytes([data[i] ^ (1 << (i % 8))]) + data[i + 1:]
            got = {}
            for mode in ("0", "1"):
                monkeypatch.setenv("DCFORMAT_ACCEL", mode)
                try:
                    got[mode] = ("ok", lib_stream(bad, n, 16, ctx).tolist())
                except errors.FormatError as exc:
                    got[mode] = (type(exc).__name__, str(exc))
            assert got["0"] == got["1"], i
            outcomes.add(got["0"][0])
    assert {"ok", "BitstreamError"} <= outcomes


@pytest.mark.parametrize("lanes,model", [(2, 1), (32, 0), (32, 2), (8, 1)])
def test_numpy_lane_decoder_agrees_with_the_python_loop(lanes: int, model: int, monkeypatch) -> None:
    """The two reference paths (NumPy steps over all lanes; Python loop per symbol) on valid and corrupted streams."""
    monkeypatch.setenv("DCFORMAT_ACCEL", "0")
    rng = np.random.default_rng(lanes + model)
    n = 60 * lanes + 1
    syms = np.minimum(rng.geometric(0.3, n) - 1, 15)
    syms[0] = 15
    rc = rng.integers(0, 3, n)
    data = g.s_rans(syms.tolist(), lanes=lanes, model=model, row_class=rc.tolist(), n_ctx=3 if model == 2 else None)
    ctx = RansContext((0, model), 3, rc)
    seen = set()
    for i in list(range(4, len(data), 3)) + [None]:
        bad = data if i is None else data[:i] + bytes([data[i] ^ (1 << (i % 8))]) + data[i + 1:]
        got = []
        for min_lanes in (1, 10**9):
            monkeypatch.setattr(rans, "NUMPY_MIN_LANES", min_lanes)
            try:
                got.append(("ok", lib_stream(bad, n, 16, ctx).tolist()))
            except errors.FormatError as exc:
                got.append((type(exc).__name__, exc.offset))  # same class at the same byte (messages may differ)
        assert got[0] == got[1], i
        seen.add(got[0][0])
    assert "ok" in seen and "BitstreamError" in seen


# ------------------------------------------------------------------------------------------ writer choice


@pytest.mark.parametrize("n", [2, 50, 3000, 40000])
def test_writer_takes_the_smallest_coding_and_never_grows(n: int) -> None:
    rng = np.random.default_rng(n)
    syms = np.minimum(rng.geometric(0.25, n) - 1, 31).astype(np.uint32)
    plain = write_stream(syms, 32)
    with_rans = write_stream(syms, 32, rans=RansContext(models=(0, 1)))
    assert len(with_rans) <= len(plain)
    if with_rans[0] == 3:  # chose RANS: strictly smaller, and decodes (both decoders)
        assert len(with_rans) < len(plain)
        ctx = RansContext(models=(0, 1))
        assert np.array_equal(lib_stream(with_rans, n, 32, ctx), syms)
        assert np.array_equal(emb_stream(with_rans, n, 32, ctx), syms)
    else:
        assert with_rans == plain
    assert write_stream(syms, 32, rans=RansContext(models=(0, 1))) == with_rans  # deterministic


def test_writer_uses_the_lane_rule_and_k12_for_long_streams() -> None:
    syms = np.minimum(np.random.default_rng(3).geometric(0.3, 140000) - 1, 15).astype(np.uint32)
    data = write_stream(syms, 16, rans=RansContext())
    assert data[0] == 3 and data[1] & 7 == 2 and (data[1] >> 3) & 7 == 5  # K = 12 (n > 2**17), N = 32
    short = syms[:70000]
    data = write_stream(short, 16, rans=RansContext())
    assert (data[1] >> 3) & 7 == 4  # N = 16: 70000 // 32 < 4096
    k = 10 + (data[1] & 7)  # the writer tried every K: the chosen one is no larger than K = 12's stream
    assert len(data) <= len(g.s_rans(short.tolist(), lanes=16)) and 10 <= k <= 15


TENSORS = {
    "fc": (np.random.default_rng(0).standard_normal((300, 500)) * 0.05).astype(np.float32),
    "conv": np.random.default_rng(1).standard_normal((16, 8, 3, 3)).astype(np.float32),
    "emb": np.random.default_rng(2).standard_normal((20000,)).astype(np.float32),
}
CFG = dict(density=0.1, code_bits=5, index_bits=5, overrides={"emb": {"encoding": "dense", "code_bits": 4}})


def test_default_files_stay_1_0_and_rans_files_are_1_1_with_the_same_arrays(tmp_path: Path) -> None:
    plain = dcformat.encode(TENSORS, config=CompressionConfig(**CFG))
    assert plain == dcformat.encode(TENSORS, config=CompressionConfig(**CFG, entropy="huffman"))
    assert plain[10:16] == bytes(6)  # version_minor 0, flags 0
    r = dcformat.encode(TENSORS, config=CompressionConfig(**CFG, entropy="rans"))
    assert int.from_bytes(r[10:12], "little") == 1 and int.from_bytes(r[12:16], "little") == FLAG_RANS_STREAMS
    assert len(r) < len(plain)
    a, b, e = dcformat.decode(plain), dcformat.decode(r), embedded.decode(r)
    for k in TENSORS:
        assert np.array_equal(a[k], b[k]) and np.array_equal(b[k], e[k])
    dcformat.save(tmp_path / "r.dc", TENSORS, config=CompressionConfig(**CFG, entropy="rans"))  # streaming writer
    assert (tmp_path / "r.dc").read_bytes() == r


def test_rans_option_is_checked() -> None:
    with pytest.raises(ValueError, match="entropy"):
        CompressionConfig(entropy="auto")
    with pytest.raises(ValueError, match="huffman=False"):
        CompressionConfig(entropy="rans", huffman=False)


def test_flag_without_rans_streams_is_valid_and_streams_without_flag_are_not() -> None:
    data = g.one("d", 1, 1, (4,), g.dense_d(), minor=1, flags=g.RANS_FLAG)
    assert np.array_equal(dcformat.decode(data)["d"], embedded.decode(data)["d"])
    with pytest.raises(errors.UnsupportedFeatureError, match="flag bit 0"):
        dcformat.decode(g.file_rd(flags=0))


def test_cli_entropy_flag(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", **{"fc": TENSORS["fc"]})
    for mode, minor in (("rans", 1), ("huffman", 0)):
        out = tmp_path / f"{mode}.dc"
        subprocess.run([sys.executable, "-m", "dcformat", "-q", "pack", str(tmp_path / "m.npz"), "-o", str(out),
                        "--density", "0.1", "--code-bits", "5", "--entropy", mode, "--min-snr", "none"],
                       check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert int.from_bytes(out.read_bytes()[10:12], "little") == minor


# ------------------------------------------------------------------------------------------ golden 1.1 vectors


@pytest.mark.parametrize("name", sorted(V11_MANIFEST))
def test_v1_1_vector_decodes_to_expected_in_both_decoders(name: str) -> None:
    data = (V11 / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == V11_MANIFEST[name]["sha256"]
    assert data[12] & FLAG_RANS_STREAMS
    lib, emb = dcformat.decode(data), embedded.decode(data)
    with np.load(V11 / name.replace(".dcf", ".npz"), allow_pickle=False) as npz:
        for k in npz.files:
            assert np.array_equal(lib[k], npz[k]) and np.array_equal(emb[k], npz[k]), k
    with dcformat.open(data) as f:
        assert any(s.coding == "rans" for n in f.keys() for s in f.streams(n).values())


def test_v1_1_generator_is_current_and_the_writer_reproduces_its_vector() -> None:
    done = subprocess.run([sys.executable, str(V11 / "generate.py"), "--check"], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    # the writer's vector also decodes to the HUFFMAN-only file of the same tensors (same quantisation)
    spec = importlib.util.spec_from_file_location("gen11", V11 / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    data, _ = gen.library_writer()
    assert data == (V11 / "v11-library-writer.dcf").read_bytes()


def test_sparse_models_vector_uses_every_model_and_unused_contexts() -> None:
    data = (V11 / "v11-sparse-models.dcf").read_bytes()
    with dcformat.open(data) as f:
        s = f.streams("w")
    assert s["values"].rans.model == RansModel.ROW_CLASS
    assert s["gaps[0]"].rans.model == RansModel.PREV_GAP and not s["gaps[0]"].rans.tables.used.all()


# ------------------------------------------------------------------------------------------ property: whole files


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 60), cols=st.integers(1, 300), density=st.sampled_from([0.02, 0.1, 0.5, 1.0]),
       q=st.integers(1, 6), b=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_rans_files_decode_like_huffman_files_in_both_decoders(rows, cols, density, q, b, seed) -> None:
    w = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
    base = dict(density=density, code_bits=q, index_bits=b)
    h = dcformat.encode({"w": w}, config=CompressionConfig(**base))
    r = dcformat.encode({"w": w}, config=CompressionConfig(**base, entropy="rans"))
    assert len(r) <= len(h)
    want = dcformat.decode(h)["w"]
    assert np.array_equal(dcformat.decode(r)["w"], want)
    assert np.array_equal(embedded.decode(r)["w"], want)
    if r[12] & 1 == 0:
        assert r == h  # no RANS stream chosen: byte for byte the 1.0 file


@pytest.mark.exhaustive
def test_exhaustive_rans_stream_fuzz(tmp_path: Path) -> None:
    """tools/fuzz_rans.py (both decoders + kernel on mutated RANS streams) for DCFORMAT_FUZZ_BUDGET executions."""
    import os

    budget = os.environ.get("DCFORMAT_FUZZ_BUDGET", "20000")
    budget = "200000" if budget in ("all", "0") else budget
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz_rans.py"), "--executions", budget,
                           "--seed", "3", "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["findings"] == 0 and done.returncode == 0, done.stdout + done.stderr
    assert stats["executions"] == int(budget)
