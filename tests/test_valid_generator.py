"""Valid files built field by field from spec/FORMAT.md (a decodecorpus analogue), not through the encoder.

The strategy draws the *content* first (arrays, codebooks, entry positions) and then, for
every symbol stream, a legal coding the encoder never chooses: Huffman tables with random
complete (non-optimal) lengths, codes of the maximum length 24, unused table entries,
FIXED widths wider than needed, HUFFMAN streams of zero symbols; filler runs and gaps of
exactly 2^b - 1 / 2^b zeros; empty tensors, K = 0, single-symbol CONSTANT streams;
unknown ancillary sections anywhere after TABL, ignorable header flag bits and newer
minor versions; hand-made zstd frames. The expected arrays are computed in the strategy
from the drawn content; the library (decode, open().tensor/csr/info) and the embedded
decoder must both reproduce them exactly.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dcformat
from dcformat import embedded

GEN_PATH = Path(__file__).resolve().parents[1] / "spec" / "vectors" / "invalid" / "generate_invalid.py"
_spec = importlib.util.spec_from_file_location("generate_invalid", GEN_PATH)
g = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(g)

DTYPES = {1: "<f4", 2: "<f2", 3: "<f8", 4: "i1", 5: "<i2", 6: "<i4", 7: "<i8", 8: "u1", 9: "<u2", 10: "<u4",
          11: "<u8", 12: "?"}
EXAMPLES = int(os.environ.get("DCFORMAT_VALIDGEN_EXAMPLES", "120"))


@dataclass
class Expected:
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    csr: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# Symbol streams: any legal coding of a given symbol sequence (§6)
# ------------------------------------------------------------------------------------------


@st.composite
def complete_lengths(draw, m: int, deep: bool = False) -> list[int]:
    """Code lengths of a random full binary tree with m leaves (Kraft sum exactly 1, max 24)."""
    if deep:  # 1, 2, ..., 23, 24, 24 : the longest legal codes
        return list(range(1, 25)) + [24]
    leaves = [0]
    while len(leaves) < m:
        splittable = [i for i, d in enumerate(leaves) if d < 24]
        i = draw(st.sampled_from(splittable))
        d = leaves.pop(i)
        leaves += [d + 1, d + 1]
    return leaves


@st.composite
def stream(draw, symbols: list[int], alphabet: int) -> tuple[bytes, str]:
    """Bytes of one stream holding ``symbols`` and the coding name used."""
    distinct = sorted(set(symbols))
    options = ["fixed"]
    if len(distinct) <= 1:
        options.append("constant")
    if alphabet >= 2:
        options.append("huffman")
    coding = draw(st.sampled_from(options))
    if coding == "constant":
        sym = distinct[0] if distinct else draw(st.integers(0, alphabet - 1))
        return g.s_const(sym), coding
    if coding == "fixed":
        need = max(1, max(symbols, default=0).bit_length())
        width = draw(st.one_of(st.integers(need, min(32, need + 3)), st.just(32)))
        return g.s_fixed(symbols, width), coding
    # HUFFMAN: used symbols = the distinct ones plus some unused extras (legal: codes nobody uses)
    deep = alphabet >= 25 and draw(st.booleans())
    pool = list(range(min(alphabet, 64)))
    extra_n = draw(st.integers(0, 4)) if not deep else 25
    used = set(distinct)
    for s in draw(st.lists(st.sampled_from(pool), min_size=extra_n, max_size=extra_n + 25)):
        if len(used) >= max(2, len(distinct) + extra_n, 25 if deep else 0):
            break
        used.add(s)
    while len(used) < 2:
        used.add(draw(st.sampled_from([s for s in pool if s not in used])))
    used = sorted(used)
    if deep and len(used) != 25:
        deep = False
    lens = draw(complete_lengths(len(used), deep))
    order = draw(st.permutations(list(range(len(used)))))
    lengths = [0] * (max(used) + 1)
    for sym, k in zip(used, order):
        lengths[sym] = lens[k]
    lw = draw(st.integers(max(lengths).bit_length(), 5))
    return g.s_huff(symbols, lengths, lw=lw), coding


# ------------------------------------------------------------------------------------------
# Tensors
# ------------------------------------------------------------------------------------------

NAME_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))
LEGAL_ODD_NAMES = ["../../etc/passwd", "/abs/path", "a/b/c", "C:\\x", "..", ".", " sp ace ", "权重", "e\u0301", "%2F"]


def names() -> st.SearchStrategy[str]:
    return st.one_of(st.text(NAME_CHARS, min_size=1, max_size=12), st.sampled_from(LEGAL_ODD_NAMES),
                     st.just("n" * 1024))


def shapes(max_numel: int = 48) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(0, 7), min_size=0, max_size=4).map(tuple).filter(
        lambda s: int(np.prod(s, dtype=np.int64)) <= max_numel)


finite32 = st.one_of(
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45, 3.4028235e38, 65504.0, 1e10]),
)


@st.composite
def raw_tensor(draw, name: str) -> tuple[int, int, tuple, bytes, np.ndarray, dict]:
    code = draw(st.sampled_from(sorted(DTYPES)))
    shape = draw(shapes())
    numel = int(np.prod(shape, dtype=np.int64))
    dt = np.dtype(DTYPES[code])
    if code == 12:
        data = bytes(draw(st.lists(st.integers(0, 1), min_size=numel, max_size=numel)))
    else:
        data = draw(st.binary(min_size=numel * dt.itemsize, max_size=numel * dt.itemsize))
    arr = np.frombuffer(data, dt).reshape(shape)
    arr = arr.astype(dt.newbyteorder("="))
    how = draw(st.sampled_from(["none", "zstd", "zstd-raw-block", "zstd-window"]))
    if how == "none":
        payload = g.raw_payload(data)
    elif how == "zstd":
        payload = g.raw_payload(g.zstd_frame(data, checksum=draw(st.booleans())), 1)
    elif how == "zstd-raw-block":  # single segment, FCS in 1..8 bytes as the value allows
        fcs_bytes = draw(st.sampled_from([b for b in (1, 4, 8) if len(data) < 256 or b > 1]))
        payload = g.raw_payload(g.zstd_raw_frame(data, fcs_bytes=fcs_bytes), 1)
    else:  # a Window_Descriptor (not single segment) of 2^10 .. 2^27 bytes
        payload = g.raw_payload(g.zstd_raw_frame(data, window_exp=draw(st.integers(10, 27)), fcs_bytes=4), 1)
    if payload[0] == 1 and numel * dt.itemsize > 1024 * (len(payload) - 8):
        payload = g.raw_payload(data)  # stay under the 1024:1 ratio limit
    return code, 0, shape, payload, arr, {"encoding": "raw"}


F16_MAX_FINITE = 65519.99  # float32 values above this round to inf as float16 (invalid, FORMAT.md §5.2)


@st.composite
def codebook(draw, q: int, k: int, dtype_code: int = 1) -> list[float]:
    values = finite32.filter(lambda x: abs(x) <= F16_MAX_FINITE) if dtype_code == 2 else finite32
    return draw(st.lists(values, min_size=k, max_size=k))


@st.composite
def dense_tensor(draw, name: str):
    code = draw(st.sampled_from([1, 2, 3]))
    shape = draw(shapes())
    numel = int(np.prod(shape, dtype=np.int64))
    q = draw(st.integers(1, 16))
    k = draw(st.integers(0 if numel == 0 else 1, min(1 << q, 12)))
    book = draw(codebook(q, k, code))
    values = draw(st.lists(st.integers(0, max(k - 1, 0)), min_size=numel, max_size=numel))
    vstream, coding = draw(stream(values, max(k, 1)))
    payload = g.quant_head(q, 0, g.f32(book) if book else b"", k=k) + vstream
    dt = np.dtype(DTYPES[code]).newbyteorder("=")
    arr = np.asarray(book, np.float32)[np.asarray(values, np.int64)].astype(dt).reshape(shape)
    return code, 1, shape, payload, arr, {"encoding": "dense", "code_bits": q, "value_coding": coding,
                                            "codebook_size": k}


@st.composite
def sparse_tensor(draw, name: str):
    code = draw(st.sampled_from([1, 2, 3]))
    shape = draw(st.one_of(shapes(max_numel=80), st.tuples(st.integers(1, 5), st.integers(1, 40))))
    numel = int(np.prod(shape, dtype=np.int64))
    rows, cols = (1, numel) if len(shape) <= 1 else (shape[0], int(np.prod(shape[1:], dtype=np.int64)))
    b = draw(st.sampled_from([1, 1, 2, 2, 3, 4, 5]))
    density = draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = rng.random((rows, cols)) < density
    if numel:
        if cols >= (1 << b) and rows and draw(st.booleans()):  # entries after exactly 2^b - 2, 2^b - 1 zeros
            mask[0, :] = False
            mask[0, (1 << b) - 2] = True
            if cols > 2 * (1 << b) - 1:
                mask[0, 2 * (1 << b) - 1] = True
    counts, gaps, where = g.gap_symbols(mask.astype(np.uint8), b)
    nnz = len(where)
    q = draw(st.integers(1, 16))
    k = draw(st.integers(0 if nnz == 0 else 1, min(1 << q, 12)))
    book = draw(codebook(q, k, code))
    values = draw(st.lists(st.integers(0, max(k - 1, 0)), min_size=nnz, max_size=nnz))
    cstream, ccoding = draw(stream(counts, cols + 1))
    # Row classes (§5.3): thresholds drawn freely (classes may be empty, thresholds may exceed every count).
    class_min = sorted(set(draw(st.lists(st.integers(1, cols + 2), max_size=3))))
    cls = np.searchsorted(np.array(class_min, np.int64), np.asarray(counts, np.int64), side="right")
    gpart, gcodings = b"", set()
    for c in range(len(class_min) + 1):
        members = np.flatnonzero(cls == c)
        _, class_gaps, class_where = g.gap_symbols(mask[members].astype(np.uint8), b)
        class_stream, class_coding = draw(stream(class_gaps, 1 << b))
        gpart += g.varint(len(class_gaps) - len(class_where)) + class_stream
        gcodings.add(class_coding)
    gcoding = gcodings.pop() if len(gcodings) == 1 else "+".join(sorted(gcodings))
    vstream, vcoding = draw(stream(values, max(k, 1)))
    payload = g.quant_head(q, b, g.f32(book) if book else b"", k=k) + cstream
    payload += bytes([len(class_min) + 1]) + b"".join(g.varint(t) for t in class_min) + gpart + vstream
    dt = np.dtype(DTYPES[code]).newbyteorder("=")
    out = np.zeros((rows, cols), dt)
    vals = np.asarray(book, np.float32)[np.asarray(values, np.int64)].astype(dt)
    for (r, c), v in zip(where, vals):  # tiny: a loop is the clearest oracle here
        out[r, c] = v
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.array([c for _, c in where], np.int64)
    info = {"encoding": "sparse", "nnz": nnz, "n_fillers": len(gaps) - nnz, "index_bits": b, "code_bits": q,
            "count_coding": ccoding, "gap_coding": gcoding, "value_coding": vcoding, "codebook_size": k}
    return code, 2, shape, payload, out.reshape(shape), info, (indptr, indices, vals)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@st.composite
def valid_files(draw) -> tuple[bytes, Expected]:
    exp = Expected()
    entries, datas = [], []
    for name in draw(st.lists(names(), min_size=0, max_size=4, unique=True)):
        kind = draw(st.sampled_from(["raw", "dense", "sparse"]))
        made = draw({"raw": raw_tensor, "dense": dense_tensor, "sparse": sparse_tensor}[kind](name))
        code, enc, shape, payload, arr, info = made[:6]
        entries.append(g.entry(name, code, enc, shape))
        datas.append(payload)
        exp.tensors[name] = arr
        exp.info[name] = info
        if kind == "sparse":
            exp.csr[name] = made[6]
    sections = [(b"TABL", g.table(entries))]
    if draw(st.booleans()):
        exp.metadata = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=4))
        text = json.dumps(exp.metadata, ensure_ascii=draw(st.booleans()), sort_keys=draw(st.booleans()),
                          indent=draw(st.sampled_from([None, 1])))
        sections.append((b"META", text.encode()))
    sections += [(b"DATA", d) for d in datas]
    for _ in range(draw(st.integers(0, 2))):  # unknown ancillary sections anywhere after TABL
        kind = bytes([draw(st.integers(ord("a"), ord("z")))]) + bytes(
            draw(st.lists(st.sampled_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), min_size=3,
                          max_size=3)))
        if kind in (b"TABL", b"META", b"GRPH", b"DATA"):
            continue
        sections.insert(draw(st.integers(1, len(sections))), (kind, draw(st.binary(max_size=12))))
    minor = draw(st.sampled_from([0, 0, 1, 7, 65535]))
    flags = draw(st.integers(0, 0xFFFF)) << 16 if draw(st.booleans()) else 0
    return g.assemble(sections, minor=minor, flags=flags), exp


def _same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert got[k].shape == want[k].shape, k
        assert got[k].tobytes() == want[k].tobytes(), k


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(valid_files())
def test_spec_built_files_decode_to_the_model(case: tuple[bytes, Expected]) -> None:
    data, exp = case
    _same(dcformat.decode(data), exp.tensors)
    emb = embedded.decode_file(data)
    _same(emb.tensors, exp.tensors)
    assert emb.metadata == exp.metadata
    with dcformat.open(data) as f:
        assert f.metadata == exp.metadata
        for name, want in exp.info.items():
            info = f.info(name)
            for key, value in want.items():
                assert getattr(info, key) == value, (name, key)
        for name, (indptr, indices, values) in exp.csr.items():
            got = f.csr(name)
            assert got[0].tolist() == indptr.tolist()
            assert got[1].tolist() == indices.tolist()
            assert got[2].tobytes() == values.tobytes()


def test_strategy_reaches_the_unusual_cases() -> None:
    """The strategy is only useful if it actually produces what the encoder never writes."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def probe(data) -> None:
        symbols = data.draw(st.lists(st.integers(0, 30), max_size=20))
        raw, coding = data.draw(stream(symbols, 40))
        seen.add(coding)
        if coding == "fixed" and raw[1] == 32:
            seen.add("fixed-32")
        if coding == "huffman" and not symbols:
            seen.add("huffman-empty")

    probe()
    assert {"fixed", "huffman", "constant", "fixed-32", "huffman-empty"} <= seen, seen


def test_deep_codes_use_the_maximum_length() -> None:
    lens = list(range(1, 25)) + [24]  # what complete_lengths(25, deep=True) draws
    assert max(lens) == 24 and sum(2.0 ** -x for x in lens) == 1.0
    symbols = list(range(25)) * 2
    lengths = [0] * 25
    for s, ln in enumerate(lens):
        lengths[s] = ln
    data = g.one("deep", 1, 1, (50,), g.quant_head(5, 0, list(map(float, range(25)))) + g.s_huff(symbols, lengths))
    want = np.asarray(symbols, np.float32)
    assert dcformat.decode(data)["deep"].tolist() == want.tolist()
    assert embedded.decode(data)["deep"].tolist() == want.tolist()


def test_graph_file_and_odd_names_are_valid() -> None:
    """The GRPH base file of the negative corpus is itself valid for both decoders."""
    data = g.graph_file()
    want = {"fc.w": g.G_W, "fc.b": g.G_B}
    _same(dcformat.decode(data), want)
    got = embedded.decode_file(data)
    _same(got.tensors, want)
    assert json.loads(got.graph) == g.graph_doc()
    with dcformat.open(data) as f:
        assert [n.op for n in f.graph.nodes] == ["Linear", "ReLU", "Softmax"]
