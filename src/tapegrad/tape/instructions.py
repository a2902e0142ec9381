"""The instructions a Program runs, each over a whole group of rows at once: an op's rules
(`OpGroup`), n-ary sums (`SumGroup`) and dense layers (`Dense`); and the row indexing they
share (`index`, `Scatter`, `reader`, `matrix_geometry`).

An instruction is compiled once and then *bound* to a set of buffers (`bind(v, g, vi, gi)`:
values and gradients of its own buffer, and of the once-per-call buffer a dense layer reads
its weights from). Binding takes the views of the rows it reads and writes once, so a replay
step is the NumPy calls a careful programmer would write, with no indexing left in the loop.
Backward adds into gradient rows, since a value read by several instructions gets the sum of
their gradients; the first write to rows in a pass stores instead (`Scatter.first`), so no
buffer is zeroed before one."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from ..numpymath import unchecked as npm
from ..ops import Op

npv = SimpleNamespace(**{**vars(npm), "stack": lambda xs: xs[0]})
"""`npm` for a vector op's rules (`Op.vector`) called with its arguments as one block: their
`m.stack(xs)` is that block, not a copy of its rows stacked again."""

Rows = slice | np.ndarray
"""Rows of a buffer: a slice where possible (a view), else an index array."""

Step = Callable[[], None]
"""One bound instruction's forward or backward: the NumPy calls over views taken at binding."""

Adder = Callable[[np.ndarray], None]
"""Writes values (one per row it was built for, or one row broadcast) into a bound buffer:
adds them, or for the first write to those rows in a backward pass stores them."""

Reader = Callable[[], np.ndarray]
"""Gives the rows of a bound buffer: a view taken once, or (index arrays copy) read per call."""

_CHAINED_SUM = 4  # sums of at most this many terms add as chained np.add calls, not accumulate


def index(rows: list[int]) -> Rows:
    """Rows as a slice when they are evenly spaced, up or down (a view: no copy to read, an
    in-place add to write), else an index array."""
    if len(rows) == 1:
        return slice(rows[0], rows[0] + 1)
    step = rows[1] - rows[0] if rows else 0
    if step and rows == list(range(rows[0], rows[-1] + step, step)):
        stop = rows[-1] + step
        return slice(rows[0], None if stop < 0 else stop, step)  # -1 would count from the end
    return np.array(rows, dtype=np.intp)


def reader(buf: np.ndarray, rows: Rows) -> Reader:
    """`buf[rows]` as a function: a view taken now where the rows are a slice, else gathered
    on every call (a gather is a copy, stale after a write)."""
    if isinstance(rows, slice):
        view = buf[rows]
        return lambda: view
    return lambda: buf[rows]


def _views(buf: np.ndarray, rows: list[Rows]) -> tuple[np.ndarray, ...] | None:
    """The views of several sets of rows, where each is a slice; else None."""
    if all(isinstance(r, slice) for r in rows):
        return tuple(buf[r] for r in rows)
    return None


def readers(buf: np.ndarray, rows: list[Rows]) -> Callable[[], Sequence[np.ndarray]]:
    """`reader` for several sets of rows at once (an op's arguments): one tuple of views taken
    now where every set is a slice, else a list gathered on every call."""
    views = _views(buf, rows)
    if views is not None:
        return lambda: views
    return lambda: [buf[r] for r in rows]


def matrix_geometry(rows: Rows, shape: tuple[int, int]) -> tuple[int, int] | None:
    """Where rows of a flat buffer make an (n, m) matrix, row k starting `stride` after row
    k - 1 (a layer's weights, each neuron's followed by its bias): (start, stride), else None.
    A layer finds it once; binding it to a buffer is then one call (`strided`)."""
    n, m = shape
    flat = rows if isinstance(rows, np.ndarray) else _slice_rows(rows)
    start = int(flat[0])
    stride = int(flat[m]) - start if n > 1 else m
    want = start + stride * np.arange(n)[:, None] + np.arange(m)
    if stride < m or not np.array_equal(flat.reshape(n, m), want):
        return None
    return start, stride


