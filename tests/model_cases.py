"""Small configurations of every model builder (fast enough for the default test run) and their input shapes.

Shared by the onnxruntime conformance tests and the kernel-vs-NumPy tests, so a new builder is added once.
"""

CASES = {
    "alexnet": ({"image_size": 99, "width_mult": 0.25}, (3, 99, 99)),
    "lenet_300_100": ({}, (784,)),
    "lenet_5": ({}, (1, 28, 28)),
    "squeezenet1_0": ({"image_size": 64}, (3, 64, 64)),
    "squeezenet1_1": ({"image_size": 64}, (3, 64, 64)),
    "mobilenet_v1": ({"image_size": 64, "alpha": 0.5}, (3, 64, 64)),
    "mobilenet_v2": ({"image_size": 64}, (3, 64, 64)),
    "shufflenet_v1": ({"image_size": 64, "groups": 3}, (3, 64, 64)),
    "shufflenet_v2": ({"image_size": 64}, (3, 64, 64)),
}
