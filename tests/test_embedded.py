"""The embedded (second, independent) decoder against the library, the golden vectors and the manifest."""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dcformat
from dcformat import CompressionConfig, embedded
from dcformat.embedded import EmbeddedFormatError

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "spec" / "vectors"
INVALID = VALID / "invalid"
VALID_NAMES = sorted(p.name for p in VALID.glob("*.dcf"))
INVALID_MANIFEST = json.loads((INVALID / "manifest.json").read_text())


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_vector_same_as_library_and_expected(name: str) -> None:
    data = (VALID / name).read_bytes()
    got = embedded.decode_file(data)
    _same(got.tensors, dcformat.decode(data))
    with np.load(VALID / name.replace(".dcf", ".npz"), allow_pickle=False) as npz:
        _same(got.tensors, {k: npz[k] for k in npz.files})
    with dcformat.open(data) as f:
        assert got.metadata == f.metadata
        assert got.graph == f.graph_bytes


@pytest.mark.parametrize("name", sorted(INVALID_MANIFEST))
def test_invalid_vector_rejected_with_the_manifest_kind(name: str) -> None:
    info = INVALID_MANIFEST[name]
    with pytest.raises(EmbeddedFormatError) as caught:
        embedded.decode((INVALID / name).read_bytes())
    exc = caught.value
    assert exc.kind + "Error" == info["error"], str(exc)
    assert exc.kind in embedded.KINDS
    if "tensor" in info:
        assert exc.tensor == info["tensor"], str(exc)
    assert exc.offset is not None or exc.kind == "Limit", str(exc)


def test_error_type_is_its_own() -> None:
    assert not issubclass(EmbeddedFormatError, dcformat.FormatError)
    assert not issubclass(dcformat.FormatError, EmbeddedFormatError)


def test_imports_only_numpy_and_the_standard_library() -> None:
    tree = ast.parse((ROOT / "dcformat" / "embedded.py").read_text())
    top, lazy = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not (isinstance(node, ast.ImportFrom) and node.level), "relative import"
            (top if node in tree.body else lazy).update(n.split(".")[0] for n in names)
    assert lazy == {"zstandard"}
    assert "dcformat" not in top | lazy
    stdlib = set(sys.stdlib_module_names)
    assert {m for m in top if m not in stdlib} == {"numpy"}


def test_copied_file_works_without_dcformat_or_zstandard(tmp_path: Path) -> None:
    """What an app does: copy the file, import it standalone; zstandard only for zstd tensors."""
    shutil.copy(ROOT / "dcformat" / "embedded.py", tmp_path / "vendored_dc.py")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["dcformat"] = None      # importing it would fail
        sys.modules["zstandard"] = None
        # Drop the checkout itself (and the cwd entry) so only the copied file can be found;
        # keep site-packages, which may live inside the checkout (CI's venv does).
        sys.path = [{str(tmp_path)!r}] + [p for p in sys.path if p not in ("", {str(ROOT)!r})]
        import vendored_dc as dc
        t = dc.load({str(VALID / 'v-sparse-kmeans.dcf')!r})
        print(sorted(t), t["fc1.weight"].shape)
        try:
            dc.load({str(INVALID / 'x-cb-nan.dcf')!r})
        except dc.EmbeddedFormatError as exc:
            print(exc.kind)
        try:
            dc.load({str(VALID / 'v-raw-zstd.dcf')!r})
        except ImportError:
            print("zstd needs zstandard")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "['conv1.bias', 'conv1.weight', 'fc1.bias', 'fc1.weight'] (20, 72)",
        "Codebook",
        "zstd needs zstandard",
    ]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"huffman": False},
        {"encoding": "dense", "code_bits": 6},
        {"density": 0.02, "index_bits": 2, "code_bits": 3},
        {"encoding": "raw", "raw_compression": "zstd"},
    ],
)
def test_encoder_output_decodes_identically(settings: dict) -> None:
    rng = np.random.default_rng(len(repr(settings)))
    tensors = {
        "conv": (rng.standard_normal((16, 8, 3, 3)) * 0.1).astype(np.float32),
        "fc": (rng.standard_normal((300, 200)) * 0.05).astype(np.float32),
        "half": rng.standard_normal((64, 40)).astype(np.float16),
        "bias": rng.standard_normal(16).astype(np.float32),
        "empty": np.zeros((0, 7), np.float32),
    }
    data = dcformat.encode(tensors, config=CompressionConfig(**settings))
    _same(embedded.decode(data), dcformat.decode(data))


