"""Bit-exactness, determinism and idempotence of encode/decode (issue: format v1 core codec).

Oracles: the input itself (lossless path), scipy.sparse for CSR, an independent
top-k selection written here for the pruning mask, and properties of converged
k-means (every weight maps to a nearest codebook value).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import dcformat
from dcformat import CompressionConfig

ROOT = Path(__file__).resolve().parents[1]


def topk_mask(w: np.ndarray, density: float) -> np.ndarray:
    """Independent pruning oracle: stable sort by (-|w|, index), keep the first k nonzeros."""
    flat = w.reshape(-1)
    n = flat.size
    k = int(np.floor(density * n + 0.5 + 1e-9)) if n else 0
    k = max(k, 1) if n else 0
    order = np.argsort(-np.abs(flat.astype(np.float64)), kind="stable")
    keep = np.zeros(n, bool)
    nz = order[flat[order] != 0][:k]
    keep[nz] = True
    return keep.reshape(w.shape)


def matrices(min_side: int = 0, max_side: int = 40):
    shapes = st.tuples(st.integers(min_side, max_side), st.integers(min_side, max_side))
    return shapes.flatmap(
        lambda s: st.lists(
            st.floats(-4, 4, width=32, allow_subnormal=False), min_size=s[0] * s[1], max_size=s[0] * s[1]
        ).map(lambda v: np.array(v, np.float32).reshape(s))
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=matrices(), density=st.sampled_from([0.05, 0.1, 0.5, 1.0]), q=st.integers(1, 6), b=st.integers(1, 8))
def test_sparse_roundtrip_properties(w: np.ndarray, density: float, q: int, b: int) -> None:
    cfg = CompressionConfig(density=density, code_bits=q, index_bits=b)
    out = dcformat.decode(dcformat.encode({"w": w}, config=cfg))["w"]
    assert out.shape == w.shape and out.dtype == w.dtype
    keep = topk_mask(w, density)
    assert not (out != 0)[~keep].any(), "a pruned position decoded nonzero"
    with dcformat.open(dcformat.encode({"w": w}, config=cfg)) as f:
        cb = f.codebook("w")
        info = f.info("w")
    assert cb.size <= 2**q and np.all(np.diff(cb) > 0)
    assert np.isin(out[out != 0], cb).all()
    kept = w[keep & (out != 0)].astype(np.float64)
    if kept.size == 0:
        return
    dist = np.abs(kept[:, None] - cb[None, :].astype(np.float64)).min(axis=1)
    got = np.abs(kept - out[keep & (out != 0)].astype(np.float64))
    assert np.all(got <= dist + 1e-5), "a weight was not mapped to a nearest codebook value"
    assert info.nnz == int((out != 0).sum())


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(0, 30), st.integers(0, 30)),
    n_values=st.integers(1, 8),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    huffman=st.booleans(),
    b=st.integers(1, 9),
)
def test_lossless_path_is_bit_exact(shape, n_values, density, seed, huffman, b) -> None:
    """Weights already pruned + quantized elsewhere come back bit for bit (oracle: the input)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(n_values).astype(np.float32)
    w = values[rng.integers(0, n_values, size=shape)]
    w[rng.random(shape) > density] = 0
    cfg = CompressionConfig(density=None, code_bits=3, index_bits=b, huffman=huffman)
    out = dcformat.decode(dcformat.encode({"w": w}, config=cfg))["w"]
    assert out.tobytes() == w.tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_lossless_dense_keeps_signed_zero(dtype) -> None:
    w = np.array([[0.0, -0.0, 1.5], [-0.0, 2.25, 1.5]], dtype)
    cfg = CompressionConfig(encoding="dense", code_bits=2)
    out = dcformat.decode(dcformat.encode({"w": w}, config=cfg))["w"]
    assert out.dtype == w.dtype and out.tobytes() == w.tobytes()


def test_sparse_negative_zero_is_a_pruned_position() -> None:
    w = np.array([[-0.0, 1.0], [0.5, -0.0]], np.float32)
    out = dcformat.decode(dcformat.encode({"w": w}, config=CompressionConfig(density=None)))["w"]
    assert np.array_equal(out, w) and not np.signbit(out[0, 0])


@settings(max_examples=40, deadline=None)
@given(w=matrices(1, 30), density=st.sampled_from([0.1, 0.3, 1.0]), b=st.integers(1, 8))
def test_fixed_and_huffman_decode_identically(w, density, b) -> None:
    a = CompressionConfig(density=density, code_bits=4, index_bits=b, huffman=True)
    c = CompressionConfig(density=density, code_bits=4, index_bits=b, huffman=False)
    fa, fc = dcformat.encode({"w": w}, config=a), dcformat.encode({"w": w}, config=c)
    assert np.array_equal(dcformat.decode(fa)["w"], dcformat.decode(fc)["w"])
    with dcformat.open(fc) as f:
        info = f.info("w")
    if info.nnz:
        assert info.value_coding == "fixed" and info.gap_coding == "fixed"


