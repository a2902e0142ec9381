"""What the exercise notebook's cells hold when solved, and the typical wrong answers, by the
cell's tag (notebooks/04_exercises.ipynb tags each exercise cell `exercise-NAME` and the cell
that checks it `check-NAME`). The tests put these into the notebook and run it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_exercises.ipynb"


def op_cell(method: str, forward: str, backward: str, children: str, symbol: str) -> str:
    """An exercise cell as the notebook shapes it: the given forward, then `_backward`."""
    coerce = "    other = other if isinstance(other, Value) else Value(other)\n"
    binary = children == "(self, other)"
    return (
        f"def {method}(self{', other' if method.startswith('__') else ''}):\n"
        + (coerce if binary else "")
        + f"{forward}"
        + f"    out = Value(result, {children}, {symbol})\n\n"
        + "    def _backward():\n"
        + "".join(f"        {line}\n" for line in backward.strip().splitlines())
        + "\n    out._backward = _backward\n    return out\n\n\n"
        + f"Value.{method} = {method}\n"
    )


ADD = ("__add__", "    result = self.data + other.data\n", "(self, other)", '"+"')
MUL = ("__mul__", "    result = self.data * other.data\n", "(self, other)", '"*"')
TANH = ("tanh", "    x = self.data\n    result = math.tanh(x)\n", "(self,)", '"tanh"')
EXP = ("exp", "    x = self.data\n    result = math.exp(x)\n", "(self,)", '"exp"')
POW = (
    "__pow__",
    '    assert isinstance(other, (int, float)), "only a number as the exponent"\n'
    "    result = self.data**other\n",
    "(self,)",
    'f"**{other}"',
)
DIV = ("__truediv__", "    result = self.data / other.data\n", "(self, other)", '"/"')


def _cell(parts: tuple[str, str, str, str], backward: str) -> str:
    method, forward, children, symbol = parts
    return op_cell(method, forward, backward, children, symbol)


SOLUTIONS = {
    "exercise-add": _cell(ADD, "self.grad += out.grad\nother.grad += out.grad"),
    "exercise-mul": _cell(
        MUL, "self.grad += other.data * out.grad\nother.grad += self.data * out.grad"
    ),
    "exercise-tanh": _cell(TANH, "self.grad += (1 - out.data**2) * out.grad"),
    "exercise-exp": _cell(EXP, "self.grad += out.data * out.grad"),
    "exercise-pow": _cell(POW, "self.grad += other * self.data ** (other - 1) * out.grad"),
    "exercise-div": _cell(
        DIV,
        "self.grad += out.grad / other.data\nother.grad += -self.data / other.data**2 * out.grad",
    ),
    "exercise-neuron": """\
class Neuron:
    def __init__(self, nin):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(random.uniform(-1, 1))

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.tanh()

    def parameters(self):
        return self.w + [self.b]
""",
    "exercise-topo": """\
def build_topo(root):
    topo = []
    visited = set()

    def visit(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                visit(child)
            topo.append(v)

    visit(root)
    return topo
""",
}


class Wrong(NamedTuple):
    """A typical wrong answer: the cell it goes in, its code, and what its check must say."""

    tag: str
    source: str
    check: str  # the tag of the cell that must fail
    hint: str  # words the failure's hint must hold


WRONG = {
    "assign-for-add": Wrong(
        "exercise-add",
        _cell(ADD, "self.grad = out.grad\nother.grad = out.grad"),
        "check-add",
        "+=",
    ),
    "tanh-of-input": Wrong(
        "exercise-tanh",
        _cell(TANH, "self.grad += (1 - x**2) * out.grad"),
        "check-tanh",
        "out.data, not x",
    ),
    "mul-without-out-grad": Wrong(
        "exercise-mul",
        _cell(MUL, "self.grad += other.data\nother.grad += self.data"),
        "check-mul",
        "multiply by out.grad",
    ),
    "div-sign": Wrong(
        "exercise-div",
        _cell(
            DIV,
            "self.grad += out.grad / other.data\n"
            "other.grad += self.data / other.data**2 * out.grad",
        ),
        "check-div",
        "sign is flipped",
    ),
    "topo-without-visited": Wrong(
        "exercise-topo",
        """\
def build_topo(root):
    topo = []

    def visit(v):
        for child in v._prev:
            visit(child)
        topo.append(v)

    visit(root)
    return topo
""",
        "check-topo",
        "visited",
    ),
    "topo-parents-first": Wrong(
        "exercise-topo",
        """\
def build_topo(root):
    topo = []
    visited = set()

    def visit(v):
        if v not in visited:
            visited.add(v)
            topo.append(v)
            for child in v._prev:
                visit(child)

    visit(root)
    return topo
""",
        "check-topo",
        "after all of its children",
    ),
}


def cells_by_tag(path: Path = NOTEBOOK) -> dict[str, str]:
    """The notebook's code cells by their tag (`value-class`, `exercise-add`, `check-add`, ...)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return {
        tag: "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code"
        for tag in c.get("metadata", {}).get("tags", [])
    }


def learner(answers: dict[str, str] | None = None, value_class: str | None = None) -> dict:
    """A learner's namespace, as the notebook's cells make it: the notebook's own class cell
    (or `value_class`), then each exercise cell as `answers` has it (default: solved), run in
    order."""
    answers = SOLUTIONS if answers is None else answers
    cells = cells_by_tag()
    ns: dict[str, Any] = {}
    value_class = cells["value-class"] if value_class is None else value_class
    exec("import math\nimport random\n" + value_class, ns)  # the notebook's own code
    for tag in SOLUTIONS:
        exec(answers.get(tag, cells[tag]), ns)  # the notebook's own code
    return ns
