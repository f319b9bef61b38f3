"""Model-file I/O: safetensors, npz, PyTorch state dicts, safe output paths, format detection.

Oracles: the ``safetensors`` package and ``numpy.load`` read and write the
same files independently of our code; bf16 and hostile headers are built
byte by byte here.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcformat.errors import (
    FormatError,
    LayoutError,
    LimitError,
    MetadataError,
    TrailingDataError,
    TruncatedError,
    UnsupportedFeatureError,
)
from dcformat.io.npz import NpzReader, load_npz, save_npz
from dcformat.io.paths import check_unique, safe_join, safe_relpath
from dcformat.io.safetensors_io import SafetensorsReader, load_safetensors, save_safetensors
from dcformat.io.sources import detect_format, open_source

try:  # the reference implementation, used as an oracle only (our reader/writer do not need it)
    import safetensors.numpy as safetensors_numpy
except ImportError:  # pragma: no cover - depends on the environment
    safetensors_numpy = None
needs_reference = pytest.mark.skipif(safetensors_numpy is None, reason="safetensors package not installed")

RNG = np.random.default_rng(1234)
MIXED = {
    "w": RNG.standard_normal((3, 5)).astype(np.float32),
    "ids": np.arange(7, dtype=np.int64),
    "half": RNG.standard_normal(4).astype(np.float16),
    "dbl": RNG.standard_normal((2, 2)),
    "flag": np.array([True, False]),
    "u8": np.arange(5, dtype=np.uint8),
    "i16": np.arange(-3, 3, dtype=np.int16),
    "u32": np.arange(3, dtype=np.uint32),
    "scalar": np.array(2.5, dtype=np.float32),
    "empty": np.zeros((0, 4), np.float32),
    "naïve/name": np.ones(2, np.int8),
}


def _st_file(header: dict | bytes, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


# ---------------------------------------------------------------- safetensors


@needs_reference
def test_safetensors_writer_is_byte_identical_to_reference(tmp_path: Path) -> None:
    save_safetensors(tmp_path / "a.safetensors", MIXED, {"format": "pt"})
    assert (tmp_path / "a.safetensors").read_bytes() == safetensors_numpy.save(MIXED, metadata={"format": "pt"})


@needs_reference
def test_safetensors_reader_matches_reference_reader(tmp_path: Path) -> None:
    p = tmp_path / "ref.safetensors"
    safetensors_numpy.save_file(MIXED, str(p))
    ours = load_safetensors(p)
    ref = safetensors_numpy.load_file(str(p))
    assert set(ours) == set(ref)
    for k in ref:
        assert ours[k].dtype == ref[k].dtype and ours[k].shape == ref[k].shape
        np.testing.assert_array_equal(ours[k], ref[k])
    with SafetensorsReader(p) as r:
        assert r.spec("w") == ((3, 5), np.dtype(np.float32))


def test_bf16_is_widened_exactly(tmp_path: Path) -> None:
    # float32 values whose low 16 bits are zero are exactly representable in bf16.
    want = (RNG.standard_normal(6).astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
    bits = (want.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = {"b": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}}
    (tmp_path / "b.safetensors").write_bytes(_st_file(header, bits))
    with SafetensorsReader(tmp_path / "b.safetensors") as r:
        got = r.tensor("b")
        assert r.spec("b") == ((2, 3), np.dtype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want.reshape(2, 3))


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.mark.parametrize(
    "blob, error",
    [
        (b"\x01\x00", TruncatedError),  # shorter than the length field
        (struct.pack("<Q", 200_000_000) + b"{}", LimitError),  # header length over the cap
        (struct.pack("<Q", 50) + b"{}", TruncatedError),  # header length past the end
        (_st_file(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', bytes(8)), MetadataError),
        (_st_file(b'[1]'), MetadataError),  # must start with '{'
        (_st_file(b'{"a": nope}'), MetadataError),
        (_st_file(b'{"a":"\xff"}'), MetadataError),  # not UTF-8
        (_st_file(b'{"x": NaN}'), MetadataError),
        (_st_file(GOOD, bytes(4)), TruncatedError),  # data shorter than offsets
        (_st_file(GOOD, bytes(12)), TrailingDataError),  # bytes nobody owns (polyglot)
        (_st_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}}, bytes(12)), LayoutError),
        (_st_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)), LayoutError),  # hole
        (_st_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                   "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)), LayoutError),  # overlap
        (_st_file({"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)), UnsupportedFeatureError),
        (_st_file({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 0]}}), MetadataError),
        (_st_file({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, bytes(4)), MetadataError),
        (_st_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, bytes(4)), MetadataError),
        (_st_file({"__metadata__": {"k": 1}}), MetadataError),
        (_st_file({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}, bytes(4)), LayoutError),
    ],
)
def test_safetensors_rejects_bad_headers(tmp_path: Path, blob: bytes, error: type) -> None:
    p = tmp_path / "bad.safetensors"
    p.write_bytes(blob)
    with pytest.raises(error):
        SafetensorsReader(p)


def test_safetensors_truncation_anywhere_is_a_format_error(tmp_path: Path) -> None:
    p = tmp_path / "t.safetensors"
    save_safetensors(p, {"a": np.arange(6, dtype=np.float32), "b": np.ones(3, np.int16)})
    blob = p.read_bytes()
    for k in range(len(blob)):
        p.write_bytes(blob[:k])
        with pytest.raises(FormatError):
            with SafetensorsReader(p) as r:
                for name in r.keys():
                    r.tensor(name)


# ---------------------------------------------------------------- npz


def test_npz_round_trip_against_numpy(tmp_path: Path) -> None:
    tensors = dict(MIXED)
    tensors["fortran"] = np.asfortranarray(RNG.standard_normal((3, 4)))
    tensors["bigendian"] = np.arange(5, dtype=">i4")
    save_npz(tmp_path / "a.npz", tensors)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as ref:
        assert set(ref.files) == set(tensors)
        for k, v in tensors.items():
            np.testing.assert_array_equal(ref[k], v)
    ours = load_npz(tmp_path / "a.npz")
    for k, v in tensors.items():
        assert ours[k].shape == v.shape
        np.testing.assert_array_equal(ours[k], v)
    # numpy's own writer, our reader (compressed members too)
    np.savez_compressed(tmp_path / "b.npz", **{k.replace("/", "_"): v for k, v in tensors.items()})
    theirs = load_npz(tmp_path / "b.npz")
    for k, v in tensors.items():
        np.testing.assert_array_equal(theirs[k.replace("/", "_")], v)
    with NpzReader(tmp_path / "b.npz") as r:
        assert r.spec("fortran") == ((3, 4), np.dtype(np.float64))


def test_npz_writer_is_deterministic(tmp_path: Path) -> None:
    save_npz(tmp_path / "a.npz", MIXED)
    save_npz(tmp_path / "b.npz", MIXED, compress=False)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_npz_never_unpickles(tmp_path: Path) -> None:
    np.savez(tmp_path / "o.npz", a=np.array([1, "x", None], dtype=object))
    with pytest.raises(MetadataError, match="never unpickled"):
        load_npz(tmp_path / "o.npz")


def _npz_with_member(path: Path, member: str, payload: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, payload)


def test_npz_declared_shape_must_match_member_size(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10**9,)})
    _npz_with_member(tmp_path / "h.npz", "a.npy", buf.getvalue() + bytes(16))
    with pytest.raises(LayoutError):
        load_npz(tmp_path / "h.npz")


def test_npz_rejects_non_array_members_and_bad_zips(tmp_path: Path) -> None:
    _npz_with_member(tmp_path / "x.npz", "readme.txt", b"hi")
    with pytest.raises(MetadataError):
        NpzReader(tmp_path / "x.npz")
    (tmp_path / "y.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(FormatError):
        NpzReader(tmp_path / "y.npz")


# ---------------------------------------------------------------- paths

HOSTILE = ["../../etc/passwd", "/abs/path", "a/../../b", "..", ".", "", "a//b", "C:\\win", "x\x00y", "%2E%2E", "CON",
           "nul.txt", "ok/..", "dir/./f", "é/ü", "a b", "~/.ssh/id", "a\uff0f..\uff0fb", "\uff3c..", "x\u202ey"]


def test_ordinary_names_map_to_themselves() -> None:
    for name in ["encoder.layer.0.attention.self.query.weight", "fire2/conv1x1_1.weight", "conv1.bias", "fc-8_b+c"]:
        assert safe_relpath(name) == name


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_inside(tmp_path: Path, name: str) -> None:
    target = safe_join(tmp_path, name, ".npy")
    assert tmp_path.resolve() in target.parents
    rel = safe_relpath(name, ".npy")
    parts = rel.split("/")
    assert all(p not in ("", ".", "..") and "\\" not in p and ":" not in p and "\x00" not in p for p in parts)
    assert all(ord(c) < 128 or unicodedata.category(c)[0] in "LNM" for c in rel)


def test_mapping_is_injective_on_hostile_names() -> None:
    mapped = {safe_relpath(n) for n in HOSTILE}
    assert len(mapped) == len(HOSTILE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=2, max_size=6, unique=True))
def test_mapping_is_injective_and_confined(names: list[str]) -> None:
    paths = [safe_relpath(n) for n in names]
    assert len(set(paths)) == len(names)
    for p in paths:
        assert not p.startswith("/") and all(c not in ("", ".", "..") for c in p.split("/"))


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(MetadataError):
        safe_join(root, "link/f")


def test_file_directory_clash_is_refused() -> None:
    with pytest.raises(MetadataError):
        check_unique(["a.npy/b", "a"], ".npy")
    with pytest.raises(MetadataError, match="both a file and a directory"):
        check_unique(["A.npy/b", "a"], ".npy")  # one directory entry on a case-insensitive file system


@pytest.mark.parametrize("pair", [("fc.W", "fc.w"), ("caf\u00e9", "cafe\u0301"), ("Stra\u00dfe", "STRASSE")])
def test_names_that_one_file_system_would_merge_are_refused(pair: tuple[str, str]) -> None:
    with pytest.raises(MetadataError, match="letter case or Unicode form"):
        check_unique(list(pair), ".npy")


def test_distinct_names_pass_the_uniqueness_check() -> None:
    check_unique(["fc1.weight", "fc1.bias", "fc2/weight", "fc2/bias", "caf\u00e9.x"], ".npy")


# ---------------------------------------------------------------- format detection and sources


def test_detect_format(tmp_path: Path) -> None:
    save_npz(tmp_path / "m.bin.npz", {"a": np.ones(2)})
    save_safetensors(tmp_path / "m.weights", {"a": np.ones(2)})
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    assert detect_format(tmp_path / "m.bin.npz") == "npz"
    assert detect_format(tmp_path / "m.weights") == "safetensors"  # told by content, not suffix
    assert detect_format(tmp_path / "m.onnx") == "onnx"
    (tmp_path / "m.xyz").write_bytes(b"hello world, not a model")
    with pytest.raises(FormatError):
        detect_format(tmp_path / "m.xyz")


def test_sources_give_same_tensors(tmp_path: Path) -> None:
    t = {"w": RNG.standard_normal((4, 4)).astype(np.float32), "b": np.arange(4, dtype=np.int32)}
    save_npz(tmp_path / "a.npz", t)
    save_safetensors(tmp_path / "a.safetensors", t, {"k": "v"})
    for name in ("a.npz", "a.safetensors"):
        src = open_source(tmp_path / name)
        try:
            assert set(src.keys()) == set(t)
            for k, v in t.items():
                assert src.spec(k) == (v.shape, v.dtype)
                np.testing.assert_array_equal(src.tensor(k), v)
        finally:
            src.close()
    src = open_source(tmp_path / "a.safetensors")
    assert src.metadata == {"safetensors_metadata": {"k": "v"}}
    src.close()


# ---------------------------------------------------------------- PyTorch


def test_torch_missing_gives_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dcformat.io import torch_io

    monkeypatch.setitem(sys.modules, "torch", None)  # makes "import torch" fail
    (tmp_path / "m.pt").write_bytes(b"PK\x03\x04")
    with pytest.raises(torch_io.TorchUnavailableError, match="needs PyTorch"):
        torch_io.load_state_dict(tmp_path / "m.pt")


def test_torch_state_dict_round_trip(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from dcformat.io.torch_io import load_state_dict

    w = torch.randn(3, 4)
    bf = torch.randn(5).to(torch.bfloat16)
    torch.save({"state_dict": {"fc.weight": w, "fc.bias": bf}, "epoch": 3}, tmp_path / "ckpt.pt")
    tensors, skipped = load_state_dict(tmp_path / "ckpt.pt")
    assert skipped == ["epoch"]
    np.testing.assert_array_equal(tensors["state_dict.fc.weight"], w.numpy())
    assert tensors["state_dict.fc.bias"].dtype == np.float32
    np.testing.assert_array_equal(tensors["state_dict.fc.bias"], bf.to(torch.float32).numpy())


class _Payload:
    """Pickles to a call that would create a marker file if anything unpickled it permissively."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: D105
        return (Path.touch, (Path(self.marker),))


def test_torch_refuses_code_in_pickles_without_fallback(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from dcformat.io.torch_io import load_state_dict

    marker = tmp_path / "pwned"
    torch.save({"w": torch.ones(2), "evil": _Payload(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(FormatError, match="weights_only"):
        load_state_dict(tmp_path / "evil.pt")
    assert not marker.exists()
