"""Progress bars for long CLI work: shown only on a terminal, never in pipes or with --quiet.

tqdm is an optional dependency; without it the work runs silently, so a
missing extra never breaks a command.
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def enabled(quiet: bool = False, stream=None) -> bool:
    """True when a bar would help a person: stderr is a TTY and the user did not ask for quiet."""
    stream = sys.stderr if stream is None else stream
    try:
        return not quiet and stream.isatty()
    except (AttributeError, ValueError):
        return False


def track(iterable: Iterable[T], *, total: int | None = None, desc: str = "", show: bool = False,
          unit: str = "tensor") -> Iterator[T]:
    """Iterate ``iterable``, drawing a tqdm bar on stderr when ``show`` is true and tqdm is installed."""
    if show:
        try:
            from tqdm import tqdm  # noqa: PLC0415 - optional extra
        except ImportError:
            show = False
        else:
            yield from tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                            dynamic_ncols=True)
            return
    yield from iterable


__all__ = ["enabled", "track"]
