"""`tapegrad demo`: the lecture's tanh neuron, forward and backward (until the MLP job lands)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the main demonstration")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tapegrad import Value

    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    print(f"o = tanh(x1*w1 + x2*w2 + b) = {o.data:.4f}")
    for v in (x1, w1, x2, w2, b):
        print(f"  d o / d {v.label:<2} = {v.grad:+.4f}")
    return 0