def strided(buf: np.ndarray, geometry: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """The (n, m) matrix view of a contiguous flat buffer at `matrix_geometry`'s (start,
    stride); NumPy checks that it lies inside the buffer."""
    start, stride = geometry
    item = buf.itemsize
    return np.ndarray(
        shape, buf.dtype, buffer=buf, offset=start * item, strides=(stride * item, item)
    )


def _slice_rows(idx: slice) -> np.ndarray:
    """A slice's rows (as `index` makes them: a start, and no stop only going down) in order."""
    step = idx.step or 1
    return np.arange(idx.start, -1 if idx.stop is None else idx.stop, step)


class Scatter:
    """Gradient rows an instruction's backward writes into, one value per row or one row
    broadcast to all; rows may repeat. Bound to a buffer (`scatter(buf)`), it adds there,
    since a value read by several instructions gets the sum of their gradients; or, where
    `first` (no earlier write of a backward pass touches these rows: `writes.plan_writes`), it
    stores, so the rows need no zeros before the pass. It keeps its rows as `index` gives them
    (a slice where evenly spaced), not as a list: a wide layer's weights are 200,000 rows."""

    __slots__ = ("idx", "unique", "first")

    def __init__(self, rows: list[int]) -> None:
        self.idx: Rows = index(rows)
        self.unique = isinstance(self.idx, slice) or len(set(rows)) == len(rows)
        self.first = False

    def rows(self) -> np.ndarray:
        """Its rows, in order, as an array."""
        idx = self.idx
        return _slice_rows(idx) if isinstance(idx, slice) else idx

    def __call__(self, buf: np.ndarray) -> Adder:
        idx, first = self.idx, self.first
        if isinstance(idx, slice):
            view = buf[idx]
            if first:
                return lambda values: np.copyto(view, values)
            return lambda values: np.add(view, values, out=view)
        if self.unique:

            def write(values: np.ndarray) -> None:
                if first:
                    buf[idx] = values
                else:
                    buf[idx] += values

            return write
        # A repeated row must get every value: `buf[idx] += values` would keep only one of
        # them, so the values of each row are summed first.
        order = np.argsort(idx, kind="stable")
        srt = idx[order]
        starts = np.flatnonzero(np.concatenate(([True], srt[1:] != srt[:-1])))
        uniq, n = srt[starts], len(idx)

        def write_repeated(values: np.ndarray) -> None:
            values = np.broadcast_to(values, (n,) + buf.shape[1:])
            summed = np.add.reduceat(values[order], starts, axis=0)
            if first:
                buf[uniq] = summed
            else:
                buf[uniq] += summed

        return write_repeated


def _matrix_adder(
    buf: np.ndarray, geometry: tuple[int, int] | None, shape: tuple[int, int], flat: Scatter
) -> Adder:
    """Adds a (n, m) matrix into rows of a flat buffer: through a matrix view where the rows
    make one (`matrix_geometry`), else flattened through the scatter `flat`."""
    if geometry is not None:
        view = strided(buf, geometry, shape)
        return lambda values: np.add(view, values, out=view)
    add = flat(buf)
    return lambda values: add(values.ravel())


@functools.cache
def written_into(op: Op) -> Callable | None:
    """The `numpymath` function an op's forward rule is, where the rule is one call of one
    that takes `out=` (relu's `m.relu(x)`, exp's `m.exp(x)`): the tape then writes the result
    straight into the op's rows, where it would make it and copy it in. Found by running the
    rule once on a namespace that records its calls; None for any other rule."""
    calls: list[tuple[str, tuple]] = []
    made = object()

    class Recorder:
        def __getattr__(self, name: str) -> Callable:
            def call(*args: object, **kwargs: object) -> object:
                calls.append((name, args))
                return made

            return call

    if op.arity is None:  # a variadic op: its rules take the arguments as one block
        return None
    args = tuple(object() for _ in range(op.arity))
    try:
        result = op.fwd(Recorder(), *args)
    except Exception:  # arithmetic on the placeholders: more than one call
        return None
    if result is not made or len(calls) != 1 or calls[0][1] != args:
        return None
    fn = getattr(npm, calls[0][0], None)
    if isinstance(fn, np.ufunc):  # numpymath's one-call functions are NumPy's own
        return fn if fn.nin == len(args) else None
    try:
        takes_out = "out" in inspect.signature(fn).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):  # not a function, or a builtin with no signature
        return None
    return fn if takes_out else None


def _nothing() -> None:
    """The backward of an instruction no gradient flows through."""


