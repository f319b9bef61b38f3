"""The authors' legacy files: prototxt parsing, Caffe shapes, the .net reader, lossless conversion.

The oracle for the .net layout is a second reader/writer written here in a
different style (plain Python ints, one entry at a time), following PAPER.md
§2.1 rather than our module. Tests on the released SqueezeNet file skip when
the shared data directory is absent.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dcformat
from dcformat.errors import (
    BitstreamError,
    CodebookError,
    FormatError,
    SparseIndexError,
    TrailingDataError,
    UnsupportedFeatureError,
)
from dcformat.legacy.caffe import parse_net, pool_output
from dcformat.legacy.convert import glob_escape, load_legacy
from dcformat.legacy.prototxt import PrototxtError, parse
from dcformat.legacy.songhan import LegacySpec, legacy_specs, read_songhan

SHARED = Path(__file__).parents[1].parent / "shared"
SQUEEZE = SHARED / "data" / "songhan-squeezenet"
NET = SQUEEZE / "compressed_SqueezeNet.net"
PROTO = SQUEEZE / "SqueezeNet_deploy.prototxt"
RELEASED_BYTES = 675_763
needs_shared = pytest.mark.skipif(not NET.exists() or not PROTO.exists(), reason="../shared/data/songhan-squeezenet absent")


# ---------------------------------------------------------------- the independent oracle


def oracle_read(data: bytes, layers: list[tuple[str, int, int]]) -> list[dict]:
    """PAPER.md §2.1, entry by entry: layers are (name, numel, bias_size)."""
    nz_num = [int.from_bytes(data[4 * i : 4 * i + 4], "little") for i in range(len(layers))]
    at = 4 * len(layers)
    out = []
    for (name, numel, bias_size), nz in zip(layers, nz_num):
        bits = 8 if "conv" in name else 4
        codebook = [struct.unpack("<f", data[at + 4 * i : at + 4 * i + 4])[0] for i in range(2**bits)]
        at += 4 * 2**bits
        bias = [struct.unpack("<f", data[at + 4 * i : at + 4 * i + 4])[0] for i in range(bias_size)]
        at += 4 * bias_size
        if bits == 8:
            codes = list(data[at : at + nz])
            at += nz
        else:
            codes = []
            for i in range(nz):
                byte = data[at + i // 2]
                codes.append(byte % 16 if i % 2 == 0 else byte // 16)
            at += (nz + 1) // 2
        stored = []
        for i in range(nz):
            byte = data[at + i // 2]
            stored.append(byte % 16 if i % 2 == 0 else byte // 16)
        at += (nz + 1) // 2
        positions, p = [], -1
        for s in stored:
            p += s + 1
            positions.append(p)
        weights = [codebook[0]] * numel
        for pos, c in zip(positions, codes):
            weights[pos] = codebook[c]
        out.append({"name": name, "codebook": codebook, "bias": bias, "codes": codes, "stored": stored,
                    "positions": positions, "weights": weights})
    assert at == len(data), "oracle: file not consumed exactly"
    return out


def oracle_write(layers: list[dict]) -> bytes:
    """Build a .net file from {name, codebook, bias, codes, stored} dicts."""
    out = bytearray()
    for layer in layers:
        out += len(layer["codes"]).to_bytes(4, "little")
    for layer in layers:
        bits = 8 if "conv" in layer["name"] else 4
        for v in layer["codebook"]:
            out += struct.pack("<f", v)
        for v in layer["bias"]:
            out += struct.pack("<f", v)
        streams = [layer["stored"]] if bits == 8 else [layer["codes"], layer["stored"]]
        if bits == 8:
            out += bytes(layer["codes"])
        for stream in streams:
            for i in range(0, len(stream), 2):
                lo = stream[i]
                hi = stream[i + 1] if i + 1 < len(stream) else 0
                out.append(lo + 16 * hi)
    return bytes(out)


def random_layer(rng: np.random.Generator, name: str, numel: int, bias: int, n: int) -> dict:
    bits = 8 if "conv" in name else 4
    codebook = [0.0] + sorted(float(np.float32(x)) for x in rng.standard_normal(2**bits - 1))
    stored, codes, pos = [], [], -1
    while len(stored) < n:
        s = int(rng.integers(0, 16))
        if pos + s + 1 >= numel:
            break
        pos += s + 1
        stored.append(s)
        codes.append(0 if (s == 15 and rng.random() < 0.5) else int(rng.integers(1, 2**bits)))
    return {"name": name, "codebook": codebook, "bias": [float(np.float32(x)) for x in rng.standard_normal(bias)],
            "codes": codes, "stored": stored}


SPECS = [LegacySpec("conv1", (4, 3, 3, 3), 4, 8), LegacySpec("fc6", (10, 27), 10, 4), LegacySpec("ip2", (3, 10), 3, 4)]


def synthetic(seed: int = 0, counts: tuple[int, ...] = (21, 37, 0)) -> tuple[bytes, list[dict]]:
    rng = np.random.default_rng(seed)
    layers = [random_layer(rng, s.name, math.prod(s.weight_shape), s.bias_size, n) for s, n in zip(SPECS, counts)]
    return oracle_write(layers), layers


# ---------------------------------------------------------------- .net reader vs oracle


@pytest.mark.parametrize("seed", range(5))
def test_reader_matches_oracle_on_synthetic_files(seed: int) -> None:
    data, layers = synthetic(seed, counts=(21 + seed, 37 + 2 * seed, seed))  # odd and even entry counts
    ours = read_songhan(data, SPECS)
    ref = oracle_read(data, [(s.name, math.prod(s.weight_shape), s.bias_size) for s in SPECS])
    for got, want, made in zip(ours, ref, layers):
        assert got.codes.tolist() == want["codes"] == made["codes"]
        assert got.positions.tolist() == want["positions"]
        assert got.bias.tolist() == want["bias"]
        np.testing.assert_array_equal(got.dense().ravel(), np.array(want["weights"], np.float32))
        assert got.n_fillers == want["codes"].count(0)


def test_truncation_anywhere_is_a_format_error() -> None:
    data, _ = synthetic(1)
    for k in range(len(data)):
        with pytest.raises(FormatError):
            read_songhan(data[:k], SPECS)


def test_trailing_bytes_rejected() -> None:
    data, _ = synthetic(2)
    with pytest.raises(TrailingDataError):
        read_songhan(data + b"\0", SPECS)


def test_nonzero_unused_nibble_rejected() -> None:
    # an odd number of conv1 entries leaves the last index byte's high nibble unused
    data, layers = next((d, l) for d, l in (synthetic(seed) for seed in range(100)) if len(l[0]["codes"]) % 2)
    n = len(layers[0]["codes"])
    end_of_conv_index = 4 * 3 + 4 * 256 + 4 * 4 + n + (n + 1) // 2
    read_songhan(data, SPECS)  # intact
    bad = bytearray(data)
    bad[end_of_conv_index - 1] |= 0xF0
    with pytest.raises(BitstreamError):
        read_songhan(bytes(bad), SPECS)


def test_positions_past_layer_end_rejected() -> None:
    spec = [LegacySpec("fc", (2, 3), 0, 4)]
    # 3 entries with gap 15 each -> position 47 in a 6-weight layer
    data = struct.pack("<I", 3) + struct.pack("<16f", *([0.0] + [1.0] * 15)) + bytes([0x11, 0x01]) + bytes([0xFF, 0x0F])
    with pytest.raises(SparseIndexError):
        read_songhan(data, spec)
    with pytest.raises(SparseIndexError):  # more entries than weights
        read_songhan(struct.pack("<I", 7) + bytes(200), spec)


def test_nonfinite_codebook_rejected() -> None:
    spec = [LegacySpec("fc", (2, 3), 0, 4)]
    data = struct.pack("<I", 1) + struct.pack("<16f", 0.0, float("nan"), *([1.0] * 14)) + bytes([0x01]) + bytes([0x00])
    with pytest.raises(CodebookError):
        read_songhan(data, spec)


def test_random_bytes_never_raise_foreign_errors() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        blob = rng.integers(0, 256, int(rng.integers(0, 1400)), dtype=np.uint8).tobytes()
        try:
            read_songhan(blob, SPECS)
        except FormatError:
            pass


# ---------------------------------------------------------------- prototxt and Caffe shapes


def test_prototxt_syntax() -> None:
    m = parse('name: "n" # comment\nlayer { name: \'a\\tb\' "c" dim: [1, 2] pool: MAX x: -1.5e3 y: 0x1F on: true }\n'
              "layer < k: 3; k: 4 >")
    assert m.get("name") == "n"
    first, second = m.messages("layer")
    assert first.get("name") == "a\tbc"
    assert first.get_all("dim") == [1, 2]
    assert first.get("pool") == "MAX" and first.get("x") == -1500.0 and first.get("y") == 31 and first.get("on") is True
    assert second.get_all("k") == [3, 4]


@pytest.mark.parametrize("text", ["a {", "a }", "a: ", "a b", 'a: "unterminated', "a: {", "{", "a: @", "a { b: 1 >",
                                  "a: [1, 2", "x " + "{ y " * 40 + "}" * 40])
def test_prototxt_errors(text: str) -> None:
    with pytest.raises(PrototxtError):
        parse(text)


def test_caffe_pool_size_matches_caffe_formula() -> None:
    # Caffe: pooled = ceil((size + 2*pad - kernel) / stride) + 1, minus one if the last window starts in the padding.
    for size in range(3, 40):
        for kernel in (2, 3, 5):
            for stride in (1, 2, 3):
                for pad in (0, 1):
                    if kernel > size:
                        continue
                    want = int(math.ceil((size + 2 * pad - kernel) / stride)) + 1
                    if pad and (want - 1) * stride >= size + pad:
                        want -= 1
                    assert pool_output(size, kernel, stride, pad) == want


ALEXNET_LIKE = """
name: "tiny"
input: "data"
input_shape { dim: 1 dim: 3 dim: 32 dim: 32 }
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 5 stride: 1 pad: 2 group: 1 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layers { name: "conv2" type: CONVOLUTION bottom: "pool1" top: "conv2"
  convolution_param { num_output: 4 kernel_h: 3 kernel_w: 1 group: 2 bias_term: false } }
