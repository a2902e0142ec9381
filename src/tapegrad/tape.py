"""Record a Value graph once, then replay it over whole batches with NumPy.

    model = nn.MLP(2, [16, 16, 1], seed=1337)
    step = tapegrad.compile(lambda x, y: losses.hinge(model(x), y), [0.0, 0.0], 1.0)
    scores = step(X, y)               # forward: per-sample outputs, shape (batch,)
    model.zero_grad()
    per_sample = step.backward(X, y)  # and every parameter's .grad += d mean(loss) / d param

`compile(fn, *examples)` reads beside `grad(fn)` and `value_and_grad(fn)`: it takes the same
kind of plain-Python function of Values and gives back a callable. Each example argument says
what `fn` takes in that position: a number (fn gets one Value) or a sequence of n numbers (fn
gets a list of n Values). `fn` runs once on these placeholder Values and returns a Value, or a
list of Values; the graph from its output(s) back to the leaves becomes the tape:

- placeholders become the tape's inputs: per call, an array shaped (batch,) for a number and
  (batch, n) for a sequence, one row per sample;
- other leaf Values (a model's weights) become its parameters (`tape.parameters`): their
  current `.data` is read on every call, so an optimizer that updates `.data` just works, and
  `backward` adds into their `.grad` what eager backpropagation would;
- Constants (numbers mixed into the expressions) are frozen into the tape and get no gradient.

`tape.backward(*batch, reduction="mean")` equals eager `losses.mean(outs).backward()` over the
same batch (`reduction="sum"`: `sum(outs).backward()`), to rounding (1e-12 relative in the
tests). Every rule it runs is the op table's own (`tapegrad.ops`), evaluated with
`tapegrad.numpymath` on rows of samples.

With `compile(..., has_aux=True)`, `fn` returns `(loss, aux)`, e.g. the loss and the model's
outputs, and every call returns both while only the loss is differentiated (JAX's `has_aux`).

Reading and writing one `.data` and `.grad` per parameter is Python work, as much as the NumPy
work for a small model. `tape.value_and_grad(*batch, params=w)` takes the weights as an array
(in `tape.parameters` order) and returns the gradient as one, touching no Value, so a training
loop can keep the weights in an array and `tape.write_parameters(w)` when it is done.

Limits, as with `jax.jit`:

- Python control flow is frozen at recording: `if x > 0`, `max(values)` or `float(v)` inside
  `fn` run once, on the example's numbers, and the branch taken then is the one replayed.
  Express data-dependent choices with ops instead (`relu`, `max`, `min`, `clamp`, `abs`).
  A target that selects an element (a class index) must come in as a one-hot vector.
- The tape holds the parameter *objects* it saw. Replacing one with a new Value (instead of
  assigning its `.data`) or changing the model (layers, activations, a new loss) leaves the
  tape computing the old graph: compile again. `tape.check()` re-runs `fn` on the examples and
  raises StaleTapeError if the graph it builds now differs in any op, wire, constant or
  parameter object.
- A leaf Value that `fn` makes from an input's `.data` (or under `no_grad`) is no longer tied to
  the input: it is replayed as a parameter holding the example's number.
- A tape reuses its buffers (2 x rows x batch floats) between calls: one thread per tape.

How it runs: every node gets a level (the longest path from the leaves), nodes with the same
op at the same level run as one NumPy call over a (rows, batch) buffer, and the backward pass
runs the same groups in reverse, adding shared gradients with a precomputed segment sum.
Chains of `+` become one n-ary sum, and a layer's neurons (bias + sum of weight * input, every
neuron reading the same inputs) become one matrix product. Those two are the table's add and
mul rules applied in bulk (checked on arrays at import; if the table ever changes them, every
node takes the generic path). Nodes that do not depend on the inputs (an L2 penalty) run once
per call, not once per sample.
"""

from __future__ import annotations

import inspect
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .engine import Constant, Value, enable_grad
from .graph import reachable
from .numpymath import unchecked as npm
from .ops import ADD, BY_SYMBOL, MUL, Op

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["StaleTapeError", "Tape", "compile"]

_DATA = operator.attrgetter("data")
_MAX_DENSE_BLOCKS = 64  # past this many distinct layers, the rest take the generic path
_BUFFER_CACHE = 4  # batch sizes whose buffers a tape keeps

# Node kinds while compiling.
_INPUT, _PARAM, _CONST, _OP = range(4)


class StaleTapeError(RuntimeError):
    """The graph `fn` builds now is not the graph the tape recorded: compile again."""


