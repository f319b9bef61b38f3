"""Bounds-checked little-endian reading and writing of fixed-size fields and varints.

Every read goes through :class:`Cursor`, which compares the requested size with
the bytes that remain *before* touching them, so no declared count can make the
reader allocate or loop beyond what the file can back (spec §9).
"""

from __future__ import annotations

import struct
from typing import Any, Iterator

from .container.format import VARINT_MAX_BYTES, VARINT_MAX_VALUE
from .errors import FormatError, LimitError, TruncatedError


class Cursor:
    """A read position over an immutable buffer, with error context.

    ``base`` is the absolute file offset of ``buf[0]`` so that messages name
    absolute byte offsets even when a cursor reads one section's payload.
    """

    __slots__ = ("buf", "pos", "end", "base", "tensor")

    def __init__(
        self,
        buf: bytes | memoryview,
        pos: int = 0,
        end: int | None = None,
        *,
        base: int = 0,
        tensor: str | None = None,
    ) -> None:
        self.buf = memoryview(buf) if not isinstance(buf, memoryview) else buf
        self.pos = pos
        self.end = len(self.buf) if end is None else end
        self.base = base
        self.tensor = tensor

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    @property
    def offset(self) -> int:
        """Absolute file offset of the next byte to read."""
        return self.base + self.pos

    def error(self, cls: type[FormatError], field: str, message: str, *, at: int | None = None) -> FormatError:
        return cls(message, tensor=self.tensor, field=field, offset=self.offset if at is None else at)

    def need(self, n: int, field: str) -> None:
        if n < 0 or n > self.remaining:
            raise self.error(
                TruncatedError, field, f"needs {n} bytes but only {self.remaining} remain"
            )

    def take(self, n: int, field: str) -> memoryview:
        self.need(n, field)
        view = self.buf[self.pos : self.pos + n]
        self.pos += n
        return view

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return struct.unpack("<H", self.take(2, field))[0]

    def u32(self, field: str) -> int:
        return struct.unpack("<I", self.take(4, field))[0]

    def u64(self, field: str) -> int:
        return struct.unpack("<Q", self.take(8, field))[0]

    def varint(self, field: str) -> int:
        """Unsigned LEB128, minimal encoding only, value < 2**64."""
        start = self.offset
        value = 0
        for i in range(VARINT_MAX_BYTES):
            if self.pos >= self.end:
                raise self.error(TruncatedError, field, "varint runs past the end of its section", at=start)
            byte = self.buf[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise self.error(LimitError, field, "varint is not minimally encoded", at=start)
                if value > VARINT_MAX_VALUE:
                    raise self.error(LimitError, field, "varint exceeds 2**64 - 1", at=start)
                return value
        raise self.error(LimitError, field, f"varint longer than {VARINT_MAX_BYTES} bytes", at=start)

    def fields(self, record: Any, field: str | None = None) -> Iterator[tuple[Any, int]]:
        """A fixed-layout record (``container.format.Record``) field by field, as (value, absolute offset).

        Lazy, so the caller checks each field before the next one is needed:
        with the whole record present it is unpacked at once; otherwise the
        fields are read one at a time and the first missing one raises
        TruncatedError under its spec name (or ``field``, e.g. a stream's name).
        """
        if self.remaining >= record.size:
            at = self.offset
            values = record.parse(self.buf, self.pos)
            self.pos += record.size
            for (_, layout), value in zip(record.fields, values):
                yield value, at
                at += layout.size
            return
        for name, layout in record.fields:
            at = self.offset
            yield layout.unpack(self.take(layout.size, field or name))[0], at

    def expect_end(self, field: str) -> None:
        if self.pos != self.end:
            from .errors import LayoutError

            raise self.error(LayoutError, field, f"{self.end - self.pos} unexpected bytes after the last field")


def varint(value: int) -> bytes:
    """Encode a non-negative int < 2**64 as minimal unsigned LEB128."""
    if value < 0 or value > VARINT_MAX_VALUE:
        raise ValueError(f"varint value out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def u8(v: int) -> bytes:
    return struct.pack("<B", v)


def u16(v: int) -> bytes:
    return struct.pack("<H", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)
