"""Write-to-temporary-then-rename, so an interrupted write never leaves a half file at the target path.

The one implementation: :class:`AtomicFile` for writers whose output spans
several calls (``StreamingWriter``), :func:`atomic_output` for a ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator


def default_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class AtomicFile:
    """A temporary file in ``path``'s directory: :meth:`commit` renames it over ``path``, :meth:`discard` drops it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent or ".")
        self.tmp = Path(tmp)
        self.file: BinaryIO = os.fdopen(fd, "wb")

    @property
    def done(self) -> bool:
        """True once committed or discarded."""
        return self.file.closed

    def commit(self) -> None:
        """Flush to disk and move into place (on failure the temporary file is removed and the error raised)."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.chmod(self.tmp, default_file_mode())  # mkstemp's 0600 would surprise users
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Drop the temporary file; the target path is left untouched."""
        if not self.file.closed:
            self.file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a binary file in ``path``'s directory; rename it over ``path`` only on success."""
    out = AtomicFile(path)
    try:
        yield out.file
    except BaseException:
        out.discard()
        raise
    out.commit()
