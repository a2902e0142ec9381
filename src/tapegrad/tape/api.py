"""The public face of the tape: `compile`, the `Tape` it returns, and `StaleTapeError`.

A Tape records at construction (`record`), compiles the graph (`build_program`) and replays it
per call (`Replay`); this module checks what users pass and shapes what they get back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, cast, overload

import numpy as np

from .args import ArgSpec, Example, arg_names, check_batch, fn_name
from .graph import PARAM, Graph
from .instructions import Rows, index
from .program import build_program
from .record import record
from .replay import Replay, data_of

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..engine import Value


Outputs = np.ndarray | tuple[np.ndarray, np.ndarray]
"""What a call gives: the per-sample outputs, or with `has_aux` the pair (outputs, aux)."""

Out = TypeVar("Out", bound=Outputs)
"""What a Tape's calls give: an array, the pair of `has_aux`, or either (not known)."""


class StaleTapeError(RuntimeError):
    """The graph `fn` builds now is not the graph the tape recorded: compile again."""


@overload
def compile(
    fn: Callable, *example_args: Example, has_aux: Literal[False] = False
) -> Tape[np.ndarray]: ...
@overload
def compile(
    fn: Callable, *example_args: Example, has_aux: Literal[True]
) -> Tape[tuple[np.ndarray, np.ndarray]]: ...
@overload
def compile(fn: Callable, *example_args: Example, has_aux: bool) -> Tape[Outputs]: ...


def compile(fn: Callable, *example_args: Example, has_aux: bool = False) -> Tape:
    """Record `fn` once on placeholder Values and return a Tape that replays it over whole
    batches with NumPy: the compiled counterpart of calling `fn` on every sample.

    The leaf Values `fn` reads besides its inputs (a model's weights) become the tape's
    parameters, `tape.parameters`: their `.data` is read on every call, so an optimizer that
    updates `.data` just works; numbers mixed into the expressions are frozen in as constants.
    The tape holds the parameter objects and the graph it saw: after replacing a parameter with
    a new Value (instead of assigning its `.data`) or changing the model, compile again;
    `tape.check()` raises StaleTapeError when that happened. A Value `fn` makes from an input's
    `.data` (or under `no_grad`) is cut from the input: it is replayed as a parameter holding
    the example's number. A target that selects an element (a class index) must come in as a
    one-hot vector.

    Args:
        fn: a plain-Python function of Values returning a Value (one output per sample, e.g.
            a loss) or a list of Values; with `has_aux`, a pair `(output, aux)` of those.
            Python control flow in `fn` is frozen at recording, as with `jax.jit`: on an
            input it is refused (see Raises); on a parameter it is allowed, the branch taken
            is replayed, and `tape.check()` says when the parameters would take another.
        *example_args: one per argument of `fn`: a number (`fn` gets one Value there; the
            batch passes an array shaped (batch,)) or a sequence of n numbers (`fn` gets a
            list of n Values; the batch passes (batch, n)). The numbers are only used to
            record.
        has_aux: `fn` returns `(output, aux)`, e.g. a loss and the model's outputs: every
            call then returns both, and only `output` is differentiated, as in
            `value_and_grad(..., has_aux=True)`.

    Returns:
        A `Tape`. `tape(*batch)` gives the per-sample outputs; `tape.backward(*batch)` also
        adds d mean(output) / d param into every parameter's `.grad` (the leaf Values `fn`
        reads besides its inputs, in `tape.parameters`), as eager `backward()` would.
        Threads may share a tape: their calls take turns.

    Raises:
        TracingError: (a TypeError) `fn` compared a Value computed from an input (`if x > 0`,
            builtin `max`/`min`), or took its `bool()` or `float()` (`math.*`), or took a
            derivative through a rule that chooses by an input's sign (`grad` of relu): the
            example's answer would be replayed for every sample. Use ops instead: `x.relu()`,
            `x.max(y)`, `x.min(y)`, `x.clamp(lo, hi)`, `abs(x)`.

    Example:
        >>> import numpy as np
        >>> import tapegrad
        >>> w, b = tapegrad.Value(2.0), tapegrad.Value(0.5)
        >>> tape = tapegrad.compile(lambda x: (w * x + b).relu(), 0.0)
        >>> X = np.array([-1.0, 0.0, 1.0, 2.0])
        >>> tape(X)
        array([0. , 0.5, 2.5, 4.5])
        >>> tape.backward(X, reduction="sum")  # the outputs again, and the gradients
        array([0. , 0.5, 2.5, 4.5])
        >>> w.grad, b.grad  # the ReLU passes a gradient where x is 0, 1 and 2
        (3.0, 3.0)
    """
    if not callable(fn):
        raise TypeError(f"compile needs a function, got {type(fn).__name__}")
    names = arg_names(fn, len(example_args))
    specs = [ArgSpec.from_example(name, a) for name, a in zip(names, example_args, strict=True)]
    return Tape(fn, specs, example_args, has_aux)


