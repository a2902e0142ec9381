"""What the per-op tests give each op of the table: how many arguments (its arity, or for a
variadic op a sample count) and every argument's gradient at once (whether the op has one rule
per argument or, variadic, one rule for all). `test_op_table.py` checks every variadic op has
a sample count here."""

from __future__ import annotations

from tapegrad import ops

VARIADIC_ARGS = {
    "affine": 3,  # w, x, b: a neuron with one input (more inputs: tests/test_fused.py)
    "sum": 3,
}


def n_args(op: ops.Op) -> int:
    return op.arity if op.arity is not None else VARIADIC_ARGS[op.name]


def all_shares(op: ops.Op, m, g, out, *args) -> list:
    """Every argument's share of the output's gradient `g`, through the op's rules."""
    if op.vjp is not None:
        return list(op.vjp(m, g, out, *args))
    return [rule(m, g, out, *args) for rule in op.vjps]
