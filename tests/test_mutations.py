"""Mutants of valid files: the only outcomes are a typed error or, for ignorable bits, identical output.

Both readers are exercised: the library through every entry point (decode, load, open and
its keys/tensor/csr/info/codebook/metadata/graph/verify) and the embedded decoder. Oracles:

* truncation and raw single-bit flips: a FormatError (EmbeddedFormatError). The spec would
  allow identical output for bits inside an unknown ancillary section (whose CRC a reader
  MAY skip, §3), but both readers here verify every CRC, so no flip may go unnoticed;
* flips behind a recomputed CRC, splices: the two independent decoders must agree (both
  reject, or both accept with byte-identical arrays and metadata);
* field-targeted huge values: the error class the spec names, from both decoders.

The unmarked tests sample a bounded number of mutants (< 60 s in total). The exhaustive
variants (@pytest.mark.exhaustive) run every mutant, capped by DCFORMAT_FUZZ_BUDGET
mutants per test (default 20000; "all" or 0 = no cap; CI sets 2000).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import dcformat
from dcformat import accel, embedded, errors
from dcformat.limits import Limits
from mutants import fix_crcs  # tests/mutants.py

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors"
_spec = importlib.util.spec_from_file_location("generate_invalid", VECTORS / "invalid" / "generate_invalid.py")
g = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(g)

TIGHT = dict(max_tensor_elements=1 << 20, max_tensor_bytes=1 << 23, max_total_bytes=1 << 25,
             max_metadata_bytes=1 << 20)
LIB_LIMITS = Limits(**TIGHT)
EMB_LIMITS = embedded.Limits(**TIGHT)

SMALL = {p.name: p.read_bytes() for p in sorted(VECTORS.glob("*.dcf")) if p.stat().st_size <= 400}
SMALL |= {p.name: p.read_bytes() for p in sorted((VECTORS / "v1_1").glob("*.dcf")) if p.stat().st_size <= 450}  # RANS
SMALL["base-file"] = g.base_file()
SMALL["graph-file"] = g.graph_file()

_budget = os.environ.get("DCFORMAT_FUZZ_BUDGET", "20000")
BUDGET = None if _budget in ("all", "0") else int(_budget)


def _cap(items: list, seed: int) -> list:
    """At most BUDGET items, a seeded sample when capped."""
    if BUDGET is None or len(items) <= BUDGET:
        return items
    return random.Random(seed).sample(items, BUDGET)


# ------------------------------------------------------------------------------------------
# Running both readers
# ------------------------------------------------------------------------------------------


def library(data: bytes) -> dict | str:
    """Decoded tensors + metadata, or the FormatError class name. Exercises every method of open()."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy warning on hostile input would be a foreign exception
        try:
            tensors = dcformat.decode(data, limits=LIB_LIMITS)
        except errors.FormatError as exc:
            decode_error: str | None = type(exc).__name__
        else:
            decode_error = None
        try:
            f = dcformat.open(data, limits=LIB_LIMITS)
        except errors.FormatError as exc:
            assert decode_error is not None, f"open() rejects what decode() accepts: {exc}"
            return type(exc).__name__
        with f:
            assert f.keys() == list(f) and len(f) == len(f.keys())
            _ = f.metadata, f.graph
            methods = [f.info, f.codebook, f.csr, f.tensor] + ([f.streams] if hasattr(f, "streams") else [])
            for name in f.keys():
                for method in methods:
                    try:
                        method(name)
                    except errors.FormatError:
                        assert decode_error is not None, f"{method.__name__}({name!r}) fails on an accepted file"
            try:
                f.verify()
            except errors.FormatError:
                assert decode_error is not None, "verify() fails on an accepted file"
            if decode_error is None:
                return {"tensors": tensors, "metadata": f.metadata}
    return decode_error


def emb(data: bytes) -> dict | str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            got = embedded.decode_file(data, limits=EMB_LIMITS)
        except embedded.EmbeddedFormatError as exc:
            return exc.kind + "Error"
    return {"tensors": got.tensors, "metadata": got.metadata}


