"""Random expression trees over every op of the table, and the four ways to run one, for the
differential fuzzer (tests/tape/test_differential_fuzz.py).

A program is `(leaves, steps)`: leaves are `(number, is_input)` (an input is a placeholder of
the compiled tape, any other leaf one of its parameters); step k is `(name, operands)`, an
operand `("node", i)` (a leaf or an earlier step) or `("num", c)` (a number mixed in, as the
2 in `2 * x`). A name is an op of `tapegrad.ops.OPS`, read when the program is drawn, so an op
added to the table is fuzzed with no edit here, or one of the operators composed from them
(`COMPOSITES`). The last step is the output.

The same program runs eagerly (`backward()`), with `create_graph` (gradients as Values),
compiled (`tapegrad.compile`, a batch of one) and in PyTorch float64; and to second order,
`tapegrad.grad` nested against `torch.autograd.grad(create_graph=True)`.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass
from functools import reduce

import numpy as np
from op_facts import VARIADIC

import tapegrad
from tapegrad import Constant, Value, ops
from tapegrad import floatmath as fm
from tapegrad.engine import apply
from tapegrad.functional import gradients
from tapegrad.numpymath import unchecked as npm

EDGES = [0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300, math.inf, -math.inf, math.nan]
ORDINARY = [1.0, -1.0, 2.0, -2.0, 0.5, 3.0, -0.75, 1e-8, 700.0, -700.0]

# Python's operators, name -> (tapegrad, torch): - and unary - are composed from the table's
# ops; / is the table's div reached through the operator (`x / 2.0` makes a Constant).
COMPOSITES = {
    "sub": (operator.sub, operator.sub),
    "neg": (operator.neg, operator.neg),
    "truediv": (operator.truediv, operator.truediv),
}


def op_names() -> list[str]:
    """Every op the fuzzer draws: the table's, read now, and the composites."""
    return sorted(ops.OPS) + sorted(COMPOSITES)


def arg_counts(name: str) -> tuple[int, ...]:
    """How many operands a step of `name` takes (a variadic op's counts from op_facts)."""
    if name in COMPOSITES:
        return (1,) if name == "neg" else (2,)
    op = ops.OPS[name]
    if op.arity is not None:
        return (op.arity,)
    if name not in VARIADIC:
        raise AssertionError(f"variadic op {name!r} has no argument counts in tests/op_facts.py")
    return VARIADIC[name].graphs


@functools.cache
def replays_exactly(name: str) -> bool:
    """Whether the op's rules give the same bits on NumPy arrays (the tape's `numpymath`) as on
    floats (eager's `floatmath`), over a grid of edge and ordinary values. Not so where NumPy's
    function is not libm's: np.tanh (NumPy's own SIMD code) and math.tanh differ in the last
    bit for about one argument in six on x86-64. A tree with such an op is compared to eager
    within rounding instead of bit for bit."""
    if name in COMPOSITES or ops.OPS[name].arity is None:
        return True  # + and *, and the operators made of them
    op = ops.OPS[name]
    grid = np.array(EDGES + ORDINARY + list(np.random.default_rng(0).uniform(-30, 30, 40)))
    args = (
        [a.ravel() for a in np.meshgrid(*[grid] * op.arity)]
        if op.arity < 3
        else [np.random.default_rng(1).choice(grid, 4000) for _ in range(op.arity)]
    )
    g = np.full(args[0].shape, 1.3)
    with np.errstate(all="ignore"):
        out = op.fwd(npm, *args)
        arrays = [out] + [np.broadcast_to(r(npm, g, out, *args), g.shape) for r in op.vjps]
    for j, xs in enumerate(zip(*args, strict=True)):
        o = op.fwd(fm, *map(float, xs))
        floats = [o] + [r(fm, 1.3, o, *map(float, xs)) for r in op.vjps]
        if not all(same_bits(float(a[j]), f) for a, f in zip(arrays, floats, strict=True)):
            return False
    return True


# --------------------------------------------------------------------------- running


def _operand(nodes: list, a: tuple, number) -> object:
    return nodes[a[1]] if a[0] == "node" else number(a[1])


def tapegrad_step(name: str, vals: list) -> Value:
    """One step on Values (numbers become Constants, as `2 * x` makes them)."""
    if name in COMPOSITES:
        return COMPOSITES[name][0](*vals)
    return apply(ops.OPS[name], *[v if isinstance(v, Value) else Constant(v) for v in vals])


