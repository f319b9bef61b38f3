"""Negative vectors: every x-*.dcf is rejected with the error class its manifest names, with context.

The manifest (spec/vectors/invalid/manifest.json) is the spec's verdict, written from
spec/FORMAT.md; the library is checked against it through every entry point (decode,
load, open + tensor).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

import dcformat
from dcformat import errors
from dcformat.limits import Limits

INVALID = Path(__file__).resolve().parents[1] / "spec" / "vectors" / "invalid"
MANIFEST = json.loads((INVALID / "manifest.json").read_text())
NAMES = sorted(MANIFEST)

def _generator():
    spec = importlib.util.spec_from_file_location("generate_invalid", INVALID / "generate_invalid.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_manifest_covers_every_file_and_enough_defects() -> None:
    files = sorted(p.name for p in INVALID.glob("*.dcf"))
    assert files == NAMES
    assert len(NAMES) >= 25
    for name, info in MANIFEST.items():
        assert re.fullmatch(r"x-[a-z0-9]+(-[a-z0-9]+)*\.dcf", name), name
        assert info["error"] in {c.__name__ for c in errors.ALL_ERRORS}, name
        assert info["clause"].startswith("§"), name
        assert info["description"], name


def test_generator_reproduces_every_byte() -> None:
    assert _generator().main(check=True) == 0


@pytest.mark.parametrize("name", NAMES)
def test_vector_bytes_match_manifest(name: str) -> None:
    data = (INVALID / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == MANIFEST[name]["sha256"]
    assert len(data) == MANIFEST[name]["bytes"]


def _decode_error(data: bytes) -> errors.FormatError:
    with pytest.raises(errors.FormatError) as info:
        dcformat.decode(data)
    return info.value


@pytest.mark.parametrize("name", NAMES)
def test_library_rejects_with_a_format_error_and_context(name: str) -> None:
    """Whatever the class, the failure is a FormatError that says where (and which tensor)."""
    exc = _decode_error((INVALID / name).read_bytes())
    assert exc.field is not None or exc.offset is not None, f"{name}: no field or offset in {exc}"
    expected_tensor = MANIFEST[name].get("tensor")
    if expected_tensor is not None:
        assert exc.tensor == expected_tensor, f"{name}: {exc}"


@pytest.mark.parametrize("name", NAMES)
def test_library_raises_the_manifest_class(name: str) -> None:
    exc = _decode_error((INVALID / name).read_bytes())
    assert type(exc).__name__ == MANIFEST[name]["error"], f"{name}: {exc}"


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_point_agrees(name: str, tmp_path: Path) -> None:
    """load(path), decode(bytes) and open(...).tensor(...) fail the same way."""
    data = (INVALID / name).read_bytes()
    want = type(_decode_error(data))
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(want):
        dcformat.load(path)
    try:
        f = dcformat.open(path)
    except errors.FormatError as exc:  # structure-level defect
        assert type(exc) is want
        return
    with f:
        if len(f) == 1:  # one tensor: the defect, if not in the structure, is in it
            with pytest.raises(want):
                f.tensor(f.keys()[0])
        else:
            with pytest.raises(want):
                f.verify() if want is not errors.LimitError else dcformat.decode(data)


def test_limits_are_configurable_and_checked_before_reading() -> None:
    """A small Limits turns a valid file into a LimitError at the first field that exceeds it."""
    gen = _generator()
    data = gen.base_file()
    assert set(dcformat.decode(data)) == {"w", "d", "r"}
    for limits in (Limits(max_tensors=2), Limits(max_sections=4), Limits(max_tensor_elements=11),
                   Limits(max_tensor_bytes=47), Limits(max_total_bytes=71), Limits(max_file_bytes=len(data) - 1)):
        with pytest.raises(errors.LimitError):
            dcformat.decode(data, limits=limits)
    with pytest.raises(errors.MetadataError):
        dcformat.decode(data, limits=Limits(max_metadata_bytes=6))
    with pytest.raises(errors.MetadataError):
        dcformat.decode(data, limits=Limits(max_json_depth=0))


# Defects in payload headers and bounds (no symbol data involved): info(), streams() and codebook() read the same
# fields as tensor() (one walker, dcformat.container.payload.parse) and must reject them with the manifest's class.
HEADER_DEFECTS = [
    "x-raw-reserved.dcf", "x-raw-compression-2.dcf", "x-raw-header-short.dcf", "x-raw-long.dcf", "x-raw-short.dcf",
    "x-sparse-fillers-over.dcf", "x-sparse-fillers-huge.dcf",
    "x-cb-code-bits-0.dcf", "x-cb-code-bits-17.dcf", "x-cb-nan.dcf", "x-cb-inf.dcf", "x-cb-f16-overflow.dcf",
]


@pytest.mark.parametrize("name", HEADER_DEFECTS)
def test_inspection_rejects_header_defects_like_decoding(name: str) -> None:
    want = MANIFEST[name]["error"]
    with dcformat.open((INVALID / name).read_bytes()) as f:
        for inspect in (f.info, f.streams, f.codebook):
            with pytest.raises(errors.FormatError) as info:
                for k in f.keys():
                    inspect(k)
            assert type(info.value).__name__ == want, f"{name} {inspect.__name__}: {info.value}"


@pytest.mark.parametrize("name", NAMES)
def test_inspection_never_contradicts_the_manifest(name: str) -> None:
    """info() does not decode symbol data, so it may accept a file; when it rejects one, the class is the spec's
    (even when undecoded data before the failing field holds the first error, as in x-sparse-class-fillers)."""
    try:
        with dcformat.open((INVALID / name).read_bytes()) as f:
            for k in f.keys():
                f.info(k)
                f.streams(k)
    except errors.FormatError as exc:
        assert type(exc).__name__ == MANIFEST[name]["error"], f"{name}: {exc}"