def same(a: dict, b: dict) -> bool:
    ta, tb = a["tensors"], b["tensors"]
    return (a["metadata"] == b["metadata"] and list(ta) == list(tb) and all(
        ta[k].dtype == tb[k].dtype and ta[k].shape == tb[k].shape and ta[k].tobytes() == tb[k].tobytes() for k in ta))


REFERENCE = {name: library(data) for name, data in SMALL.items()}


def ignorable(data: bytes) -> set[int]:
    """Byte offsets the spec lets a reader ignore: the framed bytes of unknown ancillary sections.

    Their only protection is their CRC, which §3 says a reader MAY skip: a flip in the kind
    may keep it an unknown ancillary kind (zNOT -> xNOT), and a length off by a little can
    be absorbed by the zero padding (spec/PERMISSIVENESS.md). Both readers here check that
    CRC anyway (spec/ERRATA.md E1), so for them this set is empty: STRICT_READERS.
    """
    out: set[int] = set()
    for kind, start, length in embedded._sections(memoryview(data), embedded.Limits()):
        if kind[:1].islower():
            out.update(range(start - 16, start + length + 4))  # kind, flags, length, payload, CRC
    return out


STRICT_READERS = True  # the library and the embedded decoder verify every CRC, ancillary ones included


def check_raw_mutant(name: str, mutant: bytes, offset: int | None) -> str:
    """Raw (no CRC fix) mutant: a typed error; identical output only where a reader may ignore bytes."""
    ref = REFERENCE[name]
    lib, em = library(mutant), emb(mutant)
    allowed = not STRICT_READERS and offset is not None and offset in ignorable(SMALL[name])
    for who, got in (("library", lib), ("embedded", em)):
        if isinstance(got, dict):
            assert allowed, f"{name}: {who} accepted a mutant at byte {offset}"
            assert same(got, ref), f"{name}: {who} decoded a mutant at byte {offset} to different output"
    return lib if isinstance(lib, str) else "identical"


def check_agreement(mutant: bytes) -> tuple[str, str]:
    """Semantic mutant (CRCs recomputed): the two decoders agree."""
    lib, em = library(mutant), emb(mutant)
    if isinstance(lib, dict) or isinstance(em, dict):
        assert isinstance(lib, dict) and isinstance(em, dict), f"library: {lib if isinstance(lib, str) else 'ok'}, " \
                                                               f"embedded: {em if isinstance(em, str) else 'ok'}"
        assert same(lib, em), "both accept, outputs differ"
        return "ok", "ok"
    return lib, em


def payload_offsets(data: bytes) -> list[int]:
    return [o for _, start, length in embedded._sections(memoryview(data), embedded.Limits())
            for o in range(start, start + length)]


# ------------------------------------------------------------------------------------------
# Mutant families
# ------------------------------------------------------------------------------------------


def truncations() -> list[tuple[str, int]]:
    return [(n, k) for n, d in SMALL.items() for k in range(len(d))]


def bitflips() -> list[tuple[str, int, int]]:
    return [(n, i, b) for n, d in SMALL.items() for i in range(len(d)) for b in range(8)]


def recrc_flips() -> list[tuple[str, int, int]]:
    return [(n, i, b) for n, d in SMALL.items() for i in payload_offsets(d) for b in range(8)]


def _flip(data: bytes, i: int, b: int) -> bytes:
    return data[:i] + bytes([data[i] ^ (1 << b)]) + data[i + 1 :]


def test_references_are_valid() -> None:
    for name, ref in REFERENCE.items():
        assert isinstance(ref, dict), (name, ref)
        assert same(ref, emb(SMALL[name])), name
    assert any(ignorable(d) for d in SMALL.values()), "no vector with an ancillary section"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_truncation_fails(name: str) -> None:
    data = SMALL[name]
    for k in range(len(data)):
        check_raw_mutant(name, data[:k], None)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_sampled_bit_flips(name: str) -> None:
    data = SMALL[name]
    rng = random.Random(name)
    for _ in range(120):
        i, b = rng.randrange(len(data)), rng.randrange(8)
        check_raw_mutant(name, _flip(data, i, b), i)


