"""Calibration-aware compression: weighted 1-D k-means, importance pruning, importance from a graph.

Oracles: scikit-learn's KMeans with sample_weight from the same initial centroids, a brute-force
weighted Lloyd written here, a brute-force argsort for the pruning mask, NumPy on activations captured by
hand for the importance arrays, and the codec's own decode for what the encoder stores.
"""

from __future__ import annotations

import numpy as np
import pytest

import dcformat
from dcformat import CompressionConfig
from dcformat.budget import reconstruct
from dcformat.budget.scan import Candidate, tensor_curve
from dcformat.prune import prune_by_importance, prune_to_density
from dcformat.quantize.kmeans import initial_centroids, kmeans_1d


def _weighted_lloyd(x: np.ndarray, w: np.ndarray, c: np.ndarray, iters: int = 500) -> np.ndarray:
    """Textbook weighted Lloyd (nearest centroid by full distance matrix, weighted means), no relocation."""
    c = c.astype(np.float64).copy()
    for _ in range(iters):
        lab = np.argmin(np.abs(x[:, None] - c[None, :]), axis=1)
        new = c.copy()
        for j in range(c.size):
            m = lab == j
            if m.any():
                new[j] = np.sum(w[m] * x[m]) / np.sum(w[m])
        if np.array_equal(new, c):
            break
        c = new
    return c


@pytest.mark.parametrize("k", [2, 4, 8])
def test_weighted_kmeans_matches_sklearn_and_brute_force_lloyd(k: int) -> None:
    from sklearn.cluster import KMeans

    r = np.random.default_rng(k)
    # two input "channels" of very different importance, as a Linear layer's columns have
    x = np.concatenate([r.standard_normal(300), 0.5 * r.standard_normal(300) + 1.0]).astype(np.float32)
    w = np.concatenate([np.full(300, 0.05), np.full(300, 4.0)]) * r.uniform(0.5, 1.5, 600)
    ours = kmeans_1d(x, k, sample_weight=w, tol=0.0, max_iter=1000)
    init = initial_centroids(x, k)
    sk = KMeans(k, init=init.reshape(-1, 1), n_init=1, max_iter=1000, tol=0.0).fit(
        x.astype(np.float64).reshape(-1, 1), sample_weight=w)
    brute = np.sort(_weighted_lloyd(x.astype(np.float64), w, init))
    sse = float(np.sum(w * (x - ours.centroids[ours.labels]) ** 2))
    assert np.isclose(ours.inertia, sse, rtol=1e-9)
    # never worse than either Lloyd from the same start (ours also relocates/splits, so it may be better)
    assert ours.inertia <= sk.inertia_ * (1 + 1e-9)
    assert ours.inertia <= float(np.sum(w * (x - brute[np.argmin(np.abs(x[:, None] - brute), 1)]) ** 2)) * (1 + 1e-9)
    # a fixed point of weighted Lloyd: nearest-centroid labels, each centroid the weighted mean of its cluster
    near = np.argmin(np.abs(x[:, None].astype(np.float64) - ours.centroids[None, :]), axis=1)
    assert np.array_equal(near, ours.labels)
    means = np.bincount(ours.labels, w * x, ours.centroids.size) / np.bincount(ours.labels, w, ours.centroids.size)
    assert np.allclose(means, ours.centroids, rtol=1e-9, atol=1e-12)
    if k == 2:  # no relocation happens at k=2 from this start: the same fixed point as both Lloyds
        assert np.allclose(np.sort(sk.cluster_centers_.ravel()), ours.centroids, rtol=1e-7)
        assert np.allclose(brute, ours.centroids, rtol=1e-9)


def test_weighted_kmeans_pulls_centroids_to_important_values() -> None:
    r = np.random.default_rng(0)
    x = r.standard_normal(4000)
    w = np.where(np.abs(x) > 1.5, 100.0, 1.0)  # the tails matter
    plain, weighted = kmeans_1d(x, 4), kmeans_1d(x, 4, sample_weight=w)
    tail = np.abs(x) > 1.5
    err = lambda res: float(np.sum((x[tail] - res.centroids[res.labels][tail]) ** 2))  # noqa: E731
    assert err(weighted) < 0.5 * err(plain)


