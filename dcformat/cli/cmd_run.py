"""``dcformat run``: run a .dc file's graph on a .npy input with the NumPy reference path."""

from __future__ import annotations

import argparse
import os

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the network stored in a .dc file on a .npy input",
        description="Run the graph stored in MODEL.dc on an input array with the reference NumPy path "
        "(float32, one process, no other runtime needed). Prints each output's shape and, for 2-D outputs, "
        "the top-k classes per row.",
    )
    p.add_argument("model", metavar="MODEL.dc", help="a dcformat file with a graph section")
    p.add_argument(
        "--input", "-i", action="append", required=True, metavar="[NAME=]X.npy",
        help="input array (.npy, no pickles); use NAME=FILE for models with several inputs (repeatable)",
    )
    p.add_argument("--output", "-o", metavar="Y.npy", help="write the output (.npy; .npz for several outputs)")
    p.add_argument("--top-k", type=int, metavar="K", help="print the K largest entries per row of 2-D outputs (default 5 when not writing --output)")
    p.add_argument("--precision", choices=("float32", "int8"), default="float32",
                   help="int8: integer inference with the file's activation parameters (spec/INT8.md; "
                   "'dcformat quantize-activations' writes them); nodes without an int8 rule run in float and are listed")
    p.set_defaults(func=run)


def _inputs(args: argparse.Namespace, names: list[str]) -> dict[str, np.ndarray]:
    from . import InputError, UsageError  # noqa: PLC0415 - the package imports this module

    feeds: dict[str, np.ndarray] = {}
    for spec in args.input:
        name, sep, path = spec.partition("=")
        if not sep or (name not in names and os.path.exists(spec)):
            name, path = (names[0] if len(names) == 1 else ""), spec
        if name not in names:
            raise UsageError(f"model inputs are {names}; say which one with NAME=FILE (got {spec!r})")
        if name in feeds:
            raise UsageError(f"input {name!r} given twice")
        with open(path, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise InputError(f"{path}: not a .npy file")
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:  # pickled object arrays, malformed headers
            raise InputError(f"{path}: not a plain .npy array ({exc})") from None
        if not isinstance(arr, np.ndarray):
            raise InputError(f"{path}: expected a .npy array, got an archive")
        feeds[name] = arr
    return feeds


def run(args: argparse.Namespace) -> int:
    from . import InputError, UsageError  # noqa: PLC0415
    from ..inference import Model  # noqa: PLC0415

    if args.top_k is not None and args.top_k < 1:
        raise UsageError("--top-k must be at least 1")
    model = Model.open(args.model, precision=args.precision)
    names = [v.name for v in model.inputs]
    feeds = _inputs(args, names)
    try:
        outputs = model.run(feeds)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    quiet = getattr(args, "quiet", False)
    if args.output:
        if len(outputs) == 1 and not args.output.endswith(".npz"):
            np.save(args.output, next(iter(outputs.values())), allow_pickle=False)
        elif args.output.endswith(".npz"):
            np.savez(args.output, **outputs)
        else:
            raise UsageError(f"the model has {len(outputs)} outputs; write them to a .npz file")
    k = args.top_k if args.top_k is not None else (None if args.output else 5)
    if not quiet:
        for name, y in outputs.items():
            print(f"{name}: shape {tuple(y.shape)} float32, min {y.min() if y.size else 0:.6g}, max {y.max() if y.size else 0:.6g}")
            if k and y.ndim == 2 and y.shape[1]:
                kk = min(k, y.shape[1])
                top = np.argsort(-y, axis=1, kind="stable")[:, :kk]
                for row in range(y.shape[0]):
                    items = ", ".join(f"{int(c)}:{y[row, c]:.6g}" for c in top[row])
                    print(f"  [{row}] top-{kk}: {items}")
    return 0
