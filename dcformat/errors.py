"""The one exception family for malformed files.

Every problem found while reading a dcformat file raises a subclass of
:class:`FormatError` (itself a ``ValueError``), so callers need exactly one
``except`` clause. Messages name the tensor, the field and the byte offset so
that a user can see *where* a file is broken, not only that it is.
"""

from __future__ import annotations


class FormatError(ValueError):
    """Root of every error about a malformed or unsupported dcformat file."""

    def __init__(
        self,
        message: str,
        *,
        tensor: str | None = None,
        field: str | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = message
        self.tensor = tensor
        self.field = field
        self.offset = offset
        where = []
        if tensor is not None:
            where.append(f"tensor {tensor!r}")
        if field is not None:
            where.append(f"field {field!r}")
        if offset is not None:
            where.append(f"byte {offset}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def with_context(
        self, *, tensor: str | None = None, offset: int | None = None
    ) -> "FormatError":
        """Return a copy of this error with missing context filled in."""
        return type(self)(
            self.reason,
            tensor=self.tensor if self.tensor is not None else tensor,
            field=self.field,
            offset=self.offset if self.offset is not None else offset,
        )


class BadMagicError(FormatError):
    """The file does not start with the dcformat signature (or it was damaged in transport)."""


class UnsupportedVersionError(FormatError):
    """The file's major version is not one this library reads."""


class UnsupportedFeatureError(FormatError):
    """A must-understand flag, section or enum value is unknown to this reader."""


class TruncatedError(FormatError):
    """The file ends before a field or section it declares."""


class TrailingDataError(FormatError):
    """Bytes remain after the last declared section."""


class LayoutError(FormatError):
    """Sections or offsets are out of bounds, overlapping, misordered or misaligned."""


class ChecksumError(FormatError):
    """A section's CRC-32 does not match its bytes."""


class LimitError(FormatError):
    """A declared size exceeds a limit or the bytes that could back it."""


class DecompressionError(FormatError):
    """A zstd payload is malformed or does not expand to its declared size."""


class HuffmanTableError(FormatError):
    """A Huffman code-length table is not a complete prefix code within the spec's limits."""


class RansTableError(FormatError):
    """A RANS stream's precision or frequency tables break the spec's rules (format 1.1, §6.1)."""


class BitstreamError(FormatError):
    """A symbol stream ends early, has leftover or non-zero padding bits, or holds an out-of-range symbol."""


class SparseIndexError(FormatError):
    """Row counts or relative indices describe positions outside the tensor."""


class CodebookError(FormatError):
    """A codebook is empty, too large, non-finite, or indexed out of range."""


class MetadataError(FormatError):
    """Tensor names, shapes, dtypes or the JSON metadata block are invalid."""


class GraphError(FormatError):
    """The graph section is malformed, uses an unknown op/attribute, or references missing tensors."""


ALL_ERRORS = (
    BadMagicError,
    UnsupportedVersionError,
    UnsupportedFeatureError,
    TruncatedError,
    TrailingDataError,
    LayoutError,
    ChecksumError,
    LimitError,
    DecompressionError,
    HuffmanTableError,
    RansTableError,
    BitstreamError,
    SparseIndexError,
    CodebookError,
    MetadataError,
    GraphError,
)
