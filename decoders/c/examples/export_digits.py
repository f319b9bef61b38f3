"""Export the bundled MNIST digits (dcformat/data/mnist_demo_digits.npz, a deflate-compressed .npz) to the raw file
that lenet_mnist.c reads, so that the C example needs no zip/inflate code:

    python decoders/c/examples/export_digits.py [OUT]       (default: mnist_demo_digits.raw)

Layout (little-endian): "DIGITS01", u32 count N, u32 pixels per image (784), u32 pixel divisor,
then N x 784 uint8 pixels, then N uint8 labels. Pixels are divided by the divisor (as `dcformat demo` does).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().parents[3] / "dcformat" / "data" / "mnist_demo_digits.npz"


def main(out: str = "mnist_demo_digits.raw") -> None:
    with np.load(SOURCE, allow_pickle=False) as z:
        x, y, divisor = z["x"], z["y"], int(z["pixel_divisor"])
    assert x.dtype == np.uint8 and y.dtype == np.uint8 and x.ndim == 2 and y.shape == (x.shape[0],)
    with open(out, "wb") as f:
        f.write(b"DIGITS01" + struct.pack("<III", x.shape[0], x.shape[1], divisor))
        f.write(np.ascontiguousarray(x).tobytes())
        f.write(y.tobytes())


if __name__ == "__main__":
    main(*sys.argv[1:2])