layers { name: "fc6" type: INNER_PRODUCT bottom: "conv2" top: "fc6" inner_product_param { num_output: 10 } }
layers { name: "prob" type: SOFTMAX bottom: "fc6" top: "prob" }
"""


def test_caffe_shapes_v1_syntax() -> None:
    net = parse_net(ALEXNET_LIKE)
    assert net.shapes["conv1"] == (1, 8, 32, 32)
    assert net.shapes["pool1"] == (1, 8, 16, 16)  # ceil((32-3)/2)+1 = 16
    assert net.shapes["conv2"] == (1, 4, 14, 16)
    assert [(p.layer, p.weight, p.bias) for p in net.params] == [
        ("conv1", (8, 3, 5, 5), (8,)), ("conv2", (4, 4, 3, 1), None), ("fc6", (10, 4 * 14 * 16), (10,))]
    assert [(s.name, s.code_bits, s.bias_size) for s in legacy_specs(net)] == [("conv1", 8, 8), ("conv2", 8, 0), ("fc6", 4, 10)]


def test_caffe_unknown_layer_is_clear() -> None:
    with pytest.raises(UnsupportedFeatureError, match="Deconvolution"):
        parse_net('input: "d" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4 '
                  'layer { name: "x" type: "Deconvolution" bottom: "d" top: "x" }')
    with pytest.raises(PrototxtError, match="not produced"):
        parse_net('input: "d" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4 '
                  'layer { name: "x" type: "ReLU" bottom: "nope" top: "x" }')


def test_glob_escape_matches_only_itself() -> None:
    import fnmatch

    for name in ["a[1].weight", "x*y?", "fire2/conv1x1_1.weight"]:
        pat = glob_escape(name)
        assert fnmatch.fnmatchcase(name, pat)
        assert not fnmatch.fnmatchcase(name + "x", pat)


# ---------------------------------------------------------------- the released SqueezeNet file


@needs_shared
def test_released_squeezenet_facts() -> None:
    model = load_legacy(NET, PROTO)
    assert len(model.layers) == 26
    assert sum(l.codes.size for l in model.layers) == 422_083  # PAPER.md §2.2
    assert sum(math.prod(l.spec.weight_shape) for l in model.layers) == 1_244_448
    for l in model.layers:
        assert l.codebook[0] == 0.0 and not np.signbit(l.codebook[0])
        assert (l.gaps[l.codes == 0] == 15).all()  # every filler is a maximum stride


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not NET.exists() or not PROTO.exists():
        pytest.skip("../shared/data/songhan-squeezenet absent")
    out = tmp_path_factory.mktemp("legacy") / "squeezenet.dc"
    proc = subprocess.run(
        [sys.executable, "-m", "dcformat", "pack", "--legacy-prototxt", str(PROTO), str(NET), "-o", str(out)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    return out


@needs_shared
def test_released_squeezenet_converts_losslessly(converted: Path) -> None:
    out = converted
    data = NET.read_bytes()
    net = parse_net(PROTO.read_bytes())
    layout = [(s.name, math.prod(s.weight_shape), s.bias_size) for s in legacy_specs(net)]
    ref = oracle_read(data, layout)
    with dcformat.open(out) as f:
        assert f.graph is not None
        for want, spec in zip(ref, legacy_specs(net)):
            w = f.tensor(f"{want['name']}.weight")
            expect = np.array(want["weights"], dtype=np.float32).reshape(spec.weight_shape)
            assert w.dtype == np.float32
            assert np.array_equal(w.view(np.uint32), expect.view(np.uint32))  # bit for bit
            np.testing.assert_array_equal(f.tensor(f"{want['name']}.bias"), np.array(want["bias"], np.float32))
            # same positions: the non-filler entries are exactly the stored nonzeros
            indptr, indices, values = f.csr(f"{want['name']}.weight")
            cols = int(np.prod(spec.weight_shape[1:]))
            rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            real = [p for p, c in zip(want["positions"], want["codes"]) if c != 0 and want["codebook"][c] != 0.0]
            assert (rows * cols + indices).tolist() == real
            # same codebook: every value used by the legacy layer, and nothing else
            used = {want["codebook"][c] for c in want["codes"] if c != 0}
            assert set(np.float32(f.codebook(f"{want['name']}.weight")).tolist()) >= used
            assert set(values.tolist()) == used
    size = out.stat().st_size
    print(f"\nSqueezeNet: released .net {RELEASED_BYTES:,} bytes -> .dc {size:,} bytes "
          f"({100 * (1 - size / RELEASED_BYTES):.1f}% smaller)")
    assert size < RELEASED_BYTES


# ---------------------------------------------------------------- the graph carried from the prototxt


def _caffe_forward(proto: str, params: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """A small Caffe interpreter written from Caffe's definitions (not from dcformat's graph code)."""
    from numpy.lib.stride_tricks import sliding_window_view as windows

    msg = parse(proto)
    blobs = {str(msg.get("input")): x}
    for layer in msg.messages("layer"):
        t, name = layer.get("type"), layer.get("name")
        bottoms, top = [blobs[str(b)] for b in layer.get_all("bottom")], str(layer.get("top"))
        if t == "Convolution":
            p = layer.messages("convolution_param")[0]
            k, s, pad = p.get("kernel_size"), p.get("stride", 1), p.get("pad", 0)
            xp = np.pad(bottoms[0], ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            win = windows(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # N, C, OH, OW, k, k
            y = np.einsum("nchwij,ocij->nohw", win, params[f"{name}.weight"], optimize=True)
            blobs[top] = y + params[f"{name}.bias"][None, :, None, None]
        elif t == "ReLU":
            blobs[top] = np.maximum(bottoms[0], 0)
        elif t == "Pooling":
            p = layer.messages("pooling_param")[0]
            if p.get("global_pooling"):
                blobs[top] = bottoms[0].mean(axis=(2, 3), keepdims=True)
                continue
            assert str(p.get("pool")) == "MAX" and not p.get("pad")
            k, s = p.get("kernel_size"), p.get("stride")
            h, w = bottoms[0].shape[2:]
            oh, ow = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1  # Caffe rounds up
            xp = np.pad(bottoms[0], ((0, 0), (0, 0), (0, (oh - 1) * s + k - h), (0, (ow - 1) * s + k - w)),
                        constant_values=-np.inf)
            blobs[top] = windows(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))
        elif t == "LRN":  # Caffe's ACROSS_CHANNELS: scale = k + alpha/n * sum of squares over n channels
            p = layer.messages("lrn_param")[0]
            n_, alpha, beta, k = int(p.get("local_size", 5)), float(p.get("alpha", 1)), float(p.get("beta", 0.75)), float(p.get("k", 1))
            x_ = bottoms[0]
            c_n = x_.shape[1]
            scale = np.stack([k + alpha / n_ * (x_[:, max(0, c - n_ // 2): c + n_ // 2 + 1] ** 2).sum(axis=1)
                              for c in range(c_n)], axis=1)
            blobs[top] = x_ * scale ** -beta
        elif t == "Concat":
            blobs[top] = np.concatenate(bottoms, axis=1)
        elif t == "Dropout":
            blobs[top] = bottoms[0]
        else:
            raise AssertionError(f"test interpreter lacks {t}")
    return blobs


@needs_shared
def test_squeezenet_graph_computes_what_caffe_would(converted: Path) -> None:
    x = np.random.default_rng(0).standard_normal((1, 3, 227, 227)).astype(np.float32) * 30
    params = {k: v.astype(np.float64) for k, v in dcformat.load(converted).items()}
    want = _caffe_forward(PROTO.read_text(), params, x.astype(np.float64))["pool_final"]
    model = dcformat.Model.open(converted)
    (got,) = model.run({"data": x}).values()
    assert got.shape == want.shape == (1, 1000, 1, 1)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * float(np.abs(want).max()))
    assert int(got.argmax()) == int(want.argmax())


TINY_FIRE = """
name: "tiny_fire"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 12 input_dim: 12
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "e/conv1x1" type: "Convolution" bottom: "pool1" top: "e1" convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "e/conv3x3" type: "Convolution" bottom: "pool1" top: "e3" convolution_param { num_output: 3 kernel_size: 3 pad: 1 } }
layer { name: "cat" type: "Concat" bottom: "e1" bottom: "e3" top: "cat" }
layer { name: "drop" type: "Dropout" bottom: "cat" top: "cat" dropout_param { dropout_ratio: 0.5 } }
layer { name: "pool_final" type: "Pooling" bottom: "cat" top: "pool_final" pooling_param { pool: AVE global_pooling: true } }
"""


def _random_params(net, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded float32 weights and biases for every parameterised layer of a parsed Caffe net."""
    tensors = {}
    for p in net.params:
        tensors[f"{p.layer}.weight"] = rng.standard_normal(p.weight).astype(np.float32)
        tensors[f"{p.layer}.bias"] = rng.standard_normal(p.bias).astype(np.float32)
    return tensors


