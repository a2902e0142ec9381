"""tapegrad: a scalar autograd engine you can read, see, check and train fast with."""

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
from .functional import grad, value_and_grad
from .graph import topological_order, trace, zero_grad

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "Constant",
    "Value",
    "__version__",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "numerical_derivative",
    "numerical_gradient",
    "scope",
    "topological_order",
    "trace",
    "value_and_grad",
    "zero_grad",
]
