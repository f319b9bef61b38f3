"""File preamble and section framing (spec §2, §3): signature, header, CRC-32 per section.

The reader walks section *headers* only (16 bytes each) to check that the
sections tile the file exactly; a payload's CRC is verified just before that
payload is interpreted.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ..binary import Cursor
from ..errors import (
    BadMagicError,
    ChecksumError,
    LayoutError,
    LimitError,
    TrailingDataError,
    TruncatedError,
    UnsupportedFeatureError,
    UnsupportedVersionError,
)
from ..limits import Limits
from .format import (
    FILE_HEADER_CRC_SPAN,
    FILE_HEADER_SIZE,
    FLAG_RANS_STREAMS,
    FLAGS_KNOWN,
    FLAGS_MUST_UNDERSTAND_MASK,
    PREAMBLE_SIZE,
    SECTION_CRC_SIZE,
    SECTION_FLAGS_KNOWN,
    SECTION_HEADER_SIZE,
    SIGNATURE,
    VERSION_MAJOR,
    SectionTrailer,
    VERSION_MINOR,
    VERSION_MINOR_RANS,
    FileHeader,
    SectionHeader,
    is_valid_kind,
    padding_after,
)


@dataclass(frozen=True)
class SectionRef:
    """Where one section lives in the file."""

    index: int
    kind: bytes
    offset: int  # of the section header
    length: int  # payload bytes

    @property
    def payload_offset(self) -> int:
        return self.offset + SECTION_HEADER_SIZE

    @property
    def crc_offset(self) -> int:
        return self.payload_offset + self.length

    @property
    def end(self) -> int:
        """Offset just after the CRC (before padding)."""
        return self.crc_offset + SECTION_CRC_SIZE


def build_preamble(section_count: int, flags: int = 0) -> bytes:
    """Signature and file header. A file that uses RANS streams is 1.1 (§2.2 flag bit 0); any other file is 1.0."""
    minor = VERSION_MINOR_RANS if flags & FLAG_RANS_STREAMS else VERSION_MINOR
    fields = dict(version_major=VERSION_MAJOR, version_minor=minor, flags=flags, section_count=section_count)
    crc = zlib.crc32(FileHeader.build(fields, header_crc=0)[:FILE_HEADER_CRC_SPAN])
    return SIGNATURE + FileHeader.build(fields, header_crc=crc)


def build_section(kind: bytes, payload: bytes, offset: int) -> bytes:
    """One framed section starting at file offset ``offset`` (which must be 8-aligned), padding included."""
    head = SectionHeader.build(dict(kind=kind, flags=0, length=len(payload)))
    crc = zlib.crc32(payload, zlib.crc32(head))
    end = offset + len(head) + len(payload) + SECTION_CRC_SIZE
    return head + payload + SectionTrailer.build(crc=crc) + bytes(padding_after(end))


def _describe_magic(got: bytes) -> str:
    if got[:1] == b"\x09" and got[1:4] == SIGNATURE[1:4]:
        return "the high bit of byte 0 was cleared (7-bit transport?)"
    if got.startswith(b"\x89DCF\n"):
        return "CR LF was converted to LF (text-mode transfer?)"
    if got[1:4].upper() == b"DCF" and got[1:4] != b"DCF":
        return "letter case changed"
    return "not a dcformat file"


def read_preamble(buf: memoryview, limits: Limits) -> int:
    """Validate signature and file header; return the declared section count."""
    cur = Cursor(buf)
    size = len(buf)
    if size > limits.max_file_bytes:
        raise LimitError(f"file is {size} bytes, Limits.max_file_bytes={limits.max_file_bytes}", field="file", offset=0)
    got = bytes(buf[: len(SIGNATURE)])
    if got != SIGNATURE:
        if SIGNATURE.startswith(got):
            raise TruncatedError(f"file ends inside the {len(SIGNATURE)}-byte signature", field="signature", offset=len(got))
        raise BadMagicError(f"bad signature {got.hex(' ')}: {_describe_magic(got)}", field="signature", offset=0)
    cur.pos = len(SIGNATURE)
    raw = cur.take(FILE_HEADER_SIZE, "file_header")
    head = FileHeader.parse(raw)
    if head.version_major != VERSION_MAJOR:
        hint = " (byte-swapped? dcformat is little-endian)" if head.version_major == VERSION_MAJOR << 8 else ""
        raise UnsupportedVersionError(
            f"file is v{head.version_major}.{head.version_minor}, this library reads v{VERSION_MAJOR}.x{hint}",
            field="version_major",
            offset=8,
        )
    crc = zlib.crc32(bytes(raw[:FILE_HEADER_CRC_SPAN]))
    if crc != head.header_crc:
        raise ChecksumError(
            f"file header CRC is {head.header_crc:#010x}, computed {crc:#010x}", field="header_crc", offset=20
        )
    unknown = head.flags & FLAGS_MUST_UNDERSTAND_MASK & ~FLAGS_KNOWN
    if unknown:
        raise UnsupportedFeatureError(
            f"must-understand file flag(s) {unknown:#06x} unknown to this reader (v{VERSION_MAJOR}.{VERSION_MINOR})",
            field="flags",
            offset=12,
        )
    if head.flags & FLAG_RANS_STREAMS and head.version_minor < VERSION_MINOR_RANS:
        raise UnsupportedFeatureError(
            f"flag bit 0 (RANS_STREAMS) is defined from v1.{VERSION_MINOR_RANS}; this file says v1.{head.version_minor}",
            field="flags",
            offset=12,
        )
    if head.section_count > limits.max_sections:
        raise LimitError(f"{head.section_count} sections > Limits.max_sections", field="section_count", offset=16)
    if head.section_count * (SECTION_HEADER_SIZE + SECTION_CRC_SIZE) > size - PREAMBLE_SIZE:
        raise TruncatedError(
            f"{head.section_count} sections cannot fit in the {size - PREAMBLE_SIZE} bytes after the header",
            field="section_count",
            offset=16,
        )
    return head.section_count


def file_flags(buf: memoryview) -> int:
    """The header's flags field (call after :func:`read_preamble` has validated the header)."""
    return FileHeader.parse(buf, len(SIGNATURE)).flags


