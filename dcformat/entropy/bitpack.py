"""MSB-first bit packing of integer sequences, vectorised with NumPy.

The format writes every bit sequence MSB first (the first bit is the most
significant bit of the first byte) and zero-pads it to a whole byte. Both the
FIXED coding (``width`` bits per symbol) and the Huffman codeword data
(variable-length codes) are such sequences, so one packer serves both:
:func:`pack_codes` places each code at its running bit offset.

Errors raised while *reading* are :class:`~dcformat.errors.BitstreamError`
whose ``offset`` is the byte index **relative to the buffer passed in**;
:mod:`dcformat.entropy.streams` rebases them to absolute file offsets.
"""

from __future__ import annotations

import numpy as np

from ..errors import BitstreamError

from ..container.format import MAX_WIDTH

# Symbols processed per block: bounds the temporaries (a few 8-byte arrays per
# symbol) to tens of MiB whatever the stream length.
_BLOCK = 1 << 20


def _as_bytes_array(buf: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """View ``buf`` as a 1-D uint8 array without copying."""
    if isinstance(buf, np.ndarray):
        return buf.reshape(-1).view(np.uint8)
    return np.frombuffer(buf, dtype=np.uint8)


def check_padding(data: np.ndarray, total_bits: int) -> None:
    """Require ``len(data) == ceil(total_bits / 8)`` and zero padding bits.

    Both rules make the encoding of a bit sequence unique, so that a file has
    exactly one valid byte form (no hidden data in slack bits or bytes).
    """
    need = (total_bits + 7) >> 3
    if len(data) != need:
        if len(data) > need:
            raise BitstreamError(
                f"{len(data) - need} extra byte(s) after the {total_bits}-bit sequence "
                f"(expected {need} bytes, found {len(data)})",
                offset=need,
            )
        raise BitstreamError(
            f"bit sequence of {total_bits} bits needs {need} bytes, found {len(data)}",
            offset=len(data),
        )
    pad = need * 8 - total_bits
    if pad and int(data[-1]) & ((1 << pad) - 1):
        raise BitstreamError(f"non-zero padding bit(s) in the last {pad} bit(s)", offset=need - 1)


def pack_codes(codes: np.ndarray, lengths: np.ndarray) -> tuple[bytes, int]:
    """Concatenate ``codes[i]`` (``lengths[i]`` bits each, 1..32) MSB first.

    Returns the zero-padded bytes and the exact number of bits. Each code is
    shifted into a 64-bit window at its bit offset; as codes occupy disjoint
    bits, OR equals ADD, so the two 32-bit halves are accumulated into big-endian
    output words with ``np.bincount`` (exact: every word sum is < 2**32, well
    inside float64's 53-bit integer range).
    """
    codes = np.asarray(codes).reshape(-1)
    lens = np.asarray(lengths).reshape(-1).astype(np.int64, copy=False)
    n = len(codes)
    if len(lens) != n:
        raise ValueError("codes and lengths differ in size")
    if n == 0:
        return b"", 0
    total = int(lens.sum())
    n_words = (total + 31) // 32 + 1
    words = np.zeros(n_words, dtype=np.uint64)
    bit0 = 0
    for lo in range(0, n, _BLOCK):
        c = codes[lo : lo + _BLOCK].astype(np.uint64, copy=False)
        ln = lens[lo : lo + _BLOCK]
        ends = np.cumsum(ln)
        starts = ends - ln
        starts += bit0
        bit0 += int(ends[-1])
        widx = starts >> 5
        shift = (64 - (starts & 31) - ln).astype(np.uint64)
        v = c << shift
        w_first = int(widx[0])
        w_local = widx - w_first
        size = int(w_local[-1]) + 2
        acc = np.bincount(w_local, weights=(v >> np.uint64(32)).astype(np.float64), minlength=size)
        acc[1:] += np.bincount(
            w_local, weights=(v & np.uint64(0xFFFFFFFF)).astype(np.float64), minlength=size
        )[: size - 1]
        words[w_first : w_first + size] += acc.astype(np.uint64)
    out = words.astype(">u4").tobytes()
    return out[: (total + 7) >> 3], total


def pack_bits(values: np.ndarray, width: int) -> bytes:
    """Pack non-negative integers ``width`` bits each (1..32), MSB first, zero-padded.

    Raises ``ValueError`` (a writer-side error) if a value does not fit.
    """
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width {width} outside 1..{MAX_WIDTH}")
    values = np.asarray(values).reshape(-1)
    if values.size == 0:
        return b""
    if values.dtype.kind not in "iu":
        raise ValueError(f"pack_bits needs integers, got {values.dtype}")
    if int(values.min()) < 0 or int(values.max()) >> width:
        raise ValueError(f"a value does not fit in {width} bits")
    if width in (8, 16, 32):
        return values.astype(f">u{width // 8}").tobytes()
    out, _ = pack_codes(values, np.full(values.size, width, dtype=np.int64))
    return out


def unpack_bits(buf: bytes | memoryview | np.ndarray, n: int, width: int) -> np.ndarray:
    """Read ``n`` integers of ``width`` bits (1..32) packed MSB first; returns uint32.

    ``buf`` must be exactly ``ceil(n * width / 8)`` bytes with zero padding
    bits, else :class:`BitstreamError` (offset relative to ``buf``).
    """
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width {width} outside 1..{MAX_WIDTH}")
    if n < 0:
        raise ValueError("n must be >= 0")
    data = _as_bytes_array(buf)
    check_padding(data, n * width)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    if width in (8, 16, 32):
        return data.view(f">u{width // 8}").astype(np.uint32)
    # Each value spans at most 5 bytes (7 offset bits + 32); read an 8-byte
    # big-endian window at its first byte and shift the value out.
    padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 8)
    out = np.empty(n, dtype=np.uint32)
    mask = np.uint64((1 << width) - 1)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        starts = np.arange(lo, hi, dtype=np.int64) * width
        win = np.ascontiguousarray(windows[starts >> 3]).view(">u8").reshape(-1)
        shift = (64 - width - (starts & 7)).astype(np.uint64)
        out[lo:hi] = (win.astype(np.uint64) >> shift) & mask
    return out
