"""When the optional compiled kernels run (``pip install dcformat[fast]``): the cost model and the one loader.

Why they exist: a Huffman bit stream and a relative-index gap stream are
inherently sequential (each codeword starts where the previous one ended; each
column is the previous one plus a gap). NumPy can only vectorise them with
tricks that cost several passes (the self-synchronising lane decoder in
``entropy/huffman.py``; cumulative sums in ``sparse/relative_index.py``). With
numba, one compiled pass does it: about 3x faster for Huffman, 5x for positions.

The kernels live next to the stage they serve (``entropy/_kernels.py``,
``sparse/_kernels.py``); each stage has one function that picks its decoder
(``entropy.huffman.huffman_decode``, ``sparse.relative_index.decode_positions``,
and the fused sparse-to-dense path of ``container.materialize.to_dense``) and
asks this module two things: :func:`wants` (is a stream this long worth it?)
and :func:`load` (the kernel module, or None). This module imports no stage,
so there is no import circle. The kernels are accelerators, not a second
definition of the format: each returns exactly what the NumPy path returns or
reports that the input is invalid, and the stage then runs its NumPy path,
which raises the library's error. Tests run both paths on the same inputs.

When they run: the first use in a process costs ~0.3 s (importing numba and
loading the cached machine code), while they save ~30 ns per stored entry, so
a one-shot load of a typical model is faster without them. With
``DCFORMAT_ACCEL`` unset or ``auto`` (``dcformat.switch``) they serve every
stream once numba is imported anyway (by the inference kernels, a ``Model``
with convolutions, or the application), and otherwise only streams of at least
``MIN_SYMBOLS``; ``1`` uses them for every stream; ``0`` never (numba is not
even imported).

The C extension ``dcformat._cdecode`` (built from ``decoders/c/dcformat.h``
when a C compiler is present at install time) works a level higher: it decodes
a whole DATA payload to the dense array or to CSR in one call, with no warm-up
cost, so :func:`cdecode` offers it for every tensor unless ``DCFORMAT_ACCEL``
is 0 (or ``DCFORMAT_CDECODE`` is 0). The reader tries it first and falls back
to the stage kernels / NumPy on the same bytes whenever it declines.
"""

from __future__ import annotations

import importlib
import os
import sys
from functools import lru_cache
from types import ModuleType

from . import switch

__all__ = ["MIN_SYMBOLS", "available", "cdecode", "load", "wants"]

# A stream this long saves (~15 ns per symbol) about the one-time cost of loading numba (see the module docstring).
MIN_SYMBOLS = 1 << 24

KERNEL_MODULES = ("dcformat.entropy._kernels", "dcformat.sparse._kernels")
CDECODE_MODULE = "dcformat._cdecode"
CDECODE_ENV = "DCFORMAT_CDECODE"  # "0": never use the C extension (read on every call, like DCFORMAT_ACCEL)


def wants(n_symbols: int) -> bool:
    """Whether a stream of this length should go to the compiled kernels, by ``DCFORMAT_ACCEL`` and the cost model."""
    mode = switch.mode()
    return mode == "on" or (mode == "auto" and (n_symbols >= MIN_SYMBOLS or "numba" in sys.modules))


@lru_cache(maxsize=None)
def _import(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except Exception:  # numba not installed, or broken (e.g. an llvmlite mismatch): NumPy does the work
        return None


def load(module: str, n_symbols: int) -> ModuleType | None:
    """The kernel module ``module`` when a stream of ``n_symbols`` should use it (see :func:`wants`), else None.

    The switch is read on every call; the import happens once.
    """
    return _import(module) if wants(n_symbols) else None


def available() -> bool:
    """True when the compiled kernels can be used (numba works and ``DCFORMAT_ACCEL`` is not 0)."""
    return switch.kernels_allowed() and all(_import(m) is not None for m in KERNEL_MODULES)


def cdecode() -> ModuleType | None:
    """The compiled C decoder ``dcformat._cdecode`` (a whole DATA payload per call), or None.

    None when ``DCFORMAT_ACCEL`` is 0 or when the extension was not built (no C compiler at install time;
    ``python setup.py build_ext --inplace`` builds it for a source checkout). It has no warm-up cost (a ~0.1 ms
    import, no JIT), so unlike the numba kernels it serves every tensor in ``auto`` mode; where both are present
    it runs first, because it is the faster of the two on whole payloads (``benchmarks/bench_decode.py``).
    ``DCFORMAT_CDECODE=0`` leaves it out while keeping the numba kernels (tests and benchmarks of those).
    """
    if not switch.kernels_allowed() or os.environ.get(CDECODE_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return None
    return _import(CDECODE_MODULE)
