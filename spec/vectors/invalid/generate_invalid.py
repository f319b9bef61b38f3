"""Generate the negative (must-fail) vectors of spec/FORMAT.md: spec/vectors/invalid/x-*.dcf.

Provenance: written for dcformat from the text of spec/FORMAT.md (and spec/GRAPH.md for
the x-graph-* files). Files are assembled field by field with the small byte builder
below (NumPy, zlib, struct; zstandard only to make zstd frames), never with the
dcformat encoder, so a bug in the encoder cannot hide a bug in a decoder. Each file
holds exactly ONE defect in an otherwise valid file; ``manifest.json`` names the error
class a reader must raise (a ``dcformat.errors`` subclass name, i.e. the spec's bracket
name + "Error") and the clause the file breaks. Everything is seeded: running this
again on any machine gives the same bytes.

Usage:  python spec/vectors/invalid/generate_invalid.py           (rewrites the x-*.dcf files)
        python spec/vectors/invalid/generate_invalid.py --check   (exit 1 if anything would change)

The builder functions are also used by tests/test_valid_generator.py and
tests/test_mutations.py (loaded by path) to build valid and hostile files from the spec.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # spec/vectors: vector_files, shared by the generators (no library code)
from vector_files import OutputFiles  # noqa: E402

SIGNATURE = b"\x89DCF\r\n\x1a\n"
SEED = 20261128  # every random byte in the vectors comes from np.random.default_rng(SEED)

# ------------------------------------------------------------------------------------------
# Byte builder (spec §1-§6). No validation: callers may pass any value, to make bad files.
# ------------------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    """Minimal unsigned LEB128 (§1); values >= 2**64 are encoded too (for hostile files)."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def varint_padded(value: int, nbytes: int) -> bytes:
    """A non-minimal LEB128 of exactly ``nbytes`` bytes (continuation bits on zero groups)."""
    out = bytearray()
    for i in range(nbytes):
        out.append((value >> (7 * i)) & 0x7F | (0x80 if i < nbytes - 1 else 0))
    return bytes(out)


def pack_msb(values: Iterable[int], width: int, pad_bits: int = 0) -> bytes:
    """Values of ``width`` bits each, MSB first, zero-padded; ``pad_bits`` sets the padding bits."""
    acc, nbits = 0, 0
    for v in values:
        acc = (acc << width) | int(v)
        nbits += width
    return bits_to_bytes(acc, nbits, pad_bits)


def bits_to_bytes(acc: int, nbits: int, pad_bits: int = 0) -> bytes:
    nbytes = (nbits + 7) // 8
    spare = 8 * nbytes - nbits
    return ((acc << spare) | (pad_bits & ((1 << spare) - 1))).to_bytes(nbytes, "big")


def canonical_codes(lengths: Sequence[int]) -> dict[int, tuple[int, int]]:
    """symbol -> (code, length) of the canonical code of §6 (used symbols by (length, symbol))."""
    used = sorted((ln, s) for s, ln in enumerate(lengths) if ln)
    codes: dict[int, tuple[int, int]] = {}
    code, prev = -1, 0
    for ln, s in used:
        code = 0 if code < 0 else (code + 1) << (ln - prev)
        codes[s] = (code, ln)
        prev = ln
    return codes


def huffman_bits(symbols: Iterable[int], lengths: Sequence[int]) -> tuple[int, int]:
    codes = canonical_codes(lengths)
    acc, nbits = 0, 0
    for s in symbols:
        c, ln = codes[int(s)]
        acc = (acc << ln) | c
        nbits += ln
    return acc, nbits


def s_fixed(symbols: Sequence[int], width: int, *, pad_bits: int = 0) -> bytes:
    return bytes([0, width]) + pack_msb(symbols, width, pad_bits)


def s_const(symbol: int) -> bytes:
    return bytes([2]) + varint(symbol)


def s_huff(
    symbols: Sequence[int],
    lengths: Sequence[int],
    *,
    lw: int | None = None,
    t: int | None = None,
    nbytes: int | None = None,
    data: bytes | None = None,
    table_pad: int = 0,
) -> bytes:
    """A HUFFMAN stream (§6); every field can be overridden to make a bad one."""
    lw = max(max(lengths).bit_length(), 1) if lw is None else lw
    if data is None:
        acc, nbits = huffman_bits(symbols, lengths)
        data = bits_to_bytes(acc, nbits)
    t = len(lengths) if t is None else t
    nbytes = len(data) if nbytes is None else nbytes
    return bytes([1, lw]) + varint(t) + varint(nbytes) + pack_msb(lengths, lw, table_pad) + data


# ------------------------------------------------------------------------------------------
# RANS streams (§6.1, format 1.1): an encoder written from the spec's informative text, scalar Python
# ------------------------------------------------------------------------------------------
RANS_L = 1 << 16
RANS_FLAG = 1  # §2.2 flag bit 0


def rans_gap_class(g: int) -> int:
    """§6.1.3 PREV_GAP: 0 -> 1, 1 -> 2, 2-3 -> 3, 4-7 -> 4, >= 8 -> 5."""
    return 1 if g == 0 else 2 if g == 1 else 3 if g < 4 else 4 if g < 8 else 5


