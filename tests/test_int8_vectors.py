"""The int8 conformance vectors (spec/vectors/int8/): reproducible, reproduced exactly, bad records rejected."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from dcformat.errors import FormatError, MetadataError, UnsupportedFeatureError
from dcformat.inference import Model

HERE = Path(__file__).resolve().parents[1] / "spec" / "vectors" / "int8"
MANIFEST = json.loads((HERE / "MANIFEST.json").read_text())
ERRORS = {"Metadata": MetadataError, "UnsupportedFeature": UnsupportedFeatureError}


def test_generator_reproduces_every_byte() -> None:
    spec = importlib.util.spec_from_file_location("generate_int8", HERE / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(gen)
    assert gen.main(check=True) == 0


@pytest.mark.parametrize("name", sorted(k for k, v in MANIFEST.items() if "error" not in v))
def test_valid_vector_reproduced_exactly(name: str) -> None:
    data = (HERE / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == MANIFEST[name]["sha256"]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        model = Model.open(HERE / name, precision="int8")
    assert model.float_nodes() == MANIFEST[name]["float_nodes"]
    with np.load(HERE / name.replace(".dcf", ".npz"), allow_pickle=False) as z:
        got = model.run_int8({"input": z["input"]})
        want = {k[2:]: z[k] for k in z.files if k.startswith("q/")}
        assert sorted(got) == sorted(want)
        for k in want:
            assert np.array_equal(got[k], want[k]), k
        # the float Softmax after the last int8 value: equal up to float32 rounding of exp
        np.testing.assert_allclose(model(z["input"]), z["output"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(k for k, v in MANIFEST.items() if "error" in v))
def test_invalid_record_rejected(name: str) -> None:
    assert hashlib.sha256((HERE / name).read_bytes()).hexdigest() == MANIFEST[name]["sha256"]
    with pytest.raises(ERRORS[MANIFEST[name]["error"]]) as exc:
        Model.open(HERE / name, precision="int8")
    assert isinstance(exc.value, FormatError)
    Model.open(HERE / name)  # the float path ignores the record
