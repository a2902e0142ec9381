"""tapegrad: a scalar autograd engine you can read, see, check and train fast with.

`import tapegrad` loads only the pure-Python engine; the names that need NumPy, graphviz or
matplotlib (`draw_dot`, `explain`, `compile`, `save`, `load`, `nn`, ...) are imported on first use.
"""

from __future__ import annotations

from importlib import import_module

from . import valuemath  # noqa: F401  (registers the namespace gradients as Values run on)
from .check import gradcheck, numerical_derivative, numerical_gradient
from .engine import (
    AnomalyError,
    Constant,
    Value,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    scope,
)
from .extend import register_op, unregister_op
from .functional import grad, value_and_grad
from .graph import topological_order, trace, zero_grad

__version__ = "0.1.0"

# name -> module that defines it, loaded on first access (PEP 562).
_LAZY = {
    "draw_dot": "tapegrad.viz",
    "explain": "tapegrad.pages.explain",
    "report": "tapegrad.pages.report",
    "format_graph": "tapegrad.textgraph",
    "print_graph": "tapegrad.textgraph",
    "compile": "tapegrad.tape",
    "save": "tapegrad.checkpoint",
    "load": "tapegrad.checkpoint",
    "to_torch": "tapegrad.interop",
    "fit": "tapegrad.live",  # train.fit, plus live=True (a page; see tapegrad.live)
    "fit_table": "tapegrad.tables",
    # One node for a neuron's weighted sum, a sum and a log-sum-exp (not star-exported: `sum`
    # would shadow the builtin; call them as tapegrad.dot, tapegrad.sum, tapegrad.logsumexp).
    "dot": "tapegrad.valuemath",
    "sum": "tapegrad.valuemath",
    "logsumexp": "tapegrad.valuemath",
}
_SUBMODULES = (
    "nn",
    "losses",
    "optim",
    "data",
    "tables",
    "train",
    "plots",
    "viz",
    "tape",
    "valuemath",
    "ops",
    "mistakes",
)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return import_module(f"tapegrad.{name}")
    raise AttributeError(f"module 'tapegrad' has no attribute {name!r}")


__all__ = [
    "AnomalyError",
    "Constant",
    "Value",
    "__version__",
    "compile",
    "detect_anomaly",
    "draw_dot",
    "enable_grad",
    "explain",
    "fit",
    "fit_table",
    "format_graph",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "load",
    "no_grad",
    "numerical_derivative",
    "numerical_gradient",
    "print_graph",
    "register_op",
    "report",
    "save",
    "scope",
    "to_torch",
    "topological_order",
    "trace",
    "unregister_op",
    "value_and_grad",
    "zero_grad",
]