def rans_normalise(counts: Sequence[int], k: int) -> list[int]:
    """§11 item 5: floor, raise present symbols to 1, largest remainders (ties: lower symbol) or take from largest."""
    m, n = 1 << k, sum(counts)
    f = [c * m // n for c in counts]
    f = [max(v, 1) if c else 0 for v, c in zip(f, counts)]
    short = m - sum(f)
    if short > 0:
        by_rem = sorted((s for s, c in enumerate(counts) if c), key=lambda s: (-(counts[s] * m % n), s))
        for s in by_rem[:short]:
            f[s] += 1
    while sum(f) > m:
        s = max(range(len(f)), key=lambda i: (f[i], -i))
        f[s] -= 1
    return f


def rans_contexts(symbols: Sequence[int], model: int, lanes: int, row_class: Sequence[int] | None) -> list[int]:
    n = len(symbols)
    seg = -(-n // lanes)
    if model == 0:
        return [0] * n
    if model == 2:
        return list(row_class)
    return [0 if i % seg == 0 else rans_gap_class(symbols[i - 1]) for i in range(n)]


def rans_tables(freqs: Sequence[Sequence[int] | None], k: int, *, pad_bits: int = 0) -> bytes:
    """§6.1.2: used bit, then T-1 fields of bit_length(remaining) bits per used table; MSB first, zero-padded."""
    acc, nbits = 0, 0
    for f in freqs:
        acc, nbits = (acc << 1) | (f is not None), nbits + 1
        if f is None:
            continue
        left = 1 << k
        for v in f[:-1]:
            w = left.bit_length()
            acc, nbits = (acc << w) | v, nbits + w
            left -= v
    return bits_to_bytes(acc, nbits, pad_bits)


def rans_encode(symbols: Sequence[int], contexts: Sequence[int], freqs: Sequence[Sequence[int] | None], k: int,
                lanes: int) -> tuple[list[int], list[int]]:
    """The informative encoder of §6.1.4: lanes start at L, steps S-1..0, lanes N-1..0; words reversed."""
    n = len(symbols)
    seg = -(-n // lanes)
    x = [RANS_L] * lanes
    out: list[int] = []
    for t in range(seg - 1, -1, -1):
        for j in range(lanes - 1, -1, -1):
            i = j * seg + t
            if i >= n:
                continue
            f = freqs[contexts[i]]
            s = symbols[i]
            fs, cum = f[s], sum(f[:s])
            if x[j] >= fs << (32 - k):
                out.append(x[j] & 0xFFFF)
                x[j] >>= 16
            x[j] = ((x[j] // fs) << k) + (x[j] % fs) + cum
    return x, out[::-1]


def s_rans(
    symbols: Sequence[int], *, k: int = 12, lanes: int = 1, model: int = 0, row_class: Sequence[int] | None = None,
    n_ctx: int | None = None, freqs: Sequence[Sequence[int] | None] | None = None, t: int | None = None,
    params: int | None = None, nwords: int | None = None, tables: bytes | None = None,
    states: Sequence[int] | None = None, words: Sequence[int] | None = None, table_pad: int = 0,
) -> bytes:
    """A RANS stream (§6.1); every field can be overridden to make a bad one. ``freqs`` default: §11's
    normalisation of each context's counts (None for a context without symbols)."""
    ctx = rans_contexts(symbols, model, lanes, row_class)
    t_min = max(symbols) + 1
    if n_ctx is None:
        n_ctx = {0: 1, 1: 6}.get(model, (max(ctx) + 1) if ctx else 1)
    if freqs is None:
        freqs = []
        for c in range(n_ctx):
            counts = [0] * t_min
            for sym, cc in zip(symbols, ctx):
                if cc == c:
                    counts[sym] += 1
            freqs.append(rans_normalise(counts, k) if any(counts) else None)
    t = len(next(f for f in freqs if f is not None)) if t is None else t
    st, ws = rans_encode(symbols, ctx, freqs, k, lanes)
    st = st if states is None else list(states)
    ws = ws if words is None else list(words)
    params = ((k - 10) | ((lanes.bit_length() - 1) << 3) | (model << 6)) if params is None else params
    return (bytes([3, params]) + varint(t) + varint(len(ws) if nwords is None else nwords)
            + (rans_tables(freqs, k, pad_bits=table_pad) if tables is None else tables)
            + struct.pack(f"<{len(st)}I", *st) + struct.pack(f"<{len(ws)}H", *ws))


def file_rans(payload: bytes, name: str, encoding: int, shape: Sequence[int], *, minor: int = 1,
              flags: int = RANS_FLAG) -> bytes:
    """A one-tensor 1.1 file (flag bit 0, minor 1 unless overridden)."""
    return one(name, 1, encoding, shape, payload, minor=minor, flags=flags)


# DENSE 'd' of 40 elements for the RANS vectors: codebook D_BOOK, skewed values.
RD_VALUES = [1, 1, 0, 1, 2, 1, 1, 1, 0, 1] * 4


def rans_d(values: bytes | None = None, *, n: int = 40) -> bytes:
    return dense_d(s_rans(RD_VALUES) if values is None else values)


def file_rd(payload: bytes | None = None, shape: Sequence[int] = (40,), **kw) -> bytes:
    return file_rans(rans_d() if payload is None else payload, "d", 1, shape, **kw)


DTYPE_CODES = {"f4": 1, "f2": 2, "f8": 3, "i1": 4, "i2": 5, "i4": 6, "i8": 7, "u1": 8, "u2": 9, "u4": 10, "u8": 11, "b1": 12}


def entry(name: str | bytes, dtype: int, encoding: int, shape: Sequence[int], *, ndim: int | None = None) -> bytes:
    raw = name.encode("utf-8") if isinstance(name, str) else name
    nd = len(shape) if ndim is None else ndim
    return varint(len(raw)) + raw + bytes([dtype, encoding, nd]) + b"".join(varint(d) for d in shape)


def table(entries: Sequence[bytes], *, count: int | None = None) -> bytes:
    return varint(len(entries) if count is None else count) + b"".join(entries)


def raw_payload(data: bytes, compression: int = 0, reserved: bytes = bytes(7)) -> bytes:
    return bytes([compression]) + reserved + data


def f32(values: Sequence[float]) -> bytes:
    return np.asarray(values, "<f4").tobytes()


def quant_head(q: int, b: int, codebook: bytes | Sequence[float], *, k: int | None = None) -> bytes:
    cb = codebook if isinstance(codebook, bytes) else f32(codebook)
    return bytes([q, b]) + varint(len(cb) // 4 if k is None else k) + cb


def gap_symbols(dense: np.ndarray, b: int) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """Row counts, gap symbols (fillers = 0) and (row, col) of the entries of a matrix (§5.3)."""
    stride = (1 << b) - 1
    counts, gaps, where = [], [], []
    for r, row in enumerate(np.asarray(dense)):
        cols = [int(c) for c in np.flatnonzero(row)]
        counts.append(len(cols))
        cursor = 0
        for c in cols:
            skip = c - cursor
            gaps += [0] * (skip // stride) + [skip % stride + 1]
            cursor = c + 1
            where.append((r, c))
    return counts, gaps, where


def preamble(count: int, *, major: int = 1, minor: int = 0, flags: int = 0, crc: int | None = None) -> bytes:
    head = struct.pack("<HHII", major, minor, flags, count)
    return SIGNATURE + head + struct.pack("<I", zlib.crc32(head) if crc is None else crc)


def section(
    kind: bytes, payload: bytes, offset: int, *, flags: int = 0, length: int | None = None,
    crc: int | None = None, pad: bytes | None = None,
) -> bytes:
    """One framed section starting at file offset ``offset`` (§3), padding included."""
    head = kind + struct.pack("<IQ", flags, len(payload) if length is None else length)
    body = head + payload
    end = offset + len(body) + 4
    padding = bytes((-end) % 8) if pad is None else pad
    return body + struct.pack("<I", zlib.crc32(body) if crc is None else crc) + padding


def assemble(
    sections: Sequence[tuple[bytes, bytes]], *, count: int | None = None, major: int = 1, minor: int = 0,
    flags: int = 0, edit: Callable[[int, bytes, bytes, int], bytes] | None = None,
) -> bytes:
    """A whole file; ``edit(i, kind, payload, offset)`` may return a replacement for section i's bytes."""
    out = bytearray(preamble(len(sections) if count is None else count, major=major, minor=minor, flags=flags))
    for i, (kind, payload) in enumerate(sections):
        framed = section(kind, payload, len(out))
        if edit is not None:
            framed = edit(i, kind, payload, len(out)) or framed
        out += framed
    return bytes(out)


def one(name: str, dtype: int, encoding: int, shape: Sequence[int], payload: bytes, **kw) -> bytes:
    """A file holding a single tensor."""
    return assemble([(b"TABL", table([entry(name, dtype, encoding, shape)])), (b"DATA", payload)], **kw)


# ------------------------------------------------------------------------------------------
# The valid base tensors every vector starts from
# ------------------------------------------------------------------------------------------

# SPARSE 'w', float32 (2, 6), b = 2 (filler stride 3), q = 2, K = 3:
#   row 0: 0.5 at col 0, -1.0 at col 4 (skip 3 = filler + symbol 1); row 1: 2.0 at col 5 (filler + symbol 3)
W_DENSE = np.array([[0.5, 0, 0, 0, -1.0, 0], [0, 0, 0, 0, 0, 2.0]], np.float32)
W_BOOK = [-1.0, 0.5, 2.0]
W_COUNTS, W_GAPS, _ = gap_symbols(W_DENSE, 2)  # [2, 1], [1, 0, 1, 0, 3]
W_VALUES = [1, 0, 2]
W_GAP_LENGTHS = [2, 1, 0, 2]  # gap symbols 0, 1, 3 used: complete (1/4 + 1/2 + 1/4)


def sparse_w(
    *, q: int = 2, b: int = 2, book: bytes | Sequence[float] = tuple(W_BOOK), k: int | None = None,
    counts: bytes | None = None, classes: bytes = b"\x01", n_fillers: int | bytes = 2, gaps: bytes | None = None,
    values: bytes | None = None, tail: bytes = b"",
) -> bytes:
    """``classes`` is n_classes plus its thresholds (§5.3); the default is one row class."""
    out = quant_head(q, b, book if isinstance(book, bytes) else list(book), k=k)
    out += s_fixed(W_COUNTS, 3) if counts is None else counts
    out += classes
    out += n_fillers if isinstance(n_fillers, bytes) else varint(n_fillers)
    out += s_huff(W_GAPS, W_GAP_LENGTHS) if gaps is None else gaps
    out += s_fixed(W_VALUES, 2) if values is None else values
    return out + tail


def file_w(payload: bytes | None = None, shape: Sequence[int] = (2, 6), **kw) -> bytes:
    return one("w", 1, 2, shape, sparse_w() if payload is None else payload, **kw)


# DENSE 'd', float32 (4,), q = 2, K = 3: values 0, 1, 2, 1 with Huffman lengths [2, 1, 2]
D_BOOK = [-0.5, 0.25, 1.0]
D_VALUES = [0, 1, 2, 1]
D_LENGTHS = [2, 1, 2]


def dense_d(values: bytes | None = None, *, q: int = 2, b: int = 0, book=tuple(D_BOOK), k: int | None = None,
            tail: bytes = b"") -> bytes:
    return quant_head(q, b, book if isinstance(book, bytes) else list(book), k=k) + (
        s_huff(D_VALUES, D_LENGTHS) if values is None else values) + tail


def file_d(payload: bytes | None = None, shape: Sequence[int] = (4,), dtype: int = 1) -> bytes:
    return one("d", dtype, 1, shape, dense_d() if payload is None else payload)


# RAW 'r', int16 (2, 2)
R_DATA = np.array([[1, -2], [300, -32768]], "<i2").tobytes()


def file_r(payload: bytes | None = None, shape: Sequence[int] = (2, 2), dtype: int = 5) -> bytes:
    return one("r", dtype, 0, shape, raw_payload(R_DATA) if payload is None else payload)


def base_sections() -> list[tuple[bytes, bytes]]:
    """TABL + META + DATA x 3 (w, d, r): the file most framing vectors start from."""
    tab = table([entry("w", 1, 2, (2, 6)), entry("d", 1, 1, (4,)), entry("r", 5, 0, (2, 2))])
    return [(b"TABL", tab), (b"META", b'{"k":1}'), (b"DATA", sparse_w()), (b"DATA", dense_d()),
            (b"DATA", raw_payload(R_DATA))]


def base_file() -> bytes:
    return assemble(base_sections())


def zstd_frame(data: bytes, *, checksum: bool = True, content_size: bool = True) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3, write_checksum=checksum, write_content_size=content_size).compress(data)


def zstd_raw_frame(content: bytes, *, window_exp: int | None = None, fcs: int | None = None, fcs_bytes: int = 4,
                   dict_id: int | None = None) -> bytes:
    """A hand-made zstd frame with one Raw block (RFC 8878 §3.1.1); fields can lie."""
    fcs_flag = {1: 0, 2: 1, 4: 2, 8: 3}[fcs_bytes]
    single = window_exp is None
    dict_flag = 0 if dict_id is None else 3
    fhd = (fcs_flag << 6) | (int(single) << 5) | dict_flag
    out = struct.pack("<I", 0xFD2FB528) + bytes([fhd])
    if not single:
        out += bytes([(window_exp - 10) << 3])
    if dict_id is not None:
        out += struct.pack("<I", dict_id)
    size = len(content) if fcs is None else fcs
    out += (size - 256 if fcs_bytes == 2 else size).to_bytes(fcs_bytes, "little")
    out += ((len(content) << 3) | 1).to_bytes(3, "little")  # Raw block, last
    return out + content


# ------------------------------------------------------------------------------------------
# The vectors: name -> (bytes, expected error class, clause, description)
# ------------------------------------------------------------------------------------------

Vector = tuple[bytes, str, str, str]


def _set(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new):]


def _flip(data: bytes, offset: int, mask: int) -> bytes:
    return _set(data, offset, bytes([data[offset] ^ mask]))


def _rehead(data: bytes, **fields: int) -> bytes:
    """Rewrite header fields and recompute header_crc."""
    major, minor, flags, count = struct.unpack_from("<HHII", data, 8)
    vals = dict(major=major, minor=minor, flags=flags, count=count) | fields
    return preamble(vals["count"], major=vals["major"], minor=vals["minor"], flags=vals["flags"]) + data[24:]


def framing_vectors() -> dict[str, Vector]:
    base = base_file()
    v: dict[str, Vector] = {}
    v["x-trunc-empty"] = (b"", "TruncatedError", "§2.1", "empty file (a prefix of the signature)")
    v["x-trunc-signature"] = (base[:5], "TruncatedError", "§2.1", "file ends inside the signature")
    v["x-trunc-header"] = (base[:20], "TruncatedError", "§2", "file ends inside the 24-byte preamble")
    v["x-trunc-section-header"] = (base[:30], "TruncatedError", "§2.2, §3",
                                   "file ends inside the first section header")
    mid = 24 + len(section(b"TABL", base_sections()[0][1], 24)) + 40
    v["x-trunc-mid-data"] = (base[:mid], "TruncatedError", "§3", "file ends inside a DATA payload")
    v["x-trunc-padding"] = (base[:-3], "TruncatedError", "§3", "file ends inside the last section's padding")
    v["x-trailing-junk"] = (base + b"JUNKJUNK", "TrailingDataError", "§3", "8 bytes after the last section")
    v["x-trailing-zeros"] = (base + bytes(8), "TrailingDataError", "§3", "8 zero bytes after the last section")
    v["x-magic-msb"] = (_flip(base, 0, 0x80), "BadMagicError", "§2.1", "high bit of byte 0 cleared (7-bit transport)")
    v["x-magic-crlf-to-lf"] = (base[:4] + base[5:], "BadMagicError", "§2.1", "CR LF converted to LF")
    v["x-magic-lf-to-crlf"] = (base[:7] + b"\r" + base[7:], "BadMagicError", "§2.1", "final LF converted to CR LF")
    v["x-magic-lowercase"] = (_set(base, 1, b"dcf"), "BadMagicError", "§2.1", "letters lower-cased")
    v["x-magic-ctrl-z"] = (_set(base, 6, b" "), "BadMagicError", "§2.1", "^Z replaced by a space")
    v["x-magic-png"] = (b"\x89PNG\r\n\x1a\n" + base[8:], "BadMagicError", "§2.1", "a PNG signature")
    v["x-version-major0"] = (_rehead(base, major=0), "UnsupportedVersionError", "§2.2, §10", "version_major 0")
    v["x-version-major2"] = (_rehead(base, major=2), "UnsupportedVersionError", "§2.2, §10", "version_major 2")
    v["x-version-byteswapped"] = (_rehead(base, major=256), "UnsupportedVersionError", "§2.2",
                                  "version_major 256 (a big-endian writer)")
    v["x-version-major2-badcrc"] = (_set(_rehead(base, major=2), 20, b"\0\0\0\0"), "UnsupportedVersionError",
                                    "§2.2", "version 2 with a wrong header CRC: the version is checked first")
    v["x-header-crc"] = (_flip(base, 20, 0x01), "ChecksumError", "§2.2", "header_crc off by one bit")
    v["x-header-minor-flip"] = (_flip(base, 10, 0x01), "ChecksumError", "§2.2",
                                "version_minor changed without updating header_crc")
    v["x-flag-bit0"] = (_rehead(base, flags=1), "UnsupportedFeatureError", "§2.2", "must-understand flag bit 0")
    v["x-flag-bit15"] = (_rehead(base, flags=1 << 15), "UnsupportedFeatureError", "§2.2", "must-understand flag bit 15")
    v["x-sec-count-zero"] = (preamble(0), "LayoutError", "§2, §3.1", "section_count 0: no TABL section")
    v["x-sec-count-limit"] = (_rehead(base, count=(1 << 20) + 1), "LimitError", "§2.2, §9",
                              "section_count 2^20 + 1 > the section limit")
    v["x-sec-count-huge"] = (_rehead(base, count=0xFFFFFFFF), "LimitError", "§2.2, §9", "section_count 2^32 - 1")
    v["x-sec-count-unbacked"] = (_rehead(base, count=50), "TruncatedError", "§2.2",
                                 "section_count x 20 exceeds the bytes after the preamble")
    v["x-sec-count-excess"] = (_rehead(base, count=6), "TruncatedError", "§3", "one section fewer than section_count")
    v["x-sec-count-short"] = (_rehead(base, count=4), "TrailingDataError", "§3",
                              "section_count one less than the sections present")
    secs = base_sections()

    def edit_at(index: int, fn: Callable[[bytes, bytes, int], bytes]):
        return lambda i, kind, payload, off: fn(kind, payload, off) if i == index else None

    v["x-sec-kind-digit"] = (assemble(secs, edit=edit_at(2, lambda k, p, o: section(b"DAT4", p, o))), "LayoutError",
                             "§3", "section kind 'DAT4' has a non-letter byte")
    v["x-sec-kind-nul"] = (assemble(secs, edit=edit_at(1, lambda k, p, o: section(b"ME\0A", p, o))), "LayoutError",
                           "§3", "section kind with a NUL byte")
    v["x-sec-flags"] = (assemble(secs, edit=edit_at(2, lambda k, p, o: section(k, p, o, flags=1))),
                        "UnsupportedFeatureError", "§3", "reserved section flag bit 0 set")
    v["x-sec-flags-high"] = (assemble(secs, edit=edit_at(0, lambda k, p, o: section(k, p, o, flags=1 << 31))),
                             "UnsupportedFeatureError", "§3", "reserved section flag bit 31 set")
    v["x-sec-len-huge"] = (assemble(secs, edit=edit_at(2, lambda k, p, o: section(k, p, o, length=2**64 - 1))),
                           "TruncatedError", "§3", "DATA length 2^64 - 1")
    v["x-sec-len-2p63"] = (assemble(secs, edit=edit_at(0, lambda k, p, o: section(k, p, o, length=2**63 - 1))),
                           "TruncatedError", "§3", "TABL length 2^63 - 1")
    v["x-sec-len-past-end"] = (assemble(secs, edit=edit_at(4, lambda k, p, o: section(k, p, o, length=len(p) + 9))),
                               "TruncatedError", "§3", "last section's length runs past the end of the file")
    v["x-sec-hole"] = (assemble(secs, edit=edit_at(3, lambda k, p, o: bytes(8) + section(k, p, o + 8))),
                       "LayoutError", "§3", "8 zero bytes (a hole) between two sections")
    v["x-sec-pad-nonzero"] = (assemble(secs, edit=edit_at(0, lambda k, p, o: section(k, p, o)[:-1] + b"\x01")),
                              "LayoutError", "§3", "a non-zero padding byte")
    v["x-sec-crc-data"] = (assemble(secs, edit=edit_at(3, lambda k, p, o: section(k, p, o, crc=zlib.crc32(k)))),
                           "ChecksumError", "§3", "DATA section CRC mismatch")
    v["x-sec-crc-tabl"] = (assemble(secs, edit=edit_at(0, lambda k, p, o: section(k, p, o, crc=0))),
                           "ChecksumError", "§3", "TABL section CRC mismatch")
    v["x-sec-crc-meta"] = (assemble(secs, edit=edit_at(1, lambda k, p, o: section(k, p, o, crc=0))),
                           "ChecksumError", "§3", "META section CRC mismatch")
    v["x-sec-payload-flip"] = (assemble(secs, edit=edit_at(2, lambda k, p, o: _flip(section(k, p, o), 20, 1))),
                               "ChecksumError", "§3", "one payload bit flipped after the CRC was computed")
    v["x-first-not-tabl"] = (assemble([secs[2], secs[0], secs[1], secs[3], secs[4]]), "LayoutError", "§3.1",
                             "first section is DATA")
    v["x-first-ancillary"] = (assemble([(b"zNOT", b"x")] + secs), "LayoutError", "§3.1",
                              "an ancillary section before TABL")
    v["x-two-tabl"] = (assemble(secs[:2] + [secs[0]] + secs[2:]), "LayoutError", "§3.1", "a second TABL")
    v["x-two-meta"] = (assemble(secs[:2] + [secs[1]] + secs[2:]), "LayoutError", "§3.1", "a second META")
    v["x-meta-after-data"] = (assemble([secs[0]] + secs[2:3] + [secs[1]] + secs[3:]), "LayoutError", "§3.1",
                              "META after a DATA section")
    v["x-graph-after-data"] = (assemble(secs[:3] + [(b"GRPH", b"{}")] + secs[3:]), "LayoutError", "§3.1",
                               "GRPH after a DATA section")
    v["x-two-graph"] = (assemble(secs[:2] + [(b"GRPH", b"{}"), (b"GRPH", b"{}")] + secs[2:]), "LayoutError",
                        "§3.1", "two GRPH sections")
    v["x-data-missing"] = (assemble(secs[:4]), "LayoutError", "§3.1", "table lists 3 tensors, 2 DATA sections")
    v["x-data-extra"] = (assemble(secs + [secs[4]]), "LayoutError", "§3.1", "table lists 3 tensors, 4 DATA sections")
    v["x-sec-critical-unknown"] = (assemble(secs[:2] + [(b"ZZZZ", b"must understand")] + secs[2:]),
                                   "UnsupportedFeatureError", "§3", "unknown critical section ZZZZ")
    return v


def table_vectors() -> dict[str, Vector]:
    v: dict[str, Vector] = {}
    d = dense_d()

    def tab(entries: Sequence[bytes], datas: Sequence[bytes], **kw) -> bytes:
        return assemble([(b"TABL", table(entries, **kw))] + [(b"DATA", x) for x in datas])

    good = entry("d", 1, 1, (4,))
    v["x-tabl-trailing"] = (assemble([(b"TABL", table([good]) + b"\0"), (b"DATA", d)]), "LayoutError", "§4",
                            "one byte after the last table entry")
    v["x-tabl-count-huge"] = (tab([good], [d], count=2**64 - 1), "LimitError", "§9", "tensor_count 2^64 - 1")
    v["x-tabl-count-limit"] = (tab([good], [d], count=(1 << 20) + 1), "LimitError", "§9", "tensor_count 2^20 + 1")
    v["x-tabl-count-unbacked"] = (tab([good], [d], count=3), "TruncatedError", "§4",
                                  "tensor_count 3, one entry present")
    v["x-name-len-huge"] = (tab([varint(2**63 - 1) + b"d" + bytes([1, 1, 1, 4])], [d]), "TruncatedError", "§4",
                            "name_len 2^63 - 1")
    names = {
        "x-name-empty": (b"", "an empty name"),
        "x-name-bad-utf8": (b"w\xff", "a name that is not UTF-8"),
        "x-name-overlong-utf8": (b"\xc0\xaf", "an overlong UTF-8 encoding of '/'"),
        "x-name-surrogate": (b"\xed\xa0\x80", "a UTF-8-encoded surrogate (CESU-8)"),
        "x-name-nul": (b"w\x00.bin", "a NUL byte in a name"),
        "x-name-newline": (b"fc\n1", "a line feed in a name"),
        "x-name-del": (b"w\x7f", "U+007F DELETE in a name"),
        "x-name-c1": ("w\u0085".encode(), "U+0085 (a C1 control) in a name"),
        "x-name-long": (b"n" * 1025, "a 1025-byte name"),
    }
    for key, (raw, desc) in names.items():
        v[key] = (tab([entry(raw, 1, 1, (4,))], [d]), "MetadataError", "§4.1", desc)
    v["x-name-duplicate"] = (tab([good, good], [d, d]), "MetadataError", "§4.1", "two tensors named 'd'")
    v["x-dtype-0"] = (tab([entry("d", 0, 1, (4,))], [d]), "UnsupportedFeatureError", "§4.2", "dtype code 0")
    v["x-dtype-13"] = (tab([entry("r", 13, 0, (2, 2))], [raw_payload(R_DATA)]), "UnsupportedFeatureError", "§4.2",
                       "dtype code 13")
    v["x-encoding-3"] = (tab([entry("d", 1, 3, (4,))], [d]), "UnsupportedFeatureError", "§4.2", "encoding 3")
    v["x-dense-int-dtype"] = (tab([entry("d", 6, 1, (4,))], [d]), "MetadataError", "§4.2",
                              "DENSE encoding with an int32 dtype")
    v["x-sparse-bool-dtype"] = (tab([entry("w", 12, 2, (2, 6))], [sparse_w()]), "MetadataError", "§4.2",
                                "SPARSE encoding with a bool dtype")
    v["x-ndim-9"] = (tab([entry("d", 1, 1, (1,) * 8 + (4,))], [d]), "LimitError", "§4.3", "ndim 9")
    v["x-ndim-255"] = (tab([entry("d", 1, 1, (4,), ndim=255)], [d]), "LimitError", "§4.3", "ndim 255")
    v["x-shape-wrap"] = (tab([entry("r", 5, 0, (4194305, 4194305, 211106198978564))], [raw_payload(R_DATA)]),
                         "LimitError", "§1, §4.3", "shape whose product wraps uint64 (GGUF CVE-2026-33298 style)")
    v["x-shape-2p64m1"] = (tab([entry("r", 5, 0, (2**64 - 1,))], [raw_payload(R_DATA)]), "LimitError", "§4.3",
                           "one dimension of 2^64 - 1")
    v["x-shape-elements"] = (tab([entry("r", 5, 0, (65536, 65536, 2))], [raw_payload(R_DATA)]), "LimitError",
                             "§4.3, §9", "2^33 elements > the element limit")
    v["x-varint-nonminimal"] = (tab([varint_padded(1, 2) + b"d" + bytes([1, 1, 1, 4])], [d]), "LimitError", "§1",
                                "name_len written as 81 00 (not minimal)")
    v["x-varint-11-bytes"] = (assemble([(b"TABL", varint(1) + varint(1) + b"r" + bytes([5, 0, 2]) + b"\x82" +
                                         b"\x80" * 9 + b"\x00" + varint(2)), (b"DATA", raw_payload(R_DATA))]),
                              "LimitError", "§1", "a shape varint of 11 bytes")
    v["x-varint-2p64"] = (assemble([(b"TABL", varint(1) + varint(1) + b"r" + bytes([5, 0, 1]) + varint(2**64)),
                                    (b"DATA", raw_payload(R_DATA))]), "LimitError", "§1",
                          "a 10-byte shape varint whose value is 2^64")
    return v


def payload_vectors() -> dict[str, Vector]:
    v: dict[str, Vector] = {}
    # RAW (§5.1)
    v["x-raw-compression-2"] = (file_r(raw_payload(R_DATA, 2)), "UnsupportedFeatureError", "§5.1", "compression 2")
    v["x-raw-reserved"] = (file_r(raw_payload(R_DATA, 0, b"\0\0\0\x01\0\0\0")), "UnsupportedFeatureError", "§5.1",
                           "a non-zero reserved byte")
    v["x-raw-short"] = (file_r(raw_payload(R_DATA[:-1])), "LayoutError", "§5.1", "raw data one byte short")
    v["x-raw-long"] = (file_r(raw_payload(R_DATA + b"\0\0")), "LayoutError", "§5.1", "raw data two bytes long")
    v["x-raw-header-short"] = (file_r(b"\0\0\0"), "TruncatedError", "§5.1", "payload shorter than the 8-byte header")
    v["x-raw-bool-2"] = (file_r(raw_payload(b"\x01\x00\x02\x01"), dtype=12), "BitstreamError", "§5.1",
                         "a bool element holding 2")
    # zstd (§5.1, §9)
    zeros = bytes(1 << 22)
    v["x-zstd-ratio-bomb"] = (one("z", 1, 0, (1 << 20,), raw_payload(zstd_frame(zeros), 1)), "LimitError",
                              "§5.1, §9", "4 MiB from a tiny frame: declared size / frame size > 1024")
    small = np.random.default_rng(SEED).standard_normal(64).astype("<f4").tobytes()  # 256 bytes, seeded
    v["x-zstd-fcs-mismatch"] = (one("z", 1, 0, (60,), raw_payload(zstd_frame(small), 1)), "DecompressionError",
                                "§5.1", "frame content size 256, the tensor needs 240 bytes")
    v["x-zstd-fcs-huge"] = (one("z", 1, 0, (64,), raw_payload(zstd_raw_frame(small, fcs=1 << 40, fcs_bytes=8), 1)),
                            "DecompressionError", "§5.1", "frame content size 2^40 (python-zstandard would allocate it)")
    v["x-zstd-no-fcs"] = (one("z", 1, 0, (64,), raw_payload(zstd_frame(small, content_size=False), 1)),
                          "DecompressionError", "§5.1", "frame without Frame_Content_Size")
    v["x-zstd-trailing"] = (one("z", 1, 0, (64,), raw_payload(zstd_frame(small) + b"\0\0\0", 1)),
                            "DecompressionError", "§5.1", "3 bytes after the zstd frame")
    v["x-zstd-two-frames"] = (one("z", 1, 0, (64,), raw_payload(zstd_frame(small) + zstd_frame(b""), 1)),
                              "DecompressionError", "§5.1", "a second (empty) frame after the first")
    v["x-zstd-skippable"] = (one("z", 1, 0, (0,), raw_payload(struct.pack("<II", 0x184D2A50, 0), 1)),
                             "DecompressionError", "§5.1", "an empty tensor stored as a skippable frame (no FCS)")
    v["x-zstd-empty"] = (one("z", 1, 0, (0,), raw_payload(b"", 1)), "DecompressionError", "§5.1",
                         "compression 1 with no frame at all")
    v["x-zstd-window"] = (one("z", 1, 0, (64,), raw_payload(zstd_raw_frame(small, window_exp=28), 1)), "LimitError",
                          "§5.1, §9", "Window_Size 2^28 > the 2^27 window limit")
    v["x-zstd-reserved-block"] = (one("z", 1, 0, (64,), raw_payload(
        zstd_raw_frame(small)[:-259] + ((256 << 3) | 7).to_bytes(3, "little") + small, 1)),
        "DecompressionError", "§5.1", "a block of the reserved type 3")
    bad_sum = bytearray(zstd_frame(small))
    bad_sum[-1] ^= 0xFF
    v["x-zstd-checksum"] = (one("z", 1, 0, (64,), raw_payload(bytes(bad_sum), 1)), "DecompressionError", "§5.1",
                            "zstd content checksum mismatch (the section CRC is right)")
    v["x-zstd-dictionary"] = (one("z", 1, 0, (64,), raw_payload(zstd_raw_frame(small, dict_id=7), 1)),
                              "DecompressionError", "§5.1", "a frame that needs dictionary 7")
    v["x-zstd-not-zstd"] = (one("z", 1, 0, (64,), raw_payload(b"\x1f\x8b\x08\x00" + small, 1)), "DecompressionError",
                            "§5.1", "gzip bytes where a zstd frame belongs")
    # Limits (§9)
    tiny = zstd_raw_frame(b"", fcs=1 << 35, fcs_bytes=8)
    v["x-limit-tensor-bytes"] = (one("z", 3, 0, (1 << 32,), raw_payload(tiny, 1)), "LimitError", "§9",
                                 "a float64 tensor of 2^32 elements = 2^35 bytes > the per-tensor limit")
    per = zstd_raw_frame(b"", fcs=1 << 34, fcs_bytes=8)
    tensors = [(f"t{i}", raw_payload(per, 1)) for i in range(5)]
    v["x-limit-load-bytes"] = (assemble([(b"TABL", table([entry(n, 1, 0, (1 << 32,)) for n, _ in tensors]))] +
                                        [(b"DATA", p) for _, p in tensors]), "LimitError", "§9",
                               "five 16 GiB tensors: 2^36 + 2^34 bytes > the per-load limit")
    # DENSE (§5.2)
    v["x-cb-code-bits-0"] = (file_d(dense_d(q=0)), "CodebookError", "§5.2", "code_bits 0")
    v["x-cb-code-bits-17"] = (file_d(dense_d(q=17)), "CodebookError", "§5.2", "code_bits 17")
    v["x-cb-size-over"] = (file_d(dense_d(q=1)), "CodebookError", "§5.2", "K = 3 > 2^q = 2")
    v["x-cb-nan"] = (file_d(dense_d(book=f32([-0.5, np.nan, 1.0]))), "CodebookError", "§5.2", "a NaN codebook value")
    v["x-cb-inf"] = (file_d(dense_d(book=f32([-np.inf, 0.25, 1.0]))), "CodebookError", "§5.2", "-Inf in a codebook")
    v["x-cb-snan"] = (file_d(dense_d(book=struct.pack("<fIf", -0.5, 0x7F800001, 1.0))), "CodebookError", "§5.2",
                      "a signalling NaN bit pattern in a codebook")
    v["x-cb-f16-overflow"] = (file_d(dense_d(book=f32([-0.5, 1e10, 1.0])), dtype=2), "CodebookError", "§5.2",
                              "a finite float32 codebook value that is infinite as float16")
    v["x-cb-empty"] = (file_d(dense_d(s_const(0), book=b"")), "CodebookError", "§5.2",
                       "K = 0 for a 4-element tensor")
    v["x-cb-truncated"] = (file_d(dense_d(b"", k=3, book=f32([-0.5, 0.25]))), "TruncatedError", "§5.2",
                           "K = 3, payload ends after 2 codebook values")
    v["x-dense-index-bits"] = (file_d(dense_d(b=2)), "LayoutError", "§5.2", "DENSE with index_bits 2")
    v["x-dense-trailing"] = (file_d(dense_d(tail=b"\0")), "LayoutError", "§5", "one byte after the values stream")
    v["x-cb-index-oob"] = (file_d(dense_d(s_fixed([0, 1, 3, 1], 2))), "BitstreamError", "§6",
                           "FIXED value symbol 3 >= codebook size 3")
    v["x-dense-f16-index-oob"] = (file_d(dense_d(s_fixed([0, 1, 2, 7], 3)), dtype=2), "BitstreamError", "§6",
                                  "float16 DENSE, FIXED(3) symbol 7 >= 3")
    # SPARSE (§5.3)
    v["x-sparse-index-bits-0"] = (file_w(sparse_w(b=0)), "SparseIndexError", "§5.3", "index_bits 0")
    v["x-sparse-index-bits-17"] = (file_w(sparse_w(b=17)), "SparseIndexError", "§5.3", "index_bits 17")
    v["x-sparse-cb-empty"] = (file_w(sparse_w(book=b"", values=s_const(0))), "CodebookError", "§5.3",
                              "K = 0 with 3 entries")
    v["x-sparse-cols-limit"] = (file_w(sparse_w(counts=s_const(0), n_fillers=0, gaps=s_const(0), values=s_const(0)),
                                       shape=(0, 1 << 32)), "LimitError", "§5.3",
                                "cols + 1 = 2^32 + 1 > 2^32 (an empty tensor, so no other limit applies)")
    v["x-sparse-classes-0"] = (file_w(sparse_w(classes=b"\x00")), "SparseIndexError", "§5.3", "n_classes 0")
    v["x-sparse-classes-17"] = (file_w(sparse_w(classes=b"\x11" + bytes(range(1, 17)))), "SparseIndexError", "§5.3",
                                "n_classes 17 > 16")
    v["x-sparse-class-min-zero"] = (file_w(sparse_w(classes=b"\x02\x00")), "SparseIndexError", "§5.3",
                                    "a class threshold of 0")
    v["x-sparse-class-min-order"] = (file_w(sparse_w(classes=b"\x03\x02\x02", n_fillers=b"\x02\x00\x00")),
                                     "SparseIndexError", "§5.3", "class thresholds not strictly increasing")
    v["x-sparse-class-fillers"] = (file_w(sparse_w(classes=b"\x02\x02", n_fillers=b"\x01",
                                                   gaps=s_fixed([3], 2) + b"\x00\x00")),
                                   "SparseIndexError", "§5.3",
                                   "two classes: class 0's gap stream (row 1) ends with a filler after its entry")
    v["x-sparse-fillers-huge"] = (file_w(sparse_w(n_fillers=2**64 - 1)), "SparseIndexError", "§5.3",
                                  "n_fillers 2^64 - 1 (checked before the gap stream)")
    v["x-sparse-fillers-over"] = (file_w(sparse_w(n_fillers=4, gaps=s_fixed([1, 0, 1, 0, 0, 0, 3], 2))),
                                  "SparseIndexError", "§5.3", "4 fillers x 3 + 3 entries > 2 x 6 positions")
    v["x-gap-past-row"] = (file_w(sparse_w(gaps=s_fixed([1, 0, 1, 0, 0, 1], 2), n_fillers=3)), "SparseIndexError",
                           "§5.3", "row 1's entry lands on column 6 of a 6-column row")
    v["x-gap-past-row-direct"] = (file_w(sparse_w(gaps=s_fixed([1, 3, 3], 2), n_fillers=0, counts=s_fixed([2, 1], 3),
                                                  values=s_fixed([1, 0, 2], 2)), shape=(2, 3)),
                                  "SparseIndexError", "§5.3", "row 0's second entry at column 3 of 3, no fillers")
    v["x-gap-count-mismatch"] = (file_w(sparse_w(gaps=s_fixed([1, 1, 1, 3], 2), n_fillers=1)), "SparseIndexError",
                                 "§5.3", "the gap stream holds 4 entries, the row counts say 3")
    v["x-row-counts-excess"] = (file_w(sparse_w(counts=s_fixed([2, 2], 3), n_fillers=1,
                                                gaps=s_fixed([1, 0, 1, 0, 3], 2), values=s_fixed([1, 0, 2, 2], 2))),
                                "SparseIndexError", "§5.3", "row counts sum to 4, the gap stream holds 3 entries")
    v["x-gap-trailing-filler"] = (file_w(sparse_w(gaps=s_fixed([1, 0, 1, 3, 0], 2))), "SparseIndexError", "§5.3",
                                  "a filler after the last entry of the tensor")
    v["x-row-count-oob"] = (file_w(sparse_w(counts=s_fixed([7, 1], 3))), "BitstreamError", "§5.3, §6",
                            "a row count of 7 in a 6-column row (alphabet cols + 1 = 7)")
    v["x-sparse-value-oob"] = (file_w(sparse_w(values=s_fixed([1, 3, 2], 2))), "BitstreamError", "§6",
                               "value symbol 3 >= codebook size 3")
    v["x-sparse-trailing"] = (file_w(sparse_w(tail=b"\0")), "LayoutError", "§5", "one byte after the values stream")
    v["x-sparse-truncated"] = (file_w(sparse_w()[:-1]), "TruncatedError", "§5.3", "values stream one byte short")
    return v


def stream_vectors() -> dict[str, Vector]:
    v: dict[str, Vector] = {}
    def d8(values: bytes) -> bytes:
        return file_d(dense_d(values), shape=(8,))

    v["x-stream-coding-3"] = (file_d(dense_d(bytes([3, 2]) + b"\x5c")), "UnsupportedFeatureError", "§6, §6.1.1",
                              "stream coding 3 (RANS) in a v1.0 file without flag bit 0")
    v["x-stream-coding-4"] = (file_d(dense_d(bytes([4, 2]) + b"\x5c")), "UnsupportedFeatureError", "§6",
                              "stream coding 4 (unknown)")
    v["x-fixed-width-0"] = (file_d(dense_d(bytes([0, 0]))), "LimitError", "§6", "FIXED width 0")
    v["x-fixed-width-33"] = (file_d(dense_d(bytes([0, 33]) + bytes(17))), "LimitError", "§6", "FIXED width 33")
    v["x-fixed-pad-nonzero"] = (file_d(dense_d(s_fixed([0, 1, 2], 2, pad_bits=1)), shape=(3,)),
                                "BitstreamError", "§1, §6", "a non-zero padding bit after FIXED symbols")
    v["x-fixed-short"] = (file_d(dense_d(bytes([0, 2]))), "TruncatedError", "§6", "FIXED data missing")
    v["x-const-oob"] = (file_d(dense_d(s_const(3))), "BitstreamError", "§6", "CONSTANT symbol 3 >= alphabet 3")
    v["x-const-huge"] = (file_d(dense_d(s_const(2**64 - 1))), "BitstreamError", "§6", "CONSTANT symbol 2^64 - 1")
    v["x-huff-lw-0"] = (file_d(dense_d(bytes([1, 0]) + varint(3) + varint(1) + b"\x98")), "HuffmanTableError", "§6",
                        "length-field width 0")
    v["x-huff-lw-6"] = (file_d(dense_d(s_huff(D_VALUES, D_LENGTHS, lw=6))), "HuffmanTableError", "§6",
                        "length-field width 6")
    v["x-huff-t-1"] = (file_d(dense_d(bytes([1, 1]) + varint(1) + varint(1) + pack_msb([1], 1) + b"\x00")),
                       "HuffmanTableError", "§6", "T = 1")
    v["x-huff-t-over"] = (file_d(dense_d(s_huff(D_VALUES, [2, 2, 2, 2]))), "HuffmanTableError", "§6",
                          "T = 4 > alphabet 3")
    v["x-huff-len-25"] = (d8(bytes([1, 5]) + varint(2) + varint(1) + pack_msb([25, 1], 5) + b"\xff"),
                          "HuffmanTableError", "§6", "code length 25 > MAX_CODE_LEN 24")
    deep = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26, 26, 26, 26]
    v["x-huff-len-26-complete"] = (one("g", 1, 1, (2,), quant_head(5, 0, list(range(28))) +
                                       s_huff([0, 1], deep, lw=5)), "HuffmanTableError", "§6",
                                   "a complete code whose longest codes are 26 bits (Kraft = 1, length > 24)")
    v["x-huff-kraft-over"] = (file_d(dense_d(s_huff(D_VALUES, [1, 1, 1], data=b"\x40"))), "HuffmanTableError", "§6",
                              "over-subscribed lengths [1, 1, 1]")
    v["x-huff-kraft-over-bitarray"] = (one("g", 1, 1, (2,), quant_head(2, 0, [0.0, 1.0, 2.0, 3.0]) +
                                           s_huff([1, 2], [2, 1, 2, 2], data=b"\x60")),
                                       "HuffmanTableError", "§6", "lengths [2, 1, 2, 2]: Kraft 5/4 (BAD_INPUTS B5.1)")
    v["x-huff-kraft-under"] = (file_d(dense_d(s_huff(D_VALUES, [2, 2, 2], data=b"\x64"))), "HuffmanTableError",
                               "§6", "incomplete lengths [2, 2, 2]")
    v["x-huff-one-used"] = (file_d(dense_d(bytes([1, 1]) + varint(2) + varint(1) + pack_msb([0, 1], 1) + b"\x00")),
                            "HuffmanTableError", "§6",
        "one used symbol (lengths [0, 1]): a single-symbol stream must be CONSTANT")
    v["x-huff-last-unused"] = (file_d(dense_d(s_huff([0, 1, 0, 1], [1, 1, 0]))), "HuffmanTableError", "§6",
                               "lengths[T-1] = 0 (the table is not trimmed)")
    v["x-huff-table-pad"] = (file_d(dense_d(s_huff(D_VALUES, D_LENGTHS, table_pad=1))), "BitstreamError", "§1, §6",
                             "a non-zero padding bit after the code-length fields")
    v["x-huff-nbytes-short"] = (d8(bytes([1, 1]) + varint(2) + varint(0) + pack_msb([1, 1], 1)),
                                "LimitError", "§6", "8 symbols, nbytes 0: n > 8 x nbytes")
    v["x-huff-nbytes-huge"] = (file_d(dense_d(s_huff(D_VALUES, D_LENGTHS, nbytes=2**64 - 1))), "TruncatedError",
                               "§6", "nbytes 2^64 - 1")
    v["x-huff-mid-codeword"] = (d8(s_huff([1] * 8, D_LENGTHS, data=b"\x01")), "BitstreamError", "§6",
                                "8 symbols expected: 7 one-bit codes, then the data ends inside a 2-bit code")
    v["x-huff-too-few"] = (file_d(dense_d(s_huff([2, 2, 2, 2], D_LENGTHS, data=b"\xff")), shape=(5,)),
                           "BitstreamError", "§6", "5 symbols expected, the data holds exactly 4 codewords")
    v["x-huff-pad-nonzero"] = (file_d(dense_d(s_huff([1, 1, 1], D_LENGTHS, data=b"\x04")), shape=(3,)),
                               "BitstreamError", "§1, §6", "a non-zero padding bit after 3 codewords")
    v["x-huff-extra-byte"] = (file_d(dense_d(s_huff(D_VALUES, D_LENGTHS, data=b"\x98\x00"))), "BitstreamError", "§6",
                              "nbytes one more than ceil(codeword bits / 8)")
    v["x-huff-table-truncated"] = (file_w(sparse_w(counts=bytes([1, 5]) + varint(300) + varint(1) + bytes(10)),
                                          shape=(2, 300)), "TruncatedError", "§6",
                                   "T = 300 five-bit lengths need 188 bytes; the payload ends")
    return v


def rans_w(*, gaps: Sequence[bytes] | None = None, values: bytes | None = None, classes: bool = False) -> bytes:
    """SPARSE 'w' with RANS streams: one row class (gaps model PREV_GAP) or two (class 0 = row 1, class 1 = row 0;
    values model ROW_CLASS)."""
    if not classes:
        g = [s_rans(W_GAPS, model=1)] if gaps is None else gaps
        return sparse_w(gaps=g[0], values=s_rans(W_VALUES) if values is None else values)
    g = [s_rans([0, 3]), s_rans([1, 0, 1])] if gaps is None else gaps
    body = varint(1) + g[0] + varint(1) + g[1]
    return sparse_w(classes=bytes([2]) + varint(2), n_fillers=b"", gaps=body,
                    values=s_rans(W_VALUES, model=2, row_class=[1, 1, 0]) if values is None else values)


def rans_vectors() -> dict[str, Vector]:
    """§2.2 flag bit 0 and §6.1 RANS streams (format 1.1). A 1.0 reader rejects every one of these files at the
    preamble or at the coding byte [UnsupportedFeature] (manifest field ``error_1_0``)."""
    v: dict[str, Vector] = {}
    ok = rans_d()
    four = lambda k: (k - 10)  # noqa: E731
    v["x-rans-flag-clear"] = (file_rd(ok, flags=0), "UnsupportedFeatureError", "§2.2, §6.1.1",
                              "a RANS stream in a v1.1 file whose header flag bit 0 is clear")
    v["x-rans-flag-minor-0"] = (file_rd(ok, minor=0), "UnsupportedFeatureError", "§2.2",
                                "flag bit 0 (RANS_STREAMS) set in a file whose version_minor is 0")
    v["x-rans-k-16"] = (file_rd(rans_d(s_rans(RD_VALUES, params=6))), "RansTableError", "§6.1.1",
                        "params K field 6: K = 16 > 15")
    v["x-rans-lanes-64"] = (file_rd(rans_d(s_rans(RD_VALUES, params=four(12) | 6 << 3))), "LimitError", "§6.1.1",
                            "params j = 6: 64 lanes > 32")
    v["x-rans-model-3"] = (file_rd(rans_d(s_rans(RD_VALUES, params=four(12) | 3 << 6))), "UnsupportedFeatureError",
                           "§6.1.3", "context model 3 (reserved)")
    v["x-rans-model-prevgap-values"] = (file_rd(rans_d(s_rans(RD_VALUES, model=1))), "UnsupportedFeatureError",
                                        "§6.1.3", "model PREV_GAP on a DENSE values stream")
    v["x-rans-model-rowclass-gaps"] = (file_rans(rans_w(gaps=[s_rans(W_GAPS, model=2, row_class=[0] * 5)]), "w", 2,
                                                 (2, 6)), "UnsupportedFeatureError", "§6.1.3",
                                       "model ROW_CLASS on a gap stream")
    v["x-rans-model-rowclass-counts"] = (file_rans(sparse_w(counts=s_rans(W_COUNTS, model=2, row_class=[0, 0])),
                                                   "w", 2, (2, 6)), "UnsupportedFeatureError", "§6.1.3",
                                         "model ROW_CLASS on the row-count stream")
    v["x-rans-t-1"] = (file_rd(rans_d(s_rans([0] * 40, t=1, freqs=[[4096]]))), "RansTableError", "§6.1.1",
                       "T = 1")
    v["x-rans-t-over-alphabet"] = (file_rd(rans_d(s_rans(RD_VALUES, freqs=[[1000, 2000, 1000, 96]]))),
                                   "RansTableError", "§6.1.1", "T = 4 > alphabet 3")
    big = [s for s in range(1025) if s != 1023]
    v["x-rans-t-over-2k"] = (one("g", 1, 1, (1024,), quant_head(11, 0, [float(i) for i in range(1025)]) +
                                 s_rans(big, k=10, freqs=[[1] * 1023 + [0, 1]], t=1025), minor=1, flags=RANS_FLAG),
                             "RansTableError", "§6.1.1", "K = 10 and T = 1025 > 2^K")
    v["x-rans-freq-over-budget"] = (file_rd(rans_d(s_rans(RD_VALUES, tables=bits_to_bytes(
        1 << 24 | 3000 << 11 | 1100, 25)))), "RansTableError", "§6.1.2",
        "f[0] = 3000, then f[1] = 1100 > the remaining budget 1096")
    v["x-rans-last-zero"] = (file_rd(rans_d(s_rans([0, 1] * 20, freqs=[[2048, 2048, 0]]))), "RansTableError",
                             "§6.1.2", "f[T-1] = 0 in the only table (T not minimal)")
    v["x-rans-no-table"] = (file_rans(rans_w(gaps=[s_rans(W_GAPS, model=1, tables=bytes(1))]), "w", 2, (2, 6)),
                            "RansTableError", "§6.1.2", "PREV_GAP stream whose six used bits are all 0")
    v["x-rans-table-pad"] = (file_rd(rans_d(s_rans(RD_VALUES, table_pad=1))), "BitstreamError", "§6.1.2",
                             "a non-zero padding bit after the frequency table")
    v["x-rans-table-truncated"] = (one("g", 1, 1, (400,), quant_head(9, 0, [float(i) for i in range(400)]) +
                                       bytes([3, 2]) + varint(400) + varint(0) + b"\x80" + bytes(19), minor=1,
                                       flags=RANS_FLAG), "TruncatedError", "§6.1.1",
                                   "T = 400: 399 fields of 13 bits need 649 bytes; the payload ends after 20")
    v["x-rans-empty-lane"] = (file_rd(rans_d(s_rans(RD_VALUES[:5], lanes=4)), shape=(5,)), "BitstreamError",
                              "§6.1.1", "4 lanes for 5 symbols: S = 2, lane 3 owns no symbol")
    v["x-rans-words-truncated"] = (file_rd(rans_d(s_rans(RD_VALUES, nwords=len(_rans_words(RD_VALUES)) + 1))),
                                   "TruncatedError", "§6.1.1", "nwords one more than the words present")
    huge = 1 << 20
    v["x-rans-ratio"] = (file_rans(dense_d(bytes([3, 2]) + varint(2) + varint(0) + rans_tables([[0, 4096]], 12) +
                                           struct.pack("<I", RANS_L)), "d", 1, (huge,)),
                         "LimitError", "§6.1.1, §9", f"{huge} symbols from a 10-byte RANS stream (> 4096 per byte)")
    v["x-rans-state-low"] = (file_rd(rans_d(s_rans(RD_VALUES, states=[RANS_L - 1]))), "BitstreamError", "§6.1.1",
                             "initial state 2^16 - 1 < L")
    v["x-rans-words-exhausted"] = (file_rd(rans_d(s_rans(RD_VALUES * 20, words=[])), shape=(800,)),
                                   "BitstreamError", "§6.1.4", "nwords = 0 but decoding needs renormalisation words")
    v["x-rans-words-left"] = (file_rd(rans_d(s_rans(RD_VALUES * 20, words=_rans_words(RD_VALUES * 20) + [7])),
                                      shape=(800,)),
                              "BitstreamError", "§6.1.4", "one renormalisation word left over after the last symbol")
    ws = _rans_words(RD_VALUES * 20)
    ws[0] ^= 0x0100
    v["x-rans-end-state"] = (file_rd(rans_d(s_rans(RD_VALUES * 20, words=ws)), shape=(800,)), "BitstreamError",
                             "§6.1.4", "one flipped bit in the first word: the decoder falls out of step with the encoder")
    v["x-rans-rowclass-unused"] = (file_rans(rans_w(classes=True, values=s_rans(
        W_VALUES, model=2, row_class=[1, 1, 0], tables=rans_tables([None, rans_normalise([1, 1, 1], 12)], 12))),
        "w", 2, (2, 6)),
                                   "BitstreamError", "§6.1.3", "ROW_CLASS: row 1 (class 0) has an entry, table 0 is unused")
    v["x-rans-prevgap-unused"] = (file_rans(rans_w(gaps=[s_rans(W_GAPS, model=1, tables=rans_tables(
        [[0, 4096, 0, 0], [0, 2048, 0, 2048], None, None, None, None], 12))]), "w", 2, (2, 6)),
                                  "BitstreamError", "§6.1.3",
                                  "PREV_GAP: the second gap follows a 1 (context 2), whose table is unused")
    return v


def _rans_words(symbols: Sequence[int]) -> list[int]:
    ctx = [0] * len(symbols)
    f = rans_normalise([symbols.count(s) for s in range(max(symbols) + 1)], 12)
    return rans_encode(symbols, ctx, [f], 12, 1)[1]


def meta_vectors() -> dict[str, Vector]:
    v: dict[str, Vector] = {}
    secs = base_sections()

    def with_meta(payload: bytes) -> bytes:
        return assemble([secs[0], (b"META", payload)] + secs[2:])

    cases = {
        "x-meta-bad-utf8": (b'{"k":"\xff"}', "a string that is not UTF-8"),
        "x-meta-not-json": (b'{"k":1,}', "a trailing comma"),
        "x-meta-empty": (b"", "an empty payload"),
        "x-meta-top-array": (b"[1,2]", "a top-level array"),
        "x-meta-top-string": (b'"model"', "a top-level string"),
        "x-meta-dup-key": (b'{"a":1,"a":2}', "a duplicated key"),
        "x-meta-dup-nested": (b'{"a":{"b":1,"c":{"d":1,"d":1}}}', "a duplicated key in a nested object"),
        "x-meta-nan": (b'{"lr":NaN}', "the token NaN"),
        "x-meta-infinity": (b'{"lr":-Infinity}', "the token -Infinity"),
        "x-meta-deep-65": (b'{"a":' + b"[" * 64 + b"]" * 64 + b"}", "arrays and objects nested 65 deep"),
        "x-meta-deep-100k": (b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}", "nested 100001 deep"),
        "x-meta-two-texts": (b'{"a":1}{"b":2}', "two JSON texts"),
        "x-meta-single-quotes": (b"{'a':1}", "single-quoted keys"),
        "x-meta-overflow": (b'{"lr":1e400}', "a number that overflows binary64"),
        "x-meta-long-int": (b'{"n":' + b"9" * 21 + b"}", "an integer of 21 digits"),
        "x-meta-surrogate": (b'{"s":"\\ud800"}', "an unpaired surrogate escape"),
        "x-meta-bom": (b"\xef\xbb\xbf{}", "a leading byte-order mark"),
    }
    for key, (payload, desc) in cases.items():
        v[key] = (with_meta(payload), "MetadataError", "§7", desc)
    return v


# A small valid graph (spec/GRAPH.md): y = softmax(relu(x W^T + b)), W and b stored RAW float32.
G_W = np.arange(12, dtype="<f4").reshape(3, 4) / 8
G_B = np.array([0.5, -0.5, 0.25], "<f4")


def graph_doc() -> dict:
    return {
        "graph_version": 1,
        "inputs": [{"name": "x", "shape": ["N", 4], "dtype": "float32"}],
        "outputs": [{"name": "y", "shape": ["N", 3], "dtype": "float32"}],
        "nodes": [
            {"op": "Linear", "name": "fc", "inputs": ["x", "fc.w", "fc.b"], "outputs": ["h"], "attrs": {}},
            {"op": "ReLU", "name": "act", "inputs": ["h"], "outputs": ["r"], "attrs": {}},
            {"op": "Softmax", "name": "sm", "inputs": ["r"], "outputs": ["y"], "attrs": {"axis": -1}},
        ],
    }


def graph_json(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def graph_file(payload: bytes | None = None) -> bytes:
    """TABL (fc.w, fc.b) + GRPH + two RAW DATA sections."""
    tab = table([entry("fc.w", 1, 0, (3, 4)), entry("fc.b", 1, 0, (3,))])
    body = graph_json(graph_doc()) if payload is None else payload
    return assemble([(b"TABL", tab), (b"GRPH", body), (b"DATA", raw_payload(G_W.tobytes())),
                     (b"DATA", raw_payload(G_B.tobytes()))])


def graph_vectors() -> dict[str, Vector]:
    v: dict[str, Vector] = {}

    def edited(fn: Callable[[dict], None]) -> bytes:
        doc = graph_doc()
        fn(doc)
        return graph_file(graph_json(doc))

    def node(i: int) -> Callable[[dict], dict]:
        return lambda d: d["nodes"][i]

    def put(path: Callable[[dict], dict], key: str, value) -> Callable[[dict], None]:
        return lambda d: path(d).__setitem__(key, value)

    text = graph_json(graph_doc())
    cases: dict[str, tuple[bytes, str, str]] = {
        "x-graph-missing-tensor": (edited(lambda d: d["nodes"][0]["inputs"].__setitem__(1, "fc.weight")), "§3.1",
                                   "Linear reads 'fc.weight', which the file does not store"),
        "x-graph-unknown-op": (edited(put(node(1), "op", "Swish")), "§4", "unknown op 'Swish'"),
        "x-graph-unknown-attr": (edited(put(node(1), "attrs", {"alpha": 0.1})), "§4", "ReLU with an attribute"),
        "x-graph-attr-type": (edited(put(node(2), "attrs", {"axis": "1"})), "§4", "Softmax axis given as a string"),
        "x-graph-attr-range": (edited(put(node(2), "attrs", {"axis": 8})), "§4", "Softmax axis 8 outside [-8, 7]"),
        "x-graph-attr-bool-int": (edited(put(node(2), "attrs", {"axis": True})), "§4", "Softmax axis true (a bool)"),
        "x-graph-missing-attr": (edited(lambda d: d["nodes"].insert(2, {"op": "Concat", "name": "cat", "inputs": ["r"],
                                                                          "outputs": ["c"], "attrs": {}})) , "§4",
                                 "Concat without its required axis"),
        "x-graph-version-3": (edited(put(lambda d: d, "graph_version", 3)), "§3", "graph_version 3"),
        "x-graph-lrn-in-version-1": (edited(lambda d: d["nodes"].insert(2, {
            "op": "LRN", "name": "lrn", "inputs": ["r"], "outputs": ["q"], "attrs": {"size": 5}})), "§4, §7",
            "an LRN node in a graph that declares graph_version 1 (LRN arrived in 2)"),
        "x-graph-lrn-size-0": (edited(lambda d: (d.__setitem__("graph_version", 2), d["nodes"].insert(2, {
            "op": "LRN", "name": "lrn", "inputs": ["r"], "outputs": ["q"], "attrs": {"size": 0}}))), "§4",
            "LRN size 0 outside [1, 1023]"),
        "x-graph-unknown-key": (edited(put(lambda d: d, "comment", "hi")), "§3", "an unknown top-level key"),
        "x-graph-node-key-missing": (edited(lambda d: d["nodes"][1].pop("attrs")), "§3", "a node without 'attrs'"),
        "x-graph-use-before-def": (edited(lambda d: d["nodes"].reverse()), "§3.1",
                                   "nodes in reverse order: a value is used before it is defined"),
        "x-graph-value-twice": (edited(put(node(1), "outputs", ["h"])), "§3.1", "value 'h' defined twice"),
        "x-graph-shadows-tensor": (edited(put(node(1), "outputs", ["fc.b"])), "§3.1",
                                   "a node output named like a stored tensor"),
        "x-graph-weight-not-stored": (edited(lambda d: d["nodes"][0]["inputs"].__setitem__(1, "x")), "§3.1, §4",
                                      "Linear's stored weight input names the graph input"),
        "x-graph-output-undefined": (edited(lambda d: d["outputs"][0].__setitem__("name", "z")), "§3.1",
                                     "graph output 'z' is never defined"),
        "x-graph-node-name-twice": (edited(put(node(1), "name", "fc")), "§3.1", "two nodes named 'fc'"),
        "x-graph-no-inputs": (edited(put(lambda d: d, "inputs", [])), "§3", "no graph inputs"),
        "x-graph-arity": (edited(lambda d: d["nodes"][1]["inputs"].append("x")), "§4", "ReLU with two inputs"),
        "x-graph-bad-dim": (edited(lambda d: d["inputs"][0].__setitem__("shape", ["N", -4])), "§3",
                            "a negative input dimension"),
        "x-graph-unknown-dim": (edited(lambda d: d["inputs"][0].__setitem__("shape", [None, 4])), "§3",
                                "null (unknown) dimension in a graph input"),
        "x-graph-dtype": (edited(lambda d: d["inputs"][0].__setitem__("dtype", "float16")), "§3", "dtype float16"),
        "x-graph-name-control": (edited(put(node(1), "name", "act\n")), "§3", "a node name with a line feed"),
        "x-graph-reshape-two-infer": (edited(lambda d: d["nodes"].insert(2, {
            "op": "Reshape", "name": "rs", "inputs": ["r"], "outputs": ["q"], "attrs": {"shape": [-1, -1]}})),
            "§4", "Reshape with two -1 entries"),
        "x-graph-perm": (edited(lambda d: d["nodes"].insert(2, {
            "op": "Transpose", "name": "t", "inputs": ["r"], "outputs": ["q"], "attrs": {"perm": [0, 0]}})),
            "§4", "Transpose perm [0, 0] is not a permutation"),
        "x-graph-split-outputs": (edited(lambda d: d["nodes"].insert(2, {
            "op": "Split", "name": "sp", "inputs": ["r"], "outputs": ["a", "b"], "attrs": {"axis": 1, "split": [1, 1, 1]}})),
            "§4", "Split with 3 sizes and 2 outputs"),
        "x-graph-dup-key": (text.replace(b'"graph_version":1', b'"graph_version":1,"graph_version":1'), "§2",
                            "a duplicated key"),
        "x-graph-bom": (b"\xef\xbb\xbf" + text, "§2", "a leading UTF-8 byte-order mark"),
        "x-graph-not-utf8": (text.replace(b'"act"', b'"act\xff"'), "§2", "a name that is not UTF-8"),
        "x-graph-surrogate": (text.replace(b'"act"', b'"act\\ud800"'), "§2", "an unpaired surrogate escape"),
        "x-graph-nan": (text.replace(b'"axis":-1', b'"axis":NaN'), "§2", "NaN"),
        "x-graph-float-overflow": (text.replace(b'"axis":-1', b'"axis":1e400'), "§2", "a number beyond binary64"),
        "x-graph-long-int": (text.replace(b'"axis":-1', b'"axis":-100000000000000000000'), "§2",
                             "an integer with 21 digits"),
        "x-graph-deep": (text.replace(b'"attrs":{"axis":-1}', b'"attrs":{"axis":[[[[[[-1]]]]]]}'), "§2",
                         "nesting depth 10 > 8"),
        "x-graph-not-json": (text[:-1], "§2", "a truncated JSON text"),
        "x-graph-top-array": (b"[" + text + b"]", "§3", "a top-level array"),
    }
    for key, (data, clause, desc) in cases.items():
        v[key] = (data if data.startswith(SIGNATURE) else graph_file(data), "GraphError", clause, desc)
    return v


RANS_FILE_LEVEL = ("x-rans-flag-minor-0",)  # preamble defects: no tensor at fault


def all_vectors() -> dict[str, Vector]:
    out: dict[str, Vector] = {}
    for make in (framing_vectors, table_vectors, payload_vectors, stream_vectors, rans_vectors, meta_vectors,
                 graph_vectors):
        part = make()
        assert not set(part) & set(out)
        out |= part
    return out


def tensor_at_fault(name: str, data: bytes) -> str | None:
    """The tensor whose DATA payload holds the defect (files with one tensor and a payload-level defect)."""
    if name not in set(payload_vectors()) | set(stream_vectors()) | set(rans_vectors()) or name in RANS_FILE_LEVEL:
        return None
    body = data[24 + 16:]
    if body[0] != 1:  # several tensors: a file-level limit
        return None
    return body[2 : 2 + body[1]].decode()


def main(check: bool = False) -> int:
    vectors = all_vectors()
    manifest = {}
    out = OutputFiles(check)
    for name, (data, error, clause, desc) in sorted(vectors.items()):
        fname = f"{name}.dcf"
        manifest[fname] = {"error": error, "clause": clause, "description": desc, "bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}
        if name.startswith("x-rans-"):  # a 1.0 reader stops at flag bit 0 or at coding 3 (§10)
            manifest[fname]["error_1_0"] = "UnsupportedFeatureError"
        culprit = tensor_at_fault(name, data)
        if culprit is not None:
            manifest[fname]["tensor"] = culprit
        out.bytes(HERE / fname, data)
    for name in sorted(p.name for p in HERE.glob("x-*.dcf") if p.name not in manifest):
        out.remove(HERE / name)
    out.manifest(HERE / "manifest.json", manifest, ensure_ascii=False)
    return out.finish()


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
