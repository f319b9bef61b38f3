"""Single source of truth for the bytes of a dcformat file (spec/FORMAT.md).

Every constant, enum value and fixed-layout record named in the spec is defined
here once, records as declarative ``construct`` structs named with the spec's
field names (after pyelftools' ``structs.py``); the reader, the writer, the
stages and the tools import them from here. Variable-length parts (varints,
symbol streams) are read by hand-written code (``binary.Cursor``,
``entropy.streams``), which takes its limits from here.
"""

from __future__ import annotations

import enum
import struct
from collections import namedtuple
from typing import Any, Mapping

import construct as cs
import numpy as np


class Record:
    """One fixed-layout record of the spec: a declarative ``construct`` Struct named with the spec's field names.

    The Struct is the definition (and builds the bytes). Reading goes through
    a ``struct.Struct`` compiled from it once: construct's own parse costs
    6-20 us per record even compiled, which readers of many-tensor files
    would pay several times per tensor; ``unpack_from`` costs ~0.2 us.
    """

    _CODES = {cs.Int8ul: "B", cs.Int16ul: "H", cs.Int32ul: "I", cs.Int64ul: "Q"}

    def __init__(self, name: str, *fields: Any) -> None:
        self.struct = cs.Struct(*fields)
        self.names = tuple(sc.name for sc in self.struct.subcons)
        codes = [self._code(sc.subcon) for sc in self.struct.subcons]
        self.fields = tuple((n, struct.Struct("<" + c)) for n, c in zip(self.names, codes))  # one at a time
        self._all = struct.Struct("<" + "".join(codes))
        self.size = self._all.size
        self._tuple = namedtuple(name, self.names)  # type: ignore[misc]
        if self.size != self.struct.sizeof():
            raise AssertionError(f"{name}: compiled layout disagrees with the construct definition")

    @classmethod
    def _code(cls, con: Any) -> str:
        if con in cls._CODES:
            return cls._CODES[con]
        if isinstance(con, cs.Bytes) and isinstance(con.length, int):
            return f"{con.length}s"
        raise TypeError(f"no fixed-width code for {con!r}")

    def sizeof(self) -> int:
        return self.size

    def build(self, values: Mapping[str, Any] | None = None, **kw: Any) -> bytes:
        return self.struct.build({**(values or {}), **kw})

    def parse(self, data: bytes | memoryview, offset: int = 0):
        """The fields as a named tuple (``data`` holds at least ``size`` bytes from ``offset``)."""
        return self._tuple._make(self._all.unpack_from(data, offset))

# §1 Conventions: varints are minimal unsigned LEB128 of at most 10 bytes, value < 2**64.
VARINT_MAX_BYTES = 10
VARINT_MAX_VALUE = (1 << 64) - 1

# §2.1 Signature: like PNG's, it catches 8-bit stripping (0x89), CRLF <-> LF
# conversion (\r\n, \n) and DOS end-of-file truncation (0x1A).
SIGNATURE = b"\x89DCF\r\n\x1a\n"

VERSION_MAJOR = 1
VERSION_MINOR = 0  # what a writer puts in a file that uses no 1.1 feature (such files stay 1.0, byte for byte)
VERSION_MINOR_RANS = 1  # §13: format 1.1 added RANS streams; a file with one has this minor version

# §2.2 File header flags: the low 16 bits are must-understand (a reader rejects
# any it does not know); the high 16 bits are ignorable.
FLAGS_MUST_UNDERSTAND_MASK = 0x0000FFFF
FLAG_RANS_STREAMS = 0x00000001  # bit 0 (1.1): the file contains at least one RANS stream (§6.1)
FLAGS_KNOWN = FLAG_RANS_STREAMS

FileHeader = Record(
    "FileHeader",
    "version_major" / cs.Int16ul,
    "version_minor" / cs.Int16ul,
    "flags" / cs.Int32ul,
    "section_count" / cs.Int32ul,
    "header_crc" / cs.Int32ul,
)
FILE_HEADER_SIZE = 16
FILE_HEADER_CRC_SPAN = 12  # header_crc covers the 12 bytes before it
PREAMBLE_SIZE = len(SIGNATURE) + FILE_HEADER_SIZE  # 24: first section starts here

