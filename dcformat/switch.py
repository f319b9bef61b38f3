"""The one switch for every optional compiled kernel (decoding and inference): ``DCFORMAT_ACCEL``.

Read on every call, the same way everywhere, so a process can turn the kernels off or on at any time:
``0``/``false``/``no``/``off`` never uses them (numba is not even imported), ``1``/``true``/``yes``/``on`` always
does, anything else (or unset) is ``auto``: each stage decides by its own cost model (see ``dcformat.accel``).
"""

from __future__ import annotations

import os
from typing import Literal

Mode = Literal["off", "on", "auto"]

ENV_VAR = "DCFORMAT_ACCEL"


def mode() -> Mode:
    """``DCFORMAT_ACCEL`` as ``"off"``, ``"on"`` or ``"auto"``."""
    value = os.environ.get(ENV_VAR, "auto").strip().lower()
    if value in ("0", "false", "no", "off"):
        return "off"
    return "on" if value in ("1", "true", "yes", "on") else "auto"


def kernels_allowed() -> bool:
    """False only when the user switched the compiled kernels off."""
    return mode() != "off"
