"""Fidelity reports, safe defaults and the budget search (``dcformat.budget``, ``pack --target-*``).

Oracles: SNRs recomputed here with NumPy from what ``dcformat.load`` decodes; the
codec itself (``decode(encode(...))``) for the search's reconstructions and size
model; model outputs from ``dcformat.Model`` on the packed file, scored here with
NumPy on inputs the search never saw.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import dcformat
from dcformat import CompressionConfig
from dcformat.budget import plan_compression, reconstruct, tensor_curve
from dcformat.cli import main


def snr_db(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, np.float64).ravel()
    e = x - np.asarray(y, np.float64).ravel()
    return math.inf if not e.any() else 10 * math.log10(np.sum(x * x) / np.sum(e * e))


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Gaussian, heavy-tailed, uniform, Laplace, already-pruned and conv weights, plus a bias."""
    r = np.random.default_rng(seed)
    pruned = r.standard_normal((64, 96)).astype(np.float32)
    pruned[np.abs(pruned) < 0.8] = 0
    return {
        "gauss.weight": (r.standard_normal((128, 200)) * 0.05).astype(np.float32),
        "heavy.weight": (r.standard_t(2, (96, 160)) * 0.02).astype(np.float32),
        "uniform.weight": r.uniform(-1, 1, (80, 120)).astype(np.float32),
        "laplace.weight": r.laplace(0, 0.1, (100, 64)).astype(np.float32),
        "pruned.weight": pruned,
        "conv.weight": (r.standard_normal((16, 8, 3, 3)) * 0.1).astype(np.float32),
        "conv.bias": r.standard_normal(16).astype(np.float32),
    }


@pytest.fixture()
def model_npz(tmp_path: Path) -> Path:
    path = tmp_path / "m.npz"
    np.savez(path, **weights())
    return path


def pack_json(capsys, *args: str) -> tuple[dict, str]:
    capsys.readouterr()
    assert main(["pack", *args, "--json"]) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


# ----------------------------------------------------------------------------- fidelity report


def test_pack_reports_fidelity_that_numpy_confirms(tmp_path: Path, model_npz: Path, capsys) -> None:
    doc, _ = pack_json(capsys, str(model_npz), "-o", str(tmp_path / "m.dc"), "--preset", "paper")
    stored = dcformat.load(tmp_path / "m.dc")
    orig = dict(np.load(model_npz))
    sig = err = 0.0
    for layer in doc["layers"]:
        name, f = layer["name"], layer["fidelity"]
        want = snr_db(orig[name], stored[name])
        if math.isinf(want):
            assert f["exact"] and f["snr_db"] is None and f["rel_error"] == 0
        else:
            assert f["snr_db"] == pytest.approx(want, abs=1e-6)
            x = orig[name].astype(np.float64)
            rel = np.linalg.norm(x - stored[name]) / np.linalg.norm(x)
            assert f["rel_error"] == pytest.approx(rel, rel=1e-9)
        x = orig[name].astype(np.float64)
        sig += np.sum(x * x)
        err += np.sum((x - stored[name]) ** 2)
    assert doc["total"]["fidelity"]["snr_db"] == pytest.approx(10 * math.log10(sig / err), abs=1e-6)


def test_text_table_has_fidelity_columns(tmp_path: Path, model_npz: Path, capsys) -> None:
    assert main(["pack", str(model_npz), "-o", str(tmp_path / "m.dc")]) == 0
    out = capsys.readouterr().out
    assert "SNR dB" in out and "Rel err" in out and "fidelity: total SNR" in out
    row = next(line for line in out.splitlines() if line.startswith("conv.bias"))
    assert "exact" in row  # raw tensors are stored bit for bit


