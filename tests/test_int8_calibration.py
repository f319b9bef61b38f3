"""The reference calibration's defaults (spec/INT8.md §5): what a user gets without options, and the first release's
calibration one flag each away. The measurements behind the defaults: benchmarks/int8_calibration.py."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dcformat
from dcformat.inference import Model
from dcformat.int8 import METADATA_KEY
from dcformat.int8.calibrate import DEFAULTS, calibrate
from dcformat.int8.model import Int8Model

ROOT = Path(__file__).parents[1]
DATA = Path(dcformat.__file__).parent / "data"
FIRST = {"method": "minmax", "shared_concat": False, "float_outputs": False}  # the first release's calibration


def _lenet():
    with np.load(DATA / "mnist_demo_digits.npz") as z:
        x = z["x"].reshape(-1, 1, 28, 28).astype(np.float32) / float(z["pixel_divisor"])
    with dcformat.open(DATA / "lenet_5.dc") as f:
        g, t = f.graph, {k: f.tensor(k) for k in f.keys()}
    return g, t, x


def _model(g, t, calib, **options) -> Int8Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Int8Model(g, t, calibrate(g, t, {g.inputs[0].name: calib}, **options))


def test_defaults_keep_scores_more_confident_than_any_calibration_sample() -> None:
    """Why float outputs are the default: calibrated on the 100 digits LeNet-5 is least sure of and scored on the 100
    it is surest of (every top logit above the calibrated maximum), int8 outputs clip every top score to the same
    value (no confidence left, and a near tie becomes a tie), while the default's float outputs follow the float path."""
    g, t, x = _lenet()
    yf_all = Model.from_graph(g, t)(x)  # the oracle
    order = np.argsort(yf_all.max(1), kind="stable")
    calib, xs, yf = x[order[:100]], x[order[-100:]], yf_all[order[-100:]]
    assert yf_all[order[:100]].max() < yf.max(1).min()  # the scored digits are out of the calibrated range
    first = _model(g, t, calib, **FIRST)
    assert not first.float_nodes()
    yq = first(xs)
    assert len(np.unique(yq.max(1))) == 1  # saturated: all 100 top scores equal
    assert np.abs(yq.max(1) - yf.max(1)).max() > 0.3 * np.abs(yf).max()
    default = _model(g, t, calib)
    yd = default(xs)
    assert default.float_nodes() == [next(n.name for n in g.nodes if g.outputs[0].name in n.outputs)]  # only the output's
    assert np.abs(yd - yf).max() <= 0.1 * np.abs(yf).max()
    assert (yd.argmax(1) == yf.argmax(1)).all()
    assert len(np.unique(yd.max(1))) == 100


def test_default_calibration_is_the_documented_one() -> None:
    g, t, x = _lenet()
    p = calibrate(g, t, {"input": x[:16]})
    assert DEFAULTS == {"method": "mse", "shared_concat": True, "float_outputs": True}
    assert p.calibration == {"method": "mse", "samples": 16, "shared_concat": True, "float_outputs": True}
    assert p == calibrate(g, t, {"input": x[:16]}, **DEFAULTS)
    assert g.outputs[0].name not in p.activations  # float outputs
    q = calibrate(g, t, {"input": x[:16]}, **FIRST)
    assert q.calibration == {"method": "minmax", "samples": 16, "shared_concat": False, "float_outputs": False}
    assert g.outputs[0].name in q.activations


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "dcformat", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_cli_defaults_and_the_first_release_flags(tmp_path: Path) -> None:
    g, t, x = _lenet()
    dcformat.save(tmp_path / "m.dc", t, graph=g)
    np.savez(tmp_path / "calib.npz", input=x[:16])
    r = _cli("quantize-activations", "m.dc", "--calib", "calib.npz", "-o", "d.dc", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mse, shared concat, float outputs" in r.stdout
    r = _cli("quantize-activations", "m.dc", "--calib", "calib.npz", "-o", "f.dc", "--method", "minmax", "--separate-concat",
             "--int8-outputs", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "int8 outputs" in r.stdout and "float: " not in r.stdout  # every node in int8
    for name, options in (("d.dc", DEFAULTS), ("f.dc", FIRST)):
        with dcformat.open(tmp_path / name) as f:
            rec = f.metadata[METADATA_KEY]
        assert rec == calibrate(g, t, {"input": x[:16]}, **options).to_json(), name
    r = _cli("quantize-activations", "m.dc", "--calib", "calib.npz", "-o", "bad.dc", "--int8-outputs", "--float-outputs",
             cwd=tmp_path)
    assert r.returncode == 2 and "not allowed with" in r.stderr
    x8 = x[16:20]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the float output node is reported at load
        y8 = Model.open(tmp_path / "d.dc", precision="int8")(x8)
    assert np.abs(y8 - Model.open(tmp_path / "m.dc")(x8)).max() < 1.0


def test_default_float_outputs_load_without_a_warning_but_a_missing_inner_range_warns() -> None:
    """A float output node is the file's choice (reported, not warned about); a node that falls back to float because
    an inner value has no parameters is a surprise a user must see."""
    g, t, x = _lenet()
    p = calibrate(g, t, {"input": x[:16]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = Int8Model(g, t, p)
    out_node = next(n.name for n in g.nodes if g.outputs[0].name in n.outputs)
    assert [d.node for d in model.precision_report() if d.precision == "float"] == [out_node]
    inner = next(n.outputs[0] for n in g.nodes if n.op == "Conv2d")
    acts = {k: v for k, v in p.activations.items() if k != inner}
    with pytest.warns(UserWarning, match="run in float"):
        Int8Model(g, t, type(p)(acts, calibration=p.calibration))