# §3 Section framing.
SectionHeader = Record(
    "SectionHeader",
    "kind" / cs.Bytes(4),
    "flags" / cs.Int32ul,
    "length" / cs.Int64ul,
)
SectionTrailer = Record("SectionTrailer", "crc" / cs.Int32ul)  # after the payload, before the padding
SECTION_HEADER_SIZE = 16
SECTION_CRC_SIZE = 4
SECTION_ALIGNMENT = 8
SECTION_FLAGS_KNOWN = 0x00000000  # every section flag is reserved (must-understand) in 1.0


class SectionKind(bytes, enum.Enum):
    """Known section kinds. A first byte in A-Z marks a critical section."""

    TABLE = b"TABL"
    METADATA = b"META"
    GRAPH = b"GRPH"
    DATA = b"DATA"


def is_critical(kind: bytes) -> bool:
    """PNG's rule: an upper-case first letter means a reader must understand the section."""
    return 0x41 <= kind[0] <= 0x5A


def is_valid_kind(kind: bytes) -> bool:
    return len(kind) == 4 and all(0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A for c in kind)


def padding_after(end: int) -> int:
    """Zero bytes that follow a section ending at ``end`` so the next one starts 8-aligned."""
    return (-end) % SECTION_ALIGNMENT


class DType(enum.IntEnum):
    """§4.2 element types. Values are on-disk codes; never renumber."""

    FLOAT32 = 1
    FLOAT16 = 2
    FLOAT64 = 3
    INT8 = 4
    INT16 = 5
    INT32 = 6
    INT64 = 7
    UINT8 = 8
    UINT16 = 9
    UINT32 = 10
    UINT64 = 11
    BOOL = 12


NUMPY_DTYPES: dict[DType, np.dtype] = {
    DType.FLOAT32: np.dtype("<f4"),
    DType.FLOAT16: np.dtype("<f2"),
    DType.FLOAT64: np.dtype("<f8"),
    DType.INT8: np.dtype("i1"),
    DType.INT16: np.dtype("<i2"),
    DType.INT32: np.dtype("<i4"),
    DType.INT64: np.dtype("<i8"),
    DType.UINT8: np.dtype("u1"),
    DType.UINT16: np.dtype("<u2"),
    DType.UINT32: np.dtype("<u4"),
    DType.UINT64: np.dtype("<u8"),
    DType.BOOL: np.dtype("?"),
}
FLOAT_DTYPES = frozenset({DType.FLOAT16, DType.FLOAT32, DType.FLOAT64})


def dtype_code(dtype: np.dtype) -> DType:
    """Map a NumPy dtype to its on-disk code (byte order is normalised to little-endian)."""
    key = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
    for code, dt in NUMPY_DTYPES.items():
        if dt == key:
            return code
    raise ValueError(f"unsupported dtype {np.dtype(dtype)}")


class Encoding(enum.IntEnum):
    """§4 table field ``encoding``: the payload layouts of §5."""

    RAW = 0
    DENSE = 1
    SPARSE = 2


class Compression(enum.IntEnum):
    """§5.1 compression of a RAW payload."""

    NONE = 0
    ZSTD = 1


# §5.1 RAW payload header: compression u8 + 7 reserved zero bytes, so raw data starts 8-aligned.
RawHeader = Record(
    "RawHeader",
    "compression" / cs.Int8ul,
    "reserved" / cs.Bytes(7),
)
RAW_HEADER_SIZE = 8

# §5.2/§5.3 fixed start of a DENSE or SPARSE payload (codebook_size, a varint, follows).
QuantHeader = Record(
    "QuantHeader",
    "code_bits" / cs.Int8ul,
    "index_bits" / cs.Int8ul,
)

