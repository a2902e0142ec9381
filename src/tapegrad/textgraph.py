"""A text picture of a graph for terminals and logs: an indented tree, output at the top.

    L [*]  data -8.0000  grad 1.0000
    ├── d [+]  data 4.0000  grad -2.0000
    │   ├── e [*]  data -6.0000  grad -2.0000

A shared node is printed in full once, then by name; unlabelled nodes and nodes sharing a
label are named #1, #2, ... (w#1, w#2) in the order they are printed.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, TextIO

from .engine import Constant, Value
from .graph import op_label, topological_order
from .markup import terminal_text

_UNICODE = ("├── ", "└── ", "│   ", "    ")
_ASCII = ("|-- ", "`-- ", "|   ", "    ")


def number_format(precision: int, fmt: str | None) -> str:
    """The format spec for data and grad: `fmt` if given (checked), else `precision` decimals."""
    if fmt is None:
        if not isinstance(precision, int) or isinstance(precision, bool) or precision < 0:
            raise ValueError(f"precision must be a non-negative int, got {precision!r}")
        fmt = f".{min(precision, 17)}f"
    try:
        format(1.5, fmt)
    except (ValueError, TypeError):
        raise ValueError(
            f"fmt must be a float format spec such as '.4f' or '.3e', got {fmt!r}"
        ) from None
    return fmt


def format_graph(
    root: Value,
    *,
    show_grad: bool = True,
    precision: int = 4,
    fmt: str | None = None,
    max_lines: int = 1000,
    ascii: bool = False,  # noqa: A002 - the obvious name for the option
) -> str:
    """The graph below `root` as an indented tree: one line per node with its name, op,
    data and grad (Constants show their value only). Past `max_lines` lines the rest is
    summarised in one line; `ascii` draws the branches with plain ASCII characters."""
    if not isinstance(root, Value):
        raise TypeError(f"format_graph needs a tapegrad Value, got {type(root).__name__}")
    if not isinstance(max_lines, int) or max_lines < 1:
        raise ValueError(f"max_lines must be a positive int, got {max_lines!r}")
    fmt = number_format(precision, fmt)
    tee, last, pipe, blank = _ASCII if ascii else _UNICODE

    order = topological_order(root)
    label_uses = Counter(node.label for node in order if node.label)
    names: dict[Value, str] = {}
    numbered: dict[str, int] = {}  # per label ("" for unlabelled): how many are named so far

    def name_of(node: Value) -> str:
        name = names.get(node)
        if name is None:
            if node.label and label_uses[node.label] == 1:
                name = node.label
            else:
                numbered[node.label] = k = numbered.get(node.label, 0) + 1
                name = f"{node.label}#{k}"
            names[node] = name = terminal_text(name)  # no escape sequence reaches a terminal
        return name

    lines: list[str] = []
    shown: set[Value] = set()
    # Depth first, children in order; each entry: (node, prefix for its line, for its children)
    stack = [(root, "", "")]
    while stack:
        if len(lines) == max_lines:
            hidden = len(order) - len(shown)
            lines.append(f"... {hidden} more node(s) not shown (max_lines={max_lines})")
            break
        node, lead, indent = stack.pop()
        if node in shown:
            lines.append(f"{lead}{name_of(node)} (shown above)")
            continue
        shown.add(node)
        lines.append(lead + _describe(node, name_of(node), fmt, show_grad, ascii))
        children = node._prev
        for i in range(len(children) - 1, -1, -1):
            final = i == len(children) - 1
            branch, below = (last, blank) if final else (tee, pipe)
            stack.append((children[i], indent + branch, indent + below))
    return "\n".join(lines)


def _describe(node: Value, name: str, fmt: str, show_grad: bool, ascii: bool) -> str:  # noqa: A002
    data = format(node.data, fmt)
    if type(node) is Constant:
        return f"{name} const {data}"
    text = f"{name} [{terminal_text(op_label(node, ascii))}]" if node._op else name
    text += f"  data {data}"
    if show_grad:
        text += f"  grad {format(float(node.grad), fmt)}"
    return text


def print_graph(root: Value, file: TextIO | None = None, **options: Any) -> None:
    """Print `format_graph(root, **options)` to `file` (stdout by default), in ASCII when the
    stream cannot encode the box-drawing characters."""
    stream = sys.stdout if file is None else file
    if "ascii" not in options:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            ("".join(_UNICODE) + "Σ·").encode(encoding)  # Σ·: a fused neuron's op
        except (UnicodeEncodeError, LookupError):
            options["ascii"] = True
    print(format_graph(root, **options), file=stream)
