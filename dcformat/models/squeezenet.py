"""SqueezeNet 1.0 and 1.1 (fire modules: 1x1 squeeze, 1x1 + 3x3 expand, concat; ceil-mode pooling)."""

from __future__ import annotations

import numpy as np

from ..graph.core import Graph
from ._builder import Builder


def _fire(b: Builder, x: str, idx: int, squeeze: int, expand: int) -> str:
    s = b.op1("ReLU", [b.conv(x, squeeze, 1, name=f"fire{idx}.squeeze1x1")])
    e1 = b.op1("ReLU", [b.conv(s, expand, 1, name=f"fire{idx}.expand1x1")])
    e3 = b.op1("ReLU", [b.conv(s, expand, 3, pad=1, name=f"fire{idx}.expand3x3")])
    return b.op1("Concat", [e1, e3], f"fire{idx}.concat", axis=1)


def _pool(b: Builder, x: str) -> str:
    return b.op1("MaxPool", [x], "maxpool", kernel=[3, 3], stride=[2, 2], ceil_mode=True)


def _squeezenet(version: str, seed: int, num_classes: int, image_size: int) -> tuple[Graph, dict[str, np.ndarray]]:
    b = Builder(seed, "input", ("N", 3, image_size, image_size))
    if version == "1_0":
        x = b.op1("ReLU", [b.conv("input", 96, 7, stride=2, name="conv1")])
        plan = ["pool", (16, 64), (16, 64), (32, 128), "pool", (32, 128), (48, 192), (48, 192), (64, 256), "pool", (64, 256)]
    else:
        x = b.op1("ReLU", [b.conv("input", 64, 3, stride=2, name="conv1")])
        plan = ["pool", (16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool", (48, 192), (48, 192), (64, 256), (64, 256)]
    idx = 2
    for step in plan:
        if step == "pool":
            x = _pool(b, x)
        else:
            x = _fire(b, x, idx, *step)
            idx += 1
    x = b.op1("Dropout", [x], "drop9", ratio=0.5)
    x = b.op1("ReLU", [b.conv(x, num_classes, 1, name="conv10")])
    x = b.op1("GlobalAvgPool", [x], "pool10")
    return b.finish({"logits": b.op1("Flatten", [x], "flatten", axis=1)})


def squeezenet1_0(seed: int = 0, num_classes: int = 1000, image_size: int = 224) -> tuple[Graph, dict[str, np.ndarray]]:
    """SqueezeNet 1.0 (7x7/2 stem, 96 channels), as in the paper and torchvision."""
    return _squeezenet("1_0", seed, num_classes, image_size)


def squeezenet1_1(seed: int = 0, num_classes: int = 1000, image_size: int = 224) -> tuple[Graph, dict[str, np.ndarray]]:
    """SqueezeNet 1.1 (3x3/2 stem, earlier pooling: ~2.4x fewer FLOPs than 1.0)."""
    return _squeezenet("1_1", seed, num_classes, image_size)