def test_unit_weights_are_the_unweighted_algorithm_bit_for_bit() -> None:
    r = np.random.default_rng(1)
    for x in (r.standard_normal(5000).astype(np.float32), r.laplace(size=3001), r.integers(-40, 40, 999) / 7.0):
        for k in (1, 3, 16, 64):
            a = kmeans_1d(x, k)
            for w in (np.ones(x.size), np.full(x.size, 4.0)):  # power-of-two constants rescale exactly
                b = kmeans_1d(x, k, sample_weight=w)
                assert np.array_equal(a.centroids, b.centroids) and np.array_equal(a.labels, b.labels)
                assert b.n_iter == a.n_iter and np.isclose(b.inertia, a.inertia * w[0], rtol=1e-12)


def test_weights_are_checked() -> None:
    x = np.arange(10.0)
    for bad in (np.ones(9), np.r_[np.ones(9), 0.0], np.r_[np.ones(9), np.nan], np.r_[np.ones(9), -1.0]):
        with pytest.raises(ValueError):
            kmeans_1d(x, 3, sample_weight=bad)


def test_importance_pruning_against_brute_force() -> None:
    r = np.random.default_rng(4)
    w = r.standard_normal((24, 40)).astype(np.float32)
    w[r.random(w.shape) < 0.1] = 0
    imp = r.gamma(0.3, size=(1, 40))
    imp[0, :3] = 0.0
    for d in (0.05, 0.3, 0.5, 0.85, 1.0):
        keep = prune_by_importance(w, d, imp)
        score = np.abs(w.astype(np.float64)) * np.sqrt(np.broadcast_to(imp, w.shape))
        flat = score.ravel()
        n = min(int(np.floor(d * w.size + 0.5)), int(np.count_nonzero(w)))
        order = sorted(np.flatnonzero(w.ravel() != 0), key=lambda i: (-flat[i], i))  # ties to the lower index
        want = np.zeros(w.size, bool)
        want[order[:n]] = True
        assert np.array_equal(keep.ravel(), want), d
    # a constant importance is magnitude pruning
    assert np.array_equal(prune_by_importance(w, 0.3, np.full((1, 40), 2.5)), prune_to_density(w, 0.3))


@pytest.mark.parametrize("prune_by,kw", [("importance", "importance"), ("magnitude", "importance"),
                                         ("importance", "none")])
def test_encoder_with_importance_is_what_reconstruct_predicts(prune_by: str, kw: str) -> None:
    r = np.random.default_rng(6)
    w = {"fc.weight": (r.standard_normal((40, 64)) / 8).astype(np.float32),
         "conv.weight": (r.standard_normal((8, 4, 3, 3)) / 5).astype(np.float32)}
    imp = {"fc.weight": r.gamma(0.4, size=(1, 64)), "conv.weight": r.gamma(0.4, size=(1, 4, 1, 1))}
    for d, q in ((0.4, 3), (None, 4), (0.8, 5)):
        cfg = CompressionConfig(density=d, code_bits=q, prune_by=prune_by, kmeans_weights=kw, importance=imp)
        stored = dcformat.decode(dcformat.encode(w, config=cfg))
        plain = dcformat.decode(dcformat.encode(w, config=CompressionConfig(density=d, code_bits=q)))
        for name, a in w.items():
            cand = Candidate(d, q, 5, 0, 0.0)
            assert np.array_equal(stored[name], reconstruct(a, cand, importance=imp[name], prune_by=prune_by,
                                                            kmeans_weights=kw)), (name, d, q)
            werr = lambda s: float(np.sum(np.broadcast_to(imp[name], a.shape) * (a - s) ** 2))  # noqa: E731
            if d is not None or kw == "importance":
                assert werr(stored[name]) < werr(plain[name])  # the weighted error is what it lowers
            else:  # importance pruning without pruning: the plain encoder's result
                assert np.array_equal(stored[name], plain[name])


