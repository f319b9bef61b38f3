"""The optional compiled kernels (dcformat.accel) against the pure paths they stand in for.

Oracles: bitarray's C canonical decoder (``_decode_sequential``) for Huffman,
the NumPy cumulative-sum decoder for positions; and, end to end, every golden and every invalid vector decoded with
the kernels on and off must give the same arrays or the same error.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

import dcformat  # noqa: E402
from dcformat import accel, switch  # noqa: E402
from dcformat.entropy import huffman as H  # noqa: E402
from dcformat.errors import FormatError  # noqa: E402
from dcformat.sparse import relative_index as RI  # noqa: E402
from dcformat.entropy import _kernels as KH  # noqa: E402

if not switch.kernels_allowed():
    pytest.skip("DCFORMAT_ACCEL=0: kernels switched off", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
VECTORS = sorted((ROOT / "spec" / "vectors").glob("*.dcf")) + sorted((ROOT / "spec" / "vectors" / "invalid").glob("*.dcf"))


@pytest.fixture(autouse=True)
def kernels_for_every_size(monkeypatch):
    """The codec only calls the kernels on long streams; here they run on every input (and the C extension, which
    would take whole tensors first, is left out: tests/test_cdecode.py covers it)."""
    monkeypatch.setenv("DCFORMAT_ACCEL", "1")
    monkeypatch.setenv("DCFORMAT_CDECODE", "0")


@contextmanager
def pure_numpy():
    """The library's own fallback: what runs without numba."""
    saved = os.environ.get("DCFORMAT_ACCEL")
    os.environ["DCFORMAT_ACCEL"] = "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["DCFORMAT_ACCEL"]
        else:
            os.environ["DCFORMAT_ACCEL"] = saved


def test_kernels_are_in_use_here() -> None:
    assert accel.available(), "numba is installed, so the kernels should be on"


def test_env_switch_turns_them_off() -> None:
    code = "import dcformat.accel as a, sys; print(a.available(), 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "DCFORMAT_ACCEL": "0"},
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr


