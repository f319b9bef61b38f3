"""Integer inference (spec/INT8.md): fixed-point arithmetic, the stored parameters, the onnxruntime oracle, the CLI.

Oracles: the fixed-point functions against a transcription of gemmlowp's
definitions in Python integers and against exact rational rounding; the int8
engine against onnxruntime running the same integer model exported as QDQ
ONNX, node by node on identical int8 inputs (spec/INT8.md §7: at most one LSB,
from the rounding of the requantization multiplier).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import dcformat
from dcformat.errors import FormatError, MetadataError, UnsupportedFeatureError
from dcformat.inference import Model
from dcformat.int8 import METADATA_KEY, Int8Params, QParams
from dcformat.int8.calibrate import calibrate, choose, mse_range, output_values, write_with_params
from dcformat.int8.fixedpoint import mbqm, quantize_multiplier, rdbpot, srdhm
from dcformat.int8.model import Int8Model
from dcformat.int8.plan import weight_int8
from dcformat.models import BUILDERS
from model_cases import CASES  # tests/model_cases.py

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- fixed point (gemmlowp, in Python ints)

def ref_srdhm(a: int, b: int) -> int:
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) // (1 << 31)  # C division truncates toward zero
    return q if ab + nudge >= 0 else -q


def ref_rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def test_srdhm_and_rdbpot_match_gemmlowp_definitions() -> None:
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.integers(-(2**31), 2**31, 4000), [-(2**31), 2**31 - 1, 0, 1, -1, -(2**31)]])
    b = np.concatenate([rng.integers(2**30, 2**31, 4000), [-(2**31), 2**31 - 1, 2**30, 2**30, 2**30, 2**30]])
    got = srdhm(a, b)
    assert got.tolist() == [ref_srdhm(int(x), int(y)) for x, y in zip(a, b)]
    e = rng.integers(0, 32, a.size)
    assert rdbpot(a, e).tolist() == [ref_rdbpot(int(x), int(n)) for x, n in zip(a, e)]


def test_rdbpot_rounds_half_away_from_zero() -> None:
    x = np.array([5, -5, 6, -6, 7, -7, 3, -3])  # / 2: 2.5 -2.5 3 -3 3.5 -3.5 1.5 -1.5
    assert rdbpot(x, np.int64(1)).tolist() == [3, -3, 3, -3, 4, -4, 2, -2]


@pytest.mark.parametrize("m", [1e-9, 0.0007, 0.25, 0.5, 0.7071, 0.999999999, 1.0, 3.75, 1000.5])
def test_multiplier_is_within_one_of_exact_rounding(m: float) -> None:
    m0, shift = quantize_multiplier(m)
    assert 2**30 <= m0 < 2**31
    assert abs(Fraction(m0, 2**31) * Fraction(2) ** shift - Fraction(m)) <= Fraction(m) * Fraction(1, 2**30)
    rng = np.random.default_rng(2)
    hi = (2**31 >> max(shift, 0)) - 1  # x * 2^shift must fit int32 (MBQM saturates beyond)
    x = rng.integers(-hi, hi, 3000)
    got = mbqm(x, np.int64(m0), np.int64(shift))
    exact = [Fraction(int(v)) * Fraction(m) for v in x]
    # two roundings (SRDHM, then RDBPOT): within one of the exact product, not always the nearest integer
    assert max(abs(Fraction(int(g)) - e) for g, e in zip(got, exact)) < 1


def test_multiplier_edges() -> None:
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0**-70) == (0, 0)
    m0, sh = quantize_multiplier(np.nextafter(1.0, 0.0))  # rounds up to 2^31 -> renormalised
    assert (m0, sh) == (2**30, 1)
    with pytest.raises(ValueError):
        quantize_multiplier(2.0**31)


def test_weights_per_channel_symmetric() -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * np.arange(1, 7, dtype=np.float32)[:, None, None, None]
    w[2] = 0
    q, s = weight_int8(w)
    assert q.dtype == np.int8 and s.dtype == np.float32
    assert np.abs(q.reshape(6, -1)).max(axis=1).tolist() == [127, 127, 0, 127, 127, 127]
    assert s[2] == 1.0
    err = np.abs(q.astype(np.float64) * s[:, None, None, None] - w)
    assert (err <= s[:, None, None, None] * 0.5 + 1e-6 * s[:, None, None, None]).all()


def test_choose_covers_zero_and_range() -> None:
    p = choose(-1.0, 3.0)
    assert float(np.float32(p.scale)) == p.scale
    assert p.quantize(np.float32([0.0]))[0] == p.zero_point  # zero is exact
    assert abs(p.dequantize(p.quantize(np.float32([-1.0, 3.0]))) - [-1.0, 3.0]).max() <= p.scale
    assert choose(0.0, 0.0) == QParams(1.0, 0)
    r = choose(0.5, 6.0)  # ReLU-like: lo clamps to 0 -> zero_point -128
    assert r.zero_point == -128


# ---------------------------------------------------------------- the stored parameters

def _small(name: str = "lenet_5"):
    kw, shape = CASES[name]
    g, t = BUILDERS[name](**kw)
    return g, t, shape


def _params(name: str = "lenet_5", n: int = 4, seed: int = 0, **options):
    g, t, shape = _small(name)
    x = np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)
    return g, t, x, calibrate(g, t, {g.inputs[0].name: x}, **options)


@pytest.mark.parametrize(
    "record, error",
    [
        ([], MetadataError),
        ({"int8_version": 1}, MetadataError),
        ({"int8_version": 1, "activations": {}, "extra": 1}, MetadataError),
        ({"int8_version": 0, "activations": {}}, MetadataError),
        ({"int8_version": True, "activations": {}}, MetadataError),
        ({"int8_version": 2, "activations": {}}, UnsupportedFeatureError),
        ({"int8_version": 1, "activations": []}, MetadataError),
        ({"int8_version": 1, "activations": {"nope": [0.5, 0]}}, MetadataError),
        ({"int8_version": 1, "activations": {"input": [0.5]}}, MetadataError),
        ({"int8_version": 1, "activations": {"input": [0.0, 0]}}, MetadataError),
        ({"int8_version": 1, "activations": {"input": [-0.5, 0]}}, MetadataError),
        ({"int8_version": 1, "activations": {"input": [1e300, 0]}}, MetadataError),
        ({"int8_version": 1, "activations": {"input": [0.1, 0]}}, MetadataError),  # not a binary32
        ({"int8_version": 1, "activations": {"input": ["0.5", 0]}}, MetadataError),
        ({"int8_version": 1, "activations": {"input": [0.5, 128]}}, MetadataError),
        ({"int8_version": 1, "activations": {"input": [0.5, 1.0]}}, MetadataError),
        ({"int8_version": 1, "activations": {"input": [0.5, False]}}, MetadataError),
        ({"int8_version": 1, "activations": {}, "calibration": 3}, MetadataError),
    ],
)
def test_bad_records_raise_format_errors_from_files(tmp_path: Path, record, error) -> None:
    g, t, _ = _small()
    path = tmp_path / "bad.dc"
    dcformat.save(path, t, graph=g, metadata={METADATA_KEY: record})
    with pytest.raises(error) as exc:
        Model.open(path, precision="int8")
    assert isinstance(exc.value, FormatError) and METADATA_KEY in str(exc.value)
    assert Model.open(path) is not None  # a float reader ignores the record (an ignorable metadata key)


def test_record_without_graph_and_file_without_record(tmp_path: Path) -> None:
    g, t, _ = _small()
    with pytest.raises(MetadataError):
        Int8Params.from_metadata({METADATA_KEY: {"int8_version": 1, "activations": {}}}, None)
    plain = tmp_path / "plain.dc"
    dcformat.save(plain, t, graph=g)
    with pytest.raises(MetadataError, match="quantize-activations"):
        Model.open(plain, precision="int8")
    with pytest.raises(ValueError, match="precision"):
        Model.open(plain, precision="int4")


def test_written_file_keeps_payloads_and_metadata_and_is_deterministic(tmp_path: Path) -> None:
    g, t, x, p = _params()
    src = tmp_path / "m.dc"
    dcformat.save(src, t, graph=g, metadata={"author": "me"})
    a, b = tmp_path / "a.dc", tmp_path / "b.dc"
    write_with_params(src, a, p)
    write_with_params(src, b, calibrate(g, t, {g.inputs[0].name: x}))
    assert a.read_bytes() == b.read_bytes()
    with dcformat.open(src) as f0, dcformat.open(a) as f1:
        assert f1.metadata["author"] == "me"
        assert f1.graph == f0.graph
        for k in f0.keys():
            assert f1.info(k) == f0.info(k)
            assert np.array_equal(f1.tensor(k), f0.tensor(k))
        assert Int8Params.from_metadata(f1.metadata, f1.graph).activations == p.activations


# ---------------------------------------------------------------- onnxruntime oracle (every builder)

def _session(model_proto):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model_proto.SerializeToString(), so, providers=["CPUExecutionProvider"])


FIRST = {"method": "minmax", "shared_concat": False, "float_outputs": False}  # the first release's calibration: all int8


@pytest.mark.parametrize("name, options", [pytest.param(n, {}, id=n) for n in sorted(CASES)]
                         + [pytest.param(n, FIRST, id=n + "-int8-outputs") for n in ("lenet_5", "squeezenet1_0", "shufflenet_v2")])
def test_int8_matches_onnxruntime_qdq_node_by_node(name: str, options: dict) -> None:
    pytest.importorskip("onnx")
    from dcformat.int8.onnx_qdq import to_qdq_model

    g, t, x, p = _params(name, n=3, seed=5, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Int8Model(g, t, p)
    sess = _session(to_qdq_model(model))
    xin = np.random.default_rng(6).standard_normal(x.shape).astype(np.float32)  # not the calibration data
    res = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {g.inputs[0].name: xin})))
    theirs = {k[:-2]: v for k, v in res.items() if k.endswith("/q")}
    ours = model.run_int8({g.inputs[0].name: xin}, forced=theirs)
    assert set(ours) == set(theirs)
    differing = total = 0
    for v, a in ours.items():
        d = np.abs(a.astype(np.int16) - theirs[v].astype(np.int16))
        assert a.shape == theirs[v].shape, v
        assert d.max() <= 1, f"{name}: value {v!r} differs by {d.max()} LSB"
        differing += int((d > 0).sum())
        total += d.size
    assert differing <= 0.02 * total  # ties and multiplier rounding are rare
    # and on the calibration inputs (no saturation) the outputs stay close to the float path
    # (a wrong index or layout gives errors of the order of the outputs themselves)
    yf = Model.from_graph(g, t)(x)
    yq = model(x)
    assert np.abs(yq - yf).max() <= 0.2 * np.abs(yf).max()


# ---------------------------------------------------------------- calibration options (spec/INT8.md §5)

def _roundtrip_error(x: np.ndarray, p: QParams) -> float:
    """Mean squared error of spec §3's quantize-dequantize, written out here (binary32 division, half to even)."""
    q = np.clip(np.rint(x.astype(np.float32) / np.float32(p.scale)) + np.float32(p.zero_point), -128, 127)
    back = (q - np.float32(p.zero_point)) * np.float32(p.scale)
    return float(np.mean((back.astype(np.float64) - x.astype(np.float64)) ** 2))