def _linear_rules_hold() -> bool:
    """Whether the table's add and mul are + and * with their textbook rules, so that fused
    sums and matrix products compute exactly what those rules would, node by node."""
    a, b, g = np.random.default_rng(0).standard_normal((3, 8))
    with np.errstate(all="ignore"):
        s, p = a + b, a * b
        return (
            np.array_equal(ADD.fwd(npm, a, b), s)
            and all(
                np.array_equal(np.broadcast_to(r(npm, g, s, a, b), g.shape), g) for r in ADD.vjps
            )
            and np.array_equal(MUL.fwd(npm, a, b), p)
            and np.array_equal(MUL.vjps[0](npm, g, p, a, b), g * b)
            and np.array_equal(MUL.vjps[1](npm, g, p, a, b), g * a)
        )


_FUSE = _linear_rules_hold()


# --------------------------------------------------------------------------- public API


def compile(  # noqa: A001
    fn: Callable, *example_args: float | Sequence[float] | np.ndarray, has_aux: bool = False
) -> Tape:
    """Record `fn` once on placeholder Values shaped like `example_args` (each a number or a
    sequence of numbers) and return a Tape that replays it over batches with NumPy.

    With `has_aux`, `fn` returns a pair `(output, aux)` (aux: a Value or a list of Values, e.g.
    the model's outputs next to the loss): every call then returns `(outputs, aux)` arrays, and
    only `output` is differentiated, as in `value_and_grad(..., has_aux=True)`.
    """
    if not callable(fn):
        raise TypeError(f"compile needs a function, got {type(fn).__name__}")
    names = _arg_names(fn, len(example_args))
    specs = [_Spec.from_example(name, a) for name, a in zip(names, example_args, strict=True)]
    return Tape(fn, specs, example_args, has_aux)


