"""Model builders: each returns ``(Graph, tensors)`` with seeded random float32 weights.

The graphs use PyTorch/ONNX weight layouts (conv ``(out, in/groups, kh, kw)``,
linear ``(out, in)``), so real trained weights can replace the random ones.
"""

from .alexnet import alexnet
from .lenet import lenet_5, lenet_300_100
from .mobilenet import mobilenet_v1, mobilenet_v2
from .shufflenet import shufflenet_v1, shufflenet_v2
from .squeezenet import squeezenet1_0, squeezenet1_1

BUILDERS = {
    "lenet_300_100": lenet_300_100,
    "lenet_5": lenet_5,
    "alexnet": alexnet,
    "squeezenet1_0": squeezenet1_0,
    "squeezenet1_1": squeezenet1_1,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "shufflenet_v1": shufflenet_v1,
    "shufflenet_v2": shufflenet_v2,
}

__all__ = ["BUILDERS", *BUILDERS]