def test_scan_uses_the_weighted_error_of_what_the_codec_stores() -> None:
    r = np.random.default_rng(7)
    a = (r.standard_normal((32, 48)) / 6).astype(np.float32)
    imp = r.gamma(0.5, size=(1, 48))
    curve = tensor_curve(a, densities=(None, 0.5), code_bits=(2, 4), importance=imp, prune_by="importance",
                         kmeans_weights="importance", sample=1 << 20)
    full = np.broadcast_to(imp, a.shape).astype(np.float64)
    for c in curve:
        if c.encoding == "raw":
            continue
        cfg = CompressionConfig(overrides={"*": {**c.settings(), "prune_by": "importance",
                                                 "kmeans_weights": "importance"}}, importance={"w": imp})
        s = dcformat.decode(dcformat.encode({"w": a}, config=cfg))["w"].astype(np.float64)
        err = float(np.sum(full * (a - s) ** 2) / np.sum(full * a.astype(np.float64) ** 2))
        assert np.isclose(c.error, err, rtol=1e-6), c


def test_importance_is_required_where_a_setting_uses_it() -> None:
    w = {"w": np.ones((4, 4), np.float32) * np.arange(16, dtype=np.float32).reshape(4, 4)}
    with pytest.raises(ValueError, match="importance"):
        dcformat.encode(w, config=CompressionConfig(density=0.5, code_bits=2, prune_by="importance"))
    with pytest.raises(ValueError, match="broadcast"):
        dcformat.encode(w, config=CompressionConfig(code_bits=2, kmeans_weights="importance",
                                                    importance={"w": np.ones((1, 3))}))


def test_graph_importance_is_the_second_moment_of_each_layers_input() -> None:
    """Against activations computed here with NumPy from the same weights (lenet_5: conv, conv, linear...)."""
    from dcformat.budget.importance import graph_importance, weight_inputs
    from dcformat.models import lenet_5

    graph, tensors = lenet_5(seed=3)
    x = np.random.default_rng(0).standard_normal((20, 1, 28, 28)).astype(np.float32)
    imp = graph_importance(graph, tensors, {graph.inputs[0].name: x}, batch=7)
    targets = weight_inputs(graph, tensors)
    assert set(imp) == set(targets) and len(imp) >= 3
    from dcformat.inference import Model

    first_conv = next(n for n in graph.nodes if n.op == "Conv2d")
    assert first_conv.inputs[0] == graph.inputs[0].name  # its input is the image itself
    w0 = first_conv.inputs[1]
    assert np.allclose(imp[w0].ravel(), np.mean(x.astype(np.float64) ** 2, axis=(0, 2, 3)))
    assert imp[w0].shape == (1, tensors[w0].shape[1], 1, 1)
    # the last Linear: its input is what a truncated graph outputs
    from dcformat.graph.core import Graph, ValueInfo

    lin = [n for n in graph.nodes if n.op == "Linear"][-1]
    cut = Graph(graph.inputs, [ValueInfo(lin.inputs[0], (None, None))], graph.nodes)
    feat = Model.from_graph(cut, tensors).run({graph.inputs[0].name: x})[lin.inputs[0]].astype(np.float64)
    assert np.allclose(imp[lin.inputs[1]], np.mean(feat ** 2, axis=0)[None, :], rtol=1e-4, atol=1e-9)  # float32 runs