class Tape:
    """A recorded graph, replayed over batches: `tape(*batch)` for the per-sample outputs,
    `tape.backward(*batch)` to also accumulate parameter gradients. Build one with `compile`."""

    def __init__(
        self, fn: Callable, specs: list[_Spec], example_args: tuple, has_aux: bool = False
    ) -> None:
        self.fn = fn
        self._specs = specs
        self._examples = example_args
        self._has_aux = has_aux
        placeholders, outputs, self._parts = _record(fn, specs, example_args, has_aux)
        graph = _Graph(placeholders, outputs)
        self._fingerprint = graph.fingerprint()
        prog = _Program(graph)
        self.parameters: list[Value] = prog.params
        """The leaf Values the tape reads and writes gradients to, in its own storage order."""
        self.instructions: list[str] = prog.describe()
        """What one forward pass runs: one entry per NumPy-level instruction."""
        self._prog = prog
        self._n_nodes = len(graph.nodes)
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._vi = np.zeros(prog.n_inv)
        self._gi = np.zeros(prog.n_inv)
        self._vi[prog.n_params : prog.n_params + len(prog.const_values)] = prog.const_values

    # -- calling ---------------------------------------------------------------------------

    def __call__(self, *batch, params=None) -> np.ndarray:
        """The per-sample outputs for a batch: shape (batch,) for one output, (batch, k) for k."""
        return self._run(batch, None, params)[0]

    def forward(self, *batch: npt.ArrayLike, params: npt.ArrayLike | None = None) -> np.ndarray:
        """The per-sample outputs for a batch: shape (batch,) for one output, (batch, k) for k.

        The parameters' current `.data` is read; or pass `params`, an array in
        `tape.parameters` order, to evaluate at those values instead (no Value is read).
        """
        return self._run(batch, None, params)[0]

    def backward(
        self, *batch: npt.ArrayLike, reduction: str = "mean"
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Forward and backward over a batch: add d(reduced output)/d(param) into every
        parameter's `.grad` (as eager `mean(outs).backward()`, or `sum` with
        reduction="sum") and return the per-sample outputs, shape (batch,) (with `has_aux`,
        the pair (outputs, aux))."""
        outputs, grads = self.value_and_grad(*batch, reduction=reduction)
        for p, g in zip(self.parameters, grads.tolist(), strict=True):
            p.grad += g
        return outputs

    def value_and_grad(
        self, *batch: npt.ArrayLike, reduction: str = "mean", params: npt.ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
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
        return self._run(batch, reduction, params)

    def read_parameters(self) -> np.ndarray:
        """Every parameter's current `.data`, in `tape.parameters` order."""
        return np.fromiter(map(_DATA, self.parameters), np.float64, count=len(self.parameters))

    def write_parameters(self, values: npt.ArrayLike) -> None:
        """Set every parameter's `.data` from an array in `tape.parameters` order."""
        values = self._check_params(values, "write_parameters")
        for p, v in zip(self.parameters, values.tolist(), strict=True):
            p.data = v

    def _check_params(self, values, who: str) -> np.ndarray:
        arr = np.asarray(values)
        if arr.dtype.kind not in "biuf" or arr.shape != (len(self.parameters),):
            raise ValueError(
                f"{who}: expected an array of {len(self.parameters)} real numbers in "
                f"tape.parameters order, got shape {arr.shape} of dtype {arr.dtype}"
            )
        return arr.astype(np.float64, copy=False)

    def check(self) -> None:
        """Run `fn` again on the example arguments and raise StaleTapeError if the graph it
        builds differs from the recorded one (an op, a wire, a constant or a parameter object).
        Costs one eager forward pass on one sample."""
        placeholders, outputs, parts = _record(self.fn, self._specs, self._examples, self._has_aux)
        graph = _Graph(placeholders, outputs)
        if graph.fingerprint() == self._fingerprint and parts == self._parts:
            return
        known = {id(p) for p in self.parameters}
        params_now = [n for n, k in zip(graph.nodes, graph.kind, strict=True) if k == _PARAM]
        new = sum(1 for p in params_now if id(p) not in known)
        gone = len(known) - (len(params_now) - new)
        detail = [f"the graph has {len(graph.nodes)} nodes now, {self._n_nodes} when recorded"]
        if new or gone:
            detail.append(
                f"{new} parameter(s) are new Value objects and {gone} recorded one(s) are no "
                f"longer used (was a parameter replaced instead of its .data assigned?)"
            )
        raise StaleTapeError(
            f"the tape of {_name(self.fn)} is stale: {'; '.join(detail)}. Compile it again."
        )

    def __repr__(self) -> str:
        args = ", ".join(s.describe() for s in self._specs)
        return (
            f"Tape({_name(self.fn)}({args}) -> {self._prog.n_outputs} output(s); "
            f"{self._n_nodes} nodes, {len(self.parameters)} parameters, "
            f"{len(self.instructions)} instructions)"
        )

    # -- replay ----------------------------------------------------------------------------

    def _run(self, batch: tuple, reduction: str | None, params) -> tuple:
        arrays, n = self._check_batch(batch)
        if params is not None:
            params = self._check_params(params, "params")
        prog = self._prog
        v, g = self._batch_buffers(n)
        vi, gi = self._vi, self._gi
        with np.errstate(all="ignore"):
            if params is None:
                vi[: prog.n_params] = np.fromiter(
                    map(_DATA, prog.params), np.float64, count=prog.n_params
                )
            else:
                vi[: prog.n_params] = params
            for ins in prog.inv:
                ins.forward(vi, vi)
            for start, spec, a in zip(prog.input_rows, self._specs, arrays, strict=True):
                if spec.size is None:
                    v[start] = a
                else:
                    v[start : start + spec.size] = a.T
            if prog.imports_dyn is not None:
                imported, src = prog.imports_dyn
                v[imported] = vi[src][:, None]
            for ins in prog.batch:
                ins.forward(v, vi)
            out = self._outputs(v)
            if reduction is None:
                return out, None
            g.fill(0.0)
            gi.fill(0.0)
            g[prog.out_rows[0]] = 1.0 / n if reduction == "mean" else 1.0
            for ins in prog.batch_backward:
                ins.backward(v, g, vi, gi)
            if prog.imports_grad is not None:  # once-per-call values: sum over the batch
                imported, src = prog.imports_grad
                gi[src] += g[imported].sum(axis=1)
            for ins in prog.inv_backward:
                ins.backward(vi, gi, vi, gi)
            return out, gi[: prog.n_params].copy()

    def _outputs(self, v: np.ndarray):
        """Copy the output rows out of the buffer: (batch,) for a Value, (batch, k) for a list;
        with `has_aux`, the pair (outputs, aux)."""
        rows, parts, start = self._prog.out_rows, [], 0
        for single, count in self._parts:
            part = rows[start : start + count]
            parts.append(v[part[0]].copy() if single else v[part].T.copy())
            start += count
        return tuple(parts) if self._has_aux else parts[0]

    def _check_batch(self, batch: tuple) -> tuple[list[np.ndarray], int]:
        specs = self._specs
        if len(batch) != len(specs):
            expected = ", ".join(s.describe() for s in specs) or "no arguments"
            raise TypeError(
                f"the tape of {_name(self.fn)} takes {len(specs)} batch argument(s) "
                f"({expected}), got {len(batch)}"
            )
        arrays, n, first = [], None, None
        for spec, a in zip(specs, batch, strict=True):
            arr = spec.check(a)
            if n is None:
                n, first = arr.shape[0], spec.name
            elif arr.shape[0] != n:
                raise ValueError(
                    f"argument {spec.name} has a batch of {arr.shape[0]} but argument {first} "
                    f"has {n}: every argument needs one row per sample"
                )
            arrays.append(arr)
        if n is None:
            raise TypeError(
                f"{_name(self.fn)} takes no inputs, so there is no batch to replay over: give "
                f"it at least one argument"
            )
        if n == 0:
            raise ValueError("the batch is empty: give at least one sample")
        return arrays, n

    def _batch_buffers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        bufs = self._buffers.get(n)
        if bufs is None:
            prog = self._prog
            v = np.zeros((prog.n_batch, n))
            if prog.imports_const is not None:
                rows, values = prog.imports_const
                v[rows] = values[:, None]
            bufs = (v, np.zeros((prog.n_batch, n)))
            if len(self._buffers) >= _BUFFER_CACHE:
                del self._buffers[next(iter(self._buffers))]
            self._buffers[n] = bufs
        return bufs


