"""Helpers for tests that mutate .dc files (shared by the mutation and C-extension tests)."""

from __future__ import annotations

import struct
import zlib


def fix_crcs(data: bytes) -> bytes:
    """Recompute the header and every section CRC, so that a mutation reaches the payload decoders."""
    buf = bytearray(data)
    if len(buf) >= 24:
        buf[20:24] = struct.pack("<I", zlib.crc32(buf[8:20]))
    pos = 24
    for _ in range(64):
        if pos + 16 > len(buf):
            break
        length = struct.unpack_from("<Q", buf, pos + 8)[0]
        end = pos + 16 + length
        if end + 4 > len(buf):
            break
        buf[end : end + 4] = struct.pack("<I", zlib.crc32(buf[pos:end]))
        pos = end + 4 + (-(end + 4)) % 8
    return bytes(buf)
