"""Model.open builds its layers from the file's payloads: each weight decoded once, codebooks as stored.

Oracles: dcformat.load / DCFile.codebook of the same file (the container's own dense path and the stored
codebook) and a dense NumPy matrix product.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import dcformat
from dcformat.container import reader as reader_mod
from dcformat.inference import Model
from dcformat.models import BUILDERS

LENET = Path(__file__).resolve().parents[1] / "dcformat" / "data" / "lenet_300_100.dc"


@pytest.fixture(scope="module")
def small_convnet(tmp_path_factory) -> Path:
    graph, tensors = BUILDERS["lenet_5"](seed=3)
    path = tmp_path_factory.mktemp("m") / "lenet5.dc"
    dcformat.save(path, tensors, graph=graph)
    return path


@pytest.mark.parametrize("which", ["lenet_300_100", "lenet_5"])
def test_model_open_parses_each_weight_once(which: str, small_convnet: Path, monkeypatch) -> None:
    path = LENET if which == "lenet_300_100" else small_convnet
    with dcformat.open(path) as f:
        refs = set(f.graph.tensor_refs(f.keys()))
        assert any(f.info(k).encoding == "sparse" for k in refs), "the file should hold sparse weights"
    calls: Counter = Counter()
    real = reader_mod.parse

    def counting(data, entry, limits, **kw):
        calls[(entry.name, kw.get("decode", True))] += 1
        return real(data, entry, limits, **kw)

    monkeypatch.setattr(reader_mod, "parse", counting)
    model = Model.open(path)
    monkeypatch.undo()
    assert calls == Counter({(k, True): 1 for k in refs})  # once each, decoding; no inspection pass
    x = np.random.default_rng(0).normal(size=(2, *[d for d in model.inputs[0].shape[1:]])).astype(np.float32)
    tensors = dcformat.load(path)
    ref = Model.from_graph(model.graph, tensors)  # dense weights from load(): the container's own dense path
    np.testing.assert_allclose(model(x), ref(x), rtol=1e-4, atol=1e-5)


def test_compact_kernel_uses_the_stored_codebook(monkeypatch) -> None:
    """Csr.compact takes the payload's codebook + symbols: no search for distinct values (np.unique)."""
    from dcformat.container.materialize import to_csr
    from dcformat.inference import kernels as K
    from dcformat.inference.sparse import csr_from_reader

    if K.fast_kernels() is None:
        pytest.skip("numba not installed (or DCFORMAT_ACCEL=0)")
    with dcformat.open(LENET) as f:
        name = max((k for k in f.keys() if f.info(k).encoding == "sparse"), key=lambda k: f.info(k).numel)
        arrays, _ = to_csr(f.payload(name), f.limits)
        stored = f.codebook(name)
        dense = f.tensor(name)
    csr = csr_from_reader(*arrays[:3], dense.shape, *arrays[3:])
    monkeypatch.setattr(np, "unique", lambda *a, **k: pytest.fail("codebook rebuilt with np.unique"))
    sr = csr.compact()
    assert sr is not None
    np.testing.assert_array_equal(sr.codebook, stored)
    x = np.random.default_rng(1).normal(size=(3, dense.shape[1])).astype(np.float32)
    np.testing.assert_allclose(csr.matmul_t(x), x @ dense.T, rtol=1e-5, atol=1e-5)
