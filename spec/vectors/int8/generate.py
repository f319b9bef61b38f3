"""Conformance vectors of spec/INT8.md: one file using every int8 rule, its expected int8 values, and bad records.

    python spec/vectors/int8/generate.py          # (re)write the vectors and MANIFEST.json
    python spec/vectors/int8/generate.py --check  # exit 1 if regenerating would change any byte

``i8-all-ops.dcf`` holds a small graph (stem conv + ReLU6, depthwise + ReLU,
grouped conv, 1x1 conv, residual Add, MaxPool with ceil mode, padded AvgPool,
Concat, ChannelShuffle, GlobalAvgPool, Flatten, Linear, and a Softmax that runs
in float) with its int8 parameters; ``i8-all-ops.npz`` the input (``input``),
every int8 value an implementation must reproduce exactly (``q/<value>``, NCHW)
and the float output (``output``). The expected values come from the reference
implementation, whose arithmetic is checked node by node against onnxruntime
(tests/test_int8.py). ``x-i8-*.dcf`` carry invalid records ([Metadata] or, for a
newer int8_version, [UnsupportedFeature]); MANIFEST.json says which.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
sys.path.insert(0, str(HERE.parent))  # spec/vectors: vector_files, shared by the generators

import dcformat  # noqa: E402
from vector_files import OutputFiles  # noqa: E402
from dcformat.config import CompressionConfig  # noqa: E402
from dcformat.int8 import METADATA_KEY  # noqa: E402
from dcformat.int8.calibrate import calibrate  # noqa: E402
from dcformat.int8.model import Int8Model  # noqa: E402
from dcformat.models._builder import Builder  # noqa: E402

RAW = CompressionConfig(encoding="raw")


def all_ops_graph():
    b = Builder(11, "input", ("N", 3, 16, 16))
    x = b.op1("ReLU6", [b.conv("input", 8, 3, name="stem", stride=2, pad=1)], "stem_act")
    d = b.op1("ReLU", [b.conv(x, 8, 3, name="dw", pad=1, groups=8)], "dw_act")
    g = b.conv(d, 8, 3, name="grouped", pad=1, groups=2)
    r = b.op1("Add", [g, x], "residual")
    m = b.op1("MaxPool", [r], "maxpool", kernel=[3, 3], stride=[2, 2], ceil_mode=True)
    a = b.op1("AvgPool", [r], "avgpool", kernel=[3, 3], stride=[2, 2], padding=[1, 1, 1, 1], ceil_mode=False)
    p = b.conv(a, 8, 1, name="pw")
    c = b.op1("Concat", [m, p], "concat", axis=1)
    s = b.op1("ChannelShuffle", [c], "shuffle", groups=2)
    gap = b.op1("Flatten", [b.op1("GlobalAvgPool", [s], "gap")], "flatten")
    y = b.op1("Softmax", [b.linear(gap, 5, name="fc")], "softmax", axis=1)
    return b.finish({"output": y})


def snapped(params):
    """The calibrated parameters on a coarse grid (scale to 1/8 octave, zero point to match), so that float32
    summation-order differences of the float run (compiled kernels or not, BLAS builds) cannot change a byte."""
    from dcformat.int8 import Int8Params, QParams

    acts = {}
    for k, p in params.activations.items():
        lo = (-128 - p.zero_point) * p.scale  # the range the calibration covered
        s = float(np.float32(2.0 ** (np.round(np.log2(p.scale) * 8) / 8)))
        acts[k] = QParams(s, int(np.clip(np.rint(-128 - lo / s), -128, 127)))
    return Int8Params(acts, {"method": "minmax, snapped to 1/8 octave", "samples": params.calibration["samples"]})


def build_all() -> dict[str, tuple[bytes, dict[str, np.ndarray] | None, dict]]:
    graph, tensors = all_ops_graph()
    rng = np.random.default_rng(12)
    calib = rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32) * 1.2  # also exercises saturation
    # the first release's calibration, pinned (not the tool's defaults, which may change with measurements): minmax
    # ranges, Concat inputs calibrated on their own (so §4's Concat requantization is exercised) and an int8 output
    params = snapped(calibrate(graph, tensors, {"input": calib}, method="minmax", shared_concat=False, float_outputs=False))
    out: dict[str, tuple[bytes, dict[str, np.ndarray] | None, dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "v.dcf"
        dcformat.save(path, tensors, config=RAW, graph=graph, metadata={METADATA_KEY: params.to_json()})
        data = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Model_open(path)
        vals = model.run_int8({"input": x})
        arrays = {"input": x, "output": model(x)}
        arrays.update({f"q/{k}": v for k, v in sorted(vals.items())})
        out["i8-all-ops.dcf"] = (data, arrays, {"covers": "every int8 rule of spec/INT8.md §4 and one float fallback (Softmax)",
                                               "float_nodes": model.float_nodes()})
        good = params.to_json()
        first = sorted(good["activations"])[0]
        bad = {
            "x-i8-version-2.dcf": ({**good, "int8_version": 2}, "UnsupportedFeature"),
            "x-i8-unknown-value.dcf": ({**good, "activations": {**good["activations"], "nope": [0.5, 0]}}, "Metadata"),
            "x-i8-scale-not-binary32.dcf": ({**good, "activations": {**good["activations"], first: [0.1, 0]}}, "Metadata"),
            "x-i8-scale-zero.dcf": ({**good, "activations": {**good["activations"], first: [0.0, 0]}}, "Metadata"),
            "x-i8-zero-point-128.dcf": ({**good, "activations": {**good["activations"], first: [0.5, 128]}}, "Metadata"),
            "x-i8-entry-not-pair.dcf": ({**good, "activations": {**good["activations"], first: [0.5]}}, "Metadata"),
            "x-i8-unknown-key.dcf": ({**good, "extra": 1}, "Metadata"),
            "x-i8-not-object.dcf": ([1, 2], "Metadata"),
        }
        for name, (record, err) in bad.items():
            dcformat.save(path, tensors, config=RAW, graph=graph, metadata={METADATA_KEY: record})
            out[name] = (path.read_bytes(), None, {"error": err})
    return out


def Model_open(path):  # noqa: N802 - the public entry point, named as users call it
    from dcformat.inference import Model

    return Model.open(path, precision="int8")


def _same(z, arrays: dict[str, np.ndarray]) -> bool:
    return sorted(z.files) == sorted(arrays) and all(
        z[k].dtype == arrays[k].dtype and (np.array_equal(z[k], arrays[k]) if z[k].dtype == np.int8
                                           else np.allclose(z[k], arrays[k], rtol=1e-5, atol=1e-7)) for k in arrays)


def main(check: bool = False) -> int:
    files = build_all()
    manifest: dict[str, dict] = {}
    out = OutputFiles(check)
    for name, (data, arrays, info) in files.items():
        manifest[name] = dict(info, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        out.bytes(HERE / name, data)
        if arrays is not None:
            out.npz(HERE / name.replace(".dcf", ".npz"), arrays, lambda z, a=arrays: _same(z, a))
    out.manifest(HERE / "MANIFEST.json", manifest)
    return out.finish()


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
