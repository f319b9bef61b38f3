"""Huffman decode/encode speed of dcformat.entropy vs bitarray, in one process.

Anchor: bitarray.util.canonical_decode (C) on the very same bit stream and code
tables (also what ``huffman_decode`` falls back to for short streams, so the
"lanes/bitarray" ratio is what the NumPy lane decoder earns where numba is missing); for encoding, bitarray's ``bitarray.encode`` with the same canonical
code dict. Prints M symbols/s and the ratio ours / anchor (> 1 = ours faster).
Each figure is the best of ``--repeat`` runs (the machine is shared, so the
minimum is the least noisy estimate).

Usage: python benchmarks/bench_huffman.py [--n 5000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
from bitarray import bitarray
from bitarray.util import canonical_decode

from dcformat import accel
from dcformat.entropy.huffman import (
    _Code,
    _decode_sequential,
    canonical_codes,
    code_lengths,
    huffman_decode,
    huffman_encode,
)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bell(rng: np.random.Generator, n: int) -> tuple[np.ndarray, int]:
    """32 k-means code indices with a bell-shaped weight histogram."""
    return np.clip(np.round(rng.normal(15.5, 4.0, n)), 0, 31).astype(np.uint32), 32


def gaps(rng: np.random.Generator, n: int) -> tuple[np.ndarray, int]:
    """Relative-index gaps (4-bit alphabet): geometric, capped at 15."""
    return np.minimum(rng.geometric(0.12, n) - 1, 15).astype(np.uint32), 16


def main() -> None:
    os.environ["DCFORMAT_ACCEL"] = "1"  # measure the kernel on every stream (normally it waits until numba is loaded)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(2016)
    for name, make in (("bell-32", bell), ("geometric-gaps-16", gaps)):
        syms, alphabet = make(rng, args.n)
        freqs = np.bincount(syms, minlength=alphabet)
        lengths = code_lengths(freqs)
        buf, bits = huffman_encode(syms, lengths)
        code = _Code(lengths)
        count, symbol = code.bitarray_tables()
        stream = bitarray(endian="big")
        stream.frombytes(buf)
        del stream[bits:]

        out = huffman_decode(buf, args.n, lengths)
        assert np.array_equal(out, syms)
        ref = np.fromiter(canonical_decode(stream, count, symbol), dtype=np.uint32, count=args.n)
        assert np.array_equal(ref, syms)

        t_ours = best(lambda: huffman_decode(buf, args.n, lengths), args.repeat)
        t_seq = best(
            lambda: _decode_sequential(np.frombuffer(buf, np.uint8), args.n, code), args.repeat
        )
        os.environ["DCFORMAT_ACCEL"] = "0"  # the path without numba
        t_numpy = best(lambda: huffman_decode(buf, args.n, lengths), args.repeat)
        os.environ["DCFORMAT_ACCEL"] = "1"
        t_bit = best(
            lambda: np.fromiter(canonical_decode(stream, count, symbol), dtype=np.uint32, count=args.n),
            args.repeat,
        )
        m = args.n / 1e6
        print(f"{name}: {args.n} symbols, {bits / args.n:.3f} bits/symbol, max code length {code.max_len}")
        print(
            f"  decode  huffman_decode {m / t_ours:7.1f} M sym/s ({'numba kernel' if accel.available() else 'NumPy'})"
            f" | NumPy lanes (no numba) {m / t_numpy:7.1f} M sym/s"
            f" | sequential path {m / t_seq:7.1f} M sym/s"
            f" | bitarray canonical_decode {m / t_bit:7.1f} M sym/s"
            f" | ratio ours/bitarray {t_bit / t_ours:.2f}"
            f" | without numba: lanes/bitarray {t_bit / t_numpy:.2f}"
        )

        codes = canonical_codes(lengths)
        table = {}
        for s_ in np.flatnonzero(lengths):
            ba = bitarray(endian="big")
            ba.extend(format(int(codes[s_]), f"0{int(lengths[s_])}b"))
            table[int(s_)] = ba
        sym_list = syms.tolist()

        def bit_encode() -> bytes:
            a = bitarray(endian="big")
            a.encode(table, sym_list)
            return a.tobytes()

        assert bit_encode() == buf
        t_enc = best(lambda: huffman_encode(syms, lengths), args.repeat)
        t_len = best(lambda: code_lengths(np.bincount(syms, minlength=alphabet)), args.repeat)
        t_benc = best(bit_encode, args.repeat)
        print(
            f"  encode  huffman_encode {m / t_enc:7.1f} M sym/s"
            f" | bitarray encode (from list) {m / t_benc:7.1f} M sym/s"
            f" | ratio ours/bitarray {t_benc / t_enc:.2f}"
            f" | code_lengths+bincount {t_len * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