def test_warns_below_threshold_naming_the_cause(tmp_path: Path, model_npz: Path, capsys) -> None:
    doc, err = pack_json(capsys, str(model_npz), "-o", str(tmp_path / "p.dc"), "--density", "0.1")
    assert "warning:" in err and "pruning to density 0.1" in err and "retrain" in err
    assert doc["warnings"] and "gauss.weight" in err
    doc, err = pack_json(capsys, str(model_npz), "-o", str(tmp_path / "q.dc"), "--code-bits", "2")
    assert "2-bit codebook" in err and "--code-bits" in err
    # the documented threshold, and the option that moves it
    doc, err = pack_json(capsys, str(model_npz), "-o", str(tmp_path / "q2.dc"), "--code-bits", "5")
    low = [layer["name"] for layer in doc["layers"] if (layer["fidelity"]["snr_db"] or math.inf) < 20]
    assert not low and "warning" not in err
    doc, err = pack_json(capsys, str(model_npz), "-o", str(tmp_path / "q3.dc"), "--code-bits", "5", "--warn-snr", "35")
    assert "below 35 dB" in err


def test_defaults_do_not_warn(tmp_path: Path, model_npz: Path, capsys) -> None:
    _, err = pack_json(capsys, str(model_npz), "-o", str(tmp_path / "m.dc"))
    assert "warning" not in err


# ----------------------------------------------------------------------------- safe defaults


def test_default_pack_keeps_40_db_and_prunes_nothing(tmp_path: Path, capsys) -> None:
    w = weights()
    w["outlier.weight"] = (np.random.default_rng(0).standard_t(2, (200, 300)) * 0.02).astype(np.float32)
    eight = dcformat.decode(dcformat.encode(w, config=CompressionConfig(code_bits=8)))["outlier.weight"]
    assert snr_db(w["outlier.weight"], eight) < 40  # t(2) tails: 8 bits are not enough for this one
    np.savez(tmp_path / "m.npz", **w)
    doc, _ = pack_json(capsys, str(tmp_path / "m.npz"), "-o", str(tmp_path / "m.dc"))
    stored = dcformat.load(tmp_path / "m.dc")
    for name, x in w.items():
        assert snr_db(x, stored[name]) >= 40.0, name
        assert np.count_nonzero(stored[name]) == np.count_nonzero(x), name  # no pruning beyond existing zeros
    assert doc["raised_code_bits"] == {"outlier.weight": 9}


def test_default_is_lossless_for_already_quantized_weights(tmp_path: Path, capsys) -> None:
    r = np.random.default_rng(3)
    w = r.choice(np.linspace(-1, 1, 200).astype(np.float32), size=(64, 64))
    w[r.random(w.shape) < 0.7] = 0
    np.savez(tmp_path / "q.npz", w=w)
    assert main(["-q", "pack", str(tmp_path / "q.npz"), "-o", str(tmp_path / "q.dc")]) == 0
    assert np.array_equal(dcformat.load(tmp_path / "q.dc")["w"], w)


def test_library_default_agrees_with_cli(tmp_path: Path) -> None:
    w = {k: v for k, v in weights().items() if k != "heavy.weight"}  # nothing needs raised bits
    np.savez(tmp_path / "a.npz", **w)
    assert main(["-q", "pack", str(tmp_path / "a.npz"), "-o", str(tmp_path / "a.dc")]) == 0
    assert (tmp_path / "a.dc").read_bytes() == dcformat.encode(w)
    stored = dcformat.decode(dcformat.encode(w))
    assert all(snr_db(w[k], stored[k]) >= 40 for k in w)


def test_real_weights_keep_40_db_by_default() -> None:
    import importlib.util

    pytest.importorskip("onnx")
    spec = importlib.util.find_spec("rapidocr_onnxruntime")  # located, not imported (it needs OpenCV)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install --no-deps rapidocr-onnxruntime for the real-weights test")
    from dcformat.onnx_io import import_onnx

    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    if not path.exists():
        pytest.skip("rapidocr model file missing")
    _, tensors = import_onnx(path)
    stored = dcformat.decode(dcformat.encode(tensors))
    worst = min(snr_db(v, stored[k]) for k, v in tensors.items() if v.dtype.kind == "f")
    assert worst >= 40.0


def test_paper_preset_is_one_flag_away(tmp_path: Path, model_npz: Path) -> None:
    assert main(["-q", "pack", str(model_npz), "-o", str(tmp_path / "p.dc"), "--preset", "paper"]) == 0
    with dcformat.open(tmp_path / "p.dc") as f:
        fc, conv = f.info("gauss.weight"), f.info("conv.weight")
        assert (fc.code_bits, fc.nnz) == (5, round(0.1 * fc.numel))
        assert (conv.code_bits, conv.nnz) == (8, round(0.35 * conv.numel))


