"""The training loop: `fit` a model to data, `evaluate` and `predict` with it. One step is
micrograd's: a batch's mean loss plus an L2 penalty, zeroed gradients, backward, the optimizer's
step; the loss and gradients come from one function (`loss_and_grad`), so a compiled NumPy tape
can stand in for the eager graph without touching the loop."""

from __future__ import annotations

import inspect
import math
import numbers
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import losses as L
from ._helpers import positive_int
from .data import Seed, random_state
from .engine import Value, no_grad

if TYPE_CHECKING:
    import numpy.typing as npt


class _Model(Protocol):
    """What training asks of a model: its output(s) for one row, and its parameters."""

    def __call__(self, x: Sequence[float]) -> Value | list[Value]: ...

    def parameters(self) -> list[Value]: ...


class _Stepper(Protocol):
    """What training asks of an optimizer: a `step()` that updates the parameters from `.grad`."""

    def step(self) -> None: ...


_Forward = Callable[[list[float]], Value | list[Value]]  # a model, as far as using it goes
DEFAULT_STEPS = 100
EVAL_ROWS = 4_096  # rows a compiled tape evaluates at once (each row's buffers take ~1.5 KB)


@dataclass
class History:
    """What `fit` recorded, one entry per step (or epoch): the objective `loss` (mean loss plus
    `l2_term`) and `accuracy` (None for a regression) before the update, its `lr`, the
    `val_loss`/`val_accuracy` after it (None where skipped), the seconds from the run's start
    to the end of each entry (`elapsed`: its validation included), and `snapshots` of the weights
    (`{"step": k, "weights": [...]}`, in `model.parameters()` order) for `tapegrad.report`.
    With early stopping, `kept` is the entry (1-based) whose weights the model holds at the end
    and `stopped` says why the run ended there; `val_split` names the rows `val_loss` is on
    ("validation" or "test", as `fit_table` sets it). `lr_changes` lists the rates a `control`
    set during the run (`{"step": k, "lr": rate}`: optimizer step k, 1-based, was the first
    to use it), as a live page's learner changes them."""

    unit: str = "step"
    loss: list[float] = field(default_factory=list)
    l2_term: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    seconds: float = 0.0
    elapsed: list[float] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)
    kept: int | None = None
    stopped: str | None = None
    val_split: str | None = None
    lr_changes: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def data_loss(self) -> list[float]:
        """The mean per-sample loss of each entry, without the L2 penalty."""
        terms = self.l2_term if len(self.l2_term) == len(self.loss) else [0.0] * len(self.loss)
        # Every loss in the table is >= 0: a difference below 0 is rounding.
        return [max(total - p, 0.0) for total, p in zip(self.loss, terms, strict=True)]

    def to_dict(self) -> dict:
        """Plain lists and numbers for `json.dump` (with `data_loss`; inf and nan become None)."""
        return {k: _json_safe(v) for k, v in {**asdict(self), "data_loss": self.data_loss}.items()}

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
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# --- labels and rows -------------------------------------------------------------------------