TINY_ALEX = """
name: "tiny_alex"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 13 input_dim: 13
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 6 kernel_size: 3 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1"
        lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
"""


def test_caffe_lrn_becomes_a_graph_lrn_that_computes_what_caffe_would() -> None:
    from dcformat.legacy.graph import caffe_graph

    net = parse_net(TINY_ALEX)
    rng = np.random.default_rng(6)
    tensors = _random_params(net, rng)
    graph = caffe_graph(net, list(tensors))
    (lrn,) = [n for n in graph.nodes if n.op == "LRN"]
    assert lrn.attrs == {"size": 3, "alpha": 0.5, "beta": 0.75, "bias": 2.0}
    x = rng.standard_normal((2, 3, 13, 13)).astype(np.float32)
    want = _caffe_forward(TINY_ALEX, {k: v.astype(np.float64) for k, v in tensors.items()}, x.astype(np.float64))
    (got,) = dcformat.Model.from_graph(graph, tensors).run({"data": x}).values()
    np.testing.assert_allclose(got, want["pool1"], rtol=1e-4, atol=1e-5)
    with pytest.raises(UnsupportedFeatureError, match="within channels"):
        caffe_graph(parse_net(TINY_ALEX.replace("k: 2 }", "k: 2 norm_region: WITHIN_CHANNEL }")), list(tensors))


def test_caffe_graph_matches_interpreter_with_ceil_pooling() -> None:
    """Even sizes, so Caffe's rounding-up pooling differs from rounding down (12 -> 6, not 5)."""
    from dcformat.legacy.graph import caffe_graph

    net = parse_net(TINY_FIRE)
    assert net.shapes["pool1"] == (1, 4, 6, 6)
    rng = np.random.default_rng(5)
    tensors = _random_params(net, rng)
    graph = caffe_graph(net, list(tensors))
    assert [v.name for v in graph.outputs] == ["pool_final"]
    x = rng.standard_normal((1, 3, 12, 12)).astype(np.float32)
    want = _caffe_forward(TINY_FIRE, {k: v.astype(np.float64) for k, v in tensors.items()}, x.astype(np.float64))
    (got,) = dcformat.Model.from_graph(graph, tensors).run({"data": x}).values()
    np.testing.assert_allclose(got, want["pool_final"], rtol=1e-4, atol=1e-5)
    # the graph survives the file round trip
    with dcformat.open(dcformat.encode(tensors, graph=graph, config=dcformat.CompressionConfig(encoding="raw"))) as f:
        assert f.graph == graph
