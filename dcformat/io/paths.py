"""Map tensor names to relative output paths that cannot escape the target.

Tensor names come from files, so they are untrusted: ``../../etc/x``, ``/abs``,
``C:\\x``, NUL bytes or control characters must not steer where ``unpack``
writes (BAD_INPUTS B6 row 20). The mapping is *injective* (two different names
never share a path), is the identity for ordinary names such as
``encoder.layer.0.attention.self.query.weight`` or ``fire2/conv1x1_1``, and
percent-escapes everything else, ``%`` included.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from ..errors import MetadataError

# Characters kept verbatim inside one path component, plus non-ASCII letters,
# digits and combining marks. Everything else (separators other than "/", ":",
# "%", control characters, quotes, shell metacharacters, non-ASCII punctuation
# such as the fullwidth solidus that some Windows APIs fold to "/" or "\")
# becomes %XX of its UTF-8 bytes.
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+=,@~[]()")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)


def _escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in _SAFE or (ord(ch) > 127 and unicodedata.category(ch)[0] in "LNM"):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def _component(part: str) -> str:
    """Escape one "/"-separated piece of a name so it is a plain file name."""
    if part == "":
        return "%"  # a lone "%" can never come from _escape, which always writes "%XX"
    if set(part) == {"."}:
        return "%2E" * len(part)  # ".", "..", "..." are never path-special after this
    esc = _escape(part)
    if esc.split(".")[0].upper() in _WINDOWS_RESERVED:
        esc = "%" + f"{ord(esc[0]):02X}" + esc[1:]
    return esc


def safe_relpath(name: str, suffix: str = "") -> str:
    """Relative POSIX path for tensor ``name`` (with ``suffix`` appended to the last part).

    "/" in a name becomes a directory level (so ``fire2/conv1x1_1`` maps to
    itself); no component is empty, ``.``/``..``, absolute or a drive letter.
    """
    if not isinstance(name, str):
        raise MetadataError(f"tensor name must be a string, got {type(name).__name__}")
    parts = [_component(p) for p in name.split("/")]
    parts[-1] += suffix
    return "/".join(parts)


def safe_join(root: str | os.PathLike[str], name: str, suffix: str = "") -> Path:
    """``root / safe_relpath(name)``, re-checked after resolving symlinks.

    The second check is defence in depth: even if the escaping had a bug, or a
    directory inside ``root`` is a symlink pointing elsewhere, nothing is
    written outside ``root``.
    """
    base = Path(root).resolve()
    target = (base / safe_relpath(name, suffix)).resolve()
    if target != base and base not in target.parents:
        raise MetadataError(f"output path for tensor {name!r} would leave {str(base)!r}")
    return target


def _folded(path: str) -> str:
    """How a case-insensitive, normalising file system (Windows, macOS) sees a path."""
    return unicodedata.normalize("NFC", path).casefold()


def check_unique(names: list[str], suffix: str = "") -> None:
    """Refuse name sets whose paths clash as file *and* directory (``a`` with ``a.npy/b``), or that differ only
    in letter case or Unicode normalisation (``W`` and ``w``), which would overwrite each other on Windows and
    macOS file systems."""
    files = {safe_relpath(n, suffix) for n in names}
    folded: dict[str, str] = {}
    for path in sorted(files):
        other = folded.setdefault(_folded(path), path)
        if other != path:
            raise MetadataError(
                f"tensor paths {other!r} and {path!r} differ only in letter case or Unicode form and would be one file "
                "on Windows and macOS; unpack to a single .npz or .safetensors file instead"
            )
    for path in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if _folded(prefix) in folded:
                raise MetadataError(f"tensor paths clash: {prefix!r} is both a file and a directory")