def test_case_flip_cannot_turn_a_section_into_an_ignored_one() -> None:
    """META -> mETA, GRPH -> gRPH (one bit each) must not silently drop metadata or the graph."""
    for name, kind in (("v-meta.dcf", b"META"), ("graph-file", b"GRPH")):
        data = SMALL[name]
        at = data.index(kind)
        mutant = _flip(data, at, 5)
        assert mutant[at : at + 4] == kind[:1].lower() + kind[1:]
        assert library(mutant) == "ChecksumError"
        assert emb(mutant) == "ChecksumError"


def test_flips_in_ancillary_sections_are_detected() -> None:
    """The spec would let a reader ignore them; ours check the CRC, so each flip fails."""
    name = "v-handmade-minor7-ancillary.dcf"
    data = SMALL[name]
    region = sorted(ignorable(data))
    assert len(region) > 20
    outcomes = {check_raw_mutant(name, _flip(data, i, b), i) for i in region for b in range(8)}
    assert "identical" not in outcomes


@pytest.fixture(params=["numpy", "kernels"])
def codec_path(request, monkeypatch):
    """The library's pure NumPy decoder, or its compiled kernels (dcformat.accel) on every stream size."""
    if request.param == "kernels":
        if not accel.available():
            pytest.skip("numba not installed (or DCFORMAT_ACCEL=0)")
        monkeypatch.setenv("DCFORMAT_ACCEL", "1")
        monkeypatch.setenv("DCFORMAT_CDECODE", "0")  # the numba kernels; the C extension: tests/test_cdecode.py
    else:
        monkeypatch.setenv("DCFORMAT_ACCEL", "0")
    return request.param


SPARSE_LARGER = {p.name: p.read_bytes() for p in [VECTORS / "v-sparse-row-classes.dcf", VECTORS / "v-sparse-kmeans.dcf"]}


@pytest.mark.parametrize("name", sorted(SMALL) + sorted(SPARSE_LARGER))
def test_sampled_flips_behind_fixed_crcs_agree(name: str, codec_path: str) -> None:
    data = SMALL.get(name) or SPARSE_LARGER[name]
    offsets = payload_offsets(data)
    rng = random.Random("crc" + name)
    for _ in range(120):
        check_agreement(fix_crcs(_flip(data, rng.choice(offsets), rng.randrange(8))))


def test_sampled_splices_agree(codec_path: str) -> None:
    rng = random.Random(5)
    pool = list(SMALL.values())
    for _ in range(400):
        a, b = rng.choice(pool), rng.choice(pool)
        at = rng.randrange(len(a))
        lo = rng.randrange(len(b))
        chunk = b[lo : lo + rng.choice((1, 4, 16, 64, 200))]
        mutant = a[:at] + chunk + a[at + (len(chunk) if rng.random() < 0.5 else 0):]
        if rng.random() < 0.7:
            mutant = fix_crcs(mutant)
        check_agreement(mutant)


# ------------------------------------------------------------------------------------------
# Field-targeted huge values (both decoders, exact class)
# ------------------------------------------------------------------------------------------

HUGE = (2**32 - 1, 2**63 - 1, 2**64 - 1)