# ----------------------------------------------------------------------------- the search's parts


def test_reconstruct_is_what_the_codec_stores() -> None:
    w = weights()
    for name in ("gauss.weight", "heavy.weight", "pruned.weight", "conv.weight"):
        for cand in tensor_curve(w[name], densities=(None, 0.5, 0.2), code_bits=(2, 5), with_raw=False):
            cfg = CompressionConfig(overrides={"*": cand.settings()})
            decoded = dcformat.decode(dcformat.encode({name: w[name]}, config=cfg))[name]
            assert np.array_equal(reconstruct(w[name], cand), decoded), (name, cand)


def test_size_model_tracks_real_encodes() -> None:
    from dcformat.fidelity import encode_with_reconstruction

    w = weights()
    ratios = []
    for name in ("gauss.weight", "heavy.weight", "laplace.weight", "pruned.weight", "conv.weight"):
        for cand in tensor_curve(w[name], densities=(None, 0.7, 0.3, 0.1), code_bits=(1, 3, 6, 8), with_raw=False):
            cfg = CompressionConfig(overrides={"*": cand.settings()})
            real = len(encode_with_reconstruction(name, w[name], cfg)[0])
            ratios.append(cand.bytes / real)
            assert 0.85 < cand.bytes / real < 1.15, (name, cand, real)
    assert 0.95 < float(np.median(ratios)) < 1.08


def test_scan_errors_are_the_codecs_on_unsampled_tensors() -> None:
    x = weights()["laplace.weight"]
    for cand in tensor_curve(x, densities=(None, 0.4), code_bits=(3, 6), with_raw=False):
        cfg = CompressionConfig(overrides={"*": cand.settings()})
        got = snr_db(x, dcformat.decode(dcformat.encode({"w": x}, config=cfg))["w"])
        assert cand.snr_db == pytest.approx(got, abs=1e-4)


# ----------------------------------------------------------------------------- --target-snr


def test_target_snr_meets_target_and_config_reproduces_bytes(tmp_path: Path, model_npz: Path, capsys) -> None:
    doc, _ = pack_json(capsys, str(model_npz), "-o", str(tmp_path / "t.dc"), "--target-snr", "24")
    stored = dcformat.load(tmp_path / "t.dc")
    orig = dict(np.load(model_npz))
    for name in doc["plan"]["layers"]:
        assert snr_db(orig[name], stored[name]) >= 24.0, name
    cfg = tmp_path / "t.config.toml"
    assert doc["config_file"] == str(cfg) and cfg.exists()
    assert main(["-q", "pack", str(model_npz), "-o", str(tmp_path / "again.dc"), "--config", str(cfg)]) == 0
    assert (tmp_path / "again.dc").read_bytes() == (tmp_path / "t.dc").read_bytes()
    # smaller than the safe default, and than one global width that meets 24 dB everywhere
    default = dcformat.encode(orig)
    assert (tmp_path / "t.dc").stat().st_size < len(default)


def test_target_snr_beats_best_global_width(tmp_path: Path) -> None:
    w = {k: v for k, v in weights().items() if k.endswith(".weight")}
    plan = plan_compression(w, target_snr=26)
    planned = dcformat.encode(w, config=plan.config)
    dec = dcformat.decode(planned)
    assert all(snr_db(w[k], dec[k]) >= 26 for k in plan.layers)
    best_global = None
    for q in range(1, 12):
        data = dcformat.encode(w, config=CompressionConfig(code_bits=q))
        d = dcformat.decode(data)
        if all(snr_db(w[k], d[k]) >= 26 for k in w):
            best_global = len(data)
            break
    assert best_global is not None and len(planned) < best_global


