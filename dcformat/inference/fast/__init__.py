"""Optional numba kernels for the inference path (``pip install dcformat[fast]``).

Why: the NumPy path leaves a gap to onnxruntime that NumPy cannot close.
Depthwise convolution and pooling run as one ufunc pass per kernel tap,
3x3 convolutions pay for an im2col copy, and every GEMM goes through an
OpenBLAS whose kernels may be limited to AVX2 (``OPENBLAS_CORETYPE``) while
the CPU has AVX-512. These kernels do one compiled pass each: a register
blocked GEMM written with explicit SIMD vectors (the loop vectorizer alone
keeps accumulators in memory, half of BLAS speed), fused with im2col, bias,
activation and a strided store into a channel slice of a Concat buffer;
depthwise convolution and pooling over contiguous channel vectors; and a
sparse matrix-vector product over the Deep Compression layout (one-byte
codebook index + two-byte column per weight, 3 bytes instead of 8 for CSR).

Importing this package imports numba: ``kernels.fast_kernels()`` does so
only when a model being planned has a convolution, pooling or sparse layer,
and never with ``DCFORMAT_ACCEL=0``. Kernels compile on first call
(``cache=True`` keeps them across processes: ~4 s once, then ~0.2 s). They
use raw pointer arithmetic and numba does not bounds-check, so every public
function here validates shapes first; the ``_`` kernels must only be
called through them. All are single-threaded and release the GIL.

Results agree with the NumPy path up to float32 summation order
(tests/test_inference_accel.py).

One module per kernel family: ``simd`` (the vector type and intrinsics every
family uses, aligned buffers), ``gemm`` (convolutions as GEMM), ``depthwise``,
``pooling`` and ``sparse_linear``. The planner and ``Csr`` reach them only
through this package (``kernels.fast_kernels()`` returns it).
"""

from .depthwise import depthwise
from .gemm import Packed, conv, gemm
from .pooling import pool
from .simd import LANES, empty
from .sparse_linear import SparseRows, sparse_matmul_t

__all__ = ["LANES", "Packed", "SparseRows", "conv", "depthwise", "empty", "gemm", "pool", "sparse_matmul_t"]