@dataclass(slots=True, eq=False)
class OpGroup:
    """Nodes with the same op at the same level: one call of the op's rules over all rows."""

    op: Op
    out: slice
    args: list[Rows]
    grads: list[tuple[int, Scatter]]  # (argument, writes its gradient) for the args needing one
    needed: bool  # a gradient flows through: backward runs it
    every: Rows | None = None  # a variadic op's argument rows, argument by argument
    every_grad: Scatter | None = None  # a vector op's: writes into all of them at once
    product: bool = False  # the table's mul, its rules a * b, g * b, g * a (`fuse`)

    def bind(
        self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray
    ) -> tuple[Step, Step]:
        """Forward: the op's forward rule over the argument rows into the output rows.
        Backward: each needed argument's share of the output gradient, by the op's own rules."""
        if self.every is not None:  # a variadic op (emit gives every one its rows)
            return self._bind_variadic(v, g, self.every)
        op, out, gout = self.op, v[self.out], g[self.out]
        fwd, args = op.fwd, readers(v, self.args)
        if self.product:
            return self._bind_product(g, out, gout, args, _views(v, self.args))
        into, views = written_into(op), _views(v, self.args)
        forward: Step
        if into is not None and views is not None:  # the call itself: no Python frame
            forward = functools.partial(into, *views, out=out)
        elif into is not None:  # the rule is one call that writes into the rows itself

            def forward() -> None:
                into(*args(), out=out)

        else:

            def forward() -> None:
                out[...] = fwd(npm, *args())

        rules = [(op.vjps[j], add(g)) for j, add in self.grads]

        def backward() -> None:
            a = args()
            for rule, add in rules:
                add(rule(npm, gout, out, *a))

        return forward, backward

    def _bind_product(
        self,
        g: np.ndarray,
        out: np.ndarray,
        gout: np.ndarray,
        args: Callable,
        views: tuple[np.ndarray, ...] | None,
    ) -> tuple[Step, Step]:
        """`bind` for the table's mul, whose rules are a * b and g * b, g * a: each product is
        written straight into its rows (`out=`), where the generic path makes it and copies it
        in; a first write of a gradient (`Scatter.first`) into a view likewise."""

        forward: Step
        if views is not None:  # the call itself: no Python frame
            forward = functools.partial(np.multiply, *views, out=out)
        else:

            def forward() -> None:
                a, b = args()
                np.multiply(a, b, out=out)

        into = [
            (1 - j, _first_writes(g, self.args[j], s), s(g)) for j, s in self.grads
        ]  # (the other factor, the view a first write goes to, else the writer)

        def backward() -> None:
            a = args()
            for other, view, write in into:
                if view is not None:
                    np.multiply(gout, a[other], out=view)
                else:
                    write(gout * a[other])

        return forward, backward

    def _bind_variadic(self, v: np.ndarray, g: np.ndarray, rows: Rows) -> tuple[Step, Step]:
        """`bind` for a variadic op: its arguments read as one (arguments, nodes[, batch]) block
        (a view where their rows are evenly spaced). Each argument's gradient is `g` times its
        partial (`Op.vjp`'s chain rule); partials that come back as one array, from a rule over
        the arguments as one vector (`m.stack`), are multiplied and added in one call each."""
        op, out, gout = self.op, v[self.out], g[self.out]
        fwd, partials, every = op.fwd, op.partials, reader(v, rows)
        # (arguments, nodes, batch); for one node (arguments, batch), where NumPy broadcasts a
        # rule's steps at about twice the speed. Once-per-call buffers have no batch axis.
        nodes, batch = out.shape[0], out.shape[1:]
        shape = (len(self.args), *batch) if nodes == 1 else (len(self.args), *out.shape)
        assert partials is not None  # emit gives rows to variadic ops only

        # A vector op's rules take the block itself (`npv`); others its rows as arguments.
        m, call = (npv, lambda b: (b,)) if op.vector else (npm, tuple)

        def forward() -> None:
            out[...] = fwd(m, *call(every().reshape(shape)))

        add_all = None if self.every_grad is None else self.every_grad(g)
        adds = [(j, add(g)) for j, add in self.grads]

        def backward() -> None:
            local = partials(m, out, *call(every().reshape(shape)))
            if add_all is not None:  # a vector op: its partials come as one array
                add_all((gout * local).reshape(-1, *batch))
                return
            for j, add in adds:
                add(gout * local[j])

        return forward, backward

    def writes(self) -> list[tuple[bool, Scatter]]:
        """The gradient writes of its backward, in order, each (into the once-per-call buffer,
        the scatter): all into its own buffer."""
        if self.every_grad is not None:
            return [(False, self.every_grad)]
        return [(False, scatter) for _, scatter in self.grads]

    def describe(self) -> str:
        """The op and how many nodes run as this one call, e.g. `tanh[16]`."""
        return f"{self.op.name}[{self.out.stop - self.out.start}]"


