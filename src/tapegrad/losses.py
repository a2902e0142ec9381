"""Losses on Values, one sample at a time, composed from primitives (no derivative written here).

Each loss takes a model output and a plain-number target. Stable ones are built on the
`logaddexp` primitive, whose rule is stable once for every mode; no shift is computed from the
data, because a data-dependent constant would be frozen into a compiled tape.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from . import valuemath as vm
from .engine import Value

if TYPE_CHECKING:
    from .nn import Module


def _num(x) -> float:
    return x.data if isinstance(x, Value) else x


def mse(pred: Value | list[Value], target: float | Value | list[float | Value]) -> Value:
    """Squared error (pred - target)**2; for lists, the mean over elements (torch's mse_loss)."""
    if isinstance(pred, list | tuple):
        if not isinstance(target, list | tuple) or len(target) != len(pred):
            raise ValueError(
                f"mse: target must be a list as long as pred ({len(pred)} outputs), got {target!r}"
            )
        return mean([(p - t) ** 2 for p, t in zip(pred, target, strict=True)])
    return (pred - target) ** 2


def hinge(score: Value, y: float | Value) -> Value:
    """The max-margin (SVM) loss relu(1 - y*score) for a label y in {-1, +1}.

    Written `(1 + -y*score).relu()` as micrograd's demo does, so its numbers match bit for bit.
    """
    if _num(y) not in (1, -1):
        raise ValueError(f"hinge: label must be -1 or +1, got {y!r}")
    return (1 + -y * score).relu()


def bce_with_logits(logit: Value, y: float | Value) -> Value:
    """Binary cross-entropy from a logit, for a label y in [0, 1] (usually 0 or 1):
    y*softplus(-logit) + (1 - y)*softplus(logit). Finite and exact at |logit| = 1000."""
    if not 0 <= _num(y) <= 1:
        raise ValueError(f"bce_with_logits: label must be in [0, 1], got {y!r}")
    return y * vm.softplus(-logit) + (1 - y) * vm.softplus(logit)


def logsumexp(values: Sequence) -> Value:
    """log(sum(exp(v))), folded pairwise from the stable `logaddexp` primitive: no overflow, no
    shift read off the data, and a depth of log2(len) (a compiled tape runs it level by level)."""
    values = list(values)
    if not values:
        raise ValueError("logsumexp of an empty list")
    while len(values) > 1:
        pairs = [vm.logaddexp(a, b) for a, b in zip(values[::2], values[1::2], strict=False)]
        values = pairs + values[len(pairs) * 2 :]
    return values[0]


def softmax_cross_entropy(logits: Sequence, y: int | float | list[float | Value]) -> Value:
    """Cross-entropy of softmax(logits) against a class index y: logsumexp(logits) - logits[y].

    `y` may also be a target distribution (one-hot, or probabilities summing to 1), as a list:
    then it is sum(y) * logsumexp(logits) - sum(y_k * logits_k). That form picks no element by
    the label's value, so a compiled tape can take the target as an input.
    """
    if not isinstance(logits, list | tuple) or not logits:
        raise ValueError(
            f"softmax_cross_entropy: logits must be a non-empty list, got {type(logits).__name__}"
        )
    if isinstance(y, list | tuple):
        if len(y) != len(logits):
            raise ValueError(
                f"softmax_cross_entropy: target has {len(y)} entries for {len(logits)} logits"
            )
        return sum(y) * logsumexp(logits) - sum(t * z for t, z in zip(y, logits, strict=True))
    k = _class_index(y, len(logits), "softmax_cross_entropy")
    return logsumexp(logits) - logits[k]


def _class_index(y, n: int, who: str) -> int:
    try:
        k = operator.index(y)
    except TypeError:
        if isinstance(y, numbers.Real) and float(y).is_integer():
            k = int(y)  # a float label such as 2.0 from a CSV column
        else:
            raise ValueError(f"{who}: class must be an integer, got {y!r}") from None
    if not 0 <= k < n:
        raise ValueError(f"{who}: class {k} is out of range for {n} logits")
    return k


def l2(params: Iterable[Value] | Module, alpha: float) -> Value | float:
    """The L2 penalty alpha * sum(p*p), micrograd's reg_loss; `params` may be a Module."""
    if hasattr(params, "parameters"):
        params = params.parameters()
    return alpha * sum(p * p for p in params)


def mean(values: Sequence) -> Value:
    """The mean of a list of losses, as micrograd writes it: sum(values) * (1.0 / len(values))."""
    if not isinstance(values, list | tuple):
        values = list(values)
    if len(values) == 0:
        raise ValueError("mean of an empty list of losses")
    return sum(values) * (1.0 / len(values))


def _plain(xs) -> list:
    """Numbers (or rows of numbers) from outputs that may be Values."""
    return [[_num(v) for v in x] if isinstance(x, list | tuple) else _num(x) for x in xs]


def accuracy(outputs: Iterable, targets: Iterable, loss_name: str) -> float:
    """The fraction of outputs that predict their target, read the way `loss_name` reads them:
    hinge/mse: sign vs -1/+1; bce: logit > 0 vs 0/1; softmax_ce: argmax (first on ties) vs
    class index. Outputs may be Values, numbers, rows of them, or a NumPy array."""
    import numpy as np

    known = ["hinge", "mse", "bce", "softmax_ce"]
    if loss_name not in known:
        raise ValueError(f"accuracy: unknown loss {loss_name!r}: expected one of {known}")
    if not isinstance(outputs, np.ndarray):
        outputs = _plain(list(outputs))
    y = np.asarray(targets if isinstance(targets, np.ndarray) else list(targets))
    if len(outputs) != len(y):
        raise ValueError(f"accuracy: {len(outputs)} outputs but {len(y)} targets")
    if len(y) == 0:
        raise ValueError("accuracy of no outputs")
    if loss_name == "softmax_ce":
        if isinstance(outputs, np.ndarray):
            predicted = np.argmax(outputs, axis=1)
        else:  # rows may differ in length
            predicted = np.array([max(range(len(r)), key=r.__getitem__) for r in outputs])
        hits = predicted == y
    elif loss_name == "bce":
        hits = (np.asarray(outputs) > 0) == (y > 0.5)
    else:  # hinge, and mse as regression onto -1/+1 targets as in the lecture
        hits = (np.asarray(outputs) > 0) == (y > 0)
    return float(np.count_nonzero(hits)) / len(y)


LOSSES: dict[str, Callable] = {
    "hinge": hinge,
    "mse": mse,
    "bce": bce_with_logits,
    "softmax_ce": softmax_cross_entropy,
}
"""Per-sample loss by the name the CLI and `accuracy` use."""

__all__ = [
    "LOSSES",
    "accuracy",
    "bce_with_logits",
    "hinge",
    "l2",
    "logsumexp",
    "mean",
    "mse",
    "softmax_cross_entropy",
]
