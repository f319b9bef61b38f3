"""MobileNet v1 (depthwise separable convolutions, width multiplier) and v2 (inverted residuals)."""

from __future__ import annotations

import numpy as np

from ..graph.core import Graph
from ._builder import Builder


def _cbr(b: Builder, x: str, out: int, k: int, name: str, stride: int = 1, groups: int = 1, act: str | None = "ReLU") -> str:
    x = b.conv(x, out, k, stride=stride, pad=k // 2, groups=groups, bias=False, name=name)
    x = b.bn(x, name=f"{name}.bn")
    return b.op1(act, [x]) if act else x


def mobilenet_v1(
    seed: int = 0, alpha: float = 1.0, num_classes: int = 1000, image_size: int = 224
) -> tuple[Graph, dict[str, np.ndarray]]:
    """MobileNet v1: 3x3/2 stem then 13 (depthwise 3x3 + pointwise 1x1) blocks; channels scaled by ``alpha``."""
    if not 0 < alpha <= 4:
        raise ValueError(f"alpha must be in (0, 4], got {alpha}")

    def ch(c: int) -> int:
        return max(8, int(c * alpha))

    b = Builder(seed, "input", ("N", 3, image_size, image_size))
    x = _cbr(b, "input", ch(32), 3, "conv1", stride=2)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for i, (out, stride) in enumerate(plan, 1):
        c = b.channels(x)
        x = _cbr(b, x, c, 3, f"block{i}.dw", stride=stride, groups=c)
        x = _cbr(b, x, ch(out), 1, f"block{i}.pw")
    x = b.op1("Flatten", [b.op1("GlobalAvgPool", [x], "pool")], "flatten", axis=1)
    return b.finish({"logits": b.linear(x, num_classes, name="fc")})


def _divisible(v: float, d: int = 8) -> int:
    """torchvision's _make_divisible: round to a multiple of d, never below 90% of v."""
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


def mobilenet_v2(
    seed: int = 0, width_mult: float = 1.0, num_classes: int = 1000, image_size: int = 224
) -> tuple[Graph, dict[str, np.ndarray]]:
    """MobileNet v2 (torchvision layout): inverted residual blocks with ReLU6 and linear bottlenecks."""
    b = Builder(seed, "input", ("N", 3, image_size, image_size))
    x = _cbr(b, "input", _divisible(32 * width_mult), 3, "features.0", stride=2, act="ReLU6")
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    idx = 1
    for t, c, n, s in settings:
        out = _divisible(c * width_mult)
        for i in range(n):
            stride = s if i == 0 else 1
            inp = b.channels(x)
            y = x
            if t != 1:
                y = _cbr(b, y, inp * t, 1, f"features.{idx}.expand", act="ReLU6")
            hidden = b.channels(y)
            y = _cbr(b, y, hidden, 3, f"features.{idx}.dw", stride=stride, groups=hidden, act="ReLU6")
            y = _cbr(b, y, out, 1, f"features.{idx}.project", act=None)
            x = b.op1("Add", [x, y], f"features.{idx}.add") if stride == 1 and inp == out else y
            idx += 1
    x = _cbr(b, x, _divisible(1280 * max(1.0, width_mult)), 1, f"features.{idx}", act="ReLU6")
    x = b.op1("Flatten", [b.op1("GlobalAvgPool", [x], "pool")], "flatten", axis=1)
    x = b.op1("Dropout", [x], "dropout", ratio=0.2)
    return b.finish({"logits": b.linear(x, num_classes, name="classifier")})
