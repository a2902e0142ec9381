"""Nodes the op table does not serve (closures.py): a hand-built node of a known op, the
lecture's `_backward` closure, an unknown op's clear error; a walk that fails or is
interrupted part-way leaves every `.grad` as it was."""

from __future__ import annotations

import pytest

from tapegrad import Value, topological_order


def test_a_failing_backward_leaves_every_grad_as_it_was():
    """A rule that fails part-way through the walk (here a node with no rule, reached after
    others have given their children gradient) must not leave half-added gradients behind."""
    a, b = Value(1.5), Value(-2.0)
    a.grad, b.grad = 0.5, 0.75
    mystery = Value(3.0, (a, b), "frobnicate")
    out = (mystery * a + b).tanh()
    nodes = topological_order(out)
    before = [n.grad for n in nodes]
    with pytest.raises(ValueError, match="frobnicate"):
        out.backward()
    assert [n.grad for n in nodes] == before


def test_a_backward_interrupted_by_the_user_leaves_every_grad_as_it_was():
    a = Value(2.0)
    a.grad = 1.0

    def interrupt() -> None:
        raise KeyboardInterrupt

    node = Value(4.0, (a,), "square")
    node._backward = interrupt  # the lecture's closure op, raising as Ctrl-C would
    out = node * a + 1.0
    with pytest.raises(KeyboardInterrupt):
        out.backward()
    assert a.grad == 1.0
    assert all(n.grad == 0.0 for n in topological_order(out) if n is not a)


# --- graphs the engine cannot differentiate -------------------------------------------------------


def test_backward_on_unknown_op_is_a_clear_error():
    a, b = Value(1.0), Value(2.0)
    node = Value(3.0, (a, b), "frobnicate", label="mystery")
    node.grad = 1.0
    with pytest.raises(ValueError, match="frobnicate") as caught:
        node._backward()
    assert "mystery" in str(caught.value)
    with pytest.raises(ValueError, match="frobnicate"):
        node.backward()


def test_hand_built_node_with_a_known_op_backprops():
    """The lecture builds nodes by hand: `Value(data, (a, b), '+')` differentiates as a sum."""
    a, b = Value(2.0), Value(-3.0)
    node = Value(a.data * b.data, (a, b), "*")
    node.backward()
    assert (a.grad, b.grad) == (-3.0, 2.0)
