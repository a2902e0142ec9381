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
  `fn` would run once, on the example's numbers, and the branch taken then be replayed. So on
  a Value that depends on an input, a comparison, `bool()` or `float()` (or a derivative rule's
  choice by sign, for a `grad` taken inside `fn`) raises TracingError while recording: express
  data-dependent choices with ops (`relu`, `max`, `min`, `clamp`, `abs`). On parameters and
  constants they are allowed, and the branch is frozen (`tape.check()` notices when the
  parameters would take another). A number read with `.data` escapes the check.
  A target that selects an element (a class index) must come in as a one-hot vector.
- The tape holds the parameter *objects* it saw. Replacing one with a new Value (instead of
  assigning its `.data`) or changing the model (layers, activations, a new loss) leaves the
  tape computing the old graph: compile again. `tape.check()` re-runs `fn` on the examples and
  raises StaleTapeError if the graph it builds now differs in any op, wire, constant or
  parameter object.
- A leaf Value that `fn` makes from an input's `.data` (or under `no_grad`) is no longer tied to
  the input: it is replayed as a parameter holding the example's number.
- A tape reuses its buffers (2 x rows x batch floats) between calls, so calls from several
  threads take turns (a lock): each gets its own answer, none runs in parallel.

How it runs: every node gets a level (the longest path from the leaves), nodes with the same
op at the same level run as one NumPy call over a (rows, batch) buffer, and the backward pass
runs the same groups in reverse, adding shared gradients with a precomputed segment sum.
Chains of `+` become one n-ary sum, and a layer's neurons (bias + sum of weight * input, every
neuron reading the same inputs) become one matrix product. Those two are the table's add and
mul rules applied in bulk (checked on arrays at import; if the table ever changes them, every
node takes the generic path). Nodes that do not depend on the inputs (an L2 penalty) run once
per call, not once per sample.

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
    instructions.py  the instructions and the row indexing they share
    replay.py        running a Program over a batch
"""

from .api import StaleTapeError, Tape, compile
from .record import TracingError

__all__ = ["StaleTapeError", "Tape", "TracingError", "compile"]
