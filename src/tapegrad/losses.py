"""Losses on Values, one sample at a time, composed from primitives (no derivative written here).

Each loss takes a model output and a plain-number target. Stable ones are built on the
`logaddexp` and `logsumexp` primitives, whose rules are stable once for every mode; no shift is
computed from the data outside a rule, because a data-dependent constant would be frozen into a
compiled tape.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, SupportsIndex, TypeAlias, cast

from . import valuemath as vm
from .engine import Value
from .nn import HasParameters
from .valuemath import data_of

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


Target = float | Value
"""A target as a loss takes it: a plain number (or a Value, to differentiate through it)."""


def mse(pred: Value | list[Value] | tuple[Value, ...], target: Target | Sequence[Target]) -> Value:
    """Squared error (pred - target)**2; for lists, the mean over elements (torch's mse_loss)."""
    if isinstance(pred, list | tuple):
        if not isinstance(target, list | tuple) or len(target) != len(pred):
            raise ValueError(
                f"mse: target must be a list as long as pred ({len(pred)} outputs), got {target!r}"
            )
        return mean([(p - t) ** 2 for p, t in zip(pred, target, strict=True)])
    if isinstance(target, Sequence):
        raise TypeError(f"mse: pred is one Value, so target must be one number, got {target!r}")
    return (pred - target) ** 2


def hinge(score: Value, y: Target) -> Value:
    """The max-margin (SVM) loss relu(1 - y*score) for a label y in {-1, +1}, written
    `(1 + -y*score).relu()` as micrograd's demo does, so its numbers match bit for bit."""
    if data_of(y) not in (1, -1):
        raise ValueError(f"hinge: label must be -1 or +1, got {y!r}")
    return (1 + -y * score).relu()


def bce_with_logits(logit: Value, y: Target) -> Value:
    """Binary cross-entropy from a logit, for a label y in [0, 1] (usually 0 or 1):
    y*softplus(-logit) + (1 - y)*softplus(logit). Finite and exact at |logit| = 1000."""
    if not 0 <= data_of(y) <= 1:
        raise ValueError(f"bce_with_logits: label must be in [0, 1], got {y!r}")
    return y * (-logit).softplus() + (1 - y) * logit.softplus()


logsumexp = vm.logsumexp  # one node of the `logsumexp` primitive (its rule: ops.py)


def softmax_cross_entropy(logits: Sequence[Value], y: int | float | Sequence[Target]) -> Value:
    """Cross-entropy of softmax(logits) against a class index y: logsumexp(logits) - logits[y],
    computed as softplus(logsumexp(logits[j] - logits[y], j != y)) so that a tiny loss keeps
    its digits.
    `y` may also be a distribution (one-hot, or probabilities summing to 1), as a list: then it
    is sum(y) * logsumexp(logits) - sum(y_k * logits_k), which picks no element by the label's
    value, so a compiled tape can take the target as an input."""
    if not isinstance(logits, list | tuple) or not logits:
        raise ValueError(
            f"softmax_cross_entropy: logits must be a non-empty list, got {type(logits).__name__}"
        )
    if isinstance(y, list | tuple):
        if len(y) != len(logits):
            raise ValueError(
                f"softmax_cross_entropy: target has {len(y)} entries for {len(logits)} logits"
            )
        # vm.sum: one n-ary sum of the terms (their rows next to each other on a tape), added
        # left to right as the built-in sum adds them, but with no 0 in front.
        dot = vm.sum([t * z for t, z in zip(y, logits, strict=True)])
        return cast(Value, vm.sum(y) * logsumexp(logits) - dot)  # logits are Values
    k = _class_index(y, len(logits), "softmax_cross_entropy")
    if len(logits) == 1:
        return logits[0] - logits[0]  # 0 (nan for an infinite logit), with gradient 0
    # logsumexp(logits) - logits[k] as log(1 + sum_{j != k} e^(z_j - z_k)) = softplus(s), s the
    # others' logsumexp after the shift: where the answer is confidently right the loss is
    # tiny, and the plain difference cancels to one ulp of max|z| (1e-2 relative error at
    # margin 30, 0 at 40; torch: 1e-3 and 0); softplus's log1p keeps it, and z_k's gradient
    # -sum_{j != k} softmax_j, to a few ulps.
    minus = -logits[k]
    others = [z + minus for j, z in enumerate(logits) if j != k]
    return cast(Value, vm.softplus(logsumexp(others)))  # a Value: the list holds Values


def _one_hot_cross_entropy(logits: Sequence[Value], t: Sequence[Value]) -> Value:
    """`softmax_cross_entropy` as `fit`'s compiled tape records it, on the row `t` of -1 at
    the label's class and 0 elsewhere that it takes for a class label (`tape_targets`): one
    n-ary sum, logsumexp(logits) + sum(t_k * logits_k). For a one-hot target y = -t that is
    sum(y) * logsumexp(logits) - sum(y_k * logits_k) exactly, since sum(y) is 1 and 1 * x is x:
    the same numbers and gradients, bit for bit, in four nodes fewer."""
    terms = [logsumexp(logits), *[ti * zi for ti, zi in zip(t, logits, strict=True)]]
    return cast(Value, vm.sum(terms))  # the terms are Values


def _class_index(y: object, n: int, who: str) -> int:
    """`y` as a class index in [0, n): an integer, or a whole float such as 2.0."""
    try:
        k = operator.index(cast(SupportsIndex, y))  # a TypeError if it is not an integer
    except TypeError:
        f = float(y) if isinstance(y, numbers.Real) else math.nan
        if not f.is_integer():
            raise ValueError(f"{who}: class must be an integer, got {y!r}") from None
        k = int(f)  # a float label such as 2.0 from a CSV column
    if not 0 <= k < n:
        raise ValueError(f"{who}: class {k} is out of range for {n} logits")
    return k


def l2(params: Iterable[Value] | HasParameters, alpha: float) -> Value | float:
    """The L2 penalty alpha * sum(p*p), micrograd's reg_loss; `params` may be a Module (with no
    parameters, the number alpha * 0). The squares add as one n-ary sum node (vm.sum), left to
    right: micrograd's `0 + p0*p0 + ...` to the bit, since 0 + x is x for a square."""
    found = params.parameters() if hasattr(params, "parameters") else params
    return alpha * vm.sum([p * p for p in found])


def mean(values: Iterable[Value]) -> Value:
    """The mean of a list of losses, as micrograd writes it: sum(values) * (1.0 / len(values))."""
    values = values if isinstance(values, list | tuple) else list(values)
    if len(values) == 0:
        raise ValueError("mean of an empty list of losses")
    # micrograd's sum, 0 + v1 + v2 + ...: a Value, as the list is not empty
    return cast(Value, sum(values)) * (1.0 / len(values))


Row = list[Target] | tuple[Target, ...]


def _plain(xs: Iterable[Target | Row]) -> list[float | list[float]]:
    """Numbers (or rows of numbers) from outputs that may be Values."""
    return [[data_of(v) for v in x] if isinstance(x, list | tuple) else data_of(x) for x in xs]


def accuracy(
    outputs: Iterable[Target | Row] | np.ndarray,
    targets: Iterable[float] | np.ndarray,
    loss_name: str,
) -> float:
    """The fraction of outputs that predict their target, read the way `loss_name` reads them:
    hinge/mse: sign vs -1/+1; bce: logit > 0 vs 0/1; softmax_ce: argmax (first on ties) vs
    class index. Outputs may be Values, numbers, rows of them, or a NumPy array."""
    import numpy as np

    spec = lookup(loss_name, who="accuracy")
    plain = outputs if isinstance(outputs, np.ndarray) else _plain(list(outputs))
    y = np.asarray(targets if isinstance(targets, np.ndarray) else list(targets))
    if len(plain) != len(y):
        raise ValueError(f"accuracy: {len(plain)} outputs but {len(y)} targets")
    if len(y) == 0:
        raise ValueError("accuracy of no outputs")
    return float(np.count_nonzero(spec.hits(plain, y))) / len(y)


# --- the loss table: what fit, evaluate, predict, checkpoints and the CLI's --loss need to know
# about a loss, one record per loss, so adding a loss is one entry in TABLE (plus its tests).
# NumPy is imported inside the functions that need it: `import tapegrad.losses` stays pure Python.

KINDS = ("binary", "classes", "regression")
"""What a loss trains the outputs for: `binary` one output, class 1 where it is > 0;
`classes` one output per class, the argmax wins; `regression` the outputs are the answer."""


def _few(values: set[float]) -> str:
    shown = sorted(values)[:6]
    return "{" + ", ".join(f"{v:g}" for v in shown) + (", ...}" if len(values) > 6 else "}")


def _hinge_labels(y: np.ndarray, values: set[float]) -> list:
    if values <= {0, 1}:
        return (2 * y.astype(int) - 1).tolist()
    if values <= {-1, 1}:
        return y.astype(int).tolist()
    raise ValueError(f"hinge needs two classes labelled 0/1 or -1/+1, got {_few(values)}")


def _bce_labels(y: np.ndarray, values: set[float]) -> list:
    if values <= {-1, 1} and -1 in values:
        return ((y.astype(int) + 1) // 2).tolist()
    if ((y >= 0) & (y <= 1)).all():
        return y.tolist()
    raise ValueError(f"bce needs labels 0/1 (or probabilities in [0, 1]), got {_few(values)}")


def _class_labels(y: np.ndarray, values: set[float]) -> list:
    if (y.dtype.kind == "f" and not (y == y.round()).all()) or (y < 0).any():
        raise ValueError(f"softmax_ce needs class indices 0, 1, 2, ..., got {_few(values)}")
    return y.astype(int).tolist()


def _regression_labels(y: np.ndarray, values: set[float]) -> list:
    if y.dtype.kind in "biu" and values <= {0, 1}:  # the lecture's regression onto -1/+1
        return (2 * y.astype(int) - 1).tolist()
    return y.astype(float).tolist()


Outputs: TypeAlias = "np.ndarray | list[float | list[float]]"
"""Outputs as `hits` reads them: an array, or numbers (rows of numbers) from `_plain`."""


def _sign_hits(outputs: Outputs, y: np.ndarray) -> np.ndarray:
    import numpy as np

    return (np.asarray(outputs) > 0) == (y > 0)


def _logit_hits(outputs: Outputs, y: np.ndarray) -> np.ndarray:
    import numpy as np

    return (np.asarray(outputs) > 0) == (y > 0.5)


def _argmax_hits(outputs: Outputs, y: np.ndarray) -> np.ndarray:
    import numpy as np

    if isinstance(outputs, np.ndarray):
        predicted = np.argmax(outputs, axis=1)
    else:  # rows (one output per class) may differ in length
        rows = cast("list[list[float]]", outputs)
        predicted = np.array([max(range(len(r)), key=r.__getitem__) for r in rows])
    return predicted == y


def _always(targets: object) -> bool:
    return True


def _signs_only(targets: npt.ArrayLike) -> bool:
    import numpy as np

    return bool(np.isin(np.asarray(targets), (-1, 1)).all())


@dataclass(frozen=True)
class LossSpec:
    """One loss as the rest of tapegrad uses it: `name` as `fit(loss=...)`, the CLI and
    checkpoints call it; `fn(output, target)` the per-sample loss; `kind` one of KINDS;
    `labels(y, values)` codes a 1-D array of finite labels (with its distinct values) as `fn`
    takes them, or raises ValueError; `hits(outputs, y)` says which outputs predict their
    target; `graded(targets)` whether accuracy means anything for these targets. `one_hot`: a
    tape takes a class label as a row, -1 at its class and 0 elsewhere (it cannot pick an
    output by a class index; negated, so `tape_fn` adds it in its one sum);
    `tape_fn`: the per-sample loss a tape records on the targets `tape_targets` gives, where
    that is not `fn` itself; `rows`: targets may be rows of numbers (y of shape (n, k));
    `default`: the CLI's choice for its kind.
    """

    name: str
    fn: Callable[..., Value]
    kind: str
    labels: Callable[[np.ndarray, set[float]], list]
    hits: Callable[[Outputs, np.ndarray], np.ndarray]
    graded: Callable[[npt.ArrayLike], bool] = _always
    one_hot: bool = False
    tape_fn: Callable[..., Value] | None = None
    rows: bool = False
    default: bool = False

    def n_outputs(self, n_classes: int | None) -> int:
        """The outputs a model trained with this loss needs for `n_classes` classes."""
        return max(n_classes or 0, 2) if self.kind == "classes" else 1

    def check_outputs(self, k: int, targets: list) -> None:
        """ValueError unless a model with `k` outputs fits these (coded) targets."""
        if self.kind == "binary" and k != 1:
            raise ValueError(f"{self.name} needs a model with 1 output, this one has {k}")
        if self.kind == "classes":
            top = max(targets)
            if k < 2 or top >= k:
                raise ValueError(
                    f"{self.name} needs one output per class: the labels go up to {top}, "
                    f"the model has {k} output(s)"
                )
        if self.kind == "regression":
            want = len(targets[0]) if isinstance(targets[0], list) else 1
            if want != k:
                raise ValueError(
                    f"{self.name} targets have {want} value(s) per row, the model has {k}"
                )

    def predict(self, out: np.ndarray) -> np.ndarray:
        """Predictions from an array of outputs ((n,) or (n, k)): class 1 where > 0 (binary),
        the argmax class (classes), or the outputs themselves (regression)."""
        import numpy as np

        if self.kind == "binary":
            return (out > 0).astype(np.intp)
        if self.kind == "classes":
            return np.argmax(out, axis=1).astype(np.intp)
        return out

    def example_target(self, k: int) -> float | list[float]:
        """A target to record a compiled tape with, for a model with `k` outputs."""
        if self.one_hot:
            return [-1.0] + [0.0] * (k - 1)
        return [1.0] + [0.0] * (k - 1) if k > 1 else 1.0

    def tape_targets(self, targets: npt.ArrayLike, k: int) -> np.ndarray:
        """Coded targets as the array a compiled tape takes (where `one_hot`, rows of -1 at
        the label's class and 0 elsewhere)."""
        import numpy as np

        if self.one_hot:
            return 0.0 - np.eye(k)[np.asarray(targets, dtype=np.intp)]  # 0.0 - 0.0: no -0.0
        return np.asarray(targets, dtype=np.float64)


TABLE: dict[str, LossSpec] = {
    spec.name: spec
    for spec in (
        LossSpec("hinge", hinge, "binary", _hinge_labels, _sign_hits, default=True),
        LossSpec(
            "mse",
            mse,
            "regression",
            _regression_labels,
            _sign_hits,  # as regression onto -1/+1 targets, as in the lecture
            graded=_signs_only,
            rows=True,
            default=True,
        ),
        LossSpec("bce", bce_with_logits, "binary", _bce_labels, _logit_hits),
        LossSpec(
            "softmax_ce",
            softmax_cross_entropy,
            "classes",
            _class_labels,
            _argmax_hits,
            one_hot=True,
            tape_fn=_one_hot_cross_entropy,
            default=True,
        ),
    )
}
"""Every loss by name: the one place a loss is registered."""

LOSSES: dict[str, Callable] = {name: spec.fn for name, spec in TABLE.items()}
"""Per-sample loss by the name the CLI and `accuracy` use."""


def lookup(name: str, who: str = "") -> LossSpec:
    """The table's record for `name`; ValueError listing the known names otherwise."""
    if isinstance(name, str) and name in TABLE:
        return TABLE[name]
    prefix = f"{who}: " if who else ""
    raise ValueError(f"{prefix}unknown loss {name!r}: expected one of {', '.join(TABLE)}")


def default_loss(kind: str) -> str:
    """The loss the CLI picks for a task of this kind (one of KINDS)."""
    return next(name for name, spec in TABLE.items() if spec.kind == kind and spec.default)


__all__ = [
    "KINDS",
    "LOSSES",
    "TABLE",
    "LossSpec",
    "accuracy",
    "bce_with_logits",
    "default_loss",
    "hinge",
    "l2",
    "logsumexp",
    "lookup",
    "mean",
    "mse",
    "softmax_cross_entropy",
]