def test_graph_hessians_are_the_second_moment_matrix_of_each_linear_input() -> None:
    """E[x xᵀ] of each Linear's input against the activations of a truncated graph; convolutions get none;
    the importance of the same pass is graph_importance's, bit for bit."""
    from dcformat.budget.importance import graph_hessians, graph_importance, graph_statistics
    from dcformat.graph.core import Graph, ValueInfo
    from dcformat.inference import Model
    from dcformat.models import lenet_5

    graph, tensors = lenet_5(seed=4)
    x = np.random.default_rng(1).standard_normal((19, 1, 28, 28)).astype(np.float32)
    feeds = {graph.inputs[0].name: x}
    assert graph_hessians(graph, tensors, feeds, batch=5) == {}  # 19 rows for 800 / 500 inputs: rank-deficient
    hess = graph_hessians(graph, tensors, feeds, batch=5, min_rows_per_input=0)
    linears = [n for n in graph.nodes if n.op == "Linear"]
    assert set(hess) == {n.inputs[1] for n in linears} and len(hess) >= 2
    for lin in linears:
        cut = Graph(graph.inputs, [ValueInfo(lin.inputs[0], (None, None))], graph.nodes)
        feat = Model.from_graph(cut, tensors).run(feeds)[lin.inputs[0]].astype(np.float64)
        h = hess[lin.inputs[1]]
        assert h.shape == (tensors[lin.inputs[1]].shape[1],) * 2
        assert np.allclose(h, feat.T @ feat / len(feat), rtol=1e-4, atol=1e-6 * float(h.max()))  # float32 runs
    imp, hess2 = graph_statistics(graph, tensors, feeds, batch=5, hessians=True, min_rows_per_input=0)
    ref = graph_importance(graph, tensors, feeds, batch=5)
    assert set(imp) == set(ref) and all(np.array_equal(imp[k], ref[k]) for k in ref)
    assert all(np.array_equal(hess[k], hess2[k]) for k in hess)


def test_grouped_conv_importance_maps_each_output_to_its_groups_channels() -> None:
    from dcformat.budget.importance import activation_importance

    x = np.random.default_rng(1).standard_normal((3, 6, 5, 5))
    m = np.mean(x ** 2, axis=(0, 2, 3))
    dw = activation_importance("Conv2d", x, (6, 1, 3, 3), groups=6)  # depthwise
    assert np.allclose(dw.ravel(), m)
    g2 = activation_importance("Conv2d", x, (4, 3, 1, 1), groups=2)  # outputs 0,1 read 0..2; 2,3 read 3..5
    assert np.allclose(g2[:, :, 0, 0], np.stack([m[:3], m[:3], m[3:], m[3:]]))


# ----------------------------------------------------------------------------- GPTQ-style rounding to the codebook


def _textbook_gptq(w: np.ndarray, cb: np.ndarray, h: np.ndarray, damp: float = 0.1) -> np.ndarray:
    """GPTQ as the paper writes it (one column at a time, full inverse, no blocking), to a fixed codebook."""
    w = w.astype(np.float64).copy()
    n = h.shape[0]
    hd = h + damp * np.mean(np.diag(h)) * np.eye(n)
    u = np.linalg.cholesky(np.linalg.inv(hd)).T
    lab = np.zeros(w.shape, np.int64)
    for j in range(n):
        lab[:, j] = np.argmin(np.abs(w[:, j][:, None] - cb[None, :]), axis=1)
        e = (w[:, j] - cb[lab[:, j]]) / u[j, j]
        w[:, j + 1:] -= np.outer(e, u[j, j + 1:])
    return lab


def _correlated_inputs(r, n: int, cols: int) -> np.ndarray:
    x = r.standard_normal((n, cols)) @ (np.eye(cols) + 0.3 * r.standard_normal((cols, cols)))
    x[:, :3] *= 6  # a few large input channels
    return x


def test_gptq_labels_match_the_textbook_algorithm() -> None:
    from dcformat.quantize.gptq import compensated_labels

    r = np.random.default_rng(11)
    w = r.standard_normal((30, 200))  # 200 columns: more than one block of lazy updates
    x = _correlated_inputs(r, 400, 200)
    h = x.T @ x / 400
    cb = np.sort(r.standard_normal(8))
    ours = compensated_labels(w, np.ones(w.shape, bool), cb, h)
    assert np.mean(ours == _textbook_gptq(w, cb, h)) > 0.999  # equal up to rounding-level ties
    # with uncorrelated unit inputs nothing is compensated: nearest-centroid labels
    assert np.array_equal(compensated_labels(w, np.ones(w.shape, bool), cb, np.eye(200)),
                          np.argmin(np.abs(w[:, :, None] - cb[None, None, :]), axis=2))