def test_plan_is_deterministic_and_names_are_escaped(tmp_path: Path) -> None:
    r = np.random.default_rng(5)
    w = {"odd[1]*?.weight": r.standard_normal((40, 50)).astype(np.float32),
         "odd[1]x.weight": r.standard_normal((40, 50)).astype(np.float32) * 3}
    a, b = plan_compression(w, target_snr=22), plan_compression(w, target_snr=22)
    assert a.config == b.config
    np.savez(tmp_path / "o.npz", **w)
    assert main(["-q", "pack", str(tmp_path / "o.npz"), "-o", str(tmp_path / "o.dc"), "--target-snr", "22"]) == 0
    assert main(["-q", "pack", str(tmp_path / "o.npz"), "-o", str(tmp_path / "o2.dc"),
                 "--config", str(tmp_path / "o.config.toml")]) == 0
    assert (tmp_path / "o.dc").read_bytes() == (tmp_path / "o2.dc").read_bytes()
    assert (tmp_path / "o.dc").read_bytes() == dcformat.encode(w, config=a.config)


def test_target_options_are_checked(tmp_path: Path, model_npz: Path) -> None:
    out = str(tmp_path / "x.dc")
    assert main(["pack", str(model_npz), "-o", out, "--target-output", "0.99"]) == 2  # no --calib
    assert main(["pack", str(model_npz), "-o", out, "--target-snr", "30", "--target-output", "0.9"]) == 2
    assert main(["pack", str(model_npz), "-o", out, "--target-snr", "30", "--density", "0.5"]) == 2
    np.savez(tmp_path / "c.npz", x=np.zeros((2, 3), np.float32))
    assert main(["pack", str(model_npz), "-o", out, "--target-output", "0.99", "--calib", str(tmp_path / "c.npz")]) == 2


# ----------------------------------------------------------------------------- --target-output on held-out inputs


def _digits() -> np.ndarray:
    from dcformat.cli.cmd_demo import DIGITS_FILE, data_dir, load_digits

    x, _ = load_digits(data_dir() / DIGITS_FILE)
    return x.reshape(-1, 1, 28, 28)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


@pytest.mark.parametrize(("target", "importance"), [(0.99, False), (0.999, False), (0.99, True)])
def test_target_output_holds_on_held_out_inputs(tmp_path: Path, target: float, importance: bool | str) -> None:
    from dcformat.inference import Model
    from dcformat.models import lenet_5

    graph, tensors = lenet_5(seed=1)
    x = _digits()
    calib, held = x[:48], x[48:240]
    dcformat.save(tmp_path / "float.dc", tensors, graph=graph, config=CompressionConfig(encoding="raw"))
    name = graph.inputs[0].name
    np.savez(tmp_path / "calib.npz", **{name: calib})
    assert main(["-q", "pack", str(tmp_path / "float.dc"), "-o", str(tmp_path / "t.dc"), "--target-output",
                 str(target), "--calib", str(tmp_path / "calib.npz")]
                + (["--gptq"] if importance == "gptq" else ["--importance"] if importance else [])) == 0
    ref = Model.open(tmp_path / "float.dc")(held)
    got = Model.open(tmp_path / "t.dc")(held)
    assert _cos(ref, got) >= target
    size = (tmp_path / "t.dc").stat().st_size
    assert size < (tmp_path / "float.dc").stat().st_size / 3
    cfg = (tmp_path / "t.config.toml").read_text()
    if not importance:  # the settings file alone reproduces the file
        assert "importance" not in cfg
        assert main(["-q", "pack", str(tmp_path / "float.dc"), "-o", str(tmp_path / "t2.dc"), "--config",
                     str(tmp_path / "t.config.toml")]) == 0
        assert (tmp_path / "t2.dc").read_bytes() == (tmp_path / "t.dc").read_bytes()
        return
    # planned with importance from the calibration inputs: the file says so and needs the same inputs again
    assert 'importance = "calib"' in cfg and "calib_sha256" in cfg and 'prune_by = "importance"' in cfg
    assert main(["-q", "pack", str(tmp_path / "float.dc"), "-o", str(tmp_path / "t2.dc"), "--config",
                 str(tmp_path / "t.config.toml"), "--calib", str(tmp_path / "calib.npz")]) == 0
    assert (tmp_path / "t2.dc").read_bytes() == (tmp_path / "t.dc").read_bytes()
    # without the inputs, or with other ones, it refuses instead of writing a different file
    assert main(["-q", "pack", str(tmp_path / "float.dc"), "-o", str(tmp_path / "t3.dc"), "--config",
                 str(tmp_path / "t.config.toml")]) == 2
    np.savez(tmp_path / "other.npz", **{name: held[:48]})
    assert main(["-q", "pack", str(tmp_path / "float.dc"), "-o", str(tmp_path / "t3.dc"), "--config",
                 str(tmp_path / "t.config.toml"), "--calib", str(tmp_path / "other.npz")]) != 0
    assert not (tmp_path / "t3.dc").exists()


