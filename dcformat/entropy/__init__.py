"""Entropy stage: fixed-width bit packing, canonical Huffman, interleaved rANS (1.1), per-stream coding choice.

See :mod:`.streams` for the byte layout of a symbol stream.
"""

from .bitpack import pack_bits, unpack_bits
from .huffman import (
    MAX_CODE_LEN,
    canonical_codes,
    code_lengths,
    huffman_decode,
    huffman_encode,
    validate_lengths,
)
from .streams import RansContext, StreamInfo, read_stream, skip_stream, write_stream

__all__ = [
    "pack_bits",
    "unpack_bits",
    "MAX_CODE_LEN",
    "code_lengths",
    "validate_lengths",
    "canonical_codes",
    "huffman_encode",
    "huffman_decode",
    "RansContext",
    "StreamInfo",
    "read_stream",
    "skip_stream",
    "write_stream",
]
