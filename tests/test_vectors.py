"""Golden vectors: every valid vector decodes to its expected arrays; the encoder still writes the same bytes."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import dcformat

VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"
MANIFEST = json.loads((VECTORS / "MANIFEST.json").read_text())


def test_manifest_lists_enough_vectors() -> None:
    assert len(MANIFEST) >= 10
    assert sorted(MANIFEST) == sorted(p.name for p in VECTORS.glob("*.dcf"))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_vector_decodes_to_expected(name: str) -> None:
    data = (VECTORS / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == MANIFEST[name]["sha256"]
    got = dcformat.decode(data)
    with np.load(VECTORS / name.replace(".dcf", ".npz"), allow_pickle=False) as expected:
        assert list(got) == list(expected.files)
        for key in expected.files:
            assert got[key].dtype == expected[key].dtype, key
            assert got[key].shape == expected[key].shape, key
            assert got[key].tobytes() == expected[key].tobytes(), key
    with dcformat.open(data) as f:
        assert f.metadata == MANIFEST[name].get("metadata", {})


def test_encoder_reproduces_vectors_byte_for_byte() -> None:
    spec = importlib.util.spec_from_file_location("generate", VECTORS / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(check=True) == 0