def test_mse_range_is_the_least_error_shrink_of_the_min_max_range() -> None:
    rng = np.random.default_rng(4)
    x = rng.lognormal(0.0, 1.0, 60_000).astype(np.float32)  # a long-tailed activation
    lo, hi = float(x.min()), float(x.max())
    errors = {k: _roundtrip_error(x, choose(lo * k / 100, hi * k / 100)) for k in range(1, 101)}
    best = min(errors.values())
    k_best = max(k for k, e in errors.items() if e == best)
    got = mse_range(x, lo, hi)
    assert got == choose(lo * k_best / 100, hi * k_best / 100)
    assert k_best <= 95  # the tail is clipped ...
    assert _roundtrip_error(x, got) < 0.95 * _roundtrip_error(x, choose(lo, hi))  # ... and that pays
    u = rng.uniform(-1.0, 3.0, 60_000).astype(np.float32)  # no tail: clipping never pays, the full range stays
    assert mse_range(u, float(u.min()), float(u.max())) == choose(float(u.min()), float(u.max()))


def test_calibration_options_give_what_they_promise() -> None:
    g, t, x, plain = _params("squeezenet1_0", n=3, seed=1, **FIRST)
    _, _, _, p = _params("squeezenet1_0", n=3, seed=1, method="mse", shared_concat=True, float_outputs=True,
                         input_ranges={"input": (-5.0, 5.0)})
    assert p.calibration == {"method": "mse", "samples": 3, "float_outputs": True, "shared_concat": True,
                             "input_ranges": {"input": [-5.0, 5.0]}}
    assert p.activations["input"] == choose(-5.0, 5.0)
    # float outputs: no parameters for the output nor for the GlobalAvgPool -> Flatten path computing it
    assert set(output_values(g)) == {"logits", "pool10"}
    assert not set(output_values(g)) & set(p.activations) and set(output_values(g)) <= set(plain.activations)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = Int8Model(g, t, p)
    assert {d.op for d in m.precision_report() if d.precision == "float"} == {"GlobalAvgPool", "Flatten"}
    # the float output is the float mean of the dequantized int8 input (NumPy, not the engine's GAP)
    gap = next(n for n in g.nodes if n.op == "GlobalAvgPool")
    q = m.run_int8({"input": x})[gap.inputs[0]]
    pin = p.activations[gap.inputs[0]]
    want = ((q.astype(np.float64) - pin.zero_point) * pin.scale).mean(axis=(2, 3))
    np.testing.assert_allclose(m(x), want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    # shared concat: each Concat input read only by it has the output's parameters, so the Concat only copies
    readers = [v for n in g.nodes for v in n.inputs]
    concats = [n for n in g.nodes if n.op == "Concat"]
    assert concats
    for n in concats:
        for v in n.inputs:
            if readers.count(v) == 1:
                assert p.activations[v] == p.activations[n.outputs[0]], v
    assert any(plain.activations[v] != plain.activations[n.outputs[0]] for n in concats for v in n.inputs)
    with pytest.raises(ValueError, match="not a graph input"):
        calibrate(g, t, {"input": x}, input_ranges={"nope": (0.0, 1.0)})
    with pytest.raises(ValueError, match="method"):
        calibrate(g, t, {"input": x}, method="kl")


def test_fallback_nodes_are_reported_and_warned() -> None:
    g, t, _x, p = _params("alexnet", n=2)
    with pytest.warns(UserWarning, match="run in float"):
        model = Int8Model(g, t, p)
    floats = {d.op for d in model.precision_report() if d.precision == "float"}
    assert floats == {"LRN", "Softmax"}
    assert all(d.why for d in model.precision_report() if d.precision == "float")
    # dropping one value's parameters sends the nodes reading it to float, visibly
    acts = dict(p.activations)
    conv = next(n for n in g.nodes if n.op == "Conv2d")
    relu_out = next(n.outputs[0] for n in g.nodes if n.inputs[0] == conv.outputs[0])
    del acts[relu_out]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = Int8Model(g, t, Int8Params(acts))
    assert any(relu_out in d.why for d in m2.precision_report() if d.precision == "float")
    x = np.random.default_rng(0).standard_normal((1, *CASES["alexnet"][1])).astype(np.float32)
    assert np.isfinite(m2(x)).all()


# ---------------------------------------------------------------- CLI

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "dcformat", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_cli_quantize_and_run_int8(tmp_path: Path) -> None:
    g, t, _ = _small("squeezenet1_1")
    dcformat.save(tmp_path / "m.dc", t, graph=g)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", input=rng.standard_normal((4, 3, 64, 64)).astype(np.float32))
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = _cli("quantize-activations", "m.dc", "--calib", "calib.npz", "-o", "m8.dc", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "nodes run in int8" in r.stdout
    r = _cli("run", "m8.dc", "-i", "x.npy", "--precision", "int8", "-o", "y.npy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    want = Model.open(tmp_path / "m8.dc", precision="int8")(x)
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)
    r = _cli("run", "m.dc", "-i", "x.npy", "--precision", "int8", cwd=tmp_path)
    assert r.returncode == 1 and "quantize-activations" in r.stderr
    r = _cli("quantize-activations", "m.dc", "--calib", "x.npy", "-o", "bad.dc", cwd=tmp_path)
    assert r.returncode == 1
    r = _cli("quantize-activations", "m.dc", "--calib", "calib.npz", "-o", "m8t.dc", "--method", "mse", "--float-outputs",
             "--shared-concat", "--input-range=-4,4", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "float: " in r.stdout  # the output nodes, reported
    with dcformat.open(tmp_path / "m8t.dc") as f:
        rec = f.metadata[METADATA_KEY]
    assert rec["calibration"]["method"] == "mse" and rec["calibration"]["input_ranges"] == {"input": [-4.0, 4.0]}
    assert rec["activations"]["input"] == [choose(-4.0, 4.0).scale, choose(-4.0, 4.0).zero_point]
    r = _cli("quantize-activations", "m.dc", "--calib", "calib.npz", "-o", "bad.dc", "--input-range", "1", cwd=tmp_path)
    assert r.returncode == 2 and "LO,HI" in r.stderr


def test_compiled_requantization_is_bit_identical() -> None:
    pytest.importorskip("numba")
    from dcformat.inference.fast.int8 import requantize as fast
    from dcformat.int8.fixedpoint import multipliers
    from dcformat.int8.kernels import requantize as ref

    rng = np.random.default_rng(7)
    for dt, hi in ((np.float32, 2**23), (np.float64, 2**31 - 2**20)):
        acc = rng.integers(-hi, hi, (300, 24)).astype(dt)
        acc[0, :] = 0
        bias = rng.integers(-(2**19), 2**19, 24)
        m = np.exp(rng.uniform(np.log(1e-7), np.log(4.0), 24))
        m0, sh = multipliers(m)
        for zp, lo, hi8 in ((-128, -128, 127), (5, -3, 90)):
            want = ref(acc.astype(np.int64) + bias, m0, sh, zp, lo, hi8)
            assert np.array_equal(fast(acc, bias, m0, sh, zp, lo, hi8), want)


@pytest.mark.parametrize("name", ["mobilenet_v2", "shufflenet_v1", "lenet_300_100", "squeezenet1_1", "lenet_5"])
def test_compiled_int8_kernels_match_numpy_reference(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    g, t, x, p = _params(name, n=2, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkeypatch.setenv("DCFORMAT_ACCEL", "0")
        ref = Int8Model(g, t, p).run_int8({g.inputs[0].name: x})
        monkeypatch.setenv("DCFORMAT_ACCEL", "1")
        fast = Int8Model(g, t, p).run_int8({g.inputs[0].name: x})
    assert ref.keys() == fast.keys()
    for v in ref:
        assert np.array_equal(ref[v], fast[v]), v


def test_accumulators_saturate_to_int32_before_requantization() -> None:
    from dcformat.int8.kernels import requantize as ref

    m0, sh = quantize_multiplier(2.0**-24)
    acc = np.array([[3 * 2**31], [-(3 * 2**31)], [2**31 - 1], [-(2**31)]], dtype=np.int64)
    want = [round((2**31 - 1) / 2**24), -round(2**31 / 2**24), round((2**31 - 1) / 2**24), -round(2**31 / 2**24)]
    got = mbqm(acc[:, 0], np.int64(m0), np.int64(sh))
    assert got.tolist() == want
    if pytest.importorskip("numba"):
        from dcformat.inference.fast.int8 import requantize as fast

        assert np.array_equal(fast(acc.astype(np.float64), np.zeros(1, np.int64), np.array([m0]), np.array([sh]), 0, -128, 127),
                              ref(acc, np.int64(m0), np.int64(sh), 0, -128, 127))
