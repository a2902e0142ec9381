"""The training loop: `fit` a model to data, `evaluate` and `predict` with it.

One step is micrograd's demo step: the per-sample losses of a batch, averaged, plus an L2
penalty; then zero the gradients, backpropagate, and let the optimizer step. The part that
computes the loss and the gradients is one function (`loss_and_grad`), so a compiled NumPy tape
can stand in for the eager graph without touching the loop.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import losses as L
from .data import _random_state
from .engine import Value, no_grad

if TYPE_CHECKING:
    import numpy.typing as npt


class _Model(Protocol):
    """What training asks of a model: called on one row of features it gives its output(s),
    and it lists its parameters (an MLP, a Module with a `__call__`, or a wrapper of one)."""

    def __call__(self, x: Sequence[float]) -> Value | list[Value]: ...

    def parameters(self) -> list[Value]: ...


class _Stepper(Protocol):
    """What training asks of an optimizer: a `step()` that updates the parameters from their
    `.grad` (tapegrad's optimizers, or any other with that method)."""

    def step(self) -> None: ...


DEFAULT_STEPS = 100


# --- history ---------------------------------------------------------------------------------


@dataclass
class History:
    """What `fit` recorded, one entry per step (or per epoch with `epochs=`).

    `loss` is the training objective (mean loss plus the L2 penalty) and `accuracy` the
    fraction of the batch predicted right, both as measured during the step, before the
    update; `lr` is the learning rate the step used (an epoch: its last step's).
    `val_loss`/`val_accuracy` (mean loss without the penalty) are measured after the update
    (None where skipped, see `fit`'s `eval_every`). Accuracy is None where the loss has no
    notion of it (regression).
    """

    unit: str = "step"
    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.loss)

    def to_dict(self) -> dict:
        """Plain lists and numbers for `json.dump`; inf and nan become None (JSON has neither)."""
        return {k: _json_safe(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """The inverse of `to_dict` (None stays None)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def __repr__(self) -> str:
        if not self.loss:
            return f"History(unit={self.unit!r}, empty)"
        acc = self.accuracy[-1]
        acc_s = "" if acc is None else f", accuracy={acc:.4f}"
        return f"History({len(self)} {self.unit}s, loss={self.loss[-1]:.6g}{acc_s})"


def _json_safe(v):
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# --- labels ----------------------------------------------------------------------------------


def _check_loss(loss: str) -> str:
    if not isinstance(loss, str) or loss not in L.LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of {', '.join(L.LOSSES)}")
    return loss


def prepare_targets(y: npt.ArrayLike, loss: str) -> list:
    """Labels as the loss wants them, as Python numbers: hinge takes -1/+1 (0/1 labels are
    mapped 0 -> -1), bce 0/1 (-1/+1 mapped back), softmax_ce class indices, mse numbers
    (int 0/1 labels mapped to -1/+1, the lecture's regression targets) or rows of numbers."""
    _check_loss(loss)
    y = np.asarray(y)
    if y.ndim == 0 or y.size == 0:
        raise ValueError(f"y must be a non-empty array of labels, got {y!r}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"labels must be numbers, got dtype {y.dtype}")
    if y.ndim == 2 and loss == "mse":
        return y.astype(np.float64).tolist()
    if y.ndim != 1:
        raise ValueError(f"y must be one label per row (shape (n,)), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("labels must be finite")
    values = set(np.unique(y).tolist())
    if loss == "hinge":
        if values <= {0, 1}:
            return (2 * y.astype(np.intp) - 1).tolist()
        if values <= {-1, 1}:
            return y.astype(np.intp).tolist()
        raise ValueError(f"hinge needs two classes labelled 0/1 or -1/+1, got {_few(values)}")
    if loss == "bce":
        if values <= {-1, 1} and -1 in values:
            return ((y.astype(np.intp) + 1) // 2).tolist()
        if np.all((y >= 0) & (y <= 1)):
            return y.tolist()
        raise ValueError(f"bce needs labels 0/1 (or probabilities in [0, 1]), got {_few(values)}")
    if loss == "softmax_ce":
        if (y.dtype.kind == "f" and not np.all(y == np.round(y))) or np.any(y < 0):
            raise ValueError(f"softmax_ce needs class indices 0, 1, 2, ..., got {_few(values)}")
        return y.astype(np.intp).tolist()
    if y.dtype.kind in "biu" and values <= {0, 1}:
        return (2 * y.astype(np.intp) - 1).tolist()
    return y.astype(np.float64).tolist()


def _few(values: set) -> str:
    shown = sorted(values)[:6]
    return "{" + ", ".join(f"{v:g}" for v in shown) + (", ...}" if len(values) > 6 else "}")


def _accuracy(outputs, targets, loss: str) -> float | None:
    # mse has an accuracy only as the lecture's regression onto -1/+1 targets.
    if loss == "mse" and not np.isin(np.asarray(targets), (-1, 1)).all():
        return None
    return L.accuracy(outputs, targets, loss)


# --- checks ----------------------------------------------------------------------------------


def _rows(X, model, what: str = "X") -> list[list[float]]:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array (rows of features), got {X.shape}")
    nin = getattr(model, "nin", None)
    if nin is not None and X.shape[1] != nin:
        raise ValueError(f"{what} has {X.shape[1]} features but the model takes {nin} inputs")
    return X.tolist()


def _check_outputs(model, loss: str, targets: list) -> None:
    nouts = getattr(model, "nouts", None)
    if not nouts:
        return
    k = nouts[-1]
    if loss in ("hinge", "bce") and k != 1:
        raise ValueError(f"{loss} needs a model with 1 output, this one has {k}")
    if loss == "softmax_ce":
        top = max(targets)
        if k < 2 or top >= k:
            raise ValueError(
                f"softmax_ce needs one output per class: the labels go up to {top}, "
                f"the model has {k} output(s)"
            )
    if loss == "mse":
        want = len(targets[0]) if isinstance(targets[0], list) else 1
        if want != k:
            raise ValueError(f"mse targets have {want} value(s) per row, the model has {k}")


# --- one step: the loss and its gradients ----------------------------------------------------


def _data(out):
    return out.data if isinstance(out, Value) else [o.data for o in out]


def loss_and_grad(model: _Model, loss: str, l2: float = 0.0, compile: bool = False) -> Callable:
    """A function `(rows, targets) -> (objective, outputs)` for this model and loss: it runs the
    batch forward, leaves d(objective)/d(parameter) in every parameter's `.grad` (zeroed
    first) and returns the objective's value and the model outputs as floats.

    The objective is micrograd's: mean(per-sample loss) + l2(params, alpha). With `compile`,
    one sample's graph is recorded once as a tape (`tapegrad.compile`) and replayed over each
    batch with NumPy: the same numbers to rounding, hundreds of times faster.
    """
    if compile:
        return _CompiledStep(model, loss, l2).step
    loss_fn = L.LOSSES[_check_loss(loss)]
    params = model.parameters()

    def step(rows: Sequence[Sequence[float]], targets: Sequence) -> tuple[float, list]:
        outputs = [model(row) for row in rows]
        total = L.mean([loss_fn(out, t) for out, t in zip(outputs, targets, strict=True)])
        if l2:
            total = total + L.l2(params, l2)
        for p in params:
            p.grad = 0.0
        total.backward()
        return total.data, [_data(out) for out in outputs]

    return step


class _CompiledStep:
    """Training and evaluation through tapes recorded once (per input width) and replayed over
    every batch: `step` is `loss_and_grad`'s function, `evaluate` the mean loss and outputs."""

    def __init__(self, model, loss: str, l2: float) -> None:
        self.model, self.loss_fn, self.l2 = model, L.LOSSES[_check_loss(loss)], l2
        self.params = model.parameters()
        nouts = getattr(model, "nouts", None)
        self.k = nouts[-1] if nouts else 1
        # A class index would pick a logit by its value, which a tape cannot replay: softmax
        # cross-entropy takes the target as a one-hot row instead (the same number, see losses).
        self.one_hot = loss == "softmax_ce"
        vector = self.one_hot or (loss == "mse" and self.k > 1)
        self.example_target = [1.0] + [0.0] * (self.k - 1) if vector else 1.0
        self.tapes: dict[tuple, object] = {}
        self.sync = lambda: None  # writes array-held weights back to the Values (trainer)

    def _tape(self, n_in: int, penalty: bool):
        key = (n_in, penalty)
        if key not in self.tapes:
            from .tape import compile as record

            def per_sample(x, t):
                out = self.model(x)
                value = self.loss_fn(out, t)
                if penalty:  # the same for every sample: the tape computes it once per batch
                    value = value + L.l2(self.params, self.l2)
                return value, out

            self.tapes[key] = record(per_sample, [0.0] * n_in, self.example_target, has_aux=True)
        return self.tapes[key]

    def _arrays(self, rows, targets) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(rows, dtype=np.float64)
        if self.one_hot:
            return X, np.eye(self.k)[np.asarray(targets, dtype=np.intp)]
        return X, np.asarray(targets, dtype=np.float64)

    def step(
        self,
        rows: Sequence[Sequence[float]] | np.ndarray,
        targets: Sequence | np.ndarray,
        arrays: bool = False,
    ) -> tuple[float, list]:
        """`loss_and_grad`'s step on the tape (`arrays`: rows and targets already as arrays,
        and the outputs returned as one)."""
        X, T = (rows, targets) if arrays else self._arrays(rows, targets)
        for p in self.params:
            p.grad = 0.0
        objective, outputs = self._tape(X.shape[1], bool(self.l2)).backward(X, T)
        return float(np.mean(objective)), outputs if arrays else outputs.tolist()

    def trainer(self, optimizer: _Stepper, rows: list, targets: list) -> Callable:
        """`batch -> (objective, outputs)` for batches of `rows`/`targets` given as a list of
        row indices (or a slice), taking the optimizer's step too.

        With one of tapegrad's optimizers, the weights stay in one array between steps: the
        tape reads them from it and `optimizer.update` writes them, touching no Value until
        `sync()` (fit calls it before evaluating and at the end). Else `.grad` and `step()`.
        """
        from .optim import Optimizer

        X_all, T_all = self._arrays(rows, targets)
        if not isinstance(optimizer, Optimizer):

            def via_values(batch):
                every = slice(None) if batch is None else batch
                out = self.step(X_all[every], T_all[every], arrays=True)
                optimizer.step()
                return out

            return via_values
        params = optimizer.params
        position = {id(p): i for i, p in enumerate(params)}
        w = np.fromiter((p.data for p in params), np.float64, count=len(params))
        g = np.zeros_like(w)
        cache: dict[int, np.ndarray | None] = {}

        def on_arrays(batch):
            X, T = (X_all, T_all) if batch is None else (X_all[batch], T_all[batch])
            tape = self._tape(X.shape[1], bool(self.l2))
            if id(tape) not in cache:  # where each tape parameter sits in the optimizer's list
                ids = [position.get(id(p)) for p in tape.parameters]
                cache[id(tape)] = None if None in ids else np.array(ids, dtype=np.intp)
            where = cache[id(tape)]
            if where is None:  # the optimizer does not hold every weight: go through Values
                self.sync()
                out = self.step(X, T, arrays=True)
                optimizer.step()
                w[:] = [p.data for p in params]
                return out
            (objective, outputs), grad = tape.value_and_grad(X, T, params=w[where])
            g[:] = 0.0
            g[where] = grad
            optimizer.update(w, g)
            return float(np.mean(objective)), outputs

        def sync() -> None:
            for p, v, d in zip(params, w.tolist(), g.tolist(), strict=True):
                p.data, p.grad = v, d

        self.sync = sync
        return on_arrays

    def evaluate(self, rows: Sequence[Sequence[float]], targets: Sequence) -> tuple[float, list]:
        X, T = self._arrays(rows, targets)
        losses, outputs = self._tape(X.shape[1], False)(X, T)
        return float(np.mean(losses)), outputs.tolist()


# --- the loop --------------------------------------------------------------------------------


def _default_optimizer(model):
    from .optim import Adam

    return Adam(model.parameters(), lr=0.01)


def _count_arg(name: str, v) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return v


def fit(
    model: _Model,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    loss: str = "hinge",
    optimizer: _Stepper | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int | np.random.RandomState | None = None,
    l2: float = 0.0,
    progress: bool = True,
    validation: tuple | None = None,
    compile: bool = False,
    eval_every: int = 1,
) -> History:
    """Train `model` on rows `X` with labels `y`; returns the History.

    `loss` names a per-sample loss in `tapegrad.losses.LOSSES` (labels are converted to what it
    takes, see `prepare_targets`); `optimizer` defaults to Adam(lr=0.01). Give `steps` (one
    batch each, recorded per step; the default, 100) or `epochs` (every row once per epoch, in
    shuffled batches, recorded per epoch). `batch_size=None` is the full batch; otherwise each
    step draws a random batch (seeded by `seed`). `l2` adds alpha * sum(p*p). `validation` is
    (X_val, y_val), evaluated under no_grad every `eval_every` steps (or epochs) and at the end;
    the entries in between are None. A tqdm bar shows loss and accuracy unless
    `progress=False`. `compile=True` records one sample's graph once and replays it over every
    batch with NumPy (`tapegrad.compile`): the same history to rounding, far faster; Python
    control flow inside the model is frozen at recording.
    """
    _check_loss(loss)
    if steps is not None and epochs is not None:
        raise ValueError("give steps or epochs, not both")
    steps, epochs = _count_arg("steps", steps), _count_arg("epochs", epochs)
    if steps is None and epochs is None:
        steps = DEFAULT_STEPS
    batch_size = _count_arg("batch_size", batch_size)
    eval_every = _count_arg("eval_every", eval_every)
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not 0 <= l2 < math.inf:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    rows = _rows(X, model)
    targets = prepare_targets(y, loss)
    if len(targets) != len(rows):
        raise ValueError(f"X has {len(rows)} rows but y has {len(targets)} labels")
    _check_outputs(model, loss, targets)
    val = None
    if validation is not None:
        if not (isinstance(validation, tuple | list) and len(validation) == 2):
            raise ValueError("validation must be a pair (X_val, y_val)")
        val = (_rows(validation[0], model, "validation X"), prepare_targets(validation[1], loss))
        if len(val[0]) != len(val[1]):
            raise ValueError(f"validation X has {len(val[0])} rows but {len(val[1])} labels")
    if optimizer is None:
        optimizer = _default_optimizer(model)

    if compile:
        compiled = _CompiledStep(model, loss, l2)
        step = compiled.trainer(optimizer, rows, targets)
    else:
        compiled, grads = None, loss_and_grad(model, loss, l2)

        def step(batch):
            if batch is None:
                value, outs = grads(rows, targets)
            else:
                value, outs = grads([rows[i] for i in batch], [targets[i] for i in batch])
            optimizer.step()
            return value, outs

    rs = _random_state(seed)
    n = len(rows)
    target_array = np.asarray(targets)
    full = batch_size is None or batch_size >= n
    history = History(unit="step" if steps else "epoch")
    start = time.perf_counter()

    def batches():
        if steps:
            for _ in range(steps):
                yield [None if full else rs.permutation(n)[:batch_size]]
        else:
            for _ in range(epochs):
                if full:
                    yield [None]  # every row, in order
                else:
                    order = rs.permutation(n)
                    yield [order[i : i + batch_size] for i in range(0, n, batch_size)]

    from tqdm.std import tqdm  # a text bar: works in terminals and notebooks alike

    with tqdm(total=steps or epochs, disable=not progress, unit=history.unit) as bar:
        for group in batches():
            values, outs = [], []
            for batch in group:
                lr = _current_lr(optimizer)
                value, batch_out = step(batch)
                values.append(value)
                outs.append(np.asarray(batch_out, dtype=np.float64))
            if group[0] is None:  # the full batch, in order
                out_all, seen = outs[0], target_array
            else:
                out_all, seen = np.concatenate(outs), target_array[np.concatenate(group)]
            history.loss.append(_weighted_mean(values, group))
            history.accuracy.append(_accuracy(out_all, seen, loss))
            history.lr.append(lr)
            if val is not None:
                last = len(history) == (steps or epochs)
                if last or (len(history) - 1) % eval_every == 0:
                    if compiled is not None:
                        compiled.sync()
                    v = _evaluate_rows(model, val[0], val[1], loss, compiled)
                else:
                    v = {"loss": None, "accuracy": None}
                history.val_loss.append(v["loss"])
                history.val_accuracy.append(v["accuracy"])
            if progress:
                bar.set_postfix(_postfix(history), refresh=False)
                bar.update()
    if compiled is not None:
        compiled.sync()
    history.seconds = time.perf_counter() - start
    return history


def _weighted_mean(values: list[float], group: list) -> float:
    # One batch: its objective exactly (micrograd's printed loss); an epoch: the mean per row.
    if len(values) == 1:
        return values[0]
    return sum(v * len(idx) for v, idx in zip(values, group, strict=True)) / sum(map(len, group))


def _current_lr(optimizer) -> float:
    # tapegrad's optimizers know the rate of their next step; for others, record what we can.
    current = getattr(optimizer, "current_lr", None)
    if callable(current):
        return float(current())
    lr = getattr(optimizer, "lr", math.nan)
    return float(lr) if isinstance(lr, numbers.Real) else math.nan


def _postfix(h: History) -> dict:
    out = {"loss": f"{h.loss[-1]:.4f}"}
    if h.accuracy[-1] is not None:
        out["acc"] = f"{h.accuracy[-1]:.3f}"
    if h.val_loss and h.val_loss[-1] is not None:
        out["val_loss"] = f"{h.val_loss[-1]:.4f}"
        if h.val_accuracy[-1] is not None:
            out["val_acc"] = f"{h.val_accuracy[-1]:.3f}"
    return out


# --- using a trained model -------------------------------------------------------------------


def outputs(
    model: Callable[[list[float]], Value | list[Value]],
    X: npt.ArrayLike,
    compile: bool = False,
) -> np.ndarray:
    """The model's raw outputs for every row, under no_grad: shape (n,) for a one-output
    model, (n, k) for k outputs. `compile` replays a recorded forward tape over all rows."""
    rows = _rows(X, model)
    if compile:
        from .tape import compile as record

        return record(model, [0.0] * len(rows[0]))(np.asarray(rows, dtype=np.float64))
    with no_grad():
        return np.array([_data(model(row)) for row in rows], dtype=np.float64)


def predict(
    model: Callable[[list[float]], Value | list[Value]],
    X: npt.ArrayLike,
    loss: str = "hinge",
    compile: bool = False,
) -> np.ndarray:
    """Predictions for every row, read the way `loss` trains the outputs: hinge and bce give
    class 1 where the output is > 0, else 0; softmax_ce the argmax class; mse the raw
    outputs. Evaluated under no_grad (or on a compiled tape)."""
    _check_loss(loss)
    out = outputs(model, X, compile=compile)
    if loss in ("hinge", "bce"):
        return (out > 0).astype(np.intp)
    if loss == "softmax_ce":
        return np.argmax(out, axis=1).astype(np.intp)
    return out


def _evaluate_rows(model, rows: list, targets: list, loss: str, compiled=None) -> dict:
    if compiled is not None:
        value, outs = compiled.evaluate(rows, targets)
        return {"loss": value, "accuracy": _accuracy(outs, targets, loss)}
    loss_fn = L.LOSSES[loss]
    with no_grad():
        outs = [model(row) for row in rows]
        value = L.mean([loss_fn(o, t) for o, t in zip(outs, targets, strict=True)]).data
    return {"loss": value, "accuracy": _accuracy([_data(o) for o in outs], targets, loss)}


def evaluate(
    model: _Model, X: npt.ArrayLike, y: npt.ArrayLike, loss: str = "hinge", compile: bool = False
) -> dict:
    """{"loss": mean per-sample loss (no penalty), "accuracy": fraction right, or None for
    regression} on (X, y), under no_grad (or, with `compile`, on a replayed tape)."""
    rows, targets = _rows(X, model), prepare_targets(y, loss)
    if len(rows) != len(targets):
        raise ValueError(f"X has {len(rows)} rows but y has {len(targets)} labels")
    _check_outputs(model, loss, targets)
    compiled = _CompiledStep(model, loss, 0.0) if compile else None
    return _evaluate_rows(model, rows, targets, loss, compiled)
