"""Small helpers several modules share: argument checks and how names appear in messages.

Pure Python, importing nothing from tapegrad, so any module (the engine included) may use them.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence


def positive_int(name: str, n: object) -> int:
    """`n` as an int if it is a whole number >= 1 (not a bool); else ValueError naming `name`."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def name_of(f: object) -> str:
    """A function's name for a message (a callable object without `__name__`: its type's)."""
    return getattr(f, "__name__", type(f).__name__)


def some(names: Sequence[str], limit: int = 5) -> str:
    """The first `limit` names, quoted, and how many more: "'a', 'b' and 3 more"."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
