"""Replay a fuzz corpus through the C decoder and the Python library and compare their verdicts.

    make -C decoders/c build/dcf_driver_zstd
    python decoders/c/fuzz/replay_differential.py decoders/c/build/dcf_driver_zstd decoders/c/build/corpus

Both must accept or reject every file alike (graph files included: the C decoder checks GRAPH.md §2-§4 at open, as
the library does). The reported class may differ when a file has several defects (spec §9). Exit status 1 on any
disagreement.
"""

from __future__ import annotations

import collections
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
# The library's own decoders, not its optional C extension (built from the header under test): an independent verdict.
os.environ["DCFORMAT_CDECODE"] = "0"

import dcformat  # noqa: E402


def verdict(data: bytes) -> str:
    try:
        dcformat.decode(data)
    except dcformat.FormatError as exc:
        return type(exc).__name__.removesuffix("Error")
    return "OK"


def main(driver: str, corpus: str) -> int:
    files = sorted(p for p in Path(corpus).iterdir() if p.is_file())
    blobs = [p.read_bytes() for p in files]
    payload = b"".join(struct.pack("<Q", len(b)) + b for b in blobs)
    out = subprocess.run([driver, "check", "-"], input=payload, capture_output=True, check=True).stdout
    rows = [json.loads(line) for line in out.decode(errors="replace").split("\n") if line]
    classes, bad = collections.Counter(), []
    for path, blob, row in zip(files, blobs, rows):
        py, c = verdict(blob), row["status"]
        if (py == "OK") != (c == "OK"):
            bad.append((path.name, py, c, row.get("message", "")))
        elif py != c:
            classes[(py, c)] += 1
    print(f"{len(files)} files: {len(bad)} disagreements; "
          f"class differences on files both reject (library, C): {classes.most_common(6)}")
    for b in bad[:20]:
        print("DISAGREE", *b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
