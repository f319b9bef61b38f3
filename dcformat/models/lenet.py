"""The paper's MNIST networks with their fixed tensor names (shared with the training code)."""

from __future__ import annotations

import numpy as np

from ..graph.core import Graph
from ._builder import Builder


def lenet_300_100(seed: int = 0) -> tuple[Graph, dict[str, np.ndarray]]:
    """LeNet-300-100: input (N, 784) -> ip1 300 -> ReLU -> ip2 100 -> ReLU -> ip3 10 -> "logits"."""
    b = Builder(seed, "input", ("N", 784))
    x = b.op1("ReLU", [b.linear("input", 300, name="ip1")], "relu1")
    x = b.op1("ReLU", [b.linear(x, 100, name="ip2")], "relu2")
    return b.finish({"logits": b.linear(x, 10, name="ip3")})


def lenet_5(seed: int = 0) -> tuple[Graph, dict[str, np.ndarray]]:
    """Caffe's LeNet-5: conv 20@5x5, max 2/2, conv 50@5x5, max 2/2, ip 500, ReLU, ip 10 (no conv ReLUs)."""
    b = Builder(seed, "input", ("N", 1, 28, 28))
    x = b.conv("input", 20, 5, name="conv1")
    x = b.op1("MaxPool", [x], "pool1", kernel=[2, 2], stride=[2, 2])
    x = b.conv(x, 50, 5, name="conv2")
    x = b.op1("MaxPool", [x], "pool2", kernel=[2, 2], stride=[2, 2])
    x = b.op1("Flatten", [x], "flatten", axis=1)
    x = b.op1("ReLU", [b.linear(x, 500, name="ip1")], "relu1")
    return b.finish({"logits": b.linear(x, 10, name="ip2")})