def build(program, leaves: list) -> list:
    """Every node of `program` (leaves first) on the tapegrad Values `leaves`."""
    nodes = list(leaves)
    for name, args in program[1]:
        nodes.append(tapegrad_step(name, [_operand(nodes, a, float) for a in args]))
    return nodes


@dataclass
class Run:
    """One way's results: the output, every leaf's gradient and, where the way has them,
    every node's value and gradient (d out / d node)."""

    out: float
    grads: list[float]
    values: list[float] | None = None
    node_grads: list[float] | None = None


def run_eager(program) -> Run:
    """`backward()` on floats, and every node's value and gradient (`gradients`)."""
    leaves = [Value(v) for v, _ in program[0]]
    nodes = build(program, leaves)
    found = gradients(nodes[-1])
    nodes[-1].backward()
    return Run(
        nodes[-1].data,
        [leaf.grad for leaf in leaves],
        [n.data for n in nodes],
        [found.get(n, 0.0) for n in nodes],
    )


def run_create_graph(program) -> Run:
    """`backward(create_graph=True)`: the gradients are Values; their numbers."""
    leaves = [Value(v) for v, _ in program[0]]
    nodes = build(program, leaves)
    nodes[-1].backward(create_graph=True)
    return Run(nodes[-1].data, [_data(leaf.grad) for leaf in leaves])


def _data(x) -> float:
    return x.data if isinstance(x, Value) else float(x)


def run_compiled(program) -> tuple[Run, list[str]]:
    """The compiled tape over a batch of one: inputs are placeholders, the other leaves its
    parameters; the parameters' gradients by `tape.backward(reduction="sum")`, which adds
    d out / d param into a zeroed `.grad` as eager `backward()` does. Input leaves' gradients
    are not the tape's to give: they come back as None. Also the tape's instructions. The tape
    gets one more input, unused, so that a tree of parameters alone has a batch too."""
    leaves = program[0]
    params = {i: Value(v) for i, (v, is_input) in enumerate(leaves) if not is_input}
    inputs = [i for i, (_, is_input) in enumerate(leaves) if is_input]

    def fn(*xs):
        given = dict(zip(inputs, xs[:-1], strict=True))
        return build(program, [given[i] if i in given else params[i] for i in range(len(leaves))])[
            -1
        ]

    tape = tapegrad.compile(fn, *[leaves[i][0] for i in inputs], 0.0)
    out = tape.backward(*[np.array([leaves[i][0]]) for i in inputs], np.zeros(1), reduction="sum")
    grads = [params[i].grad if i in params else None for i in range(len(leaves))]
    return Run(float(out[0]), grads), tape.instructions


def second_order(program) -> list[float]:
    """d/d leaf of the sum of every leaf's first derivative, by `tapegrad.grad` nested."""
    n = len(program[0])

    def first(*xs):
        return reduce(
            operator.add, tapegrad.grad(lambda *ys: build(program, ys)[-1], tuple(range(n)))(*xs)
        )

    return [float(g) for g in tapegrad.grad(first, tuple(range(n)))(*[v for v, _ in program[0]])]


def torch_step(torch, name: str, vals: list):
    """One step in PyTorch float64: the op's `reference`, a variadic op composed from * and +
    (as op_facts says), numbers as constant tensors."""
    vals = [
        v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=torch.float64) for v in vals
    ]
    if name in COMPOSITES:
        return COMPOSITES[name][1](*vals)
    op = ops.OPS[name]
    if op.arity is None:  # a one-term sum is its term: a node of its own all the same
        out = VARIADIC[name].on_torch(torch)(*vals)
        return out.clone() if any(out is v for v in vals) else out
    if not op.reference:
        raise AssertionError(f"op {name!r} has no PyTorch reference to fuzz it against")
    return getattr(torch, op.reference)(*vals)