class Tape(Generic[Out]):
    """A recorded graph, replayed over batches: `tape(*batch)` for the per-sample outputs,
    `tape.backward(*batch)` to also accumulate parameter gradients. Build one with `compile`."""

    def __init__(
        self,
        fn: Callable,
        specs: list[ArgSpec],
        example_args: tuple[Example, ...],
        has_aux: bool = False,
    ) -> None:
        self.fn = fn
        self._specs = specs
        self._examples = example_args
        self._has_aux = has_aux
        recording = record(fn, specs, example_args, has_aux)
        self._parts = recording.parts
        graph = Graph(recording.placeholders, recording.outputs)
        self._fingerprint = graph.fingerprint()
        prog = build_program(graph)
        self.parameters: list[Value] = prog.params
        """The leaf Values the tape reads and writes gradients to, in its own storage order."""
        self.instructions: list[str] = prog.describe()
        """What one forward pass runs: one entry per NumPy-level instruction."""
        self._n_outputs = len(recording.outputs)
        self._n_nodes = len(graph.nodes)
        self._replay = Replay(prog)
        self._out_reads = _output_reads(prog.out_rows, recording.parts)
        # Calls share the replay's buffers: threads take turns. Re-entrant, so that code a
        # `loop()` runs between its steps (a training control) may call the tape too.
        self._lock = threading.RLock()

    def forward(self, *batch: npt.ArrayLike, params: npt.ArrayLike | None = None) -> Out:
        """The per-sample outputs for a batch: shape (batch,) for one output, (batch, k) for k
        (with `has_aux`, the pair (outputs, aux)). The parameters' current `.data` is read; or
        pass `params`, an array in `tape.parameters` order, to evaluate at those values."""
        return self._run(batch, None, params)[0]

    __call__ = forward

    def backward(self, *batch: npt.ArrayLike, reduction: str = "mean") -> Out:
        """Forward and backward over a batch: add d(reduced output)/d(param) into every
        parameter's `.grad` (as eager `mean(outs).backward()`, or `sum` with
        reduction="sum") and return the per-sample outputs, shape (batch,) (with `has_aux`,
        the pair (outputs, aux))."""
        outputs, grads = self.value_and_grad(*batch, reduction=reduction)
        with self._lock:
            for p, g in zip(self.parameters, grads.tolist(), strict=True):
                p.grad += g
        return outputs

    def value_and_grad(
        self, *batch: npt.ArrayLike, reduction: str = "mean", params: npt.ArrayLike | None = None
    ) -> tuple[Out, np.ndarray]:
        """The per-sample outputs and the gradient of their mean (or sum) with respect to
        `tape.parameters`, as an array in that order (with `has_aux`: `((outputs, aux),
        gradient)`, as `value_and_grad` gives). No `.grad` is touched, and with `params`
        (an array in `tape.parameters` order) no `.data` is read either: a training loop can
        keep the weights in one array and write them back once, with `write_parameters`."""
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        if not self._parts[0][0]:
            raise ValueError(
                f"backward needs one output per sample, but fn returned a list of "
                f"{self._parts[0][1]} Values: reduce them to one loss inside fn"
            )
        return cast("tuple[Out, np.ndarray]", self._run(batch, reduction, params))

    def replay(
        self, arrays: list[np.ndarray], weights: np.ndarray, where: np.ndarray | None = None
    ) -> tuple[Out, np.ndarray]:
        """`value_and_grad(*arrays, params=weights[where])` (reduction "mean") for a training
        loop that checked its data once and keeps its weights in one array: no per-call checks
        (on a small model they cost a third of a step), and the gradient, in
        `tape.parameters` order, is a view into the tape's buffer, valid until its next call.
        `arrays`: float64, one per argument, of the shapes `tape(...)` takes; `weights`:
        float64; `where`: for each of `tape.parameters`, its index in `weights` (None: the
        same order, as a `Module`'s parameters are: a tape stores its layers' as they list).
        A loop of many steps runs faster inside `loop()`."""
        with self._lock, np.errstate(all="ignore"):
            v, grads = self._replay.run(arrays, len(arrays[0]), weights, "mean", take=where)
            return self._outputs(v), cast(np.ndarray, grads)

    def loop(self) -> Loop[Out]:
        """A training loop's hold on the tape, for a `with` block: its `step(arrays, weights,
        where=None)` is `replay` without the costs `replay` pays per call. The tape's lock and
        NumPy's floating-point silence are taken once for the block, the outputs come back as
        views into the tape's buffer (valid until the next step, like the gradient), and
        `step.weights`, the parameter array the tape reads (what its last call read), is read
        where it stands when passed as `weights`, with no copy: an optimizer can update it in
        place. Other calls on the tape (`tape(X)`, `value_and_grad`) load it again.

            with tape.loop() as step:
                w = step.weights
                w[:] = tape.read_parameters()  # tape.parameters' .data, in that order
                for X, T in batches:
                    (loss, aux), grad = step([X, T], w)
                    optimizer.update(w, grad)
                tape.write_parameters(w)  # into the Values' .data
        """
        return Loop(self)

    def read_parameters(self) -> np.ndarray:
        """Every parameter's current `.data`, in `tape.parameters` order."""
        return np.fromiter(map(data_of, self.parameters), np.float64, count=len(self.parameters))

    def write_parameters(self, values: npt.ArrayLike) -> None:
        """Set every parameter's `.data` from an array in `tape.parameters` order."""
        values = self._check_params(values, "write_parameters")
        for p, v in zip(self.parameters, values.tolist(), strict=True):
            p.data = v

    def check(self) -> None:
        """Run `fn` again on the example arguments and raise StaleTapeError if the graph it
        builds differs from the recorded one (an op, a wire, a constant or a parameter object).
        Costs one eager forward pass on one sample."""
        recording = record(self.fn, self._specs, self._examples, self._has_aux)
        graph = Graph(recording.placeholders, recording.outputs)
        if graph.fingerprint() == self._fingerprint and recording.parts == self._parts:
            return
        raise StaleTapeError(
            f"the tape of {fn_name(self.fn)} is stale: {'; '.join(self._changes(graph))}. "
            f"Compile it again."
        )

    def __repr__(self) -> str:
        args = ", ".join(s.describe() for s in self._specs)
        return (
            f"Tape({fn_name(self.fn)}({args}) -> {self._n_outputs} output(s); "
            f"{self._n_nodes} nodes, {len(self.parameters)} parameters, "
            f"{len(self.instructions)} instructions)"
        )

    def _run(
        self, batch: tuple[npt.ArrayLike, ...], reduction: str | None, params: npt.ArrayLike | None
    ) -> tuple[Out, np.ndarray | None]:
        """(outputs, gradient) for a batch, the gradient None without a `reduction`."""
        arrays, n = check_batch(self._specs, batch, self.fn)
        weights = None if params is None else self._check_params(params, "params")
        # The buffers are read until the outputs are copied out.
        with self._lock, np.errstate(all="ignore"):
            v, grads = self._replay.run(arrays, n, weights, reduction)
            return self._outputs(v), None if grads is None else grads.copy()

    def _outputs(self, v: np.ndarray, copy: bool = True) -> Out:
        """The output rows of the buffer, copied out (or as views): (batch,) for a Value,
        (batch, k) for a list; with `has_aux`, the pair (outputs, aux)."""
        parts = [v[rows] if single else v[rows].T for single, rows in self._out_reads]
        if copy:
            parts = [part.copy() for part in parts]
        return cast(Out, (parts[0], parts[1]) if self._has_aux else parts[0])

    def _check_params(self, values: npt.ArrayLike, who: str) -> np.ndarray:
        arr = np.asarray(values)
        if arr.dtype.kind not in "biuf" or arr.shape != (len(self.parameters),):
            raise ValueError(
                f"{who}: expected an array of {len(self.parameters)} real numbers in "
                f"tape.parameters order, got shape {arr.shape} of dtype {arr.dtype}"
            )
        return arr.astype(np.float64, copy=False)

    def _changes(self, graph: Graph) -> list[str]:
        """What differs between the recorded graph and `graph`, for StaleTapeError."""
        known = {id(p) for p in self.parameters}
        params_now = [n for n, k in zip(graph.nodes, graph.kind, strict=True) if k == PARAM]
        new = sum(1 for p in params_now if id(p) not in known)
        gone = len(known) - (len(params_now) - new)
        detail = [f"the graph has {len(graph.nodes)} nodes now, {self._n_nodes} when recorded"]
        if new or gone:
            detail.append(
                f"{new} parameter(s) are new Value objects and {gone} recorded one(s) are no "
                f"longer used (was a parameter replaced instead of its .data assigned?)"
            )
        return detail


