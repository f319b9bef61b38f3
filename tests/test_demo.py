"""The bundled demo: the compressed MNIST files decode and reach their recorded accuracy.

The oracle for the inference path is an independent NumPy forward pass written
here (scipy convolution for LeNet-5), run on the decoded tensors.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

import dcformat
from dcformat.cli import main
from dcformat.cli.cmd_demo import DIGITS_FILE, MODELS, data_dir, load_digits, predict

DATA = data_dir()
BUNDLED = [(f, w, s) for f, w, s in MODELS if (DATA / f).is_file()]


def _forward_300_100(t: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    h = np.maximum(x @ t["ip1.weight"].T.astype(np.float64) + t["ip1.bias"], 0)
    h = np.maximum(h @ t["ip2.weight"].T + t["ip2.bias"], 0)
    return h @ t["ip3.weight"].T + t["ip3.bias"]


def _forward_lenet5(t: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    def conv(a, w, b):
        out = np.stack([np.stack([correlate(a[n], w[o], mode="valid")[0] for o in range(w.shape[0])])
                        for n in range(a.shape[0])])
        return out + b[None, :, None, None]

    def pool(a):
        n, c, h, w = a.shape
        return a.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))

    a = pool(conv(x.reshape(-1, 1, 28, 28).astype(np.float64), t["conv1.weight"], t["conv1.bias"]))
    a = pool(conv(a, t["conv2.weight"], t["conv2.bias"]))
    h = np.maximum(a.reshape(len(a), -1) @ t["ip1.weight"].T + t["ip1.bias"], 0)
    return h @ t["ip2.weight"].T + t["ip2.bias"]


REFERENCE = {"lenet_300_100.dc": _forward_300_100, "lenet_5.dc": _forward_lenet5}


def test_bundle_is_present_and_small() -> None:
    assert (DATA / DIGITS_FILE).is_file()
    assert (DATA / "lenet_300_100.dc").is_file()
    total = sum(p.stat().st_size for p in DATA.iterdir() if p.is_file())
    assert total < 300_000  # a demo, not a data set


def test_bundled_digits_are_mnist_test_digits() -> None:
    x, y = load_digits(DATA / DIGITS_FILE)
    assert 200 <= len(y) <= 1000 and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() < 1.0
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # MNIST's test set starts like this


@pytest.mark.parametrize("fname,weights,shape", BUNDLED, ids=[b[0] for b in BUNDLED])
def test_bundled_file_reaches_recorded_accuracy(fname: str, weights: tuple[str, ...], shape) -> None:
    path = DATA / fname
    x, y = load_digits(DATA / DIGITS_FILE)
    with dcformat.open(path) as f:
        meta = f.metadata
        assert f.graph is not None  # the demo runs through the stored graph
        for w in weights:
            info = f.info(w)
            assert info.encoding == "sparse" and info.nnz < 0.7 * info.numel
    tensors = dcformat.load(path)
    independent = int(np.sum(REFERENCE[fname](tensors, x).argmax(axis=1) == y))
    through_model = int(np.sum(predict(path, x, shape) == y))
    assert meta["demo_digits"] == len(y)
    assert independent == meta["demo_correct"]
    assert through_model == meta["demo_correct"]
    assert meta["demo_correct"] / len(y) > 0.97
    dense = 4 * sum(v.size for v in tensors.values())
    goal = {"lenet_300_100.dc": 40, "lenet_5.dc": 39}[fname]  # the goals
    assert dense / path.stat().st_size >= goal


def test_demo_command_prints_accuracy_table_and_sizes() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(["demo"])
    text = out.getvalue()
    assert status == 0, text
    for fname, _, _ in BUNDLED:
        assert fname in text
    assert "accuracy on" in text and "MISMATCH" not in text
    assert "paper" in text and "rate P+Q+H" in text
    assert "as dense float32" in text and "x smaller" in text


def test_demo_reports_mismatch(tmp_path: Path) -> None:
    """A demo whose digits no longer match the recorded accuracy exits 1."""
    x, y = load_digits(DATA / DIGITS_FILE)
    np.savez(tmp_path / DIGITS_FILE, x=np.round(x * 256).astype(np.uint8), y=((y + 1) % 10).astype(np.uint8),
             pixel_divisor=np.array(256))
    (tmp_path / "lenet_300_100.dc").write_bytes((DATA / "lenet_300_100.dc").read_bytes())
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(["demo", "--data", str(tmp_path)])
    assert status == 1 and "MISMATCH" in out.getvalue()
