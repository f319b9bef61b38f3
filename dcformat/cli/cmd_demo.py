"""``dcformat demo``: run the bundled compressed MNIST networks on bundled test digits, offline.

The files in ``dcformat/data/`` were written by ``tools/reproduce_mnist.py``:
LeNet-300-100 (and LeNet-5) trained, pruned, quantized and fine-tuned in NumPy,
saved with their inference graph, plus the first few hundred MNIST test digits.
The demo decodes each file, runs it through ``dcformat.inference.Model``, and
prints the accuracy next to the one recorded when the file was built, the
paper-style per-layer table, and the file size next to the dense float32 size.
Exit status 1 if an accuracy differs from the recorded one (a broken install).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

DIGITS_FILE = "mnist_demo_digits.npz"
MODELS = (  # (file, weight tensors in the paper's table order, input shape after the batch axis)
    ("lenet_300_100.dc", ("ip1.weight", "ip2.weight", "ip3.weight"), (784,)),
    ("lenet_5.dc", ("conv1.weight", "conv2.weight", "ip1.weight", "ip2.weight"), (1, 28, 28)),
)


def data_dir() -> Path:
    """The package's bundled data folder."""
    return Path(str(resources.files("dcformat") / "data"))


def load_digits(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Bundled digits as float32 images in [0, 1] shaped (N, 784) and int64 labels."""
    with np.load(path, allow_pickle=False) as z:
        x = z["x"].astype(np.float32) / np.float32(int(z["pixel_divisor"]))
        y = z["y"].astype(np.int64)
    if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
        raise ValueError(f"{path}: expected x (N, 784) and y (N,), got {x.shape} and {y.shape}")
    return x, y


def predict(path: Path, x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """Class predictions of the network stored (with its graph) in ``path``."""
    from dcformat.inference import Model

    model = Model.open(path)
    logits = model.run({"input": x.reshape((len(x), *input_shape))})["logits"]
    return np.asarray(logits).argmax(axis=1)


def describe(path: Path, weights: tuple[str, ...], x: np.ndarray, y: np.ndarray,
             input_shape: tuple[int, ...]) -> tuple[str, bool]:
    """The demo's report for one bundled file, and whether its accuracy matches the recorded one."""
    import dcformat
    from dcformat.training.report import PAPER_TABLES, comparison_rows, format_comparison

    with dcformat.open(path) as f:
        meta: dict[str, Any] = dict(f.metadata or {})
        name = str(meta.get("model", path.stem))
        table = format_comparison(comparison_rows(f, list(weights)), PAPER_TABLES.get(name))
        dense = sum(4 * f.info(k).numel for k in f.keys())
    size = path.stat().st_size
    correct = int(np.sum(predict(path, x, input_shape) == y))
    recorded = meta.get("demo_correct")
    ok = recorded is None or (int(recorded) == correct and int(meta.get("demo_digits", len(y))) == len(y))
    lines = [
        f"== {name} ({path.name}) ==",
        f"accuracy on {len(y)} bundled MNIST test digits: {correct}/{len(y)} = {100 * correct / len(y):.1f}%"
        + ("" if recorded is None else f" (recorded when built: {recorded}/{meta.get('demo_digits')}"
           + ("" if ok else ", MISMATCH") + ")"),
    ]
    if "test_error_pct" in meta:
        lines.append(f"full 10,000-digit test error when built: {meta['test_error_pct']}% "
                     f"(uncompressed baseline {meta.get('baseline_test_error_pct')}%)")
    lines += [
        f"size: {size:,} bytes in the .dc file vs {dense:,} bytes as dense float32 "
        f"-> {dense / size:.1f}x smaller",
        "per-layer table (ours, with the paper's line under each; rates count the weight tensors only, as the "
        "paper's do, while the size above also counts biases, codebooks, the graph and metadata):",
        table,
    ]
    return "\n".join(lines), ok


def run(args: argparse.Namespace) -> int:
    folder = Path(args.data) if args.data else data_dir()
    x, y = load_digits(folder / DIGITS_FILE)
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    found = [(folder / f, w, s) for f, w, s in MODELS if (folder / f).is_file()]
    if not found:
        from . import InputError

        raise InputError(f"no bundled model files in {folder}")
    all_ok = True
    for path, weights, shape in found:
        text, ok = describe(path, weights, x, y, shape)
        all_ok &= ok or bool(args.limit)
        if not getattr(args, "quiet", False):
            print(text + "\n")
    return 0 if all_ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the bundled compressed LeNets on bundled MNIST digits (no network needed)",
        description="Decode the compressed LeNet-300-100 and LeNet-5 shipped with dcformat, classify the bundled "
        "MNIST test digits with them, and print accuracy, the paper-style per-layer table and the file size "
        "next to the dense model's size.",
    )
    p.add_argument("--limit", type=int, default=0, metavar="N", help="use only the first N bundled digits")
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)  # another data folder (tests)
    p.set_defaults(func=run)
