"""ShuffleNet v1 (group convolution + channel shuffle) and v2 (channel split, concat, shuffle)."""

from __future__ import annotations

import numpy as np

from ..graph.core import Graph
from ._builder import Builder
from .mobilenet import _cbr

_V1_CHANNELS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
_V2_CHANNELS = {0.5: [24, 48, 96, 192, 1024], 1.0: [24, 116, 232, 464, 1024], 1.5: [24, 176, 352, 704, 1024], 2.0: [24, 244, 488, 976, 2048]}


def _stem(b: Builder) -> str:
    x = _cbr(b, "input", 24, 3, "conv1", stride=2)
    return b.op1("MaxPool", [x], "maxpool", kernel=[3, 3], stride=[2, 2], padding=[1, 1, 1, 1])


def _v1_unit(b: Builder, x: str, out: int, stride: int, groups: int, first_groups: int, name: str) -> str:
    inp = b.channels(x)
    branch_out = out - inp if stride == 2 else out
    mid = out // 4
    y = _cbr(b, x, mid, 1, f"{name}.gconv1", groups=first_groups)
    y = b.op1("ChannelShuffle", [y], f"{name}.shuffle", groups=groups)
    y = _cbr(b, y, mid, 3, f"{name}.dw", stride=stride, groups=mid, act=None)
    y = _cbr(b, y, branch_out, 1, f"{name}.gconv2", groups=groups, act=None)
    if stride == 2:
        s = b.op1("AvgPool", [x], f"{name}.shortcut", kernel=[3, 3], stride=[2, 2], padding=[1, 1, 1, 1], count_include_pad=True)
        y = b.op1("Concat", [s, y], f"{name}.concat", axis=1)
    else:
        y = b.op1("Add", [x, y], f"{name}.add")
    return b.op1("ReLU", [y])


def shufflenet_v1(
    seed: int = 0, groups: int = 3, num_classes: int = 1000, image_size: int = 224
) -> tuple[Graph, dict[str, np.ndarray]]:
    """ShuffleNet v1 1.0x with ``groups`` in {1, 2, 3, 4, 8} (stage repeats 4, 8, 4)."""
    if groups not in _V1_CHANNELS:
        raise ValueError(f"groups must be one of {sorted(_V1_CHANNELS)}, got {groups}")
    b = Builder(seed, "input", ("N", 3, image_size, image_size))
    x = _stem(b)
    out = _V1_CHANNELS[groups]
    for stage, repeats in ((2, 4), (3, 8), (4, 4)):
        for i in range(repeats):
            first_groups = 1 if stage == 2 and i == 0 else groups
            x = _v1_unit(b, x, out, 2 if i == 0 else 1, groups, first_groups, f"stage{stage}.{i}")
        out *= 2
    x = b.op1("Flatten", [b.op1("GlobalAvgPool", [x], "pool")], "flatten", axis=1)
    return b.finish({"logits": b.linear(x, num_classes, name="fc")})


def _v2_unit(b: Builder, x: str, out: int, stride: int, name: str) -> str:
    half = out // 2
    if stride == 1:
        x1, x2 = b.op("Split", [x], f"{name}.split", n_out=2, axis=1, split=[half, b.channels(x) - half])
    else:
        x1 = _cbr(b, x, b.channels(x), 3, f"{name}.branch1.dw", stride=2, groups=b.channels(x), act=None)
        x1 = _cbr(b, x1, half, 1, f"{name}.branch1.pw")
        x2 = x
    y = _cbr(b, x2, half, 1, f"{name}.branch2.pw1")
    y = _cbr(b, y, half, 3, f"{name}.branch2.dw", stride=stride, groups=half, act=None)
    y = _cbr(b, y, half, 1, f"{name}.branch2.pw2")
    y = b.op1("Concat", [x1, y], f"{name}.concat", axis=1)
    return b.op1("ChannelShuffle", [y], f"{name}.shuffle", groups=2)


def shufflenet_v2(
    seed: int = 0, width_mult: float = 1.0, num_classes: int = 1000, image_size: int = 224
) -> tuple[Graph, dict[str, np.ndarray]]:
    """ShuffleNet v2 (torchvision layout), width 0.5x / 1.0x / 1.5x / 2.0x."""
    if width_mult not in _V2_CHANNELS:
        raise ValueError(f"width_mult must be one of {sorted(_V2_CHANNELS)}, got {width_mult}")
    chans = _V2_CHANNELS[width_mult]
    b = Builder(seed, "input", ("N", 3, image_size, image_size))
    x = _stem(b)
    for stage, repeats, out in zip((2, 3, 4), (4, 8, 4), chans[1:4]):
        for i in range(repeats):
            x = _v2_unit(b, x, out, 2 if i == 0 else 1, f"stage{stage}.{i}")
    x = _cbr(b, x, chans[4], 1, "conv5")
    x = b.op1("Flatten", [b.op1("GlobalAvgPool", [x], "pool")], "flatten", axis=1)
    return b.finish({"logits": b.linear(x, num_classes, name="fc")})