class Loop(Generic[Out]):
    """`Tape.loop()`'s step: `replay` for a `with` block of many steps (see `Tape.loop`)."""

    __slots__ = ("_tape", "_run", "_quiet", "weights", "_buffer", "_views")

    def __init__(self, tape: Tape[Out]) -> None:
        self._tape, self._run = tape, tape._replay.run
        self._quiet: np.errstate | None = None
        # The outputs' views of the last step's value buffer: a batch size's buffer stays the
        # same array from step to step, so they are taken again only when it changes.
        self._buffer: np.ndarray | None = None
        self._views: Out | None = None
        self.weights = tape._replay.params_view
        """The parameter array the tape reads, in `tape.parameters` order."""

    def __enter__(self) -> Loop[Out]:
        self._tape._lock.acquire()
        self._quiet = np.errstate(all="ignore")
        self._quiet.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._quiet is not None:
                self._quiet.__exit__(None, None, None)  # it restores the state; no exception
                self._quiet = None
        finally:
            self._tape._lock.release()

    def weight_arrays(self, count: int) -> list[np.ndarray]:
        """`count` parameter arrays the tape reads where they stand, with no copy, the first
        `weights` (the new ones start as copies of it). A loop can rotate them, writing each
        step's new weights into the next (`optimizer.update(w, grad, out=next_w)`) while the
        ones before keep theirs: `fit`'s divergence guard keeps its last good weights so."""
        with self._tape._lock:
            return self._tape._replay.param_arrays(count)

    def __call__(
        self, arrays: list[np.ndarray], weights: np.ndarray, where: np.ndarray | None = None
    ) -> tuple[Out, np.ndarray]:
        """One step (`Tape.replay`'s arguments); outputs and gradient are views, valid until
        the next step. Only inside the `with` block."""
        if self._quiet is None:
            raise RuntimeError("a tape's loop steps only inside its `with tape.loop()` block")
        v, grads = self._run(arrays, len(arrays[0]), weights, "mean", where)
        if v is not self._buffer:
            self._buffer, self._views = v, self._tape._outputs(v, copy=False)
        return self._views, grads  # type: ignore[return-value]  # a reduction: not None


def _output_reads(
    out_rows: list[int], parts: Sequence[tuple[bool, int]]
) -> list[tuple[bool, int | Rows]]:
    """Each output part's rows in the per-sample buffer, found once: (single, the row) for one
    Value, else (False, its rows as a slice where they allow, one view copied in one call)."""
    reads: list[tuple[bool, int | Rows]] = []
    start = 0
    for single, count in parts:
        rows = out_rows[start : start + count]
        reads.append((True, rows[0]) if single else (False, index(rows)))
        start += count
    return reads