def walk_sections(buf: memoryview, count: int) -> list[SectionRef]:
    """Locate every section from its header; the sections must tile the rest of the file exactly."""
    size = len(buf)
    pos = PREAMBLE_SIZE
    refs: list[SectionRef] = []
    for i in range(count):
        cur = Cursor(buf, pos)
        raw = cur.take(SECTION_HEADER_SIZE, f"section[{i}].header")
        head = SectionHeader.parse(raw)
        kind = bytes(head.kind)
        if not is_valid_kind(kind):
            raise LayoutError(f"section {i} kind {kind!r} is not four ASCII letters", field="kind", offset=pos)
        if head.flags & ~SECTION_FLAGS_KNOWN:
            raise UnsupportedFeatureError(
                f"section {i} ({kind.decode()}) sets reserved flag(s) {head.flags:#010x}", field="flags", offset=pos + 4
            )
        if head.length > size - cur.pos - SECTION_CRC_SIZE:
            raise TruncatedError(
                f"section {i} ({kind.decode()}) declares {head.length} payload bytes, "
                f"{max(size - cur.pos - SECTION_CRC_SIZE, 0)} remain",
                field="length",
                offset=pos + 8,
            )
        ref = SectionRef(i, kind, pos, head.length)
        pad = padding_after(ref.end)
        if ref.end + pad > size:
            raise TruncatedError(f"section {i} padding runs past the end of the file", field="padding", offset=ref.end)
        if any(buf[ref.end : ref.end + pad]):
            raise LayoutError(f"section {i} padding bytes must be zero", field="padding", offset=ref.end)
        refs.append(ref)
        pos = ref.end + pad
    if pos != size:
        raise TrailingDataError(f"{size - pos} bytes after the last of {count} sections", field="file", offset=pos)
    return refs


def verified_payload(buf: memoryview, ref: SectionRef, *, tensor: str | None = None) -> memoryview:
    """The payload of ``ref`` after its CRC-32 has been checked."""
    framed = buf[ref.offset : ref.crc_offset]
    stored = SectionTrailer.parse(buf, ref.crc_offset).crc
    crc = zlib.crc32(framed)
    if crc != stored:
        raise ChecksumError(
            f"{ref.kind.decode()} section CRC is {stored:#010x}, computed {crc:#010x}",
            tensor=tensor,
            field="crc",
            offset=ref.crc_offset,
        )
    return buf[ref.payload_offset : ref.crc_offset]