# --------------------------------------------------------------------------- recording


class _Spec:
    """One argument of the compiled function: a scalar or a vector of `size` numbers."""

    __slots__ = ("name", "size")

    def __init__(self, name: str, size: int | None) -> None:
        self.name = name
        self.size = size

    @classmethod
    def from_example(cls, name: str, example: float | Sequence[float] | np.ndarray) -> _Spec:
        if isinstance(example, Value):
            raise TypeError(
                f"example argument {name} is a Value: give plain numbers (the tape makes its own "
                f"placeholder Values), e.g. {example.data!r}"
            )
        if _is_number(example):
            return cls(name, None)
        if isinstance(example, np.ndarray) and example.ndim != 1:
            raise TypeError(
                f"example argument {name} must be a number or a flat sequence of numbers, got "
                f"an array of shape {example.shape}"
            )
        if isinstance(example, Sequence | np.ndarray) and not isinstance(example, str | bytes):
            bad = [i for i, v in enumerate(example) if not _is_number(v)]
            if bad:
                i = bad[0]
                raise TypeError(
                    f"example argument {name}[{i}] must be a real number, got "
                    f"{type(example[i]).__name__}: {example[i]!r:.60}"
                )
            return cls(name, len(example))
        raise TypeError(
            f"example argument {name} must be a number or a sequence of numbers, got "
            f"{type(example).__name__}"
        )

    def describe(self) -> str:
        return (
            f"{self.name}: (batch,)" if self.size is None else f"{self.name}: (batch, {self.size})"
        )

    def placeholders(self, example: float | Sequence[float] | np.ndarray) -> list[Value]:
        if self.size is None:
            return [Value(float(example), label=self.name)]
        return [Value(float(v), label=f"{self.name}[{i}]") for i, v in enumerate(example)]

    def check(self, a: npt.ArrayLike) -> np.ndarray:
        """`a` as a float64 array of this argument's shape, or an error saying what is wrong."""
        expected = "(batch,)" if self.size is None else f"(batch, {self.size})"
        try:
            arr = np.asarray(a)
        except ValueError as err:  # a ragged list
            raise ValueError(f"argument {self.name}: expected shape {expected}: {err}") from None
        if arr.dtype.kind not in "biuf":
            hint = " (pass numbers, not Values)" if arr.dtype.kind == "O" else ""
            raise TypeError(
                f"argument {self.name}: expected real numbers, got an array of dtype "
                f"{arr.dtype}{hint}"
            )
        if self.size is None:
            ok = arr.ndim == 1
        else:
            ok = arr.ndim == 2 and arr.shape[1] == self.size
        if not ok:
            raise ValueError(
                f"argument {self.name}: expected an array of shape {expected} (one row per "
                f"sample), got shape {arr.shape}"
            )
        return arr.astype(np.float64, copy=False)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) or (
        isinstance(x, np.generic) and x.dtype.kind in "biuf" and x.shape == ()
    )


