"""Record a Value graph once, then replay it over whole batches with NumPy.

    model = nn.MLP(2, [16, 16, 1], seed=1337)
    step = tapegrad.compile(lambda x, y: losses.hinge(model(x), y), [0.0, 0.0], 1.0)
    scores = step(X, y)               # forward: per-sample outputs, shape (batch,)
    model.zero_grad()
    per_sample = step.backward(X, y)  # and every parameter's .grad += d mean(loss) / d param

`compile(fn, *examples)` reads beside `grad(fn)` and `value_and_grad(fn)`: it takes the same
kind of plain-Python function of Values and gives back a callable; its docstring says what the
examples stand for, what becomes a parameter, and what recording cannot capture. Every rule the
tape runs is the op table's own (`tapegrad.ops`), evaluated with `tapegrad.numpymath` on rows of
samples, so `tape.backward` equals eager `losses.mean(outs).backward()` to rounding (1e-12
relative in the tests).

How it runs: every node gets a level (the longest path from the leaves), nodes with the same
op at the same level run as one NumPy call over a (rows, batch) buffer, and the backward pass
runs the same groups in reverse: the first write to a gradient row stores, later ones add
(shared gradients with a precomputed segment sum), so no buffer is zeroed per step.
Chains of `+` become one n-ary sum, and a layer's neurons (bias + sum of weight * input, every
neuron reading the same inputs) become one matrix product. Those two are the table's add and
mul rules applied in bulk (checked on arrays at import; if the table ever changes them, every
node takes the generic path). Nodes that do not depend on the inputs (an L2 penalty) run once
per call, not once per sample.

What a replay step costs is what a careful NumPy programmer writes: every instruction is bound
to its buffers once per batch size (the views of the rows it reads and writes are taken then),
so a step runs one matrix product per layer and direction, the rules' own NumPy calls, and a
store or an in-place add per gradient share, with no indexing in the loop. Parameters sit in
the tape as a `Module` lists them (a layer neuron by neuron, weights then bias, read as strided
matrix views), so compiled training hands the tape its weight array as it is (`Tape.replay`),
or steps on the very array the tape reads (`Tape.loop`, which also takes the tape's lock and
NumPy's float silence once for a whole loop), and writes the Values only when the user looks
(`fit`'s trainer: at snapshots, evaluation, restores, the end).

Sums add in the eager engine's order: only a chain's left spine is folded (((a + b) + c) + d,
not a + (b + c)), and each n-ary sum adds its terms one by one, left to right, as eager's `+`
and the `sum` op do, never pairwise as np.sum does. Regrouping would change results where
magnitudes differ (1 + 1e16 - 1e16 is 0.0 in order, 1.0 regrouped), so the tape's outputs are
eager's bit for bit, signed zeros and nan included. The one exception is the dense layer: its
weighted sums run as a matrix product, which adds in BLAS's order (and puts the bias last).
That order is no less accurate than eager's left to right: within the same worst-case bound,
and measured in tests/tape/test_tape_order.py against exact sums. Gradients are the same
rules on the same numbers, so a node's gradient share is eager's bit for bit; where three or
more shares meet at one node (a weight used three times, a parameter over a batch) the tape
adds them in its own order (levels, then np.sum over the batch), not eager's walk order:
equal to rounding, no less accurate (measured the same way), not always the same bits.

Where to read what:

    api.py           compile, Tape, StaleTapeError: what users call
    args.py          the arguments' shapes and the checks on a batch
    record.py        running fn once on placeholder Values, TracingError
    graph.py         the recorded graph as integer-indexed lists
    program.py       the compiler: its passes in order, and the Program they build
    fuse.py          pass: n-ary sums and dense layers
    schedule.py      passes: dependencies, levels, groups
    layout.py        pass: rows in the two buffers
    emit.py          pass: one instruction per group
    writes.py        pass: which gradient writes store (the first to their rows) and which add
    instructions.py  the instructions, the row indexing they share, their binding to buffers
    replay.py        running a Program over a batch on bound buffers
"""

from .api import StaleTapeError, Tape, compile
from .record import TracingError

__all__ = ["StaleTapeError", "Tape", "TracingError", "compile"]