@pytest.mark.parametrize("mode,imported", [("auto", "False"), ("1", "True"), ("0", "False")])
def test_one_shot_loads_of_small_files_do_not_pay_for_numba_unless_asked(mode: str, imported: str) -> None:
    """Loading numba costs ~0.5 s once; by default a small file decodes without it, DCFORMAT_ACCEL=1 forces it."""
    code = ("import dcformat, sys; t = dcformat.load(sys.argv[1]); print(len(t), 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "dcformat" / "data" / "lenet_300_100.dc")],
                         env={**os.environ, "DCFORMAT_ACCEL": mode}, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["6", imported], out.stderr


# ---------------------------------------------------------------- Huffman


@st.composite
def huffman_case(draw):
    """A complete canonical code (lengths 1..24, incl. ones longer than the 16-bit table) and a byte string."""
    alphabet = draw(st.integers(2, 300))
    skew = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0]))  # 2.0 gives geometric frequencies: codes up to 24 bits
    freqs = np.maximum(1, (1e12 * np.exp(-skew * np.arange(alphabet) * 40 / alphabet))).astype(np.int64)
    freqs[draw(st.integers(0, alphabet - 1))] += draw(st.integers(0, 10**6))
    ls = H.code_lengths(freqs)
    n = draw(st.integers(0, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    syms = rng.choice(alphabet, size=n, p=freqs / freqs.sum())
    syms = syms[ls[syms] > 0]
    data, _ = H.huffman_encode(syms, ls)
    mode = draw(st.sampled_from(["exact", "truncate", "flip", "extend"]))
    data = bytearray(data)
    if mode == "truncate" and data:
        del data[draw(st.integers(0, len(data) - 1)):]
    elif mode == "flip" and data:
        i = draw(st.integers(0, 8 * len(data) - 1))
        data[i >> 3] ^= 0x80 >> (i & 7)
    elif mode == "extend":
        data += bytes(draw(st.binary(max_size=4)))
    ask = syms.size + draw(st.integers(-2, 2))
    return bytes(data), max(0, ask), ls


@given(huffman_case())
@settings(max_examples=300, deadline=None)
def test_huffman_kernel_equals_bitarray_decoder(case) -> None:
    data, n, ls = case
    arr = np.frombuffer(data, dtype=np.uint8)
    code = H._Code(np.asarray(ls))
    ref = H._decode_sequential(arr, n, code)
    for multi_from in (0, 1 << 30):  # with and without the multi-codeword table
        saved, H._MULTI_MIN_SYMBOLS = H._MULTI_MIN_SYMBOLS, multi_from
        try:
            fast = H._decode_compiled(KH, arr, n, code)
        finally:
            H._MULTI_MIN_SYMBOLS = saved
        assert fast is not None
        assert fast[1:] == ref[1:]
        assert np.array_equal(fast[0], ref[0])


def test_multi_codeword_table_against_canonical_codes() -> None:
    """Each peek's entry must list exactly the codewords that start it, read with canonical_codes (independent)."""
    ls = H.code_lengths(np.array([900, 500, 300, 100, 60, 30, 9, 5, 3, 2, 1, 1]))
    code = H._Code(ls)
    syms, count, bits = H._multi_table(code, 12, KH.MULTI)
    codes = H.canonical_codes(ls)
    by_code = {(int(ls[s]), int(codes[s])): s for s in np.flatnonzero(ls)}
    for peek in range(1 << 12):
        want, used = [], 0
        while len(want) < KH.MULTI:
            hit = [(ln, s) for (ln, c), s in by_code.items() if used + ln <= 12 and (peek >> (12 - used - ln)) & ((1 << ln) - 1) == c]
            if not hit:
                break
            ln, s = hit[0]
            want.append(s)
            used += ln
        assert syms[peek, : count[peek]].tolist() == want and bits[peek] == used, peek


def test_huffman_kernel_longest_codes() -> None:
    """Every length 1..24 used: the canonical search past the table must pick the right symbol."""
    ls = np.array(list(range(1, 25)) + [24])
    syms = np.tile(np.arange(ls.size), 3)[::-1]
    data, _ = H.huffman_encode(syms, ls)
    arr = np.frombuffer(data, dtype=np.uint8)
    code = H._Code(ls)
    out, m, end = H._decode_compiled(KH, arr, syms.size, code)
    assert m == syms.size and end == int(ls[syms].sum())
    assert out.tolist() == syms.tolist()


# ---------------------------------------------------------------- positions


@st.composite
def gap_case(draw):
    rows = draw(st.integers(0, 12))
    cols = draw(st.integers(1, 24))
    b = draw(st.integers(1, 6))
    counts = np.array([draw(st.integers(0, 6)) for _ in range(rows)], np.uint32)
    n = int(counts.sum()) + draw(st.integers(-1, 3))
    gaps = np.array([draw(st.integers(0, (1 << b) - 1)) for _ in range(max(0, n))], np.uint32)
    return counts, gaps, cols, b


def _numpy_positions(counts, gaps, cols, b):
    with pure_numpy():
        try:
            return RI.decode_positions(counts, gaps, cols, b)
        except FormatError as exc:
            return type(exc)


@given(gap_case())
@settings(max_examples=400, deadline=None)
def test_positions_kernel_equals_numpy(case) -> None:
    counts, gaps, cols, b = case
    ref = _numpy_positions(counts, gaps, cols, b)
    fast = RI._positions_compiled(counts, gaps, cols, b)
    if isinstance(ref, type):
        assert fast is None, "kernel accepted what the NumPy path rejects"
    else:
        assert fast is not None, "kernel rejected a valid stream"
        for got, want in zip(fast, ref):
            assert got.dtype == want.dtype and np.array_equal(got, want)


def test_positions_kernel_on_real_encoder_output() -> None:
    rng = np.random.default_rng(7)
    for b in (1, 3, 5, 8):
        w = rng.random((40, 300)) < rng.random((40, 1)) * 0.3
        r, c = np.nonzero(w)
        s = RI.encode_positions(r * 300 + c, 40, 300, b)
        fast = RI._positions_compiled(s.counts, s.gaps, 300, b)
        assert np.array_equal(fast[1], c) and np.array_equal(fast[2], r)


# ---------------------------------------------------------------- end to end


def _outcome(data: bytes):
    try:
        return ("ok", {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in dcformat.decode(data).items()})
    except FormatError as exc:
        return ("err", type(exc).__name__, str(exc))


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.name)
def test_vectors_decode_identically_with_and_without_kernels(path: Path) -> None:
    data = path.read_bytes()
    fast = _outcome(data)
    with pure_numpy():
        assert _outcome(data) == fast


def test_symbols_wider_than_27_bits() -> None:
    """Row-count alphabets reach 2**32: symbols must not share a uint32 with the code length (the kernel's
    tables hold canonical ranks instead)."""
    ls = np.array([1, 2, 3, 3])
    syms = np.random.default_rng(8).choice(4, size=5000, p=[0.5, 0.25, 0.125, 0.125])
    data, _ = H.huffman_encode(syms, ls)
    arr = np.frombuffer(data, dtype=np.uint8)
    wide = {0: 2**32 - 1, 1: 2**27, 2: 5, 3: 2**28 + 3}
    code = H._Code(ls)
    code.order = np.array([wide[int(s)] for s in code.order], dtype=np.int64)  # same code, huge symbol values
    want = [wide[int(s)] for s in syms]
    for multi_from in (0, 1 << 30):
        saved, H._MULTI_MIN_SYMBOLS = H._MULTI_MIN_SYMBOLS, multi_from
        try:
            out, m, _ = H._decode_compiled(KH, arr, syms.size, code)
        finally:
            H._MULTI_MIN_SYMBOLS = saved
        assert m == syms.size and out.tolist() == want