def _arg_names(fn: Callable, n: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(n):
        if i < len(params) and params[i].kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            names.append(params[i].name)
        else:
            names.append(f"#{i}")
    return names


def _name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _record(fn: Callable, specs: list[_Spec], examples: tuple, has_aux: bool):
    """Run `fn` once on fresh placeholders: the placeholders per argument, the output Values,
    and how they split into parts ((is one Value, count) for the output, then for aux)."""
    placeholders = [s.placeholders(e) for s, e in zip(specs, examples, strict=True)]
    args = [p[0] if s.size is None else list(p) for s, p in zip(specs, placeholders, strict=True)]
    try:
        with enable_grad():
            result = fn(*args)
    except Exception as err:
        err.add_note(
            f"(raised while tapegrad.compile recorded {_name(fn)} on placeholder Values; "
            f"control flow or indexing that needs an input's number cannot be recorded: "
            f"express it with ops, and give class targets as one-hot vectors)"
        )
        raise
    if not has_aux:
        values, single = _as_outputs(fn, result, "return")
        return placeholders, values, ((single, len(values)),)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(
            f"with has_aux=True, {_name(fn)} must return a pair (output, aux), got "
            f"{type(result).__name__}"
        )
    out, out_single = _as_outputs(fn, result[0], "return as output")
    aux, aux_single = _as_outputs(fn, result[1], "return as aux")
    return placeholders, out + aux, ((out_single, len(out)), (aux_single, len(aux)))


def _as_outputs(fn: Callable, result, what: str) -> tuple[list[Value], bool]:
    if isinstance(result, Value):
        return [result], True
    if isinstance(result, list | tuple) and result:
        for i, r in enumerate(result):
            if not isinstance(r, Value):
                raise TypeError(
                    f"{_name(fn)} must {what} a Value or a list of Values; item {i} is "
                    f"{type(r).__name__} (does it depend on the inputs or a parameter?)"
                )
        return list(result), False
    raise TypeError(
        f"{_name(fn)} must {what} a Value or a non-empty list of Values, got "
        f"{type(result).__name__}"
    )


# --------------------------------------------------------------------------- analysis


class _Graph:
    """The recorded graph as integer-indexed arrays, in topological order."""

    def __init__(self, placeholders: list[list[Value]], outputs: list[Value]) -> None:
        where = {}
        for k, group in enumerate(placeholders):
            for i, p in enumerate(group):
                where[p] = (k, i)
        self.placeholders = placeholders
        nodes = reachable(outputs)
        index = {node: i for i, node in enumerate(nodes)}
        self.nodes = nodes
        self.index = index
        self.where = where
        self.outputs = [index[o] for o in outputs]
        kind, ops, children, batch, needs = [], [], [], [], []
        for node in nodes:
            prev = node._prev
            op = None
            ch: tuple[int, ...] = ()
            if node in where:
                k = _INPUT
            elif not prev:
                k = _CONST if isinstance(node, Constant) else _PARAM
            else:
                k = _OP
                op = BY_SYMBOL.get(node._op)
                if op is None:
                    raise ValueError(
                        f"cannot compile: {node!r} (label {node.label!r}) has children but its "
                        f"_op {node._op!r} is not a primitive in tapegrad.ops"
                    )
                if len(prev) != op.arity:
                    raise ValueError(
                        f"cannot compile: {node!r} (label {node.label!r}) is op {op.name!r}, "
                        f"which takes {op.arity} argument(s), but has {len(prev)} children"
                    )
                ch = tuple(index[c] for c in prev)
            kind.append(k)
            ops.append(op)
            children.append(ch)
            batch.append(k == _INPUT or any(batch[c] for c in ch))
            needs.append(k == _PARAM or any(needs[c] for c in ch))
        self.kind, self.op, self.children, self.batch, self.needs = (
            kind,
            ops,
            children,
            batch,
            needs,
        )
        uses = [0] * len(nodes)
        for ch in children:
            for c in ch:
                uses[c] += 1
        for o in self.outputs:
            uses[o] += 1
        self.uses = uses

    def fingerprint(self) -> int:
        """A hash of the graph's structure: ops, wiring, constants, parameter identities."""
        parts = []
        for node, k, op, ch in zip(self.nodes, self.kind, self.op, self.children, strict=True):
            if k == _INPUT:
                parts.append(("in", *self.where[node]))
            elif k == _PARAM:
                parts.append(("param", id(node)))
            elif k == _CONST:
                parts.append(("const", node.data.hex()))  # nan hashes by identity
            else:
                parts.append((op.name, ch))
        parts.append(("out", tuple(self.outputs)))
        return hash(tuple(parts))


class _Program:
    """The graph compiled to instructions over two buffers: per-sample rows (rows, batch) for
    everything that depends on an input, and once-per-call rows for everything else."""

    def __init__(self, graph: _Graph) -> None:
        self.n_outputs = len(graph.outputs)
        kind, op, children, batch, uses = (
            graph.kind,
            graph.op,
            graph.children,
            graph.batch,
            graph.uses,
        )
        n = len(graph.nodes)

        # 1. Chains of + become n-ary sums: an add used only by another add (same buffer) is
        #    folded into it, its terms kept in eager's left-to-right order.
        absorbed = [False] * n
        is_add = [kind[i] == _OP and op[i] is ADD for i in range(n)]
        if _FUSE:
            for i in range(n):
                if is_add[i]:
                    for c in children[i]:
                        if is_add[c] and uses[c] == 1 and batch[c] == batch[i]:
                            absorbed[c] = True
        terms: dict[int, list[int]] = {}
        if _FUSE:
            for i in range(n):
                if is_add[i] and not absorbed[i]:
                    terms[i] = _expand(i, children, absorbed)

        # 2. Dense blocks: a per-sample sum of (weight * input) terms plus at most one bias,
        #    weights not depending on the inputs. Neurons reading the same inputs form a layer.
        dense: dict[int, tuple[list[int], list[int], int | None]] = {}
        for i, ts in terms.items():
            if batch[i]:
                d = _dense_terms(ts, kind, op, children, batch, uses)
                if d is not None:
                    dense[i] = d
        by_inputs: dict[tuple, list[int]] = {}
        for i, (_, xs, bias) in dense.items():
            by_inputs.setdefault((tuple(xs), bias is not None), []).append(i)
        if len(by_inputs) > _MAX_DENSE_BLOCKS:  # keep the biggest layers, the rest go generic
            ranked = sorted(by_inputs.items(), key=lambda kv: -len(kv[1]) * len(kv[0][0]))
            by_inputs = dict(ranked[:_MAX_DENSE_BLOCKS])
            keep = {i for members in by_inputs.values() for i in members}
            dense = {i: d for i, d in dense.items() if i in keep}
        for i in dense:
            for t in terms[i]:
                if kind[t] == _OP and op[t] is MUL and batch[t]:
                    absorbed[t] = True

        # 3. What each materialised node reads (its dependencies) and its level per buffer.
        deps: dict[int, list[int]] = {}
        for i in range(n):
            if kind[i] == _OP and not absorbed[i]:
                if i in dense:
                    deps[i] = dense[i][1]
                elif i in terms:
                    deps[i] = terms[i]
                else:
                    deps[i] = list(children[i])
        level = [0] * n
        for i, ds in deps.items():
            level[i] = 1 + max((level[d] for d in ds if batch[d] == batch[i]), default=0)

        # 4. Groups: dense layers by their inputs; sums by level; other ops by (level, op).
        groups: dict[tuple, list[int]] = {}
        for i in deps:
            if i in dense:
                xs, has_bias = dense[i][1], dense[i][2] is not None
                key = (batch[i], level[i], 0, "dense", tuple(xs), has_bias)
            elif i in terms:
                key = (batch[i], level[i], 1, "sum")
            else:
                key = (batch[i], level[i], 2, op[i].name)
            groups.setdefault(key, []).append(i)
        ordered = sorted(groups.items(), key=lambda kv: kv[0][:3] + (str(kv[0][3:]),))

        # 5. Rows. Once-per-call buffer: parameters (each layer's weights in matrix order
        #    first), constants, then op results. Per-sample buffer: inputs, imported
        #    once-per-call values (constants first), then op results.
        inv_row: dict[int, int] = {}
        params: list[int] = []

        def add_param(i: int) -> None:
            if kind[i] == _PARAM and i not in inv_row:
                inv_row[i] = len(params)
                params.append(i)

        for key, members in ordered:
            if key[3] == "dense":
                for i in members:
                    for w in dense[i][0]:
                        add_param(w)
                for i in members:
                    if dense[i][2] is not None:
                        add_param(dense[i][2])
        for i in range(n):
            add_param(i)
        consts = [i for i in range(n) if kind[i] == _CONST]
        for i in consts:
            inv_row[i] = len(inv_row)
        inv_groups = [(k, m) for k, m in ordered if not k[0]]
        batch_groups = [(k, m) for k, m in ordered if k[0]]
        for _, members in inv_groups:
            for i in members:
                inv_row[i] = len(inv_row)
        self.n_params = len(params)
        self.n_inv = len(inv_row)
        self.params = [graph.nodes[i] for i in params]
        self.const_values = np.array([graph.nodes[i].data for i in consts], dtype=np.float64)

        row: dict[int, int] = {}
        self.input_rows: list[int] = []  # first row of each argument
        n_rows = 0
        for group in graph.placeholders:
            self.input_rows.append(n_rows)
            for p in group:
                if p in graph.index:  # an unused input still gets its row, unread
                    row[graph.index[p]] = n_rows
                n_rows += 1
        needed = set()  # once-per-call values the per-sample buffer reads
        for _, members in batch_groups:
            for i in members:
                needed.update(d for d in deps[i] if not batch[d])
        needed.update(o for o in graph.outputs if not batch[o])
        imports = sorted(needed, key=lambda i: (kind[i] != _CONST, i))
        for i in imports + [i for _, members in batch_groups for i in members]:
            row[i] = n_rows
            n_rows += 1
        self.n_batch = n_rows
        const_at = {c: k for k, c in enumerate(consts)}
        const_imports = [i for i in imports if kind[i] == _CONST]
        dyn_imports = [i for i in imports if kind[i] != _CONST]
        grad_imports = [i for i in dyn_imports if graph.needs[i]]
        self.imports_const = None
        if const_imports:
            values = self.const_values[[const_at[i] for i in const_imports]]
            self.imports_const = (_index([row[i] for i in const_imports]), values)
        self.imports_dyn = self.imports_grad = None
        if dyn_imports:
            self.imports_dyn = (
                _index([row[i] for i in dyn_imports]),
                _index([inv_row[i] for i in dyn_imports]),
            )
        if grad_imports:
            self.imports_grad = (
                _index([row[i] for i in grad_imports]),
                _index([inv_row[i] for i in grad_imports]),
            )
        self.out_rows = [row[o] for o in graph.outputs]

        # 6. Instructions.
        needs = graph.needs

        def build(groups_, rows):
            out = []
            for key, members in groups_:
                start = rows[members[0]]
                out_slice = slice(start, start + len(members))
                tag = key[3]
                if tag == "dense":
                    ws = [w for i in members for w in dense[i][0]]
                    xs = dense[members[0]][1]
                    bs = [dense[i][2] for i in members] if key[5] else None
                    out.append(
                        _Dense(
                            out_slice,
                            x=_index([rows[x] for x in xs]),
                            w=_index([inv_row[w] for w in ws]),
                            shape=(len(members), len(xs)),
                            b=None if bs is None else _index([inv_row[b] for b in bs]),
                            gx=_scatter([rows[x] for x in xs])
                            if any(needs[x] for x in xs)
                            else None,
                            gw=_scatter([inv_row[w] for w in ws])
                            if any(needs[w] for w in ws)
                            else None,
                            gb=_scatter([inv_row[b] for b in bs])
                            if bs and any(needs[b] for b in bs)
                            else None,
                            needed=any(needs[i] for i in members),
                        )
                    )
                elif tag == "sum":
                    all_terms, starts, seg = [], [], []
                    for s, i in enumerate(members):
                        starts.append(len(all_terms))
                        all_terms.extend(terms[i])
                        seg.extend([s] * len(terms[i]))
                    src = [rows[t] for t in all_terms]
                    sel = [k for k, t in enumerate(all_terms) if needs[t]]
                    out.append(
                        _Sum(
                            out_slice,
                            terms=_index(src),
                            starts=np.array(starts, dtype=np.intp),
                            seg=_index([seg[k] for k in sel]) if sel else None,
                            scatter=_scatter([src[k] for k in sel]) if sel else None,
                            needed=any(needs[i] for i in members),
                        )
                    )
                else:
                    o = op[members[0]]
                    args = [_index([rows[children[i][j]] for i in members]) for j in range(o.arity)]
                    grads = [
                        (j, _scatter([rows[children[i][j]] for i in members]))
                        for j in range(o.arity)
                        if any(needs[children[i][j]] for i in members)
                    ]
                    out.append(_OpGroup(o, out_slice, args, grads, any(needs[i] for i in members)))
            return out

        self.inv = build(inv_groups, inv_row)
        self.batch = build(batch_groups, row)
        self.inv_backward = [ins for ins in reversed(self.inv) if ins.needed]
        self.batch_backward = [ins for ins in reversed(self.batch) if ins.needed]

    def describe(self) -> list[str]:
        return [f"once: {ins.describe()}" for ins in self.inv] + [
            ins.describe() for ins in self.batch
        ]


def _expand(i: int, children: list, absorbed: list) -> list[int]:
    """The terms of the sum rooted at add node i, left to right, through absorbed adds."""
    out, stack = [], list(reversed(children[i]))
    while stack:
        c = stack.pop()
        if absorbed[c]:
            stack.extend(reversed(children[c]))
        else:
            out.append(c)
    return out


def _dense_terms(ts, kind, op, children, batch, uses):
    """(weights, inputs, bias) if the sum's terms are weight*input products plus at most one
    term that does not depend on the inputs; else None."""
    ws, xs, bias = [], [], []
    for t in ts:
        if not batch[t]:
            bias.append(t)
        elif kind[t] == _OP and op[t] is MUL and uses[t] == 1:
            a, b = children[t]
            if batch[a] == batch[b]:
                return None
            w, x = (b, a) if batch[a] else (a, b)
            ws.append(w)
            xs.append(x)
        else:
            return None
    if not ws or len(bias) > 1:
        return None
    return ws, xs, bias[0] if bias else None


# --------------------------------------------------------------------------- instructions


def _index(rows: list[int]) -> slice | np.ndarray:
    """Rows as a slice when they are evenly spaced and increasing (a view: no copy to read,
    an in-place add to write), else an index array."""
    if len(rows) == 1:
        return slice(rows[0], rows[0] + 1)
    step = rows[1] - rows[0] if rows else 0
    if step > 0 and rows == list(range(rows[0], rows[-1] + 1, step)):
        return slice(rows[0], rows[-1] + 1, step)
    return np.array(rows, dtype=np.intp)


def _scatter(rows: list[int]) -> Callable:
    """A function adding values (one per row of `rows`) into a buffer; rows may repeat."""
    idx = _index(rows)
    if isinstance(idx, slice) or len(set(rows)) == len(rows):

        def add(buf, values):
            buf[idx] += values

        return add
    order = np.argsort(idx, kind="stable")
    srt = idx[order]
    starts = np.flatnonzero(np.concatenate(([True], srt[1:] != srt[:-1])))
    uniq = srt[starts]
    n = len(rows)

    def add_repeated(buf, values):
        values = np.broadcast_to(values, (n,) + buf.shape[1:])
        buf[uniq] += np.add.reduceat(values[order], starts, axis=0)

    return add_repeated


class _OpGroup:
    """Nodes with the same op at the same level: one call of the op's rules over all rows."""

    __slots__ = ("op", "out", "args", "grads", "needed")

    def __init__(self, op: Op, out: slice, args: list, grads: list, needed: bool) -> None:
        self.op, self.out, self.args, self.grads, self.needed = op, out, args, grads, needed

    def forward(self, v: np.ndarray, vi: np.ndarray) -> None:
        v[self.out] = self.op.fwd(npm, *[v[a] for a in self.args])

    def backward(self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray) -> None:
        gout = g[self.out]
        out = v[self.out]
        args = [v[a] for a in self.args]
        vjps = self.op.vjps
        for j, scatter in self.grads:
            scatter(g, vjps[j](npm, gout, out, *args))

    def describe(self) -> str:
        return f"{self.op.name}[{self.out.stop - self.out.start}]"


class _Sum:
    """n-ary sums (folded chains of the table's add) at one level, as one segment sum."""

    __slots__ = ("out", "terms", "starts", "seg", "scatter", "needed")

    def __init__(self, out, terms, starts, seg, scatter, needed) -> None:
        self.out, self.terms, self.starts = out, terms, starts
        self.seg, self.scatter, self.needed = seg, scatter, needed

    def forward(self, v: np.ndarray, vi: np.ndarray) -> None:
        # reduceat adds each segment's rows one after another, as eager's left fold does.
        np.add.reduceat(v[self.terms], self.starts, axis=0, out=v[self.out])

    def backward(self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray) -> None:
        if self.scatter is not None:
            self.scatter(g, g[self.out][self.seg])  # add's rule: each term gets g

    def describe(self) -> str:
        return f"sum[{self.out.stop - self.out.start}]"


class _Dense:
    """A layer: neurons bias + sum_i w_i * x_i reading the same inputs, as one matrix product.
    Forward Y = W X + b; backward dW = dY X^T, db = dY summed, dX = W^T dY: the table's mul
    and add rules over every term at once."""

    __slots__ = ("out", "x", "w", "shape", "b", "gx", "gw", "gb", "needed")

    def __init__(self, out, x, w, shape, b, gx, gw, gb, needed) -> None:
        self.out, self.x, self.w, self.shape, self.b = out, x, w, shape, b
        self.gx, self.gw, self.gb, self.needed = gx, gw, gb, needed

    def forward(self, v: np.ndarray, vi: np.ndarray) -> None:
        y = v[self.out]
        np.matmul(vi[self.w].reshape(self.shape), v[self.x], out=y)
        if self.b is not None:
            y += vi[self.b][:, None]

    def backward(self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray) -> None:
        dy = g[self.out]
        if self.gw is not None:
            self.gw(gi, (dy @ v[self.x].T).ravel())
        if self.gb is not None:
            self.gb(gi, dy.sum(axis=1))
        if self.gx is not None:
            self.gx(g, vi[self.w].reshape(self.shape).T @ dy)

    def describe(self) -> str:
        return f"dense[{self.shape[0]}x{self.shape[1]}]"