def test_gptq_encoding_lowers_output_error_and_is_what_reconstruct_and_scan_predict() -> None:
    from dcformat.budget.scan import hessian_error

    r = np.random.default_rng(12)
    a = (r.standard_normal((48, 64)) / 6).astype(np.float32)
    x = _correlated_inputs(r, 600, 64)
    h = x.T @ x / 600
    curve = tensor_curve(a, densities=(None, 0.5), code_bits=(2, 3, 4), hessian=h, rounding="gptq", sample=1 << 20)
    for c in curve:
        if c.encoding == "raw":
            continue
        cfg = CompressionConfig(overrides={"*": {**c.settings(), "rounding": "gptq"}}, hessian={"w": h})
        stored = dcformat.decode(dcformat.encode({"w": a}, config=cfg))["w"]
        assert np.array_equal(stored, reconstruct(a, c, hessian=h, rounding="gptq")), c
        assert np.isclose(c.error, hessian_error(a, stored, h), rtol=1e-9), c
        plain = dcformat.decode(dcformat.encode({"w": a}, config=CompressionConfig(overrides={"*": c.settings()})))["w"]
        out = lambda s: float(np.sum((x @ (a - s).T.astype(np.float64)) ** 2))  # noqa: E731
        assert out(stored) < out(plain), c  # the output error on the calibration inputs is what it lowers


def test_gptq_needs_a_matching_hessian() -> None:
    a = {"w": np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)}
    with pytest.raises(ValueError, match="hessian"):
        dcformat.encode(a, config=CompressionConfig(code_bits=2, rounding="gptq"))
    with pytest.raises(ValueError, match="input columns"):
        dcformat.encode(a, config=CompressionConfig(code_bits=2, rounding="gptq", hessian={"w": np.eye(5)}))


