"""``dcformat unpack``: decode a .dc file back to a format other tools read."""

from __future__ import annotations

import argparse
import os

import numpy as np

from . import UsageError
from .progress import enabled, track


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "unpack",
        help="decode a .dc file to .npz, .safetensors, .onnx or a directory of .npy files",
        description="Decode every tensor of a .dc file to dense arrays (pruned weights become zeros, shared "
        "weights their codebook values) and write them as OUT.npz, OUT.safetensors, OUT.onnx (with the stored "
        "graph, if any) or, for OUT/ ending in a slash, one .npy file per tensor. Tensor names never make a "
        "file land outside OUT.",
    )
    p.add_argument("input", metavar="IN.dc", help="a dcformat file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.npz | OUT.safetensors | OUT.onnx | DIR/")
    p.add_argument("--to", dest="fmt", choices=("npz", "safetensors", "onnx", "npy-dir"), help="output format, if OUT's suffix does not tell it")
    p.add_argument("--compress", action="store_true", help="deflate .npz members (smaller, slower)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dcformat  # noqa: PLC0415

    from ..io.sinks import sink_for, write_tensors  # noqa: PLC0415

    sink = sink_for(args.output, args.fmt)
    if sink is None:
        raise UsageError(f"cannot tell the output format of {args.output!r}: use .npz, .safetensors, .onnx, DIR/ or --to")
    if os.path.exists(args.output) and os.path.exists(args.input) and os.path.samefile(args.input, args.output):
        raise UsageError("output is the input file")
    quiet = getattr(args, "quiet", False)
    with dcformat.open(args.input) as f:
        names = f.keys()
        specs = []
        for n in names:
            info = f.info(n)
            specs.append((n, tuple(info.shape), np.dtype(info.dtype)))
        bar = iter(track(names, total=len(names), desc="unpack", show=enabled(quiet)))

        def fetch(name: str) -> np.ndarray:
            next(bar, None)  # the writers fetch in their own order; the bar just counts
            return f.tensor(name)

        write_tensors(args.output, sink, specs, fetch, metadata=f.metadata, graph=f.graph, compress=args.compress)
        for _ in bar:
            pass
    if not quiet:
        print(f"unpacked {len(names)} tensors: {args.input} -> {args.output} ({sink})")
    return 0