def prepare_targets(y: npt.ArrayLike, loss: str) -> list:
    """Labels as the loss codes them (its `labels` in `tapegrad.losses.TABLE`), as Python
    numbers: hinge -1/+1 (0 -> -1), bce 0/1, softmax_ce indices, mse numbers (0/1 -> -1/+1)."""
    spec = L.lookup(loss)
    y = np.asarray(y)
    if y.ndim == 0 or y.size == 0:
        raise ValueError(f"y must be a non-empty array of labels, got {y!r}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"labels must be numbers, got dtype {y.dtype}")
    if y.ndim == 2 and spec.rows:
        return y.astype(np.float64).tolist()
    if y.ndim != 1:
        raise ValueError(f"y must be one label per row (shape (n,)), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("labels must be finite")
    return spec.labels(y, set(np.unique(y).tolist()))


def accuracy(outputs: Sequence | np.ndarray, targets: Sequence, loss: str) -> float | None:
    """The fraction of `outputs` that `loss` reads as the coded `targets`, or None (mse)."""
    spec = L.lookup(loss)
    return L.accuracy(outputs, targets, spec.name) if spec.graded(targets) else None


def _rows(X, model, what: str = "X", as_list: bool = True) -> list[list[float]] | np.ndarray:
    # Lists for the eager graph; a compiled tape takes the array itself (no object per number).
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array (rows of features), got {X.shape}")
    nin = getattr(model, "nin", None)
    if nin is not None and X.shape[1] != nin:
        raise ValueError(f"{what} has {X.shape[1]} features but the model takes {nin} inputs")
    return X.tolist() if as_list else X


def labelled(
    model: _Model, X: npt.ArrayLike, y: npt.ArrayLike, loss: str, as_list: bool = True
) -> tuple[list | np.ndarray, list]:
    """(rows, targets coded for `loss`), checked against each other and the model: lists, or
    with `as_list=False` the rows as a float64 array (what a compiled tape takes)."""
    spec = L.lookup(loss)
    rows, targets = _rows(X, model, as_list=as_list), prepare_targets(y, spec.name)
    if len(rows) != len(targets):
        raise ValueError(f"X has {len(rows)} rows but y has {len(targets)} labels")
    nouts = getattr(model, "nouts", None)
    if nouts:
        spec.check_outputs(nouts[-1], targets)
    return rows, targets


# --- one step: the loss and its gradients ----------------------------------------------------


def _data(out):
    return out.data if isinstance(out, Value) else [o.data for o in out]


def loss_and_grad(model: _Model, loss: str, l2: float = 0.0, compile: bool = False) -> Callable:
    """A function `(rows, targets) -> (objective, outputs)` that leaves d(objective)/d(p) in
    every parameter's `.grad` (zeroed first), the objective being micrograd's mean loss + L2.
    With `compile`, one sample's tape is replayed over each batch with NumPy (same numbers)."""
    spec = L.lookup(loss)
    if compile:
        return _CompiledStep(model, spec, l2).step
    params = model.parameters()

    def step(rows: Sequence[Sequence[float]], targets: Sequence) -> tuple[float, list]:
        outputs = [model(row) for row in rows]
        total = L.mean([spec.fn(out, t) for out, t in zip(outputs, targets, strict=True)])
        if l2:
            total = total + L.l2(params, l2)
        for p in params:
            p.grad = 0.0
        total.backward()
        return total.data, [_data(out) for out in outputs]

    return step


class _CompiledStep:
    """Training and evaluation on tapes recorded once (per input width), replayed per batch."""

    def __init__(self, model, spec: L.LossSpec, l2: float) -> None:
        self.model, self.spec, self.l2 = model, spec, l2
        self.params = model.parameters()
        nouts = getattr(model, "nouts", None)
        self.k = nouts[-1] if nouts else 1
        self.tapes: dict[tuple, object] = {}

    def tape(self, n_in: int, penalty: bool):
        """`(X, T) -> (per-sample objective, outputs)` for `n_in` inputs, recorded once."""
        key = (n_in, penalty)
        if key not in self.tapes:
            from .tape import compile as record

            loss = self.spec.tape_fn or self.spec.fn

            def per_sample(x, t):
                out = self.model(x)
                value = loss(out, t)
                if penalty:  # the same for every sample: the tape computes it once per batch
                    value = value + L.l2(self.params, self.l2)
                return value, out

            example = self.spec.example_target(self.k)
            self.tapes[key] = record(per_sample, [0.0] * n_in, example, has_aux=True)
        return self.tapes[key]

    def arrays(self, rows, targets) -> tuple[np.ndarray, np.ndarray]:
        """Rows and coded targets as the arrays the tape takes."""
        return np.asarray(rows, dtype=np.float64), self.spec.tape_targets(targets, self.k)

    def step(self, rows: Sequence[Sequence[float]], targets: Sequence) -> tuple[float, list]:
        """`loss_and_grad`'s step on the tape."""
        objective, outputs = self.step_arrays(*self.arrays(rows, targets))
        return objective, outputs.tolist()

    def step_arrays(self, X: np.ndarray, T: np.ndarray) -> tuple[float, np.ndarray]:
        """`step` on arrays, returning the outputs as one."""
        for p in self.params:
            p.grad = 0.0
        objective, outputs = self.tape(X.shape[1], bool(self.l2)).backward(X, T)
        return float(np.mean(objective)), outputs

    def evaluate(self, rows, targets: Sequence) -> tuple[float, np.ndarray]:
        """(mean loss, outputs) over every row, a block of EVAL_ROWS at a time (the tape's
        buffers hold about a hundred numbers per row and node: all rows at once could be GBs)."""
        X, T = self.arrays(rows, targets)
        tape = self.tape(X.shape[1], False)
        parts = [
            tape(X[i : i + EVAL_ROWS], T[i : i + EVAL_ROWS]) for i in range(0, len(X), EVAL_ROWS)
        ]
        losses = np.concatenate([p[0] for p in parts])
        return float(np.mean(losses)), np.concatenate([p[1] for p in parts])


# --- the steps fit takes ---------------------------------------------------------------------
#
# A trainer is what `fit` calls once per batch: `trainer(batch) -> (objective, outputs)` runs
# the batch (None: every row, in order; else an array of row indices), leaves the gradients and
# takes the optimizer's step; inside `session(steps)`, `stepper()` gives the same step, maybe
# faster. `keep(spare)` gives the weights a step starts from as they will stay (the divergence
# guard's), `evaluate(rows, targets)` measures the model as it stands, and `sync()` makes the
# model's Values hold the trained weights (fit calls it at the end).


_NO_SESSION = nullcontext()  # a session with nothing to hold (reusable: it holds no state)


class _EagerTrainer:
    """Steps on the eager Value graph, as micrograd takes them."""

    def __init__(
        self, model, spec: L.LossSpec, l2: float, optimizer, rows, targets, keeps: bool = False
    ) -> None:
        # `keeps` (the guard asks `keep` each step) changes nothing here: `keep` copies.
        self.model, self.spec, self.optimizer, self.l2 = model, spec, optimizer, l2
        self.rows, self.targets = rows, targets
        self.grads = loss_and_grad(model, spec.name, l2)
        self.params = model.parameters()

    def __call__(self, batch) -> tuple[float, list]:
        if batch is None:
            out = self.grads(self.rows, self.targets)
        else:
            out = self.grads([self.rows[i] for i in batch], [self.targets[i] for i in batch])
        self.optimizer.step()
        return out

    def evaluate(self, rows: list, targets: list) -> dict:
        return _evaluate_rows(self.model, rows, targets, self.spec)

    def session(self, steps: int) -> AbstractContextManager:
        """Nothing to hold: eager steps share no buffer."""
        return _NO_SESSION

    def stepper(self) -> Callable:
        """What `fit` calls per batch: the trainer itself."""
        return self

    def sync(self) -> None:
        """Nothing to do: the weights live in the Values."""

    def weights(self) -> np.ndarray:
        """A copy of every parameter's value (to go back to, see `fit`'s divergence guard)."""
        return np.fromiter((p.data for p in self.params), np.float64, len(self.params))

    def keep(self, spare: np.ndarray | None) -> np.ndarray:
        """The weights the next step starts from, as they will stay: a copy."""
        return self.weights()

    def set_weights(self, w: np.ndarray) -> None:
        for p, v in zip(self.params, w.tolist(), strict=True):
            p.data = v

    def penalty(self) -> float:
        """The L2 term of the objective at the current weights."""
        return self.l2 * float(np.dot(w := self.weights(), w)) if self.l2 else 0.0


class _TapeTrainer:
    """Steps on a compiled tape. With a tapegrad optimizer the weights stay in one array, read
    by the tape (as it is, when the tape stores them in the optimizer's order, as it does a
    Module's) and written by `optimizer.update`, until `sync()`; others go through Values."""

    def __init__(
        self, model, spec: L.LossSpec, l2: float, optimizer, rows, targets, keeps: bool = False
    ) -> None:
        from .optim import Optimizer

        self.model, self.spec, self.optimizer, self.l2 = model, spec, optimizer, l2
        self.keeps = keeps  # `keep` is asked each step (fit's divergence guard)
        self.compiled = _CompiledStep(model, spec, l2)
        self.X, self.T = self.compiled.arrays(rows, targets)
        self.on_arrays = isinstance(optimizer, Optimizer)
        # The L2 term from the weight array: the optimizer holds exactly the model's weights.
        self.penalty_on_w = self.on_arrays and len(optimizer.params) == len(self.compiled.params)
        if self.on_arrays:
            self.params = optimizer.params
            self.position = {id(p): i for i, p in enumerate(self.params)}
            self.w = np.fromiter((p.data for p in self.params), np.float64, len(self.params))
            # The gradients: this array, or (same order) the training tape's own view of them,
            # valid until its next replay, which is all `update` and `sync` need.
            self.g = np.zeros_like(self.w)
            self.plan: tuple | None = None
            self.loop = None  # the training tape's loop, inside `session()`
            self.where: dict[int, np.ndarray | None] = {}
            self.same_order: dict[int, bool] = {}  # the tape stores them in the optimizer's order
        # With `keeps`, three weight arrays the tape reads, rotated (`_find_plan`): a step
        # reads ring[turn] and its update writes ring[turn + 1], so the weights it started
        # from stay, with no copy, and the ones before them too (see `keep`).
        self.ring: list[np.ndarray] | None = None
        self.turn = 0

    def __call__(self, batch) -> tuple[float, np.ndarray]:
        X, T = self.X, self.T
        if batch is not None:  # take: a batch's rows in a third of the time of X[batch]
            X, T = X.take(batch, axis=0), T.take(batch, axis=0)
        if not self.on_arrays:
            return self._via_values(X, T)
        tape, where, same_order = self.plan or self._find_plan(X.shape[1])
        if where is None:  # the optimizer does not hold every weight: go through Values
            self.sync()
            out = self._via_values(X, T)
            self.w[:] = [p.data for p in self.params]
            return out
        # Inside `session()` the tape's loop steps, its outputs views; else `replay`'s copies.
        run = tape.replay if self.loop is None else self.loop
        if same_order:  # a Module's parameters: the tape stores them in order
            w = self.w
            (objective, outputs), self.g = run([X, T], w)  # g: the tape's view
            self._update(w, self.g)
        else:
            (objective, outputs), grad = run([X, T], self.w, where)
            if len(where) < len(self.g):  # the optimizer holds weights the tape does not read
                self.g[:] = 0.0
            self.g[where] = grad
            self.optimizer.update(self.w, self.g)
        if self.loop is not None:  # kept for the entry's accuracy: the next step overwrites it
            outputs = outputs.copy()
        # np.mean to the bit: the same pairwise sum, and a float64 over an int is IEEE's /
        return float(np.add.reduce(objective)) / len(objective), outputs

    def _update(self, w: np.ndarray, g: np.ndarray) -> None:
        """The optimizer's step from `w`: in place, or with the ring into the next array (which
        becomes `self.w`), so `w` stays."""
        if self.ring is None:
            self.optimizer.update(w, g)
            return
        self.turn = (self.turn + 1) % 3
        self.w = self.ring[self.turn]
        self.optimizer.update(w, g, out=self.w)

    def stepper(self) -> Callable:
        """What `fit` calls per batch: `self` (`__call__`), or inside a session on a Module's
        tape the same step with what `__call__` finds per call (the arrays, the loop, the
        plan) found once: an epoch of a small model's steps is mostly Python."""
        if self.loop is None or self.plan is None or not self.plan[2]:
            return self
        X, T, loop, update = self.X, self.T, self.loop, self._update

        def step(batch: np.ndarray) -> tuple[float, np.ndarray]:
            w = self.w
            (objective, outputs), self.g = loop([X.take(batch, axis=0), T.take(batch, axis=0)], w)
            update(w, self.g)
            # a copy: the next step overwrites the view; np.mean's numbers, as `__call__`
            return float(np.add.reduce(objective)) / len(objective), outputs.copy()

        return step

    def _find_plan(self, n_in: int) -> tuple:
        """The training tape and where its parameters sit, found once. Where the tape stores
        them in the optimizer's order, the weight array becomes the one the tape reads, so a
        step copies nothing in (the tape's other calls read `.data`, which `sync` writes
        first: evaluation, snapshots)."""
        tape = self.compiled.tape(n_in, bool(self.compiled.l2))
        self.plan = (tape, self._positions(tape), self.same_order[id(tape)])
        if self.plan[2]:
            if self.keeps and _writes_out(self.optimizer):
                # Not the first array, into which the tape's other calls load `.data`.
                self.ring = tape.loop().weight_arrays(4)[1:]
                self.turn = 0
                shared = self.ring[0]
            else:
                shared = tape.loop().weights
            shared[:] = self.w
            self.w = shared
        return self.plan

    def session(self, steps: int) -> AbstractContextManager:
        """A `with` block for `steps` steps in a row: on the training tape's `loop()`, which
        takes its lock and NumPy's float silence once, not once a step (one step: nothing)."""
        if steps < 2 or not self.on_arrays:
            return _NO_SESSION
        tape, where, _ = self.plan or self._find_plan(self.X.shape[1])
        return _NO_SESSION if where is None else _Session(self, tape)

    def _via_values(self, X: np.ndarray, T: np.ndarray) -> tuple[float, np.ndarray]:
        out = self.compiled.step_arrays(X, T)
        self.optimizer.step()
        return out

    def _positions(self, tape) -> np.ndarray | None:
        # Where each tape parameter sits in the optimizer's list (None: not all of them do).
        if id(tape) not in self.where:
            ids = [self.position.get(id(p)) for p in tape.parameters]
            self.where[id(tape)] = None if None in ids else np.array(ids, dtype=np.intp)
            self.same_order[id(tape)] = ids == list(range(len(self.params)))
        return self.where[id(tape)]

    def evaluate(self, rows: list, targets: list) -> dict:
        self.sync()
        return _evaluate_rows(self.model, rows, targets, self.spec, self.compiled)

    def sync(self) -> None:
        """Write the array-held weights and gradients back to the Values."""
        if self.on_arrays:
            for p, v, d in zip(self.params, self.w.tolist(), self.g.tolist(), strict=True):
                p.data, p.grad = v, d

    def weights(self) -> np.ndarray:
        """A copy of every weight: the optimizer's array, or the model's Values."""
        if self.on_arrays:
            return self.w.copy()
        params = self.compiled.params
        return np.fromiter((p.data for p in params), np.float64, len(params))

    def keep(self, spare: np.ndarray | None) -> np.ndarray:
        """The weights the next step starts from, as they will stay: the array itself where
        the step writes its new weights into another (`ring`), else a copy into `spare`."""
        if self.ring is not None:
            return self.w
        if spare is None or not self.on_arrays:
            return self.weights()
        np.copyto(spare, self.w)
        return spare

    def set_weights(self, w: np.ndarray) -> None:
        if self.on_arrays:
            self.w[:] = w
        else:
            for p, v in zip(self.compiled.params, w.tolist(), strict=True):
                p.data = v

    def penalty(self) -> float:
        """The L2 term of the objective at the current weights (the tape's own parameters)."""
        if not self.l2:
            return 0.0
        if self.penalty_on_w:
            return self.l2 * float(np.dot(self.w, self.w))
        self.sync()
        return self.l2 * sum(p.data * p.data for p in self.compiled.params)


class _Session:
    """`_TapeTrainer.session()`: the trainer steps on its tape's `loop()` until the block ends."""

    def __init__(self, trainer: _TapeTrainer, tape) -> None:
        self.trainer, self.loop = trainer, tape.loop()

    def __enter__(self) -> None:
        self.trainer.loop = self.loop.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.trainer.loop = None
        self.loop.__exit__(*exc)


# --- the loop --------------------------------------------------------------------------------


@dataclass
class _Run:
    """fit's arguments, checked: the data as rows and coded targets, the run's length."""

    spec: L.LossSpec
    rows: list | np.ndarray  # an array for a compiled tape
    targets: list
    unit: str  # "step" or "epoch": what one History entry is
    total: int  # how many of them
    batch_size: int | None
    eval_every: int
    validation: tuple[list | np.ndarray, list] | None
    graded: bool = True  # whether accuracy means anything for these targets (not so for mse's)

    def batches(self, rs: np.random.RandomState):
        """Per step (or epoch), the batches it takes: [None] for every row in order."""
        n = len(self.rows)
        size = n if self.batch_size is None else min(self.batch_size, n)
        full = size >= n
        if self.unit == "step":
            for _ in range(self.total):
                yield [None if full else rs.permutation(n)[:size]]
            return
        for _ in range(self.total):
            if full:
                yield [None]
            else:
                order = rs.permutation(n)
                yield [order[i : i + size] for i in range(0, n, size)]


def _check_run(
    model, X, y, loss, steps, epochs, batch_size, l2, validation, eval_every, as_list=True
) -> _Run:
    """fit's argument checks, in the order their errors are reported."""
    spec = L.lookup(loss)
    if steps is not None and epochs is not None:
        raise ValueError("give steps or epochs, not both")
    steps = None if steps is None else positive_int("steps", steps)
    epochs = None if epochs is None else positive_int("epochs", epochs)
    unit, total = ("epoch", epochs) if epochs is not None else ("step", steps or DEFAULT_STEPS)
    batch_size = None if batch_size is None else positive_int("batch_size", batch_size)
    eval_every = positive_int("eval_every", eval_every)
    # numbers.Real declares only < and <=; a nan fails `l2 < math.inf`
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or l2 < 0 or not l2 < math.inf:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    rows, targets = labelled(model, X, y, spec.name, as_list)
    val = None
    if validation is not None:
        if not (isinstance(validation, tuple | list) and len(validation) == 2):
            raise ValueError("validation must be a pair (X_val, y_val)")
        val_X = _rows(validation[0], model, "validation X", as_list)
        val = (val_X, prepare_targets(validation[1], loss))
        if len(val[0]) != len(val[1]):
            raise ValueError(f"validation X has {len(val[0])} rows but {len(val[1])} labels")
    graded = spec.graded(targets)  # once for the run: every entry reports it or none does
    return _Run(spec, rows, targets, unit, total, batch_size, eval_every, val, graded)


def fit(
    model: _Model,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    loss: str = "hinge",
    optimizer: _Stepper | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: Seed = None,
    l2: float = 0.0,
    progress: bool | str = True,
    validation: tuple | None = None,
    compile: bool = False,
    eval_every: int = 1,
    divergence_guard: bool = True,
    snapshots: int = 0,
    patience: int | None = None,
    tol: float = 1e-4,
    control: Control | None = None,
) -> History:
    """Train `model` on rows `X` with labels `y` and return what each step measured; a step is
    micrograd's (mean loss plus L2, zeroed grads, `backward()`, the optimizer's step).

    Args:
      model: an MLP (or any callable on one row that lists its `parameters()`).
      X, y: rows of features (n, model.nin) and one label per row, coded as `loss` wants it
        (`prepare_targets`: 0/1 become -1/+1 for hinge); for mse also rows of numbers.
      loss: "hinge", "mse", "bce" or "softmax_ce" (the loss table `tapegrad.losses.TABLE`).
      optimizer: anything with a `step()`; default Adam(lr=0.01).
      steps: batches to take, one History entry each (default 100); or `epochs`: passes
        over every row in shuffled batches, one entry each.
      batch_size: rows per batch (None: the full batch, in order), drawn with `seed`.
      l2: adds l2 * sum(p * p) over the parameters to the objective.
      progress: True: a tqdm bar on a terminal, else lines; "bar", "lines" or False choose.
      validation: (X_val, y_val), evaluated every `eval_every` entries and at the end.
      compile: replay one sample's tape over every batch with NumPy (same numbers, faster).
      divergence_guard: raise TrainingDiverged, with the last good weights back, when a batch's
        objective is nan, infinite or over EXPLODED times max(the first one, 1).
      snapshots: keep the weights at this many moments of the run (for `tapegrad.report`).
      patience, tol: stop once the validation loss has not fallen by over `tol` for `patience`
        entries, keeping the best entry's weights (`_EarlyStop`); None or 0: never.
      control: a `Control` asked before and told after every optimizer step (a live page's
        pause, step, learning rate and stop; see `Control`); default the one `controlled()`
        set for this thread of execution, if any.

    Returns:
      A History: per step (or epoch) the objective, accuracy, learning rate and validation.

    Example:
      >>> from tapegrad.nn import MLP
      >>> from tapegrad.optim import SGD
      >>> X, y = [[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]], [1, 1, 0, 0]
      >>> model = MLP(2, [4, 1], seed=0)
      >>> history = fit(model, X, y, optimizer=SGD(model, lr=0.1), steps=20, progress=False)
      >>> len(history), history.unit
      (20, 'step')
      >>> history.loss[-1] < history.loss[0]
      True
    """
    stop = _EarlyStop.make(patience, tol, validation)  # which looks at every entry's val_loss
    every = 1 if stop.patience else eval_every
    run = _check_run(
        model, X, y, loss, steps, epochs, batch_size, l2, validation, every, not compile
    )
    optimizer = optimizer if optimizer is not None else _default_optimizer(model)
    make = _TapeTrainer if compile else _EagerTrainer
    trainer = make(model, run.spec, l2, optimizer, run.rows, run.targets, divergence_guard)
    history = History(unit=run.unit)
    keep = _Snapshots(model, snapshots, run.total, run.validation)
    keep.take(history, trainer)
    control = control if control is not None else _CONTROL.get()
    if control is not None:
        control.begin(RunInfo(model, run.spec.name, run.rows, run.targets, run.validation,
                              run.unit, run.total, optimizer))  # fmt: skip
    loop = _steps(history, run, trainer, optimizer, seed, divergence_guard, control)
    _run_loop(loop, history, trainer, progress, run.total, keep, stop, control)
    return history


def _run_loop(loop, history: History, trainer, progress, total: int, keep, stop, control):
    """Run `loop` (`_steps`) to its end, an early stop, or a control's StopTraining, keeping
    snapshots and showing progress; the weights synced and the time recorded however it ends."""
    start = time.perf_counter()
    with _Progress(progress, total, history.unit) as shown:
        try:
            for _ in loop:
                keep.take(history, trainer)
                shown.update(history)
                if stop.check(history, trainer):
                    break
            keep.finish(history, trainer, stop.restore)
        except StopTraining as why:  # the weights stay as they are: no best entry put back
            history.stopped = str(why) or f"stopped by its control after {len(history)} entries"
            keep.finish(history, trainer, lambda history, trainer: None)
        finally:
            trainer.sync()
            history.seconds = time.perf_counter() - start
            if control is not None:
                control.end(history)


def _default_optimizer(model: _Model) -> _Stepper:
    from .optim import Adam

    return Adam(model.parameters(), lr=0.01)


def _steps(history: History, run: _Run, trainer, optimizer, seed, guarded: bool, control=None):
    """Take the run's batches, yielding after each History entry (step or epoch) it records.
    A `control` is asked before each optimizer step and told after it (after the entry is
    recorded, for an entry's last batch); a StopTraining from it ends the run, an epoch cut
    short being recorded over the batches it took."""
    started = time.perf_counter()
    guard = _Guard(history) if guarded else None
    target_array = np.asarray(run.targets)
    taken = 0  # optimizer steps so far
    rate = _rate_reader(optimizer)
    penalty = trainer.penalty if trainer.l2 else None  # None: no L2 term, none recorded
    keep = trainer.keep
    for group in run.batches(random_state(seed)):
        values, penalties, outs, lr = [], [], [], math.nan
        try:
            with trainer.session(len(group)):
                step = trainer.stepper()
                for i, batch in enumerate(group):
                    if control is not None:
                        _steer(control, taken, optimizer, history)
                    lr = rate()
                    # The weights the step starts from, as they will stay (`keep`, `_Guard`).
                    before = None if guard is None else keep(guard.spare)
                    if penalty is not None:
                        penalties.append(penalty())
                    value, batch_out = step(batch)
                    if guard is not None and before is not None:  # None only without a guard
                        if -math.inf < value <= guard.limit:  # fine: `_Guard.check`'s first case
                            guard.spare, guard.good = guard.good, before
                        else:
                            guard.check(value, lr, before, trainer, taken + 1)
                    values.append(value)
                    outs.append(batch_out)  # an array (a tape's) or a list: `_record` stacks
                    taken += 1
                    if control is not None and i < len(group) - 1:
                        control.after_step(taken, value, history, trainer)
        except StopTraining:
            if values:  # the part of the epoch taken: its weights are the model's now
                _entry(history, run, trainer, group[: len(values)], values, penalties, outs,
                       target_array, lr, started)  # fmt: skip
            raise
        _entry(history, run, trainer, group, values, penalties, outs, target_array, lr, started)
        if control is not None:
            control.after_step(taken, values[-1], history, trainer)
        yield


def _entry(
    history: History, run: _Run, trainer, group, values, penalties, outs, targets, lr, started
):
    """Record one History entry and its validation, and when (seconds after `started`)."""
    _record(history, run, group, values, penalties, outs, targets, lr)
    if run.validation is not None:
        _record_validation(history, run, trainer, run.validation)
    history.elapsed.append(time.perf_counter() - started)


# --- a control: a live page's (or a test's) hands on the loop --------------------------------


class StopTraining(Exception):
    """Raised by a control's `before_step` to end the run there: `fit` keeps the weights as
    they are, records the message in `History.stopped` and returns as usual."""


@dataclass
class RunInfo:
    """What a control is told as a run begins: the model, the loss's name, the training rows
    and coded targets (lists, or an array for a compiled run), the validation pair (or None),
    what one History entry is ("step" or "epoch") and how many the run takes, the optimizer."""

    model: _Model
    loss: str
    rows: list | np.ndarray
    targets: list
    validation: tuple | None
    unit: str
    total: int
    optimizer: _Stepper


class Control:
    """A hand on `fit`'s loop (`fit(control=...)`): `begin` once, `before_step(k)` before
    optimizer step k (0-based; it may block, e.g. while paused, return a new learning rate,
    or raise StopTraining), `after_step(k, loss, history, trainer)` after it (k steps taken,
    `loss` that batch's objective; `trainer.sync()` puts the current weights and gradients
    in the model's Values, `trainer.weights()` copies them), and `end(history)` when the run
    ends, however it ends. Every method runs on the training thread; these do nothing."""

    def begin(self, run: RunInfo) -> None:
        """Called once, before the first step."""

    def before_step(self, step: int) -> float | None:
        """Called before optimizer step `step`; a number is the learning rate from this step."""
        return None

    def after_step(self, step: int, loss: float, history: History, trainer) -> None:
        """Called after `step` optimizer steps (and after the History entry they complete)."""

    def end(self, history: History) -> None:
        """Called when the run ends (finished, stopped, or raising)."""


_CONTROL: ContextVar[Control | None] = ContextVar("tapegrad_fit_control", default=None)


@contextmanager
def controlled(control: Control):
    """Within this block, `fit` calls without a `control` of their own use `control` (so a
    workflow that calls `fit` itself, as `tapegrad.tables.fit_table` does, can be watched)."""
    token = _CONTROL.set(control)
    try:
        yield control
    finally:
        _CONTROL.reset(token)


def _steer(control: Control, taken: int, optimizer, history: History) -> None:
    """Ask the control about step `taken`; a new rate goes into the optimizer and History."""
    lr = control.before_step(taken)
    if lr is None:
        return
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf:
        raise ValueError(f"a control set the learning rate to {lr!r}: it must be a number > 0")
    set_lr(optimizer, float(lr))
    history.lr_changes.append({"step": taken + 1, "lr": float(lr)})


def set_lr(optimizer, lr: float) -> None:
    """Make `lr` the rate of `optimizer`'s next step. A schedule keeps its shape from there,
    scaled to start at `lr` (`RescaledSchedule`), as PyTorch's chained schedulers carry a
    changed rate on; a number is replaced. An optimizer without an `lr` is a TypeError."""
    current = getattr(optimizer, "lr", None)
    if callable(current):
        optimizer.lr = RescaledSchedule(current, getattr(optimizer, "step_count", 0), lr)
    elif isinstance(current, numbers.Real):
        optimizer.lr = lr
    else:
        raise TypeError(f"{type(optimizer).__name__} has no learning rate `lr` to set")


class RescaledSchedule:
    """`schedule` until step `at`, then `schedule(k) * lr / schedule(at)`: the same shape from
    the rate `lr` (a constant `lr` where the schedule is 0 at `at`)."""

    def __init__(self, schedule: Callable[[int], float], at: int, lr: float) -> None:
        self.schedule, self.at, self.lr = schedule, at, lr
        self.base = float(schedule(at))

    def __call__(self, k: int) -> float:
        if k < self.at:
            return self.schedule(k)
        if not self.base > 0:
            return self.lr
        return self.lr * float(self.schedule(k)) / self.base

    def __repr__(self) -> str:
        return f"{self.schedule!r} scaled to {self.lr!r} at step {self.at}"


class _EarlyStop:
    """Early stopping on the validation loss (measured after every entry; without `validation`
    there is none): whether to stop (no fall of more than `tol` below the best so far for
    `patience` entries in a row), and the best entry's weights, put back at the end."""

    def __init__(self, patience: int | None, tol: float) -> None:
        self.patience, self.tol = patience, tol
        self.best, self.best_at, self.weights = math.inf, 0, None
        self.reference, self.waited = math.inf, 0

    @classmethod
    def make(cls, patience, tol, validation) -> _EarlyStop:
        """The stopper asked for; one that never stops without patience or validation."""
        if patience is None or (isinstance(patience, int) and patience == 0):
            return cls(None, 1e-4)
        patience = positive_int("patience", patience)
        real = isinstance(tol, numbers.Real) and not isinstance(tol, bool)
        if not real or not 0 <= float(tol) < math.inf:
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
        return cls(None if validation is None else patience, float(tol))

    def check(self, history: History, trainer) -> bool:
        """Note the entry just recorded; True when the run should stop here."""
        if self.patience is None:
            return False
        v = history.val_loss[-1]
        if v is None or not math.isfinite(v):
            self.waited += 1
        else:
            if v < self.best:
                self.best, self.best_at, self.weights = v, len(history), trainer.weights()
            if v < self.reference - self.tol:
                self.reference, self.waited = v, 0
            else:
                self.waited += 1
        if self.waited < self.patience:
            return False
        unit = history.unit
        history.stopped = (
            f"stopped at {unit} {len(history)}: validation loss has not improved by more than "
            f"{self.tol:g} for {self.patience} {unit}s"
        )
        return True

    def restore(self, history: History, trainer) -> None:
        """Put back the best entry's weights and say which they are in `history`."""
        if self.weights is None:
            return
        trainer.set_weights(self.weights)
        trainer.sync()
        history.kept = self.best_at
        if history.stopped is None:
            if self.best_at == len(history):
                return  # ran every entry and the last was the best: nothing to say
            history.stopped = f"ran all {len(history)} {history.unit}s"
        history.stopped += (
            f"; kept {history.unit} {self.best_at}'s weights (validation loss {self.best:.4g})"
        )


class TrainingDiverged(RuntimeError):
    """The loss became nan or infinite, or exploded; the model holds the last good weights."""

    def __init__(self, message: str, step: int, lr: float, loss: float, history: History):
        super().__init__(message)
        self.step, self.lr, self.loss, self.history = step, lr, loss, history


EXPLODED = 100.0
"""A loss above EXPLODED * max(first loss, 1) counts as diverged (see `fit`)."""


class _Guard:
    """On a non-finite or exploded objective, puts back the last good weights and raises."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.first: float | None = None  # the first finite objective
        self.limit = -math.inf  # EXPLODED * max(first, 1), once there is a first
        self.good: np.ndarray | None = None  # the last weights that gave a fine objective
        self.spare: np.ndarray | None = None  # where the next step's weights may be copied

    def check(self, value: float, lr: float, before: np.ndarray, trainer, step: int) -> None:
        """Optimizer step `step` (1-based) gave objective `value` at weights `before` (the
        trainer's `keep`: a copy into `spare`, or an array the step did not write): keep them
        as the last good ones, or put those back and raise. `fit` calls this only where its
        own test, `-inf < value <= limit` (the common case: the weights gave a fine loss, so
        `spare, good = good, before`), fails: for the first finite objective, which sets
        `limit`, and for a diverged one."""
        if self.first is None and math.isfinite(value):
            self.first = value
            self.limit = EXPLODED * max(value, 1.0)
        if -math.inf < value <= self.limit:  # the first finite objective is fine
            self.spare, self.good = self.good, before
            return
        kept = self.good if self.good is not None else before
        trainer.set_weights(kept)
        trainer.sync()
        why = "not finite" if not math.isfinite(value) else f"over {EXPLODED:g} times the first"
        where = f"step {step}"
        if self.history.unit == "epoch":
            where += f" (epoch {len(self.history) + 1})"
        if self.good is None:
            kept_from = "its initial weights"
        else:
            kept_from = f"the weights step {step - 1} started from, the last with a fine loss"
        smaller = f" ({lr / 10:.3g})" if math.isfinite(lr) else ""
        message = (
            f"training diverged at {where}: the loss was {value:.5g} ({why}) at learning rate "
            f"{lr:.3g}; the model keeps {kept_from}. Try a learning rate 10 times "
            f"smaller{smaller}, or Adam"
        )
        raise TrainingDiverged(message, step, lr, value, self.history)


class _Progress:
    """What `fit` shows: a tqdm bar on a terminal, else (a file, a pipe) a plain line every
    tenth of the run. `mode` is True (pick by the terminal), "bar", "lines" or False."""

    def __init__(self, mode, total: int, unit: str) -> None:
        if mode is True:
            tty = all(getattr(s, "isatty", lambda: False)() for s in (sys.stdout, sys.stderr))
            mode = "bar" if tty else "lines"
        if mode not in (False, None, "bar", "lines"):
            raise ValueError(f"progress must be True, False, 'bar' or 'lines', got {mode!r}")
        self.mode, self.total, self.unit, self.bar = mode, total, unit, None
        self.every = max(1, total // 10)

    def __enter__(self) -> _Progress:
        if self.mode == "bar":
            from tqdm.std import tqdm  # a text bar: works in terminals and notebooks alike

            self.bar = tqdm(total=self.total, unit=self.unit)
        return self

    def update(self, h: History) -> None:
        if self.bar is not None:
            self.bar.set_postfix(_postfix(h), refresh=False)
            self.bar.update()
        elif self.mode == "lines":
            n = len(h)
            if n % self.every == 0 or n == self.total or n == 1:
                fields = _postfix(h)
                text = f"loss {fields.pop('loss')}"
                if "l2" in fields:
                    text += f" (data {fields.pop('data')} + L2 {fields.pop('l2')})"
                text = ", ".join([text, *(f"{k} {v}" for k, v in fields.items())])
                print(f"{self.unit} {n}/{self.total}: {text}", flush=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


class _Snapshots:
    """The moments whose weights `fit` keeps: after k entries, k evenly spaced over 0..total;
    the first with its validation loss and accuracy (a History entry has them after its update
    only). With early stopping, the k are spaced over the entries run (from spares taken every
    `stride` entries, at most 2k of them), then come the weights kept, marked `"kept": True`."""

    def __init__(self, model, count: int, total: int, validation: tuple | None = None) -> None:
        count = 0 if count == 0 else positive_int("snapshots", count)
        if count == 1:
            self.at = {total}
        else:
            self.at = {round(i * total / (count - 1)) for i in range(count)}
        self.params = model.parameters() if count else []
        self.count, self.total, self.validation = count, total, validation
        self.stride = 1
        self.spares: list[dict] = []  # every stride-th entry's, re-spaced if the run stops early

    def take(self, history: History, trainer) -> None:
        n = len(history)
        if n in self.at:
            history.snapshots.append(self._snap(trainer, n))
        elif self.count > 1 and n % self.stride == 0:
            self.spares.append(self._snap(trainer, n))
            if len(self.spares) > 2 * self.count:
                self.stride *= 2
                self.spares = [snap for snap in self.spares if snap["step"] % self.stride == 0]

    def _snap(self, trainer, step: int) -> dict:
        trainer.sync()  # a compiled run holds the weights in an array until told
        snap = {"step": step, "weights": [float(p.data) for p in self.params]}
        if step == 0 and self.validation is not None:
            v = trainer.evaluate(*self.validation)
            snap["val_loss"], snap["val_accuracy"] = v["loss"], v["accuracy"]
        return snap

    def finish(self, history: History, trainer, restore: Callable) -> None:
        """`restore` the best weights (early stopping); when the run stopped early, space the
        moments over the entries run instead; when an earlier entry's weights are put back,
        add them last."""
        if not self.params:
            restore(history, trainer)
            return
        n = len(history)
        if n < self.total:  # stopped early: the last entry trained, and moments up to it
            pool = {snap["step"]: snap for snap in [*history.snapshots, *self.spares]}
            pool[n] = self._snap(trainer, n)
            wanted = [round(i * n / max(self.count - 1, 1)) for i in range(self.count)]
            steps = {min(pool, key=lambda s: (abs(s - w), s)) for w in wanted} | {n}
            history.snapshots[:] = [pool[s] for s in sorted(steps)]
        restore(history, trainer)
        if history.kept is None:
            return
        if history.kept == n:
            history.snapshots[-1]["kept"] = True
        else:
            history.snapshots.append({**self._snap(trainer, history.kept), "kept": True})


def _record(
    history: History, run: _Run, group, values, penalties, outs, target_array, lr: float
) -> None:
    """One History entry: the objective, L2 term and accuracy of the step's (epoch's) batches."""
    if group[0] is None:  # the full batch, in order
        out_all, seen = np.asarray(outs[0], dtype=np.float64), target_array
    else:
        out_all = np.asarray(np.concatenate(outs), dtype=np.float64)
        seen = target_array[np.concatenate(group)]
    one = len(values) == 1  # a step: its numbers as they are (micrograd's printed loss)
    sizes = [len(idx) for idx in group] if not one else []
    history.loss.append(values[0] if one else _weighted_mean(values, sizes))
    if not penalties:  # no L2 term
        history.l2_term.append(0.0)
    else:
        history.l2_term.append(penalties[0] if one else _weighted_mean(penalties, sizes))
    # accuracy(), without its per-call lookups and checks: a small model's step is ~100 us
    hits = np.count_nonzero(run.spec.hits(out_all, seen)) if run.graded else None
    history.accuracy.append(None if hits is None else float(hits) / len(seen))
    history.lr.append(lr)


def _record_validation(history: History, run: _Run, trainer, validation: tuple) -> None:
    # Measured every `eval_every` entries, starting with the first, and at the last.
    last = len(history) == run.total
    if last or (len(history) - 1) % run.eval_every == 0:
        v = trainer.evaluate(*validation)
    else:
        v = {"loss": None, "accuracy": None}
    history.val_loss.append(v["loss"])
    history.val_accuracy.append(v["accuracy"])


def _weighted_mean(values: list[float], sizes: list[int]) -> float:
    # An epoch's batches: the mean per row.
    return sum(v * n for v, n in zip(values, sizes, strict=True)) / sum(sizes)


def _writes_out(optimizer) -> bool:
    """Whether the optimizer's `update` can write the new weights elsewhere (`out=`), as
    tapegrad's do; a subclass's own `update` may not."""
    try:
        return "out" in inspect.signature(optimizer.update).parameters
    except (TypeError, ValueError):  # no signature to read
        return False


def _rate_reader(optimizer) -> Callable[[], float]:
    """`_current_lr(optimizer)` as a function looked up once, for the loop to call per step."""
    from .optim import Optimizer

    if isinstance(optimizer, Optimizer):  # its current_lr gives a float
        return optimizer.current_lr
    return lambda: _current_lr(optimizer)


def _current_lr(optimizer) -> float:
    # tapegrad's optimizers know the rate of their next step; for others, record what we can.
    current = getattr(optimizer, "current_lr", None)
    if callable(current):
        return float(current())
    lr = getattr(optimizer, "lr", math.nan)
    return float(lr) if isinstance(lr, numbers.Real) else math.nan


def _postfix(h: History) -> dict:
    out = {"loss": f"{h.loss[-1]:.4f}"}
    if h.l2_term[-1]:  # the objective in its two parts: data loss + L2 term
        out["data"], out["l2"] = f"{h.data_loss[-1]:.4f}", f"{h.l2_term[-1]:.4f}"
    if h.accuracy[-1] is not None:
        out["acc"] = f"{h.accuracy[-1]:.3f}"
    if h.val_loss and h.val_loss[-1] is not None:
        out["val_loss"] = f"{h.val_loss[-1]:.4f}"
        if h.val_accuracy[-1] is not None:
            out["val_acc"] = f"{h.val_accuracy[-1]:.3f}"
    return out


# --- using a trained model -------------------------------------------------------------------


def outputs(model: _Forward, X: npt.ArrayLike, compile: bool = False) -> np.ndarray:
    """The model's raw outputs for every row ((n,) or (n, k)), under no_grad or on a tape."""
    rows = _rows(X, model, as_list=not compile)
    if compile:
        from .tape import compile as record

        tape = record(model, [0.0] * len(rows[0]))
        return np.concatenate(
            [tape(rows[i : i + EVAL_ROWS]) for i in range(0, len(rows), EVAL_ROWS)]
        )
    with no_grad():
        return np.array([_data(model(row)) for row in rows], dtype=np.float64)


def predict(
    model: _Forward, X: npt.ArrayLike, loss: str = "hinge", compile: bool = False
) -> np.ndarray:
    """Predictions for every row, read as `loss` trains the outputs (the loss table's `predict`)."""
    return L.lookup(loss).predict(outputs(model, X, compile=compile))


def _evaluate_rows(
    model, rows: list | np.ndarray, targets: list, spec: L.LossSpec, compiled=None
) -> dict:
    if compiled is not None:
        value, outs = compiled.evaluate(rows, targets)
        return {"loss": value, "accuracy": accuracy(outs, targets, spec.name)}
    with no_grad():
        outs = [model(row) for row in rows]
        value = L.mean([spec.fn(o, t) for o, t in zip(outs, targets, strict=True)]).data
    return {"loss": value, "accuracy": accuracy([_data(o) for o in outs], targets, spec.name)}


def evaluate(
    model: _Model, X: npt.ArrayLike, y: npt.ArrayLike, loss: str = "hinge", compile: bool = False
) -> dict:
    """{"loss": mean loss (no penalty), "accuracy": fraction right or None} on (X, y)."""
    spec = L.lookup(loss)
    rows, targets = labelled(model, X, y, spec.name, as_list=not compile)
    compiled = _CompiledStep(model, spec, 0.0) if compile else None
    return _evaluate_rows(model, rows, targets, spec, compiled)