def test_target_output_gptq_from_the_cli_holds_on_held_out_and_config_reproduces(tmp_path: Path) -> None:
    """pack --target-output --gptq: Hessians of each Linear's input from --calib, error-compensating rounding;
    held-out inputs meet the target; --config with the same --calib reproduces the bytes."""
    from dcformat.inference import Model
    from dcformat.models._builder import Builder

    b = Builder(5, "input", ("N", 24))
    x = b.op1("ReLU", [b.linear("input", 96, name="fc1")], "r1")
    x = b.op1("ReLU", [b.linear(x, 48, name="fc2")], "r2")
    graph, tensors = b.finish({"out": b.linear(x, 10, name="fc3")})
    r = np.random.default_rng(7)
    xs = r.standard_normal((400, 24)).astype(np.float32)
    dcformat.save(tmp_path / "float.dc", tensors, graph=graph, config=CompressionConfig(encoding="raw"))
    np.savez(tmp_path / "calib.npz", input=xs[:200])
    args = ["-q", "pack", str(tmp_path / "float.dc"), "--target-output", "0.99", "--calib", str(tmp_path / "calib.npz")]
    assert main(args + ["-o", str(tmp_path / "g.dc"), "--gptq"]) == 0
    cfg = (tmp_path / "g.config.toml").read_text()
    assert 'rounding = "gptq"' in cfg and 'importance = "calib"' in cfg
    ref = Model.open(tmp_path / "float.dc")(xs[200:])
    assert _cos(ref, Model.open(tmp_path / "g.dc")(xs[200:])) >= 0.99
    assert main(["-q", "pack", str(tmp_path / "float.dc"), "-o", str(tmp_path / "g2.dc"), "--config",
                 str(tmp_path / "g.config.toml"), "--calib", str(tmp_path / "calib.npz")]) == 0
    assert (tmp_path / "g2.dc").read_bytes() == (tmp_path / "g.dc").read_bytes()
    assert main(args[:3] + ["-o", str(tmp_path / "g3.dc"), "--gptq"]) == 2  # --gptq without a target


def test_target_output_python_api_with_forward_callback() -> None:
    r = np.random.default_rng(2)
    w = {"a": (r.standard_normal((64, 32)) / 6).astype(np.float32),
         "b": (r.standard_normal((16, 64)) / 8).astype(np.float32)}
    x = r.standard_normal((200, 32)).astype(np.float32)

    def fwd(t, xx):
        return np.tanh(xx @ t["a"].T) @ t["b"].T

    plan = plan_compression(w, target_output=0.995, forward=lambda t: [fwd(t, x[:60])])
    stored = dcformat.decode(dcformat.encode(w, config=plan.config))
    assert _cos(fwd(w, x[60:]), fwd(stored, x[60:])) >= 0.995
    assert all(lp.sensitivity is not None and lp.curve for lp in plan.layers.values())
    assert len(dcformat.encode(w, config=plan.config)) < len(dcformat.encode(w))


