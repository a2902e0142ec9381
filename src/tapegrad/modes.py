"""The engine's switches, per thread (`no_grad`, `enable_grad`, `detect_anomaly`, `scope`), and
the checks `detect_anomaly` turns on.

Each switch is a context manager (and decorator) that replaces this thread's `_Mode` for the
length of a `with` block. `Value` reads the mode when it records a node: whether to record at
all, whether to check for inf and nan (raising `AnomalyError`), and which module path to tag
new Values with. A first reading of the engine can skip this file: by default ops record,
check nothing and carry no scope.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import ContextDecorator
from typing import Literal


class AnomalyError(RuntimeError):
    """Raised under `detect_anomaly()` at the first non-finite value or gradient."""


class _Mode:
    """The engine's switches in force: whether ops record a graph, check for non-finite
    values, and which module path (scope) new Values are tagged with."""

    __slots__ = ("grad_enabled", "anomaly", "scope", "plain")

    def __init__(self, grad_enabled: bool = True, anomaly: bool = False, scope=None) -> None:
        self.grad_enabled = grad_enabled
        self.anomaly = anomaly
        self.scope = scope  # e.g. "layers.1.neurons.3"
        self.plain = grad_enabled and not anomaly  # apply()'s fast path


class _State(threading.local):
    """This thread's mode and the modes that `with` blocks replaced (threading.local runs
    __init__ once per thread, so every thread starts recording, with no scope)."""

    def __init__(self) -> None:
        self.mode = _Mode()
        self.saved: list[_Mode] = []


state = _State()
"""This thread's mode: `state.mode` is read by every op the engine records."""

tracers: dict[int, object] = {}
"""The guards of the tapes recording right now, by thread (`threading.get_ident()`), which
Value's comparisons, bool() and float() (`engine.py`) and the derivative rules' masks
(`valuemath.py`) consult; `tapegrad.tape.record` fills it. A plain dict, not
part of `state`: while it is empty, which is always outside `compile`, a comparison pays one
look at it (reading a thread-local attribute costs several times as much)."""


def check_traced(what: str, *values) -> None:
    """While this thread records a tape: let its guard refuse `what` (a comparison, bool(),
    float(), or a derivative rule's mask) on `values` if one of them depends on an input."""
    guard = tracers.get(threading.get_ident())
    if guard is not None:
        guard.check(what, *values)  # type: ignore[attr-defined]


class _Switch(ContextDecorator):
    """Change this thread's mode for a `with` block (or a decorated call), then restore it."""

    def mode(self, old: _Mode) -> _Mode:
        """The mode inside the block, given the mode outside it."""
        raise NotImplementedError

    def __enter__(self):
        st = state
        st.saved.append(st.mode)
        st.mode = self.mode(st.mode)
        return self

    def __exit__(self, *exc) -> Literal[False]:
        state.mode = state.saved.pop()
        return False


class no_grad(_Switch):
    """Ops inside record no graph: results are plain leaves. A context manager and decorator,
    per thread, like `torch.no_grad()`."""

    def mode(self, old: _Mode) -> _Mode:
        return _Mode(False, old.anomaly, old.scope)


class enable_grad(_Switch):
    """Record graphs again inside a `no_grad` block."""

    def mode(self, old: _Mode) -> _Mode:
        return _Mode(True, old.anomaly, old.scope)


def is_grad_enabled() -> bool:
    """Whether ops record a graph in this thread (False inside `no_grad`)."""
    return state.mode.grad_enabled


class detect_anomaly(_Switch):
    """Raise AnomalyError at the first op whose output, or whose gradient, is inf or nan while
    its inputs were finite, naming the op and the labels involved. Slower: for debugging."""

    def mode(self, old: _Mode) -> _Mode:
        return _Mode(old.grad_enabled, True, old.scope)


class scope(_Switch):
    """Tag every Value created inside with a path (nested scopes join with '.'): modules use it
    so pictures can collapse a network into its layers and neurons."""

    def __init__(self, name: str) -> None:
        self.name = str(name)
        # (mode outside, mode inside) of the last entry. A module keeps its scope objects and
        # enters them with the same outer mode on every call, so the inner mode (modes never
        # change once made) is reused instead of rebuilt: one pair, swapped atomically, is
        # safe across threads (a mismatch only rebuilds).
        self._last: tuple[_Mode | None, _Mode | None] = (None, None)

    def mode(self, old: _Mode) -> _Mode:
        outer, inner = self._last
        if outer is old and inner is not None:
            return inner
        path = f"{old.scope}.{self.name}" if old.scope else self.name
        inner = _Mode(old.grad_enabled, old.anomaly, path)
        self._last = (old, inner)
        return inner


def call_in_scopes(scopes: Sequence[scope], fn: Callable, items: Iterable, arg) -> list:
    """`[fn(item, arg) for item in items]`, the i-th call inside `scopes[i]`: how a layer runs
    its neurons. The same as a `with` block per call at a third of the cost, which for a fused
    neuron is a tenth of its forward pass."""
    st = state
    outer = st.mode
    out = []
    try:
        for where, item in zip(scopes, items, strict=True):
            st.mode = where.mode(outer)
            out.append(fn(item, arg))
    finally:
        st.mode = outer
    return out


def current_scope() -> str | None:
    """The module path new Values are tagged with in this thread (None outside any scope)."""
    return state.mode.scope


def check_output(symbol: str, data: float, args: Iterable) -> None:
    """Under `detect_anomaly()`: raise if op `symbol` gave inf or nan from finite inputs."""
    if not math.isfinite(data) and all(math.isfinite(x.data) for x in args):
        raise AnomalyError(
            f"op '{symbol}'{_where(state.mode.scope)} gave {data} from finite inputs "
            f"{_describe(args)} (forward pass)"
        )


def check_gradient(node, child, g, contribution) -> None:
    """Under `detect_anomaly()`: raise if `node`'s rule gave `child` an inf or nan gradient
    from a finite one (`g` and `contribution` are floats, or Values under create_graph)."""
    if math.isfinite(contribution) or not math.isfinite(g):
        return
    name = child.label or type(child).__name__
    rule = f"op '{node._op}'"
    if getattr(node, "_fn", None) is not None:  # the lecture's closure, not a table rule
        rule = f"the own _backward closure of {rule} (register the op to name its rule)"
    raise AnomalyError(
        f"{rule}{_where(node._scope)} (output {node.label or 'unlabelled'}="
        f"{node.data!r}) gave gradient "
        f"{float(contribution)} to its input {name}={child.data!r} from finite gradient "
        f"{float(g)!r} (backward pass; inputs {_describe(node._prev)})"
    )


def _where(scope: str | None) -> str:
    """` in layers.1.neurons.3`: the module that made a node, for an anomaly message."""
    return f" in {scope}" if scope else ""


_SHOWN = 8  # inputs an anomaly message lists (a fused neuron has 2n + 1)


def _describe(nodes: Iterable) -> str:
    """Nodes as `(label=data, ...)` for an anomaly message (unlabelled ones by their type),
    the first `_SHOWN` of them and how many there are."""
    nodes = list(nodes)
    text = ", ".join(f"{n.label or type(n).__name__}={n.data!r}" for n in nodes[:_SHOWN])
    return f"({text}{f', ... {len(nodes)} inputs' if len(nodes) > _SHOWN else ''})"


__all__ = [
    "AnomalyError",
    "current_scope",
    "detect_anomaly",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "scope",
]
