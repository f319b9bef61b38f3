"""Writing (or, with ``--check``, only comparing) a vector generator's output files.

Shared by the four generators (``generate.py``, ``invalid/generate_invalid.py``, ``v1_1/generate.py``,
``int8/generate.py``) so that "regenerate" and "is the committed set still what the generator makes" mean the same
everywhere. ``.npz`` files are compared by content, not bytes: a zip archive carries timestamps.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


class OutputFiles:
    """Collects the files that differ from what the generator makes; writes them unless ``check``."""

    def __init__(self, check: bool) -> None:
        self.check = check
        self.changed: list[str] = []

    def _differs(self, path: Path, blob: bytes, label: str | None = None) -> None:
        self.changed.append(label or path.name)
        if not self.check:
            path.write_bytes(blob)

    def bytes(self, path: Path, blob: bytes) -> None:
        if not path.exists() or path.read_bytes() != blob:
            self._differs(path, blob)

    def npz(self, path: Path, arrays: Mapping[str, Any], same: Callable[[Any], bool]) -> None:
        """``same(opened_npz)``: whether the committed archive holds ``arrays`` (each generator's own equality)."""
        if path.exists():
            with np.load(path, allow_pickle=False) as old:
                if same(old):
                    return
        self._differs(path, npz_bytes(arrays))

    def manifest(self, path: Path, manifest: Mapping[str, Any], ensure_ascii: bool = True) -> None:
        text = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=ensure_ascii) + "\n"
        if not path.exists() or path.read_text() != text:
            self._differs(path, text.encode())

    def remove(self, path: Path) -> None:
        self.changed.append(path.name + " (stale)")
        if not self.check:
            path.unlink()

    def finish(self) -> int:
        """Report; exit status 1 when checking and anything differs."""
        for c in self.changed:
            print(("would change: " if self.check else "wrote: ") + c)
        return 1 if (self.check and self.changed) else 0