def _field_cases() -> Iterator[tuple[str, int, bytes, str]]:
    """(field, value, file, expected error class)."""
    d, w = g.dense_d(), g.sparse_w()
    for v in HUGE:
        yield "tensor_count", v, g.assemble([(b"TABL", g.table([g.entry("d", 1, 1, (4,))], count=v)), (b"DATA", d)]), \
            "LimitError"
        yield "name_len", v, g.assemble([(b"TABL", g.varint(1) + g.varint(v) + b"d" + bytes([1, 1, 1, 4])),
                                         (b"DATA", d)]), "TruncatedError"
        yield "shape", v, g.one("d", 1, 1, (v,), d), "LimitError"
        yield "shape[1]", v, g.one("w", 1, 2, (2, v), w), "LimitError"
        yield "codebook_size", v, g.file_d(g.dense_d(k=v)), "CodebookError"
        yield "n_fillers", v, g.file_w(g.sparse_w(n_fillers=v)), "SparseIndexError"
        yield "constant", v, g.file_d(g.dense_d(g.s_const(v))), "BitstreamError"
        yield "huffman.T", v, g.file_d(g.dense_d(g.s_huff(g.D_VALUES, g.D_LENGTHS, t=v))), "HuffmanTableError"
        yield "huffman.nbytes", v, g.file_d(g.dense_d(g.s_huff(g.D_VALUES, g.D_LENGTHS, nbytes=v))), "TruncatedError"
        yield "section.length", v, g.assemble([(b"TABL", g.table([g.entry("d", 1, 1, (4,))])), (b"DATA", d)],
                                             edit=lambda i, k, p, o, v=v: g.section(k, p, o, length=v) if i else None), \
            "TruncatedError"
        yield "zstd.fcs", v, g.one("z", 1, 0, (4,), g.raw_payload(g.zstd_raw_frame(bytes(16), fcs=v, fcs_bytes=8), 1)), \
            "DecompressionError"
        yield "zstd.fcs=shape", v, g.one("z", 1, 0, (v // 4,), g.raw_payload(
            g.zstd_raw_frame(bytes(16), fcs=v // 4 * 4, fcs_bytes=8), 1)), "LimitError"
    for v in (2**64, 2**70):
        yield "varint>=2^64", v, g.one("d", 1, 1, (v,), d), "LimitError"
    yield "section_count", 2**32 - 1, g.preamble(2**32 - 1) + g.base_file()[24:], "LimitError"
    yield "version_major", 0xFFFF, g.preamble(5, major=0xFFFF) + g.base_file()[24:], "UnsupportedVersionError"
    yield "flags", 0xFFFFFFFF, g.preamble(5, flags=0xFFFFFFFF) + g.base_file()[24:], "UnsupportedFeatureError"
    yield "section.flags", 0xFFFFFFFF, g.assemble(g.base_sections(), edit=lambda i, k, p, o: g.section(
        k, p, o, flags=0xFFFFFFFF) if i == 2 else None), "UnsupportedFeatureError"
    yield "ndim", 255, g.assemble([(b"TABL", g.table([g.entry("d", 1, 1, (4,), ndim=255)])), (b"DATA", d)]), \
        "LimitError"
    yield "fixed.width", 255, g.file_d(g.dense_d(bytes([0, 255]))), "LimitError"
    yield "huffman.lw", 255, g.file_d(g.dense_d(bytes([1, 255]) + g.varint(3) + g.varint(1))), "HuffmanTableError"
    yield "code_bits", 255, g.file_d(g.dense_d(q=255)), "CodebookError"
    yield "index_bits", 255, g.file_w(g.sparse_w(b=255)), "SparseIndexError"


FIELD_CASES = list(_field_cases())


@pytest.mark.parametrize("case", FIELD_CASES, ids=[f"{f}={v:#x}" for f, v, _, _ in FIELD_CASES])
def test_huge_field_values(case: tuple[str, int, bytes, str]) -> None:
    field, _, data, want = case
    got = emb(data)
    assert got == want, f"embedded: {got}"
    got = library(data)
    assert got == want, f"library: {got}"
    with pytest.raises(errors.FormatError):  # default limits too
        dcformat.decode(data)


# ------------------------------------------------------------------------------------------
# Entry points: load(path), the CLI
# ------------------------------------------------------------------------------------------


def test_load_from_path_matches_decode(tmp_path: Path) -> None:
    rng = random.Random(11)
    for i in range(60):
        name = rng.choice(sorted(SMALL))
        data = SMALL[name]
        mutant = fix_crcs(_flip(data, rng.randrange(len(data)), rng.randrange(8)))
        path = tmp_path / f"m{i}.dc"
        path.write_bytes(mutant)
        try:
            want: object = dcformat.decode(mutant, limits=LIB_LIMITS)
        except errors.FormatError as exc:
            want = type(exc)
        if isinstance(want, type):
            with pytest.raises(want):
                dcformat.load(path, limits=LIB_LIMITS)
        else:
            got = dcformat.load(path, limits=LIB_LIMITS)
            assert same({"tensors": got, "metadata": {}}, {"tensors": want, "metadata": {}})


@pytest.mark.parametrize("vector", ["x-cb-nan.dcf", "x-trunc-mid-data.dcf", "x-graph-unknown-op.dcf",
                                    "x-huff-mid-codeword.dcf"])
def test_cli_fails_with_exit_code_1_and_one_line(vector: str, tmp_path: Path) -> None:
    path = VECTORS / "invalid" / vector
    for args in (["verify", str(path)], ["unpack", str(path), "-o", str(tmp_path / "out") + "/"]):
        out = subprocess.run([sys.executable, "-m", "dcformat", *args], capture_output=True, text=True, timeout=120,
                             cwd=ROOT)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "error" in lines[0], out.stderr
        assert "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------
# Exhaustive variants
# ------------------------------------------------------------------------------------------


def _census(outcomes: list[str]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    return json.dumps(dict(sorted(counts.items())))


@pytest.mark.exhaustive
def test_exhaustive_truncations() -> None:
    outcomes = [check_raw_mutant(n, SMALL[n][:k], None) for n, k in _cap(truncations(), 1)]
    print("truncations:", len(outcomes), _census(outcomes))


@pytest.mark.exhaustive
def test_exhaustive_single_bit_flips() -> None:
    outcomes = [check_raw_mutant(n, _flip(SMALL[n], i, b), i) for n, i, b in _cap(bitflips(), 2)]
    print("bit flips:", len(outcomes), _census(outcomes))


@pytest.mark.exhaustive
def test_exhaustive_flips_behind_fixed_crcs() -> None:
    outcomes = [check_agreement(fix_crcs(_flip(SMALL[n], i, b)))[0] for n, i, b in _cap(recrc_flips(), 3)]
    print("re-CRC flips:", len(outcomes), _census(outcomes))


@pytest.mark.exhaustive
def test_exhaustive_byte_values_behind_fixed_crcs() -> None:
    """Every payload byte set to each of a few interesting values (counts, widths, lengths)."""
    cases = [(n, i, v) for n, d in SMALL.items() for i in payload_offsets(d) for v in (0, 1, 0x7F, 0x80, 0xFF)]
    outcomes = [check_agreement(fix_crcs(SMALL[n][:i] + bytes([v]) + SMALL[n][i + 1:]))[0]
                for n, i, v in _cap(cases, 4)]
    print("byte values:", len(outcomes), _census(outcomes))


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.float32])
def test_signalling_nan_codebook_is_a_codebook_error_even_with_warnings_as_errors(dtype) -> None:
    """Fuzz finding: a signalling NaN (0x7F800001) raised NumPy's "invalid value" warning while the codebook was
    converted to float64, which -W error turned into a foreign exception."""
    w = np.zeros((8, 16), dtype)
    w[:, ::3] = np.arange(1, 7, dtype=dtype)
    data = dcformat.encode({"w": w}, config=dcformat.CompressionConfig(encoding="sparse"))
    with dcformat.open(data) as f:
        book = f.codebook("w")
    assert book.size >= 2, "the encoder should have stored a codebook"
    at = data.index(book.astype("<f4").tobytes())
    mutant = fix_crcs(data[:at] + b"\x01\x00\x80\x7f" + data[at + 4 :])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(errors.CodebookError):
            dcformat.decode(mutant)
        with pytest.raises(embedded.EmbeddedFormatError):
            embedded.decode_file(mutant)
