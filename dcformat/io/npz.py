"""NumPy ``.npz`` in and out without pickle, one member at a time.

Reading parses each member's ``.npy`` header itself and checks, before
allocating, that the declared dtype holds no Python objects (so nothing is
ever unpickled) and that the declared shape matches the member's size in the
zip directory (so a ten-byte member cannot make us allocate gigabytes).
Writing streams members into a zip with fixed timestamps, so the same
tensors always give the same bytes.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
from numpy.lib import format as npy

from ..errors import FormatError, LayoutError, LimitError, MetadataError, TruncatedError
from ..limits import DEFAULT_LIMITS
from ..atomic import atomic_output
from .paths import safe_relpath

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # earliest zip date: makes archives reproducible
_CHUNK = 1 << 24


def read_npy(f, *, name: str, declared_size: int, max_bytes: int = DEFAULT_LIMITS.max_tensor_bytes) -> np.ndarray:
    """Read one ``.npy`` stream whose total size is ``declared_size`` bytes."""
    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(f, max_header_size=1 << 16)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy.read_array_header_2_0(f, max_header_size=1 << 16)
        else:
            raise MetadataError(f"unsupported .npy version {version}", tensor=name)
    except FormatError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise MetadataError(f"bad .npy header: {exc}", tensor=name) from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufc":
        raise MetadataError(f"dtype {dtype} is not a plain numeric dtype (object arrays are never unpickled)", tensor=name)
    numel = 1
    for d in shape:
        numel *= int(d)
    nbytes = numel * dtype.itemsize
    header_len = f.tell()
    if nbytes > max_bytes:
        raise LimitError(f"declared {nbytes} bytes exceed the {max_bytes}-byte tensor limit", tensor=name)
    if header_len + nbytes != declared_size:
        raise LayoutError(
            f"header declares {dtype}{tuple(shape)} = {nbytes} bytes but the member holds {declared_size - header_len}",
            tensor=name,
        )
    flat = np.empty(nbytes, dtype=np.uint8)
    view = memoryview(flat)
    got = 0
    while got < nbytes:
        n = f.readinto(view[got : got + _CHUNK])
        if not n:
            raise TruncatedError("member ended early", tensor=name, offset=header_len + got)
        got += n
    arr = flat.view(dtype)
    arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    arr = arr.astype(dtype.newbyteorder("="), copy=False)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # ascontiguousarray would turn 0-d into 1-d


class NpzReader:
    """Lazy ``.npz`` reader: ``keys()`` in archive order, ``tensor(name)``; a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile as exc:
            raise FormatError(f"{self.path.name}: not a valid .npz (zip) file: {exc}") from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            if not info.filename.endswith(".npy"):
                raise MetadataError(f"member {info.filename!r} is not a .npy array")
            key = info.filename[: -len(".npy")]
            if key in self._members:
                raise MetadataError(f"duplicate member {info.filename!r}")
            self._members[key] = info
        self.metadata: dict[str, str] = {}

    def keys(self) -> list[str]:
        return list(self._members)

    def spec(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype from the member's .npy header, without reading its data."""
        info = self._members[name]
        try:
            with self._zip.open(info) as f:
                version = npy.read_magic(f)
                read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                shape, _, dtype = read(f, max_header_size=1 << 16)
        except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile) as exc:
            raise MetadataError(f"bad .npy header: {exc}", tensor=name) from None
        return tuple(int(d) for d in shape), dtype.newbyteorder("=")

    def tensor(self, name: str) -> np.ndarray:
        info = self._members[name]
        try:
            with self._zip.open(info) as f:
                arr = read_npy(f, name=name, declared_size=info.file_size)
                if f.read(1):
                    raise LayoutError("member has bytes after the array data", tensor=name)
                return arr
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
            raise FormatError(f"cannot read member: {exc}", tensor=name) from None

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> "NpzReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    with NpzReader(path) as r:
        return {k: r.tensor(k) for k in r.keys()}


def write_npz(
    path: str | os.PathLike[str],
    names: Iterable[str],
    fetch: Callable[[str], np.ndarray],
    *,
    compress: bool = False,
) -> None:
    """Write ``names`` to ``path``, fetching each array only when its member is written.

    Members are named with :func:`safe_relpath` (identity for ordinary names),
    so extracting the archive cannot write outside the extraction directory.
    """
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    seen: set[str] = set()
    with atomic_output(path) as raw:
        with zipfile.ZipFile(raw, "w", compression=method, allowZip64=True) as zf:
            for name in names:
                member = safe_relpath(name, ".npy")
                if member in seen:
                    raise ValueError(f"duplicate tensor name {name!r}")
                seen.add(member)
                info = zipfile.ZipInfo(member, date_time=_FIXED_DATE)
                info.compress_type = method
                info.external_attr = 0o644 << 16
                arr = np.asarray(fetch(name))
                with zf.open(info, "w", force_zip64=True) as f:
                    npy.write_array(f, arr if arr.flags.c_contiguous else arr.copy(order="C"), allow_pickle=False)


def save_npz(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], *, compress: bool = False) -> None:
    write_npz(path, list(tensors), tensors.__getitem__, compress=compress)


__all__ = ["NpzReader", "load_npz", "save_npz", "write_npz", "read_npy"]