def test_measured_refinement_only_shrinks_and_still_meets_the_target() -> None:
    """The refinement after the rounds: never a larger file; what the codec stores still meets the target on
    the calibration inputs by the search's own criterion (mean - 2 standard errors, recomputed here) and on
    held-out inputs."""
    r = np.random.default_rng(4)
    w = {f"l{i}": (r.standard_normal((48, 48)) / 7).astype(np.float32) for i in range(4)}
    x = r.standard_normal((400, 48)).astype(np.float32)

    def fwd(t, xx):
        for i in range(4):
            xx = np.tanh(xx @ t[f"l{i}"].T)
        return xx

    cal, held = x[:150], x[150:]
    kw = dict(target_output=0.98, forward=lambda t: [fwd(t, cal)], plan_vectors=False)
    plain = plan_compression(w, refine_steps=0, **kw)
    refined = plan_compression(w, **kw)
    assert not any(h.get("refine") for h in plain.history)
    assert any(h.get("refine") for h in refined.history)
    size = {k: len(dcformat.encode(w, config=p.config)) for k, p in (("plain", plain), ("refined", refined))}
    assert size["refined"] <= size["plain"]
    stored = dcformat.decode(dcformat.encode(w, config=refined.config))
    a, b = fwd(w, cal).astype(np.float64), fwd(stored, cal).astype(np.float64)
    loss = 1 - np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert loss.mean() + 2 * loss.std(ddof=1) / math.sqrt(len(loss)) <= 0.02
    assert _cos(fwd(w, held), fwd(stored, held)) >= 0.98


# ----------------------------------------------------------------------------- 1-D vectors and determinism


def test_vector_candidates_are_what_the_codec_stores() -> None:
    """Codebook-only candidates of 1-D vectors: the stored values and the payload bytes, against the codec."""
    from dcformat.budget.scan import vector_curve
    from dcformat.fidelity import encode_with_reconstruction

    r = np.random.default_rng(5)
    for name, v in (("bn.scale", (1 + 0.2 * r.standard_normal(200)).astype(np.float32)),
                    ("bias", (0.05 * r.standard_t(3, 77)).astype(np.float32))):
        curve = vector_curve(v)
        assert curve[0].encoding == "raw" and any(c.encoding == "dense" for c in curve)
        for cand in curve[1:]:
            cfg = CompressionConfig(overrides={"*": cand.settings()})
            decoded = dcformat.decode(dcformat.encode({name: v}, config=cfg))[name]
            assert np.array_equal(reconstruct(v, cand), decoded), (name, cand)
            err = float(np.sum((v.astype(np.float64) - decoded) ** 2) / np.sum(v.astype(np.float64) ** 2))
            assert math.isclose(cand.error, err, rel_tol=1e-9, abs_tol=1e-15)
            real = len(encode_with_reconstruction(name, v, cfg)[0])
            assert abs(cand.bytes - real) <= 2, (name, cand, real)


def _mlp():
    r = np.random.default_rng(3)
    w = {"a.weight": (r.standard_normal((48, 24)) / 5).astype(np.float32),
         "a.bias": (0.3 * r.standard_normal(48)).astype(np.float32),
         "b.weight": (r.standard_normal((8, 48)) / 7).astype(np.float32),
         "b.bias": (0.3 * r.standard_normal(8)).astype(np.float32)}
    x = r.standard_normal((400, 24)).astype(np.float32)

    def fwd(t, xx):
        return np.tanh(xx @ t["a.weight"].T + t["a.bias"]) @ t["b.weight"].T + t["b.bias"]

    return w, x, fwd


def test_output_plan_is_deterministic_plans_vectors_and_holds_on_held_out() -> None:
    w, x, fwd = _mlp()
    calib, held = x[:100], x[100:]

    def plan():
        return plan_compression(w, target_output=0.99, forward=lambda t: [fwd(t, calib)],
                                probe_forward=lambda t: [fwd(t, calib[:20])])

    p1, p2 = plan(), plan()
    b1, b2 = dcformat.encode(w, config=p1.config), dcformat.encode(w, config=p2.config)
    assert b1 == b2 and p1.to_json() == p2.to_json()
    assert {"a.bias", "b.bias"} <= set(p1.layers)  # the vectors were planned (as one group)
    stored = dcformat.decode(b1)
    assert _cos(fwd(w, held), fwd(stored, held)) >= 0.99  # inputs the search never saw
    # every planned tensor is stored as the plan says (the settings override the safe default)
    for name, lp in p1.layers.items():
        assert np.array_equal(stored[name], reconstruct(w[name], lp.choice)), name
    assert len(b1) < len(dcformat.encode(w))


def test_plan_vectors_can_be_turned_off() -> None:
    w, x, fwd = _mlp()
    p = plan_compression(w, target_output=0.99, forward=lambda t: [fwd(t, x[:100])], plan_vectors=False)
    assert set(p.layers) == {"a.weight", "b.weight"}
