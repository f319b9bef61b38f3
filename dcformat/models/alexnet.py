"""AlexNet as in Caffe's BVLC reference model, the network of the Deep Compression paper's Table 4.

Grouped convolutions (conv2, conv4, conv5 in two groups, as trained on two
GPUs), LRN after the first two convolutions, ceil-mode 3x3/2 max pooling, and
three fully connected layers (fc6/fc7: 4096, fc8: classes) that hold 96 % of
the weights: the layers the paper prunes to 9-10 %.
"""

from __future__ import annotations

import numpy as np

from ..graph.core import Graph
from ._builder import Builder


def alexnet(
    seed: int = 0, num_classes: int = 1000, image_size: int = 227, width_mult: float = 1.0
) -> tuple[Graph, dict[str, np.ndarray]]:
    """BVLC AlexNet; ``width_mult`` scales every layer's width (even channel counts keep the two groups)."""

    def ch(c: int) -> int:
        return max(2, int(round(c * width_mult / 2)) * 2)

    b = Builder(seed, "data", ("N", 3, image_size, image_size))
    x = "data"
    for i, (out, k, stride, pad, groups, lrn, pool) in enumerate(
        [
            (96, 11, 4, 0, 1, True, True),
            (256, 5, 1, 2, 2, True, True),
            (384, 3, 1, 1, 1, False, False),
            (384, 3, 1, 1, 2, False, False),
            (256, 3, 1, 1, 2, False, True),
        ],
        start=1,
    ):
        x = b.op1("ReLU", [b.conv(x, ch(out), k, stride=stride, pad=pad, groups=groups, name=f"conv{i}")], f"relu{i}")
        if lrn:
            x = b.op1("LRN", [x], f"norm{i}", size=5, alpha=1e-4, beta=0.75, bias=1.0)
        if pool:
            x = b.op1("MaxPool", [x], f"pool{i}", kernel=[3, 3], stride=[2, 2], ceil_mode=True)
    x = b.op1("Flatten", [x], "flatten", axis=1)
    for i, out in ((6, ch(4096)), (7, ch(4096))):
        x = b.op1("ReLU", [b.linear(x, out, name=f"fc{i}")], f"relu{i}")
        x = b.op1("Dropout", [x], f"drop{i}", ratio=0.5)
    return b.finish({"prob": b.op1("Softmax", [b.linear(x, num_classes, name="fc8")], "prob", axis=1)})
