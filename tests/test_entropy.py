"""Entropy stage: bit packing, canonical Huffman, symbol streams.

Oracles used here are written independently of dcformat.entropy:
- bit strings of '0'/'1' for packing and decoding (``_bits``, ``_oracle_*``);
- canonical codes rebuilt from the textual rule in the spec (``_oracle_codes``);
- a heapq Huffman and a brute-force length-limited search for optimality, plus
  the peer library bitarray (``canonical_huffman``);
- hand-computed byte vectors for each stream coding.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest
from bitarray.util import canonical_huffman
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dcformat.binary import Cursor, varint
from dcformat.entropy import (
    MAX_CODE_LEN,
    StreamInfo,
    canonical_codes,
    code_lengths,
    huffman_decode,
    huffman_encode,
    pack_bits,
    read_stream,
    skip_stream,
    unpack_bits,
    validate_lengths,
    write_stream,
)
from dcformat.entropy import huffman as H
from dcformat.errors import (
    BitstreamError,
    FormatError,
    HuffmanTableError,
    LimitError,
    TruncatedError,
    UnsupportedFeatureError,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------
# Independent oracles
# ----------------------------------------------------------------------------


def _bits(data: bytes) -> str:
    return "".join(format(b, "08b") for b in data)


def _to_bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def _oracle_codes(lengths) -> dict[int, str]:
    """Canonical codes from the spec text: sort by (length, symbol); first code all
    zeros; code = (previous code + 1) << (length difference)."""
    used = sorted((int(l), s) for s, l in enumerate(lengths) if l)
    out: dict[int, str] = {}
    code, prev = -1, used[0][0]
    for ln, s in used:
        code = 0 if code < 0 else (code + 1) << (ln - prev)
        prev = ln
        out[s] = format(code, f"0{ln}b")
    return out


def _oracle_decode(data: bytes, n: int, lengths) -> list[int] | str:
    """Decode with a dict of code strings; returns symbols, or the failure kind."""
    rev = {c: s for s, c in _oracle_codes(lengths).items()}
    bits, out, cur, pos = _bits(data), [], "", 0
    while len(out) < n:
        if pos == len(bits):
            return "short"
        cur += bits[pos]
        pos += 1
        if cur in rev:
            out.append(rev[cur])
            cur = ""
    rest = bits[pos:]
    if len(rest) >= 8 or "1" in rest:
        return "padding"
    return out


def _heap_huffman_cost(freqs) -> int:
    """Total cost sum(freq * len) of an (unlimited) Huffman code: sum of merges."""
    heap = [int(f) for f in freqs if f]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        cost += a + b
        heapq.heappush(heap, a + b)
    return cost


def _kraft(lengths) -> float:
    return sum(2.0 ** -int(l) for l in lengths if l)


def _cost(freqs, lengths) -> int:
    return int(np.dot(np.asarray(freqs, dtype=np.int64), np.asarray(lengths, dtype=np.int64)))


symbol_arrays = st.integers(1, 300).flatmap(
    lambda a: st.tuples(
        st.just(a),
        st.lists(st.integers(0, a - 1), min_size=0, max_size=400),
    )
)


# ----------------------------------------------------------------------------
# bitpack
# ----------------------------------------------------------------------------


@SETTINGS
@given(st.integers(1, 32), st.data())
def test_pack_bits_matches_string_oracle(width, data):
    vals = data.draw(st.lists(st.integers(0, (1 << width) - 1), max_size=50))
    packed = pack_bits(np.array(vals, dtype=np.uint64), width)
    assert packed == _to_bytes("".join(format(v, f"0{width}b") for v in vals))
    out = unpack_bits(packed, len(vals), width)
    assert out.dtype == np.uint32 and out.tolist() == vals


def test_pack_bits_rejects_values_that_do_not_fit():
    with pytest.raises(ValueError):
        pack_bits(np.array([4]), 2)
    with pytest.raises(ValueError):
        pack_bits(np.array([1]), 0)


def test_unpack_bits_is_strict_about_length_and_padding():
    assert unpack_bits(b"\x12", 4, 2).tolist() == [0, 1, 0, 2]
    with pytest.raises(BitstreamError):
        unpack_bits(b"\x12\x00", 4, 2)  # extra byte
    with pytest.raises(BitstreamError):
        unpack_bits(b"\x12", 5, 2)  # too short
    with pytest.raises(BitstreamError):
        unpack_bits(b"\x01", 3, 2)  # padding bit set
    assert unpack_bits(b"", 0, 7).size == 0


def test_pack_bits_large_blocks_round_trip():
    rng = np.random.default_rng(3)
    for width in (3, 8, 13, 16, 31, 32):
        v = rng.integers(0, 1 << width, size=(1 << 20) + 77, dtype=np.uint64)
        assert np.array_equal(unpack_bits(pack_bits(v, width), v.size, width), v)


# ----------------------------------------------------------------------------
# code lengths: optimality, limits, determinism
# ----------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=300))
def test_code_lengths_optimal_vs_heapq_and_bitarray(freqs):
    assume(sum(1 for f in freqs if f) >= 2)
    ls = code_lengths(np.array(freqs), max_len=32)  # total <= 3e5 < Fib(29): depth <= 26, limit cannot bind
    assert ls.dtype == np.uint8
    assert all((l == 0) == (f == 0) for f, l in zip(freqs, ls))
    assert _kraft(ls) == 1.0
    cost = _cost(freqs, ls)
    assert cost == _heap_huffman_cost(freqs)
    code, _, _ = canonical_huffman({s: f for s, f in enumerate(freqs) if f})
    assert cost == sum(freqs[s] * len(c) for s, c in code.items())


def _brute_force_limited_cost(freqs, max_len) -> int:
    used = [f for f in freqs if f]
    best = None
    for combo in itertools.product(range(1, max_len + 1), repeat=len(used)):
        if sum(1 << (max_len - l) for l in combo) == 1 << max_len:
            c = sum(f * l for f, l in zip(used, combo))
            best = c if best is None else min(best, c)
    return best


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=2, max_size=7), st.integers(2, 4))
def test_code_lengths_optimal_under_length_limit_brute_force(freqs, max_len):
    assume(len(freqs) <= 1 << max_len)
    ls = code_lengths(np.array(freqs), max_len=max_len)
    assert ls.max() <= max_len and _kraft(ls) == 1.0
    assert _cost(freqs, ls) == _brute_force_limited_cost(freqs, max_len)


def test_code_lengths_fibonacci_forces_the_limit():
    fib = [1, 1]
    while len(fib) < 30:
        fib.append(fib[-1] + fib[-2])
    freqs = np.array(fib, dtype=np.int64)
    free = code_lengths(freqs, max_len=32)
    assert free.max() == 29  # unlimited Huffman needs 29 bits for the rarest symbols
    assert _cost(freqs, free) == _heap_huffman_cost(freqs)
    for limit in (MAX_CODE_LEN, 12, 6, 5):
        ls = code_lengths(freqs, max_len=limit)
        assert ls.max() == limit and _kraft(ls) == 1.0
        validate_lengths(ls)
        assert _cost(freqs, ls) > _cost(freqs, free)


def test_code_lengths_deterministic_ties_and_errors():
    f = np.array([5, 5, 5, 5, 5, 0, 5])
    assert code_lengths(f).tolist() == code_lengths(f.copy()).tolist()
    with pytest.raises(ValueError):
        code_lengths(np.array([0, 7, 0]))  # one used symbol: CONSTANT's job
    with pytest.raises(ValueError):
        code_lengths(np.ones(5, dtype=np.int64), max_len=2)  # 5 symbols > 2**2
    with pytest.raises(ValueError):
        code_lengths(np.array([1.0, 2.0]))


# ----------------------------------------------------------------------------
# validate_lengths / canonical codes / encode / decode vs oracles
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lengths, reason",
    [
        ([1, 1, 2], "over-subscribed"),
        ([0, 2, 2, 1, 2], "over-subscribed"),
        ([2, 1, 3], "incomplete"),
        ([1, 2], "incomplete"),
        ([1, 25, 25], "25 > MAX_CODE_LEN"),
        ([1], "at least 2"),
        ([0, 0, 1, 0], "at least 2"),
        ([], "at least 2"),
    ],
)
def test_validate_lengths_rejects(lengths, reason):
    with pytest.raises(HuffmanTableError, match=reason):
        validate_lengths(np.array(lengths, dtype=np.int64))


def test_validate_lengths_names_the_symbol():
    with pytest.raises(HuffmanTableError, match="for symbol 3"):
        validate_lengths(np.array([1, 2, 3, 31, 3]))


@SETTINGS
@given(st.lists(st.integers(0, 200), min_size=2, max_size=64), st.integers(0, 2**31))
def test_encode_decode_match_string_oracle(freqs, seed):
    assume(sum(1 for f in freqs if f) >= 2)
    ls = code_lengths(np.array(freqs))
    codes = _oracle_codes(ls)
    ours = canonical_codes(ls)
    assert all(format(int(ours[s]), f"0{int(ls[s])}b") == c for s, c in codes.items())
    used = [s for s, f in enumerate(freqs) if f]
    rng = np.random.default_rng(seed)
    syms = rng.choice(used, size=int(rng.integers(0, 300)))
    buf, nbits = huffman_encode(syms, ls)
    expect = "".join(codes[int(s)] for s in syms)
    assert nbits == len(expect) and buf == _to_bytes(expect)
    assert huffman_decode(buf, syms.size, ls).tolist() == syms.tolist()
    assert _oracle_decode(buf, syms.size, ls) == syms.tolist()


@SETTINGS
@given(st.binary(max_size=24), st.integers(0, 200), st.lists(st.integers(1, 50), min_size=2, max_size=20))
def test_decode_random_bytes_agrees_with_oracle(buf, n, freqs):
    """Garbage codeword data: decoder and oracle agree on symbols or on the failure."""
    ls = code_lengths(np.array(freqs), max_len=8)
    expect = _oracle_decode(buf, n, ls) if n <= 8 * len(buf) else "limit"
    try:
        got = huffman_decode(buf, n, ls).tolist()
    except LimitError:
        got = "limit"
    except BitstreamError as e:
        got = "short" if "ends" in e.reason else "padding"
    assert got == expect


def test_decode_error_cases_and_offsets():
    ls = np.array([1, 2, 2])  # codes 0, 10, 11
    assert huffman_decode(b"\x6e", 5, ls).tolist() == [0, 2, 0, 2, 1]  # 0 11 0 11 10
    # 0b0111_1111 = '0' '11' '11' '11' then one bit '1' left over
    with pytest.raises(BitstreamError, match="padding"):
        huffman_decode(b"\x7f", 4, ls)
    with pytest.raises(BitstreamError, match="inside a codeword after 4 of 5") as ei:
        huffman_decode(b"\x7f", 5, ls)
    assert ei.value.offset == 0
    with pytest.raises(BitstreamError, match="ends after 4 of 5"):
        huffman_decode(b"\xff", 5, ls)
    with pytest.raises(BitstreamError, match="padding"):
        huffman_decode(b"\x40", 1, ls)  # '0' then padding '1000000'
    with pytest.raises(BitstreamError, match="extra byte") as ei:
        huffman_decode(b"\x00\x00", 8, ls)  # 8 symbols in one byte, then a spare byte
    assert ei.value.offset == 1
    with pytest.raises(LimitError):
        huffman_decode(b"\x00", 9, ls)  # 9 symbols cannot fit in 8 bits
    with pytest.raises(HuffmanTableError):
        huffman_decode(b"\x00", 1, np.array([0, 1, 3, 3]))  # incomplete: never decoded


# ----------------------------------------------------------------------------
# Lane decoder == sequential decoder (results and errors)
# ----------------------------------------------------------------------------


def _outcome(fn):
    try:
        return ("ok", fn().tolist())
    except FormatError as e:
        return ("err", type(e).__name__, str(e), e.offset)


def _both_paths(data: bytes, n: int, ls) -> tuple:
    arr = np.frombuffer(data, dtype=np.uint8)
    code = H._Code(np.asarray(ls))
    assert H._decode_lanes(arr, n, code) is not None, "lane decoder declined this stream"
    seq = _outcome(lambda: H._finish(arr, n, *H._decode_sequential(arr, n, code)))
    lanes = _outcome(lambda: H._finish(arr, n, *H._decode_lanes(arr, n, code)))
    return seq, lanes


@pytest.fixture
def small_lanes(monkeypatch):
    """Tiny lanes and batches so that short streams exercise many lanes and batches."""
    monkeypatch.setattr(H, "_LANE_MIN_BITS", 0)
    monkeypatch.setattr(H, "_LANE_BITS", 128)
    monkeypatch.setattr(H, "_BATCH_BITS", 1 << 12)
    monkeypatch.setattr(H, "_SYNC_BITS", 32)


def _skewed(rng, a, n):
    p = np.exp(-np.arange(a) * rng.uniform(0.1, 1.0))
    return rng.choice(a, size=n, p=p / p.sum())


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["valid", "cut", "extra", "flip", "garbage", "n+1", "n-1"]))
def test_lane_decoder_equals_sequential(seed, mutation):
    rng = np.random.default_rng(seed)
    H_params = dict(_LANE_MIN_BITS=0, _LANE_BITS=int(rng.choice([64, 128, 512])),
                    _BATCH_BITS=int(rng.choice([1 << 10, 1 << 12, 1 << 16])), _SYNC_BITS=32)
    old = {k: getattr(H, k) for k in H_params}
    try:
        for k, v in H_params.items():
            setattr(H, k, v)
        a = int(rng.integers(2, 200))
        kind = seed % 3
        if kind == 0:
            syms = _skewed(rng, a, int(rng.integers(500, 20000)))
        elif kind == 1:
            syms = rng.choice(a, size=int(rng.integers(500, 20000)), p=rng.dirichlet(np.full(a, 0.3)))
        else:
            syms = rng.integers(0, a, size=int(rng.integers(500, 20000)))
        f = np.bincount(syms, minlength=a)
        assume(np.count_nonzero(f) >= 2)
        ls = code_lengths(f)
        buf, _ = huffman_encode(syms, ls)
        n = syms.size
        if mutation == "cut":
            buf = buf[: -int(rng.integers(1, 4))]
        elif mutation == "extra":
            buf += bytes([int(rng.integers(0, 256))])
        elif mutation == "flip":
            b = bytearray(buf)
            b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
            buf = bytes(b)
        elif mutation == "garbage":
            buf = rng.integers(0, 256, size=len(buf), dtype=np.uint8).tobytes()
        elif mutation == "n+1":
            n += 1
        elif mutation == "n-1":
            n -= 1
        n = min(n, 8 * len(buf))
        seq, lanes = _both_paths(buf, n, ls)
        assert seq == lanes
        if mutation == "valid":
            assert seq == ("ok", syms.tolist())
    finally:
        for k, v in old.items():
            setattr(H, k, v)


def test_lane_decoder_really_decodes_without_fallback(small_lanes, monkeypatch):
    rng = np.random.default_rng(11)
    syms = _skewed(rng, 40, 30000)
    ls = code_lengths(np.bincount(syms, minlength=40))
    buf, nbits = huffman_encode(syms, ls)

    monkeypatch.setattr(H, "_decode_sequential", _no_sequential)
    arr = np.frombuffer(buf, dtype=np.uint8)
    out, m, end = H._decode_lanes(arr, syms.size, H._Code(ls))
    assert np.array_equal(out, syms) and m == syms.size and end == nbits


def _no_sequential(*args, **kwargs):
    raise AssertionError("fell back to the sequential decoder")


def test_lane_decoder_cut_batches_continue_without_fallback(small_lanes, monkeypatch):
    """With no rescues and a tiny window, lane pairs fail to meet: batches are cut
    short at the last proven lane, and decoding goes on from there."""
    monkeypatch.setattr(H, "_MAX_RESCUES", 0)
    monkeypatch.setattr(H, "_SYNC_BITS", 2)
    cuts = []
    batch = H._Lanes.batch

    def spy(self, w, g0, g1):
        res = batch(self, w, g0, g1)
        cuts.append(res is not None and res[2] < g1)
        return res

    monkeypatch.setattr(H._Lanes, "batch", spy)
    monkeypatch.setattr(H, "_decode_sequential", _no_sequential)
    rng = np.random.default_rng(12)
    syms = _skewed(rng, 30, 40000)
    ls = code_lengths(np.bincount(syms, minlength=30))
    buf, nbits = huffman_encode(syms, ls)
    out, m, end = H._decode_lanes(np.frombuffer(buf, dtype=np.uint8), syms.size, H._Code(ls))
    assert np.array_equal(out, syms) and (m, end) == (syms.size, nbits)
    assert any(cuts)


def test_lane_decoder_rescue_searches_whole_trails(small_lanes, monkeypatch):
    """A window too small for some pairs: the exhaustive per-pair search (rescue)
    must still join every lane, so no batch is cut."""
    monkeypatch.setattr(H, "_SYNC_BITS", 4)
    monkeypatch.setattr(H, "_MAX_RESCUES", 10**6)
    cuts = []
    batch = H._Lanes.batch

    def spy(self, w, g0, g1):
        res = batch(self, w, g0, g1)
        cuts.append(res is None or res[2] < g1)
        return res

    monkeypatch.setattr(H._Lanes, "batch", spy)
    rng = np.random.default_rng(13)
    syms = _skewed(rng, 30, 40000)
    ls = code_lengths(np.bincount(syms, minlength=30))
    buf, _ = huffman_encode(syms, ls)
    out, _, _ = H._decode_lanes(np.frombuffer(buf, dtype=np.uint8), syms.size, H._Code(ls))
    assert np.array_equal(out, syms) and cuts and not any(cuts)


def test_lane_decoder_default_parameters_large_stream():
    rng = np.random.default_rng(5)
    syms = np.clip(np.round(rng.normal(15.5, 4.0, 700_000)), 0, 31).astype(np.uint32)
    ls = code_lengths(np.bincount(syms, minlength=32))
    buf, _ = huffman_encode(syms, ls)
    assert 8 * len(buf) >= H._LANE_MIN_BITS
    assert np.array_equal(huffman_decode(buf, syms.size, ls), syms)
    for cut in (buf[:-1], buf[:-100], buf + b"\x00"):
        seq, lanes = _both_paths(cut, syms.size, ls)
        assert seq == lanes and seq[0] == "err" and seq[1] == "BitstreamError"


def test_lane_decoder_near_uniform_code_falls_back_correctly(small_lanes):
    rng = np.random.default_rng(2)
    syms = rng.integers(0, 201, size=20000)  # lengths 7/8: slow self-synchronisation
    ls = code_lengths(np.bincount(syms, minlength=201))
    buf, _ = huffman_encode(syms, ls)
    seq, lanes = _both_paths(buf, syms.size, ls)
    assert seq == lanes == ("ok", syms.tolist())


# ----------------------------------------------------------------------------
# Streams: worked examples (normative bytes), round trips, choices
# ----------------------------------------------------------------------------


def test_worked_examples_bytes():
    # FIXED: width 2, symbols 0,1,0,2 -> 00 01 00 10 = 0x12
    assert write_stream(np.array([0, 1, 0, 2]), 3) == bytes([0x00, 0x02, 0x12])
    # CONSTANT: n = 0 writes symbol 0; all-equal writes the symbol.
    assert write_stream(np.array([], dtype=np.int64), 5) == bytes([0x02, 0x00])
    assert write_stream(np.array([5, 5, 5]), 8) == bytes([0x02, 0x05])
    # HUFFMAN: 40 x sym0, then 1, 2, 3. Lengths [1,3,3,2] (ties by symbol value),
    # canonical codes 0:'0' 3:'10' 1:'110' 2:'111'. Table lw=2: 01 11 11 10 = 0x7E.
    # Codewords: 40 zero bits, '110' '111' '10' -> 00 00 00 00 00 DE.
    syms = np.array([0] * 40 + [1, 2, 3])
    expect = bytes([0x01, 0x02, 0x04, 0x06, 0x7E, 0, 0, 0, 0, 0, 0xDE])
    assert write_stream(syms, 4) == expect
    assert read_stream(Cursor(expect), 43, 4, "v").tolist() == syms.tolist()
    # mode="fixed" keeps the caller's width even when another coding is smaller.
    assert write_stream(syms, 4, mode="fixed", width=3)[:2] == bytes([0x00, 0x03])


@SETTINGS
@given(symbol_arrays, st.sampled_from(["auto", "fixed"]))
def test_stream_round_trip_and_skip(case, mode):
    alphabet, vals = case
    syms = np.array(vals, dtype=np.int64)
    width = max(1, (alphabet - 1).bit_length())
    blob = write_stream(syms, alphabet, mode=mode, width=width if mode == "fixed" else None)
    assert blob == write_stream(syms, alphabet, mode=mode, width=width if mode == "fixed" else None)
    pad = b"\xaa\xbb"
    cur = Cursor(pad + blob + pad, pos=2)
    out = read_stream(cur, syms.size, alphabet, "values")
    assert out.dtype == np.uint32 and out.tolist() == vals
    assert cur.pos == 2 + len(blob)
    cur2 = Cursor(pad + blob + pad, pos=2)
    info = skip_stream(cur2, syms.size, alphabet, "values")
    assert isinstance(info, StreamInfo) and cur2.pos == cur.pos and info.nbytes == len(blob)
    assert info.nbytes >= info.table_bytes + info.data_bytes + 1


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 1 << 16), st.floats(0.001, 0.9), st.integers(1, 3000), st.integers(0, 2**31))
def test_stream_round_trip_geometric_large_alphabets(alphabet, p, n, seed):
    rng = np.random.default_rng(seed)
    syms = np.minimum(rng.geometric(p, size=n) - 1, alphabet - 1)
    blob = write_stream(syms, alphabet)
    assert read_stream(Cursor(blob), n, alphabet, "gaps").tolist() == syms.tolist()


def test_auto_choice_is_smallest_with_ties_to_fixed():
    rng = np.random.default_rng(0)
    for _ in range(40):
        a = int(rng.integers(2, 40))
        syms = rng.integers(0, a, size=int(rng.integers(2, 200)))
        if np.unique(syms).size < 2:
            continue
        w = max(1, int(syms.max()).bit_length())
        fixed = write_stream(syms, a, mode="fixed", width=w)
        auto = write_stream(syms, a)
        assert len(auto) <= len(fixed)
        assert (auto[0] == 0) == (len(auto) == len(fixed))
    # Uniform symbols: Huffman cannot beat FIXED, so FIXED is chosen.
    assert write_stream(np.arange(16).repeat(4), 16)[0] == 0


def test_single_symbol_and_two_symbol_streams():
    assert skip_stream(Cursor(write_stream(np.full(1000, 3), 4)), 1000, 4, "v").coding == "constant"
    two = np.array([0] * 100 + [1])
    blob = write_stream(two, 2)
    assert read_stream(Cursor(blob), 101, 2, "v").tolist() == two.tolist()
    skewed = np.array([0] * 1000 + [1, 2])
    info = skip_stream(Cursor(write_stream(skewed, 3)), 1002, 3, "v")
    assert info.coding == "huffman" and info.code_lengths.tolist() == [1, 2, 2]


def test_write_stream_rejects_bad_input():
    with pytest.raises(ValueError):
        write_stream(np.array([3]), 3)
    with pytest.raises(ValueError):
        write_stream(np.array([-1, 0]), 3)
    with pytest.raises(ValueError):
        write_stream(np.array([4]), 8, mode="fixed", width=2)
    with pytest.raises(ValueError):
        write_stream(np.array([1]), 8, mode="fixed")
    with pytest.raises(ValueError):
        write_stream(np.array([1]), 8, mode="zstd")


# ----------------------------------------------------------------------------
# Streams: bad inputs (BAD_INPUTS B6 rows 11-15)
# ----------------------------------------------------------------------------


def _huff(lw: int, table: list[int], data: bytes, nbytes: int | None = None) -> bytes:
    t = bytes([1, lw]) + varint(len(table)) + varint(len(data) if nbytes is None else nbytes)
    return t + pack_bits(np.array(table), lw) + data


BAD_STREAMS = [
    ("over-subscribed [1,1,2]", _huff(2, [1, 1, 2], b"\x00"), 1, 3, HuffmanTableError),
    ("over-subscribed count=[0,1,3]", _huff(2, [1, 2, 2, 2], b"\x00"), 1, 4, HuffmanTableError),
    ("incomplete [2,1,3]", _huff(2, [2, 1, 3], b"\x00"), 1, 3, HuffmanTableError),
    ("length 25", _huff(5, [1, 25, 25], b"\x00"), 1, 3, HuffmanTableError),
    ("T = 1", _huff(1, [1], b"\x00"), 1, 3, HuffmanTableError),
    ("T = 0", bytes([1, 1, 0, 1, 0]), 1, 3, HuffmanTableError),
    ("T > alphabet", _huff(1, [1, 1], b"\x00"), 1, 1, HuffmanTableError),
    ("lengths[T-1] == 0", _huff(2, [1, 1, 0], b"\x00"), 1, 3, HuffmanTableError),
    ("lw = 0", bytes([1, 0, 2, 1, 0, 0]), 1, 3, HuffmanTableError),
    ("lw = 6", bytes([1, 6, 2, 1, 0, 0]), 1, 3, HuffmanTableError),
    ("mid-codeword", _huff(2, [1, 2, 2], b"\x7f"), 5, 3, BitstreamError),
    ("too few symbols", _huff(2, [1, 2, 2], b"\xff"), 5, 3, BitstreamError),
    ("extra byte", _huff(2, [1, 2, 2], b"\x00\x00"), 8, 3, BitstreamError),
    ("non-zero padding", _huff(2, [1, 2, 2], b"\x40"), 1, 3, BitstreamError),
    ("table padding", bytes([1, 2, 3, 1, 0b01101001, 0]), 1, 3, BitstreamError),
    ("huge nbytes", _huff(2, [1, 2, 2], b"\x00", nbytes=1 << 60), 1, 3, TruncatedError),
    ("n > 8 * nbytes", _huff(2, [1, 2, 2], b"\x00"), 9, 3, LimitError),
    ("FIXED symbol >= A", bytes([0, 2, 0b00011100]), 3, 3, BitstreamError),
    ("FIXED width 0", bytes([0, 0]), 0, 3, LimitError),
    ("FIXED width 33", bytes([0, 33, 0, 0, 0, 0, 0]), 1, 3, LimitError),
    ("FIXED padding", bytes([0, 2, 0b00000001]), 3, 3, BitstreamError),
    ("FIXED short", bytes([0, 8, 1]), 2, 3, TruncatedError),
    ("CONSTANT symbol >= A", bytes([2, 3]), 4, 3, BitstreamError),
    ("CONSTANT non-minimal varint", bytes([2, 0x80, 0x00]), 4, 3, LimitError),
    ("coding 4", bytes([4, 0]), 1, 3, UnsupportedFeatureError),
    ("coding 255", bytes([255]), 1, 3, UnsupportedFeatureError),
    ("empty", b"", 1, 3, TruncatedError),
]


# Errors only visible by decoding the payload; skip_stream must accept these.
PAYLOAD_ONLY = {
    "mid-codeword",
    "too few symbols",
    "extra byte",
    "non-zero padding",
    "FIXED symbol >= A",
    "FIXED padding",
}


@pytest.mark.parametrize("name, blob, n, alphabet, err", BAD_STREAMS, ids=[b[0] for b in BAD_STREAMS])
def test_bad_streams_raise_exact_error_with_field_and_offset(name, blob, n, alphabet, err):
    if name in PAYLOAD_ONLY:
        info = skip_stream(Cursor(blob), n, alphabet, "values")
        assert info.nbytes == len(blob)
    for fn in (read_stream,) if name in PAYLOAD_ONLY else (read_stream, skip_stream):
        cur = Cursor(b"\x00" * 7 + blob, pos=7, base=1000, tensor="fc1")
        with pytest.raises(err) as ei:
            fn(cur, n, alphabet, "values")
        assert type(ei.value) is err
        assert ei.value.field == "values" and ei.value.tensor == "fc1"
        assert 1007 <= ei.value.offset <= 1007 + len(blob)


def test_error_offsets_point_into_the_payload():
    blob = _huff(2, [1, 2, 2], b"\x00\x00\x00\x40")  # padding error in the 4th data byte
    with pytest.raises(BitstreamError) as ei:
        read_stream(Cursor(blob, base=500), 25, 3, "gaps")
    assert ei.value.offset == 500 + len(blob) - 1
    fixed = bytes([0, 4, 0x01, 0x23, 0x4F])  # width 4: symbol 5 is 0xF
    with pytest.raises(BitstreamError, match="symbol 5 is 15") as ei:
        read_stream(Cursor(fixed, base=100), 6, 10, "values")
    assert ei.value.offset == 100 + 2 + 2


def test_truncation_at_every_offset_is_truncated_error():
    rng = np.random.default_rng(4)
    for syms, a in ((_skewed(rng, 20, 300), 20), (rng.integers(0, 7, 50), 7), (np.full(9, 2), 3)):
        blob = write_stream(syms, a)
        for k in range(len(blob)):
            with pytest.raises(TruncatedError):
                read_stream(Cursor(blob[:k]), syms.size, a, "v")


def test_bad_context_is_a_format_error():
    with pytest.raises(LimitError):
        read_stream(Cursor(b"\x02\x00"), 1, 0, "v")
    with pytest.raises(LimitError):
        read_stream(Cursor(b"\x02\x00"), 1, (1 << 32) + 1, "v")
    with pytest.raises(LimitError):
        read_stream(Cursor(b"\x02\x00"), -1, 4, "v")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 400), st.integers(1, 1 << 32))
def test_random_bytes_raise_only_format_errors(blob, n, alphabet):
    cur = Cursor(blob)
    try:
        out = read_stream(cur, n, alphabet, "v")
    except FormatError:
        return
    assert out.size == n and (n == 0 or int(out.max()) < alphabet)


@settings(max_examples=150, deadline=None)
@given(symbol_arrays, st.integers(0, 10_000), st.integers(0, 7))
def test_bit_flipped_streams_raise_only_format_errors(case, where, bit):
    alphabet, vals = case
    blob = bytearray(write_stream(np.array(vals, dtype=np.int64), alphabet))
    blob[where % len(blob)] ^= 1 << bit
    try:
        out = read_stream(Cursor(bytes(blob)), len(vals), alphabet, "v")
    except FormatError:
        return
    assert out.size == len(vals) and (not vals or int(out.max()) < alphabet)


# ---------------------------------------------------------------- sizes without packing (the writer's searches)

_SKEWED = st.lists(st.integers(0, 40), min_size=0, max_size=400).map(
    lambda xs: np.array([x if x < 30 else x % 3 for x in xs], np.int64)
)


@settings(max_examples=150, deadline=None)
@given(syms=_SKEWED, extra=st.integers(0, 5))
def test_stream_size_is_the_length_write_stream_produces(syms: np.ndarray, extra: int) -> None:
    from dcformat.entropy.streams import stream_size, write_stream

    alphabet = (int(syms.max()) + 1 if syms.size else 1) + extra
    assert stream_size(syms, alphabet) == len(write_stream(syms, alphabet))


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(_SKEWED, min_size=1, max_size=4),
    fillers=st.lists(st.integers(0, 300), min_size=4, max_size=4),
    huffman=st.booleans(),
)
def test_row_class_size_is_the_length_row_class_bytes_produces(gaps: list, fillers: list, huffman: bool) -> None:
    from dcformat.container.payload import row_class_bytes, row_class_size

    b = 6  # symbols < 41 fit
    class_min = np.arange(1, len(gaps), dtype=np.int64) * 150  # multi-byte varints too
    g = tuple(gaps)
    fill = tuple(fillers[: len(gaps)])
    assert row_class_size(class_min, fill, g, b, huffman) == len(row_class_bytes(class_min, fill, g, b, huffman))