def test_output_plan_with_hessians_holds_on_held_out_and_is_deterministic() -> None:
    from dcformat.budget import plan_compression

    r = np.random.default_rng(13)
    w = {"a": (r.standard_normal((64, 32)) / 6).astype(np.float32),
         "b": (r.standard_normal((16, 64)) / 8).astype(np.float32)}
    x = _correlated_inputs(r, 600, 32).astype(np.float32) / 3
    calib, held = x[:200], x[200:]

    def fwd(t, xx):
        return np.tanh(xx @ t["a"].T) @ t["b"].T

    hid = np.tanh(calib @ w["a"].T).astype(np.float64)
    hess = {"a": calib.T.astype(np.float64) @ calib / len(calib), "b": hid.T @ hid / len(hid)}

    def plan():
        return plan_compression(w, target_output=0.995, forward=lambda t: [fwd(t, calib)], hessian=hess)

    p1, p2 = plan(), plan()
    b1 = dcformat.encode(w, config=p1.config)
    assert b1 == dcformat.encode(w, config=p2.config)
    assert any(v.get("rounding") == "gptq" for v in p1.config.overrides.values())
    stored = dcformat.decode(b1)
    ref, got = fwd(w, held), fwd(stored, held)
    cos = np.sum(ref * got, 1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    assert float(np.mean(cos)) >= 0.995


def test_graph_hessians_of_pointwise_convolutions_are_the_per_pixel_channel_second_moments() -> None:
    """A 1x1 convolution is a Linear at every pixel: its Hessian is E[x xᵀ] over (image, pixel) rows of its
    input channels, against the activations of a truncated graph; kxk and depthwise convolutions get none."""
    from dcformat.budget.importance import graph_hessians
    from dcformat.graph.core import Graph, ValueInfo
    from dcformat.inference import Model
    from dcformat.models import mobilenet_v1

    graph, tensors = mobilenet_v1(seed=3, alpha=0.25, num_classes=10, image_size=32)
    x = np.random.default_rng(2).standard_normal((5, 3, 32, 32)).astype(np.float32)
    feeds = {graph.inputs[0].name: x}
    assert set(graph_hessians(graph, tensors, feeds, batch=2, min_rows_per_input=0)) == {
        n.inputs[1] for n in graph.nodes if n.op == "Linear"}  # convolutions are opt-in
    hess = graph_hessians(graph, tensors, feeds, batch=2, pointwise=True)
    convs = [n for n in graph.nodes if n.op == "Conv2d"]
    pointwise = [n for n in convs if tensors[n.inputs[1]].shape[2:] == (1, 1) and int(n.attrs.get("groups", 1)) == 1]
    assert pointwise and len(pointwise) < len(convs)
    # every 1x1 conv whose input had at least as many pixel rows as channels; the rest (the last block's 1x1
    # input is 1x1 pixels x 5 images < 256 channels) keep nearest rounding
    enough = {n.inputs[1] for n in pointwise if 5 * int(np.prod(
        Model.from_graph(Graph(graph.inputs, [ValueInfo(n.inputs[0], (None,) * 4)], graph.nodes), tensors)
        .run(feeds)[n.inputs[0]].shape[2:])) >= tensors[n.inputs[1]].shape[1]}
    assert set(hess) - {n.inputs[1] for n in graph.nodes if n.op == "Linear"} == enough and enough
    for n in pointwise[:3]:
        cut = Graph(graph.inputs, [ValueInfo(n.inputs[0], (None,) * 4)], graph.nodes)
        act = Model.from_graph(cut, tensors).run(feeds)[n.inputs[0]].astype(np.float64)
        rows = act.transpose(0, 2, 3, 1).reshape(-1, act.shape[1])
        h = hess[n.inputs[1]]
        assert np.allclose(h, rows.T @ rows / len(rows), rtol=1e-4, atol=1e-6 * float(h.max()))


def test_gptq_on_a_pointwise_convolution_is_gptq_on_its_matrix() -> None:
    """A (out, in, 1, 1) kernel with rounding="gptq" stores what the same weights as a (out, in) Linear store
    (the textbook algorithm's labels), lowers the convolution's output error over the calibration pixels
    (torch's conv2d as the oracle for the output), and is what reconstruct and the scan predict."""
    import torch

    from dcformat.budget.scan import hessian_error

    r = np.random.default_rng(21)
    a = (r.standard_normal((24, 40, 1, 1)) / 6).astype(np.float32)
    img = r.standard_normal((6, 40, 7, 7)) * np.concatenate([np.full(3, 5.0), np.ones(37)])[None, :, None, None]
    rows = img.transpose(0, 2, 3, 1).reshape(-1, 40)
    h = rows.T @ rows / len(rows)
    for c in tensor_curve(a, densities=(None, 0.6), code_bits=(2, 3), hessian=h, rounding="gptq"):
        if c.encoding == "raw":
            continue
        settings = {**c.settings(), "rounding": "gptq"}
        conv = dcformat.decode(dcformat.encode({"w": a}, config=CompressionConfig(
            overrides={"*": settings}, hessian={"w": h})))["w"]
        mat = dcformat.decode(dcformat.encode({"w": a[:, :, 0, 0]}, config=CompressionConfig(
            overrides={"*": settings}, hessian={"w": h})))["w"]
        assert conv.shape == a.shape and np.array_equal(conv[:, :, 0, 0], mat), c
        assert np.array_equal(conv, reconstruct(a, c, hessian=h, rounding="gptq")), c
        assert np.isclose(c.error, hessian_error(a, conv, h), rtol=1e-9), c
        if c.density is None:  # no pruning: the labels are the textbook GPTQ's against the stored codebook
            cb = np.unique(conv)
            lab = _textbook_gptq(a[:, :, 0, 0].astype(np.float64), cb.astype(np.float64), h)
            assert np.mean(cb[lab] == conv[:, :, 0, 0]) > 0.999
        plain = dcformat.decode(dcformat.encode({"w": a}, config=CompressionConfig(overrides={"*": c.settings()})))["w"]
        x = torch.from_numpy(img)

        def out_err(s: np.ndarray) -> float:
            d = torch.nn.functional.conv2d(x, torch.from_numpy((a - s).astype(np.float64)))
            return float((d ** 2).sum())

        assert out_err(conv) < out_err(plain), c