@dataclass(slots=True, eq=False)
class SumGroup:
    """n-ary sums (folded chains of the table's add) of one length at one level, added left to
    right as eager's chain of + and its `sum` op add: ((t0 + t1) + t2) + ..., term k of every
    sum at step k. Not np.sum or add.reduceat: those add in pairs (numpy's pairwise summation,
    reduceat's first row plus the sum of the rest), which regroup, and where magnitudes differ
    a regrouped sum is another number (1 + 1e16 - 1e16 is 0.0 left to right, 1.0 regrouped)."""

    out: slice
    terms: np.ndarray  # (terms per sum, sums): terms[k, s] is the row of sum s's term k
    seg: Rows | None  # the sum each term needing a gradient belongs to
    scatter: Scatter | None  # writes into those terms' gradient rows
    needed: bool

    def bind(
        self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray
    ) -> tuple[Step, Step]:
        """Forward: each sum of its terms' rows into its output row, left to right.
        Backward: each sum's gradient added into every term that needs one (add's rule)."""
        out, gout, terms = v[self.out], g[self.out], self.terms
        if len(terms) <= _CHAINED_SUM:  # a few terms: one np.add per term, into the output
            first, *rest = [reader(v, index([int(r) for r in step])) for step in terms]

            def forward() -> None:
                out[...] = first()
                for term in rest:
                    np.add(out, term(), out=out)

        else:
            # One sum's terms as one read (a view where they are consecutive rows), or all.
            one = terms.shape[1] == 1
            rows = index([int(r) for r in terms[:, 0]]) if one else None
            read = reader(v, rows) if rows is not None else lambda: v[terms]
            dest = out[0] if one else out  # what the terms add up into
            if out.ndim > 1 and dest.size > 1:

                def forward() -> None:
                    # Over rows of more than one number NumPy adds row after row, t0 + t1,
                    # then + t2, ...: eager's left fold bit for bit (`numpymath.total`).
                    np.add.reduce(read(), axis=0, out=dest)

                if isinstance(rows, slice):  # one view: the call itself, no Python frame
                    forward = functools.partial(np.add.reduce, read(), axis=0, out=dest)

            else:

                def forward() -> None:
                    # A lone axis (a batch of one, once per call): reduce may add in pairs.
                    # accumulate is a running sum, out[k] = out[k-1] + t[k] from t[0]: term
                    # by term in order, so its last step is eager's left fold bit for bit.
                    out[...] = np.add.accumulate(read(), axis=0)[-1]

        if self.scatter is None:
            return forward, _nothing
        add, seg = self.scatter(g), self.seg
        if terms.shape[1] == 1:  # one sum: its gradient row goes to every term, broadcast

            def backward() -> None:
                add(gout)

        else:

            def backward() -> None:
                add(gout[seg])

        return forward, backward

    def writes(self) -> list[tuple[bool, Scatter]]:
        """Its backward's gradient writes (see `OpGroup.writes`)."""
        return [] if self.scatter is None else [(False, self.scatter)]

    def describe(self) -> str:
        """How many sums run as this one call, e.g. `sum[4]`."""
        return f"sum[{self.out.stop - self.out.start}]"