def run_torch(torch, program) -> tuple[Run, list[float]]:
    """PyTorch's output, leaf gradients, every node's value and gradient; and its second
    order (d/d leaf of the sum of the first derivatives), as `second_order`."""
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v, _ in program[0]]
    nodes = list(leaves)
    for name, args in program[1]:
        nodes.append(torch_step(torch, name, [_operand(nodes, a, float) for a in args]))
    live = [k for k, t in enumerate(nodes) if t.requires_grad]
    firsts = torch.autograd.grad(
        nodes[-1], [nodes[k] for k in live], create_graph=True, allow_unused=True
    )
    node_grads = [0.0] * len(nodes)
    for k, d in zip(live, firsts, strict=True):
        node_grads[k] = 0.0 if d is None else d.item()
    leaf_firsts = [d for d in firsts[: len(leaves)] if d is not None and d.requires_grad]
    seconds = [0.0] * len(leaves)
    if leaf_firsts:
        s = reduce(operator.add, leaf_firsts)
        got = torch.autograd.grad(s, leaves, allow_unused=True)
        seconds = [0.0 if d is None else d.item() for d in got]
    values = [t.item() for t in nodes]
    return Run(values[-1], node_grads[: len(leaves)], values, node_grads), seconds


def local_derivatives(torch, program) -> list[list[tuple[int, float, float]]]:
    """Per step, per node operand: (its node, |d step / d operand|, sum of |second partials|),
    from PyTorch at the reference's own values, each operand a fresh leaf."""
    values = [torch.tensor(v, dtype=torch.float64) for v, _ in program[0]]
    result: list[list[tuple[int, float, float]]] = [[] for _ in program[0]]
    for name, args in program[1]:
        fresh = [
            values[a[1]].detach().clone().requires_grad_(True) if a[0] == "node" else a[1]
            for a in args
        ]
        slots = [(a[1], t) for a, t in zip(args, fresh, strict=True) if a[0] == "node"]
        out = torch_step(torch, name, fresh)
        values.append(out.detach())
        tensors = [t for _, t in slots]
        ds = torch.autograd.grad(out, tensors, create_graph=True, allow_unused=True)
        step = []
        for (i, _), d in zip(slots, ds, strict=True):
            wobble = 0.0
            if d is not None and d.requires_grad:
                hs = torch.autograd.grad(d, tensors, retain_graph=True, allow_unused=True)
                wobble = sum(_finite(abs(h.item())) for h in hs if h is not None)
            step.append((i, 0.0 if d is None else abs(d.item()), wobble))
        result.append(step)
    return result


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def error_scales(values: list[float], local) -> tuple[list[float], list[float]]:
    """How large rounding errors may grow, per node: forward, |node| plus its operands' scales
    times |d node / d operand| (x - y's error is relative to |x| + |y|); backward, the gradient
    with every local partial in absolute value, each widened by its second partials times the
    forward scales (cos(1e187) has an arbitrary slope). Non-finite factors count as 0: where
    they matter the result is non-finite, and compared by kind."""
    n = len(values)
    fwd = [0.0] * n
    for k in range(n):
        fwd[k] = _finite(abs(values[k])) + sum(_finite(d * fwd[i]) for i, d, _ in local[k])
    back = [0.0] * n
    back[-1] = 1.0
    for k in range(n - 1, -1, -1):
        for i, d, wobble in local[k]:
            back[i] += _finite((d + _finite(wobble * fwd[k])) * back[k])
    return fwd, back


# --------------------------------------------------------------------------- comparing


def same_bits(a: float | None, b: float | None) -> bool:
    """Equal as IEEE doubles: nan is nan, and 0.0 is not -0.0."""
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def agree(
    got: float, want: float, scale: float = 0.0, rtol: float = 1e-9, signed_zeros: bool = False
) -> bool:
    """Within rtol of max(|want|, scale) where finite; the same kind (nan, or the same signed
    inf) where not. With `signed_zeros` (for values: a zero's sign shows as an inf's sign once
    something divides by it) two zeros must have the same sign too; a gradient's may not."""
    if signed_zeros and want == 0.0 and got == 0.0:
        return same_bits(got, want)
    if math.isnan(want) or math.isinf(want):
        return same_bits(got, want) or (math.isnan(want) and math.isnan(got))
    if not math.isfinite(got):
        return False
    bound = rtol * max(abs(want), scale) + 1e-300
    return abs(got - want) <= bound or not math.isfinite(bound)


def describe(program) -> str:
    """The program as numbered lines, `x3 = mul(x0, 2.0)`, inputs marked."""
    leaves, steps = program
    lines = [f"x{i} = {v!r}{' (input)' if inp else ''}" for i, (v, inp) in enumerate(leaves)]
    for k, (name, args) in enumerate(steps, start=len(leaves)):
        shown = [f"x{a[1]}" if a[0] == "node" else repr(a[1]) for a in args]
        lines.append(f"x{k} = {name}({', '.join(shown)})")
    return "\n".join(lines)