def _oracle_huffman(data: bytes, n: int, lengths: list[int]) -> list[int]:
    """Bit-by-bit canonical decoding (a third implementation, deliberately naive)."""
    used = sorted((ln, s) for s, ln in enumerate(lengths) if ln)
    table, code, prev = {}, -1, 0
    for ln, s in used:
        code = 0 if code < 0 else (code + 1) << (ln - prev)
        table[(code, ln)] = s
        prev = ln
    bits = "".join(f"{b:08b}" for b in data)
    out, acc, ln = [], 0, 0
    for ch in bits:
        acc, ln = (acc << 1) | int(ch), ln + 1
        if (acc, ln) in table:
            out.append(table[(acc, ln)])
            acc = ln = 0
            if len(out) == n:
                break
    return out


@pytest.mark.parametrize("chain_bits", [1, 7, 64, 1 << 20])
def test_huffman_chunked_chain_matches_a_naive_decoder(chain_bits: int, monkeypatch) -> None:
    """Chunk boundaries of the pointer-doubling decoder fall everywhere, including inside codewords."""
    monkeypatch.setattr(embedded, "_CHAIN_BITS", chain_bits)
    rng = np.random.default_rng(chain_bits)
    lengths = [3, 1, 0, 5, 5, 4, 0, 4, 4, 3]  # a complete code with a gap (symbols 2 and 6 unused)
    assert sum(2.0 ** -ln for ln in lengths if ln) == 1.0
    used = [s for s, ln in enumerate(lengths) if ln]
    syms = rng.choice(used, size=3000).tolist()
    table, code, prev = {}, -1, 0
    for ln, s in sorted((ln, s) for s, ln in enumerate(lengths) if ln):
        code = 0 if code < 0 else (code + 1) << (ln - prev)
        table[s] = format(code, f"0{ln}b")
        prev = ln
    bits = "".join(table[s] for s in syms)
    bits += "0" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    assert _oracle_huffman(data, len(syms), lengths) == syms
    got = embedded._huffman_symbols(np.frombuffer(data, np.uint8), len(syms), np.array(lengths), _raise)
    assert got.tolist() == syms
    with pytest.raises(EmbeddedFormatError):  # one symbol more than the data holds
        embedded._huffman_symbols(np.frombuffer(data, np.uint8), len(syms) + 8 * len(data), np.array(lengths), _raise)


def _raise(kind: str, message: str) -> EmbeddedFormatError:
    return EmbeddedFormatError(kind, message)


def test_fixed_symbols_match_python_bit_slicing() -> None:
    rng = np.random.default_rng(7)
    for width in range(1, 33):
        vals = rng.integers(0, 1 << width, size=257, dtype=np.uint64)
        bits = "".join(format(int(v), f"0{width}b") for v in vals)
        bits += "0" * (-len(bits) % 8)
        data = np.frombuffer(int(bits, 2).to_bytes(len(bits) // 8, "big"), np.uint8)
        assert embedded._fixed_symbols(data, vals.size, width).tolist() == vals.tolist(), width


def test_limits_reject_before_decoding() -> None:
    data = (VALID / "v-sparse-kmeans.dcf").read_bytes()
    for limits in (embedded.Limits(max_tensor_elements=100), embedded.Limits(max_tensor_bytes=100),
                   embedded.Limits(max_total_bytes=1000), embedded.Limits(max_tensors=3),
                   embedded.Limits(max_file_bytes=100), embedded.Limits(max_sections=3)):
        with pytest.raises(EmbeddedFormatError) as exc:
            embedded.decode(data, limits=limits)
        assert exc.value.kind == "Limit"


def test_accepts_bytes_like_inputs_and_paths(tmp_path: Path) -> None:
    data = (VALID / "v-meta.dcf").read_bytes()
    want = embedded.decode(data)
    _same(embedded.decode(bytearray(data)), want)
    _same(embedded.decode(memoryview(data)), want)
    path = tmp_path / "m.dc"
    path.write_bytes(data)
    _same(embedded.load(path), want)
    assert embedded.decode_file(data).metadata["unicode"] == "权重 ✓"


def test_json_nesting_depth_counts_arrays_and_objects() -> None:
    """64 nested containers are legal whatever they hold; 65 are not (both decoders)."""
    spec = importlib.util.spec_from_file_location("generate_invalid", INVALID / "generate_invalid.py")
    g = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(g)
    secs = g.base_sections()
    ok = b'{"a":' + b"[" * 63 + b"1" + b"]" * 63 + b"}"
    bad = b'{"a":' + b"[" * 64 + b"1" + b"]" * 64 + b"}"
    good_file = g.assemble([secs[0], (b"META", ok)] + secs[2:])
    bad_file = g.assemble([secs[0], (b"META", bad)] + secs[2:])
    assert embedded.decode_file(good_file).metadata == dcformat.open(good_file).metadata
    with pytest.raises(EmbeddedFormatError):
        embedded.decode(bad_file)
    with pytest.raises(dcformat.errors.MetadataError):
        dcformat.decode(bad_file)
