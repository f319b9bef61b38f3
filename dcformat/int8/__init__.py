"""Integer (int8) inference from .dc files (spec/INT8.md).

``fixedpoint`` holds the requantization arithmetic, ``params`` the activation
parameters stored in the file's metadata (key ``dcformat.int8``), ``plan`` the
int8 planner (one rule per op, float fallback per node), ``calibrate`` the
reference calibration, ``onnx_qdq`` the QDQ export used as the onnxruntime oracle.
"""

from .params import METADATA_KEY, QParams, Int8Params

__all__ = ["METADATA_KEY", "QParams", "Int8Params"]
