"""Sparse stage: kept positions <-> (row counts, gap symbols with filler escapes) <-> CSR."""

from .relative_index import Positions, SparseStreams, decode_positions, encode_positions, matrix_shape

__all__ = ["Positions", "SparseStreams", "decode_positions", "encode_positions", "matrix_shape"]