@dataclass(slots=True, eq=False)
class Dense:
    """A layer: neurons bias + sum_i w_i * x_i reading the same inputs, as one matrix product.
    Forward Y = W X + b; backward dW = dY X^T, db = dY summed, dX = W^T dY: the table's mul
    and add rules over every term at once. Where its inputs have a row of ones after them and
    its weights and biases are one block (`xb`, `wb`), the bias is a weight on that 1, as a
    careful NumPy programmer augments the input: Y = [W b] [X; 1], [dW db] = dY [X; 1]^T."""

    out: slice
    x: Rows  # per-sample rows of the inputs
    w: Rows  # once-per-call rows of the weights, read as a (neurons, inputs) matrix view
    shape: tuple[int, int]
    b: Rows | None
    gx: Scatter | None  # each writes a gradient where one is needed, else None
    gw: Scatter | None  # (into the once-per-call buffer, as gb)
    gb: Scatter | None
    needed: bool
    xb: slice | None = None  # the input rows and the row of ones after them
    wb: slice | None = None  # the weights and biases, neuron by neuron: (neurons, inputs + 1)
    geometry: tuple[int, int] | None = field(init=False)  # the weights' `matrix_geometry`

    def __post_init__(self) -> None:
        self.geometry = matrix_geometry(self.w, self.shape)  # once, not per binding

    @property
    def folds_bias(self) -> bool:
        """Whether forward is the one product [W b] [X; 1], with no separate bias add."""
        return self.xb is not None

    def bind(
        self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray
    ) -> tuple[Step, Step]:
        """Forward: Y = W X + b into the layer's output rows (W and b from the once-per-call
        buffer), one product where the bias folds in. Backward: `_bind_backward`."""
        y, shape = v[self.out], self.shape
        x, b = reader(v, self.x), None if self.b is None else reader(vi, self.b)
        geometry = self.geometry
        weights = None if geometry is None else strided(vi, geometry, shape)
        w = (lambda: weights) if weights is not None else lambda: vi[self.w].reshape(shape)

        def forward() -> None:
            np.matmul(w(), x(), out=y)
            if b is not None:
                np.add(y, b()[:, None], out=y)

        if self.xb is not None and self.wb is not None:
            wb, xb = vi[self.wb].reshape(shape[0], -1), v[self.xb]
            forward = functools.partial(np.matmul, wb, xb, out=y)  # no Python frame
        return forward, self._bind_backward(v, g, gi, x, w)

    def _bind_backward(
        self, v: np.ndarray, g: np.ndarray, gi: np.ndarray, x: Reader, w: Reader
    ) -> Step:
        """Writes dW = dY X^T, db = sum of dY and dX = W^T dY where needed; where it is the
        first writer of the weights' and biases' gradients and the bias folds in, both as one
        product [dW db] = dY [X; 1]^T (the ones' row sums dY)."""
        dy, shape = g[self.out], self.shape
        geometry = self.geometry
        gw = None if self.gw is None else _matrix_adder(gi, geometry, shape, self.gw)
        gb = None if self.gb is None else self.gb(gi)
        gx = None if self.gx is None else self.gx(g)
        # Written in place where this is the first writer and the rows are a view: one NumPy
        # call each, where an add into a strided weight matrix costs as much as the product.
        gx_into = _first_writes(g, self.x, self.gx)
        gw_into = None
        if geometry is not None and self.gw is not None and self.gw.first:
            gw_into = strided(gi, geometry, shape)
        gb_into = _first_writes(gi, self.b, self.gb)
        # dW and db as one product where the bias folds in and this is their first writer
        both = None  # ([dW db] to write into, [X; 1]^T): the ones' row sums dY
        if self.xb is not None and self.wb is not None and gw_into is not None:
            if gb_into is not None:
                both = (gi[self.wb].reshape(shape[0], -1), v[self.xb].T)

        def backward() -> None:
            if both is not None:
                np.matmul(dy, both[1], out=both[0])
            else:
                if gw_into is not None:
                    np.matmul(dy, x().T, out=gw_into)
                elif gw is not None:
                    gw(dy @ x().T)
                if gb_into is not None:
                    np.add.reduce(dy, axis=1, out=gb_into)
                elif gb is not None:
                    gb(np.add.reduce(dy, axis=1))  # dy.sum(axis=1), without its wrapper
            if gx_into is not None:
                np.matmul(w().T, dy, out=gx_into)
            elif gx is not None:
                gx(w().T @ dy)

        return backward

    def writes(self) -> list[tuple[bool, Scatter]]:
        """Its backward's gradient writes, in order (see `OpGroup.writes`): the weights' and
        biases', into the once-per-call buffer, then the inputs'."""
        once = [(True, s) for s in (self.gw, self.gb) if s is not None]
        return once + ([] if self.gx is None else [(False, self.gx)])

    def describe(self) -> str:
        """The layer's shape, e.g. `dense[16x2]` (neurons x inputs)."""
        return f"dense[{self.shape[0]}x{self.shape[1]}]"


def _first_writes(buf: np.ndarray, rows: Rows | None, grad: Scatter | None) -> np.ndarray | None:
    """The view a first writer writes `rows` of `buf` through with `out=`, or None (no
    gradient, not the first writer, or rows that are not a slice)."""
    first = grad is not None and grad.first
    return buf[rows] if first and isinstance(rows, slice) else None


Instruction = OpGroup | SumGroup | Dense
