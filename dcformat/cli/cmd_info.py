"""``dcformat info``: the paper's per-layer compression table for a .dc file."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import UsageError
from .table import compute_rows, render_text, to_json, total_row


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="per-layer table: weights kept, bits per weight and index, compression rate",
        description="Print the per-layer table of the Deep Compression paper (Tables 2-5) for a .dc file: "
        "#weights, share kept after pruning (P), bits per stored weight and per relative index with fixed-width "
        "codes (P+Q) and as stored with Huffman coding (P+Q+H), and the size as a share of the original.",
    )
    p.add_argument("input", metavar="IN.dc", help="a dcformat file")
    p.add_argument("--json", action="store_true", help="print JSON (exact numbers) instead of the text table")
    p.add_argument("--tensor", action="append", metavar="NAME", help="only this tensor (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dcformat  # noqa: PLC0415

    file_bytes = os.path.getsize(args.input)
    with dcformat.open(args.input) as f:
        names = f.keys()
        if args.tensor:
            missing = [n for n in args.tensor if n not in names]
            if missing:
                raise UsageError(f"no tensor named {missing[0]!r} in {args.input}")
            names = args.tensor
        rows = compute_rows(f, names)
        meta, graph = f.metadata, f.graph
    total = total_row(rows)
    if args.json:
        doc = to_json(rows, file_bytes=file_bytes, total=total)
        doc["metadata"] = meta
        doc["graph"] = None if graph is None else {"nodes": len(getattr(graph, "nodes", []) or [])}
        json.dump(doc, sys.stdout, indent=2)
        print()
        return 0
    head = f"{args.input}: {len(rows)} tensors"
    if graph is not None:
        head += f", graph with {len(getattr(graph, 'nodes', []) or [])} nodes"
    print(head)
    print(render_text(rows, file_bytes=file_bytes, total=total))
    return 0
