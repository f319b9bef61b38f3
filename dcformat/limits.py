"""Caps a reader enforces before it allocates (spec §9 "Limits").

These are implementation limits, separate from what the format can express
(as QOI separates QOI_PIXELS_MAX from its 32-bit header fields). Every default
is large enough for real models and small enough that a hostile file cannot
make the decoder allocate more than a few GiB.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 1 << 40
    max_sections: int = 1 << 20
    max_tensors: int = 1 << 20
    max_tensor_elements: int = 1 << 32
    max_tensor_bytes: int = 1 << 34  # decoded dense bytes of one tensor
    max_total_bytes: int = 1 << 36  # decoded bytes of all tensors in one decode()
    max_metadata_bytes: int = 16 << 20
    max_json_depth: int = 64
    max_zstd_ratio: int = 1024  # raw size <= ratio x compressed size
    max_zstd_window_bytes: int = 1 << 27


DEFAULT_LIMITS = Limits()
