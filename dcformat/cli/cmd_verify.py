"""``dcformat verify``: check every checksum and decode every tensor; exit 0 or 1."""

from __future__ import annotations

import argparse
import os

from .progress import enabled, track


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check checksums and decode every tensor (exit 0 = intact, 1 = damaged)",
        description="Check the file's structure and every section checksum, then decode every tensor in full. "
        "Prints one line: OK, or the first problem found (with tensor, field and byte offset).",
    )
    p.add_argument("input", metavar="IN.dc", help="a dcformat file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dcformat  # noqa: PLC0415

    quiet = getattr(args, "quiet", False)
    with dcformat.open(args.input) as f:
        names = f.keys()
        for name in track(names, total=len(names), desc="verify", show=enabled(quiet)):
            f.tensor(name)
    if not quiet:
        print(f"OK: {args.input}: {len(names)} tensors decoded, all checksums match ({os.path.getsize(args.input):,} bytes)")
    return 0
