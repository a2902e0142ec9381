"""The sizes tapegrad builds, trains, saves and loads, in one place, so that every way in
(`nn.MLP` and its parts, `tapegrad train`, `predict`, `--resume`, `tapegrad.load`, a stored
table preprocessing) takes exactly what the others take: a model `train` saves always loads.

Every check runs on the numbers alone, before anything is allocated, and its LimitError (a
ValueError) names the number and the limit. A model at MAX_PARAMETERS saved with Adam's state
is about 203 MiB of JSON, under `checkpoint.MAX_BYTES` (256 MiB).
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_LAYERS = 1_000
"""Most layers an MLP may have (the output layer counts)."""
MAX_WIDTH = 1_000_000
"""Most inputs or neurons one layer may have."""
MAX_PARAMETERS = 2_000_000
"""Most weights and biases a network may have."""
MAX_COLUMNS = 10_000
"""Most feature columns a table may give a model (its label column comes on top)."""
MAX_INPUTS = 100_000
"""Most network inputs a table's preprocessing may make (after one-hot encoding)."""
MAX_CATEGORIES = 100
"""Most distinct values a text feature column may have to be one-hot encoded."""
MAX_CLASSES = 100
"""Most distinct labels a classifier may have."""


class LimitError(ValueError):
    """A size over one of tapegrad's limits; the message names the number and the limit."""


def _number(n: int) -> str:
    return f"{n:,}" if n.bit_length() < 160 else "a huge integer"


def check(what: str, n: int, limit: int) -> int:
    """`n`, or when n > limit a LimitError "WHAT, more than the limit LIMIT", `what` with the
    number put in for its {} ("{} layers", "nin is {}")."""
    if n > limit:
        raise LimitError(f"{what.format(_number(n))}, more than the limit {limit:,}")
    return n


def parameter_count(nin: int, nouts: Sequence[int]) -> int:
    """Weights and biases of an MLP(nin, nouts): sum of (inputs + 1) * neurons per layer."""
    sizes = [nin, *nouts]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def check_network(nin: int, nouts: Sequence[int]) -> int:
    """Check an MLP(nin, nouts) of whole sizes >= 1 against the layer, width and parameter
    limits, from the numbers alone; its parameter count."""
    check("{} layers", len(nouts), MAX_LAYERS)
    check("nin is {}", nin, MAX_WIDTH)
    for i, n in enumerate(nouts):
        check(f"layer {i + 1} (nouts[{i}]) has {{}} neurons", n, MAX_WIDTH)
    return check("{} parameters", parameter_count(nin, nouts), MAX_PARAMETERS)


__all__ = [
    "MAX_CATEGORIES",
    "MAX_CLASSES",
    "MAX_COLUMNS",
    "MAX_INPUTS",
    "MAX_LAYERS",
    "MAX_PARAMETERS",
    "MAX_WIDTH",
    "LimitError",
    "check",
    "check_network",
    "parameter_count",
]