@settings(max_examples=40, deadline=None)
@given(w=matrices(0, 30), density=st.sampled_from([0.1, 0.35, 1.0]))
def test_csr_matches_scipy(w, density) -> None:
    sp = pytest.importorskip("scipy.sparse")
    data = dcformat.encode({"w": w}, config=CompressionConfig(density=density, code_bits=3))
    with dcformat.open(data) as f:
        indptr, indices, values = f.csr("w")
        dense = f.tensor("w")
    ref = sp.csr_matrix(dense)
    ref.eliminate_zeros()
    assert np.array_equal(indptr, ref.indptr) and np.array_equal(indices, ref.indices)
    assert np.array_equal(values, ref.data)


def default_model(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "conv1.weight": rng.standard_normal((16, 3, 3, 3)).astype(np.float32),
        "conv1.bias": rng.standard_normal(16).astype(np.float32),
        "fc.weight": rng.standard_normal((10, 300)).astype(np.float32),
        "fc.bias": rng.standard_normal(10).astype(np.float32),
        "steps": np.array([3], np.int64),
        "mask": rng.random((4, 4)) > 0.5,
    }


def test_default_config_is_idempotent() -> None:
    f = dcformat.encode(default_model())
    assert dcformat.encode(dcformat.decode(f)) == f


@settings(max_examples=25, deadline=None)
@given(w=matrices(1, 25), density=st.sampled_from([0.1, 0.35]), q=st.integers(1, 5), b=st.integers(1, 8))
def test_reencode_is_idempotent(w, density, q, b) -> None:
    cfg = CompressionConfig(density=density, code_bits=q, index_bits=b)
    f = dcformat.encode({"w": w}, config=cfg)
    assert dcformat.encode(dcformat.decode(f), config=cfg) == f


def test_paper_preset_follows_roles() -> None:
    with dcformat.open(dcformat.encode(default_model(), config=CompressionConfig(preset="paper"))) as f:
        conv, fc = f.info("conv1.weight"), f.info("fc.weight")
        assert (conv.encoding, conv.code_bits, conv.index_bits) == ("sparse", 8, 8)
        assert (fc.encoding, fc.code_bits, fc.index_bits) == ("sparse", 5, 5)
        assert fc.nnz == 300 and conv.nnz == round(0.35 * 432)
        for name in ("conv1.bias", "fc.bias", "steps", "mask"):
            assert f.info(name).encoding == "raw"


def test_raw_tensors_exact_including_zstd() -> None:
    model = default_model()
    model["nan"] = np.array([np.nan, np.inf, -0.0], np.float32)
    for comp in ("none", "zstd"):
        cfg = CompressionConfig(encoding="raw", raw_compression=comp)
        out = dcformat.decode(dcformat.encode(model, config=cfg))
        for k, v in model.items():
            assert out[k].dtype == v.dtype and out[k].tobytes() == v.tobytes()


@pytest.mark.parametrize(
    "shape", [(0, 5), (5, 0), (1, 1), (3, 1), (1, 3), (0, 3, 3, 3), (4, 2, 1, 1), (7,), ()]
)
def test_edge_shapes(shape) -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal(shape).astype(np.float32)
    for enc in ("sparse", "dense", "raw"):
        cfg = CompressionConfig(encoding=enc, density=None, code_bits=8)
        out = dcformat.decode(dcformat.encode({"w": w}, config=cfg))["w"]
        assert out.shape == w.shape and out.tobytes() == w.tobytes()


def test_emptied_rows_full_rows_and_single_symbol_streams() -> None:
    w = np.zeros((5, 40), np.float32)
    w[1] = 0.5  # fully dense row, one value: CONSTANT value stream, gap stream all 1
    w[3, [0, 39]] = 0.5
    for b in (1, 2, 5):
        cfg = CompressionConfig(density=None, code_bits=1, index_bits=b)
        data = dcformat.encode({"w": w}, config=cfg)
        with dcformat.open(data) as f:
            assert np.array_equal(f.tensor("w"), w)
            assert f.info("w").codebook_size == 1 and f.info("w").value_coding == "constant"


