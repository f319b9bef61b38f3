"""Build of the optional C extension ``dcformat._cdecode`` (everything else is in pyproject.toml).

The extension is the C99 decoder of ``decoders/c/dcformat.h`` behind payload-level entry points (see
``dcformat/_cdecode.c``). It is optional: where there is no C compiler the install still succeeds and
``dcformat`` decodes with NumPy (or numba). Build it in place for ``PYTHONPATH=$PWD`` runs with
``python setup.py build_ext --inplace``; ``pip install -e .`` builds it too.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dcformat._cdecode",
            sources=["dcformat/_cdecode.c"],
            include_dirs=["decoders/c"],
            depends=["decoders/c/dcformat.h"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ],
)