# §4 tensor table: per entry name_len varint, name, this record, then ndim shape varints.
TableEntryHead = Record(
    "TableEntryHead",
    "dtype" / cs.Int8ul,
    "encoding" / cs.Int8ul,
    "ndim" / cs.Int8ul,
)
MAX_NDIM = 8  # §4.3
MAX_NAME_BYTES = 1024  # §4.1
TABLE_MIN_ENTRY_BYTES = 5  # name_len, 1 name byte, dtype, encoding, ndim: bounds tensor_count by the payload size

# §5.2/§5.3 code_bits and index_bits
MIN_BITS = 1
MAX_BITS = 16
MAX_ROW_CLASSES = 16  # §5.3 n_classes
RowClassHeader = Record("RowClassHeader", "n_classes" / cs.Int8ul)  # §5.3, after row_counts; class_min varints follow

# §6 Symbol streams: the coding byte, then per coding a fixed part (FIXED: width; HUFFMAN: lw, then varints T and
# nbytes; CONSTANT: only the symbol varint) and the data.
StreamHeader = Record("StreamHeader", "coding" / cs.Int8ul)
FixedStreamHeader = Record("FixedStreamHeader", "width" / cs.Int8ul)
HuffmanStreamHeader = Record("HuffmanStreamHeader", "lw" / cs.Int8ul)
FIXED, HUFFMAN, CONSTANT, RANS = 0, 1, 2, 3  # the coding byte (RANS: format 1.1)
MAX_ALPHABET = 1 << 32
MAX_WIDTH = 32  # FIXED width
MAX_CODE_LEN = 24  # HUFFMAN code lengths
MAX_LW = 5  # HUFFMAN length-field width: bit_length(MAX_CODE_LEN)

# §6.1 RANS streams (format 1.1): the params byte after the coding byte, then varints T and nwords, the bit-packed
# frequency tables, N u32 states and nwords u16 renormalisation words (all little-endian).
RansStreamHeader = Record("RansStreamHeader", "params" / cs.Int8ul)
RANS_PARAM_K_SHIFT, RANS_PARAM_K_MASK = 0, 0x07  # bits 0-2: K - RANS_K_MIN
RANS_PARAM_LANES_SHIFT, RANS_PARAM_LANES_MASK = 3, 0x07  # bits 3-5: j, N = 2**j lanes
RANS_PARAM_MODEL_SHIFT, RANS_PARAM_MODEL_MASK = 6, 0x03  # bits 6-7: context model
RANS_K_MIN, RANS_K_MAX = 10, 15  # frequency precision: tables sum to 2**K
RANS_LOG2_LANES_MAX = 5  # at most 32 lanes
RANS_STATE_LOW = 1 << 16  # L: states live in [L, 2**32); every lane ends on L
RANS_WORD_BITS = 16  # renormalisation word
RANS_STATE_BYTES, RANS_WORD_BYTES = 4, 2
MAX_RANS_RATIO = 4096  # n <= MAX_RANS_RATIO * (bytes of the whole stream) [Limit]


class RansModel(enum.IntEnum):
    """§6.1.3 context models of a RANS stream (params bits 6-7). 3 is reserved."""

    NONE = 0  # one table
    PREV_GAP = 1  # SPARSE gap streams: 6 tables, by the class of the lane's previous gap symbol
    ROW_CLASS = 2  # SPARSE values: n_classes tables, by the row class of the entry's row


PREV_GAP_CONTEXTS = 6  # context 0 = first symbol of a lane's segment; gap symbol g -> prev_gap_class(g)


def prev_gap_class(g: int) -> int:
    """§6.1.3 PREV_GAP context after gap symbol ``g``: 0 (filler) -> 1, 1 -> 2, 2-3 -> 3, 4-7 -> 4, >= 8 -> 5."""
    return 1 + min(int(g).bit_length(), 4)


# Writer policy (§11), not a decoding rule: precision and lane rule of the reference encoder.
RANS_WRITER_K = 12
RANS_WRITER_SHORT_STREAM = 1 << 17  # streams of at most this many symbols try every K in RANS_WRITER_KS_SHORT
RANS_WRITER_KS_SHORT = (10, 11, 12, 13, 14, 15)  # (MiniLM -888 B, SqueezeNet -184 B vs K = 12 only)
RANS_WRITER_MIN_PER_LANE = 4096