def test_deterministic_across_processes() -> None:
    script = (
        "import hashlib, numpy as np, dcformat\n"
        "rng = np.random.default_rng(7)\n"
        "t = {'b.weight': rng.standard_normal((64, 200)).astype(np.float32),"
        " 'a.weight': rng.standard_normal((8, 4, 3, 3)).astype(np.float32)}\n"
        "print(hashlib.sha256(dcformat.encode(t, metadata={'z': 1, 'a': [1, 2]})).hexdigest())\n"
    )
    digests = set()
    for hashseed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"density": 0.0}, "density"),
        ({"density": 1.5}, "density"),
        ({"code_bits": 0}, "code_bits"),
        ({"index_bits": 17}, "index_bits"),
        ({"init": "kmeans++"}, "init"),
        ({"encoding": "zip"}, "encoding"),
        ({"overrides": {"fc*": {"colour": 1}}}, "unknown setting"),
        ({"overrides": {"fc*": {"code_bits": 40}}}, "code_bits"),
    ],
)
def test_bad_settings_raise_value_error(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        CompressionConfig(**kwargs)


@pytest.mark.parametrize(
    "tensors, match",
    [
        ({"w": np.array([[np.nan, 1.0]], np.float32)}, "'w'.*NaN"),
        ({"w": np.array([["a"]])}, "'w'.*dtype"),
        ({"": np.zeros((2, 2), np.float32)}, "empty"),
        ({"a\x00b": np.zeros((2, 2), np.float32)}, "control"),
        ({"\udcff": np.zeros((2, 2), np.float32)}, "UTF-8"),
        ([("w", np.zeros(2)), ("w", np.zeros(2))], "duplicate"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path, tensors, match) -> None:
    target = tmp_path / "m.dc"
    with pytest.raises(ValueError, match=match):
        dcformat.save(target, tensors)
    assert list(tmp_path.iterdir()) == []


def test_save_load_open(tmp_path) -> None:
    model = default_model()
    path = tmp_path / "m.dc"
    dcformat.save(path, model, config=CompressionConfig(preset="paper"), metadata={"source": "test"})
    loaded = dcformat.load(path)
    assert list(loaded) == list(model)
    with dcformat.open(path) as f:
        assert f.metadata == {"source": "test"}
        assert f.keys() == list(model)
        assert np.array_equal(f.tensor("fc.bias"), model["fc.bias"])
        info = f.info("fc.weight")
        n_classes = sum(key.startswith("gaps[") for key in f.streams("fc.weight"))
        # q, b, K, codebook, counts, n_classes, thresholds (1 byte each here), per class n_fillers, gaps, values
        assert info.payload_bytes == (
            2 + 1 + info.codebook_bytes + info.count_bytes + 1 + (n_classes - 1) + n_classes
            + info.gap_bytes + info.value_bytes
        )


def test_reading_imports_no_compression_policy() -> None:
    """Opening, inspecting and decoding a file loads neither k-means nor pruning nor the writer's policy."""
    vector = Path(__file__).resolve().parents[1] / "spec" / "vectors" / "v-sparse-row-classes.dcf"
    code = (
        "import sys, dcformat\n"
        "with dcformat.open(sys.argv[1]) as f:\n"
        "    [(f.info(k), f.streams(k), f.tensor(k), f.csr(k)) for k in f.keys()]\n"
        "import dcformat.container.table\n"
        "print(sorted(m for m in sys.modules if m.startswith(('dcformat.quantize', 'dcformat.prune', "
        "'dcformat.compress', 'dcformat.config', 'dcformat.container.writer'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(vector)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("huffman", [True, False])
@pytest.mark.parametrize("encoding", ["sparse", "dense", "raw"])
def test_payload_serialize_parse_roundtrip(encoding: str, huffman: bool) -> None:
    """serialize(parse(bytes)) gives the very bytes the writer stored: the two directions of one layout."""
    from dcformat.container.payload import parse, serialize
    from dcformat.limits import DEFAULT_LIMITS

    rng = np.random.default_rng(13)
    w = rng.normal(size=(40, 90)).astype(np.float32)
    data = dcformat.encode({"w": w}, config=CompressionConfig(encoding=encoding, raw_compression="zstd", huffman=huffman))
    with dcformat.open(data) as f:
        entry = f.entry("w")
        ref = f._data["w"]
        stored = bytes(data[ref.payload_offset : ref.crc_offset])
        p = parse(stored, entry, DEFAULT_LIMITS, offset=ref.payload_offset)
        assert serialize(p) == stored  # raw: the same zstd level and frame options give the same frame
        assert np.array_equal(f.tensor("w"), dcformat.decode(data)["w"])


def test_fixed_records_read_as_construct_declares_them() -> None:
    """Each fixed-layout record of container/format.py reads (compiled) exactly what its construct Struct parses."""
    import construct

    from dcformat.container import format as F

    records = [v for v in vars(F).values() if isinstance(v, F.Record)]
    assert {r.struct.sizeof() for r in records} and len(records) >= 10
    rng = np.random.default_rng(5)
    for rec in records:
        for _ in range(20):
            data = rng.integers(0, 256, rec.size + 3, dtype=np.uint8).tobytes()
            want = rec.struct.parse(data[1:])
            got = rec.parse(data, 1)
            assert got._asdict() == {k: v for k, v in want.items() if not k.startswith("_")}, rec
            assert rec.build(got._asdict()) == data[1 : 1 + rec.size]
        assert isinstance(rec.struct, construct.Struct)
