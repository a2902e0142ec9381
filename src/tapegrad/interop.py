"""The way out to PyTorch: an MLP as an equivalent `torch.nn.Sequential` with the same weights.

torch is optional and imported only when `to_torch` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from .nn import MLP


def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "to_torch needs PyTorch, which is not installed: pip install 'tapegrad[torch]'"
        ) from e
    return torch


def to_torch(model: MLP) -> torch.nn.Sequential:
    """An equivalent `torch.nn.Sequential`: a float64 `Linear` per layer and its activation,
    holding copies of the weights (one output gives shape (..., 1), not a single Value)."""
    layers = getattr(model, "layers", None)
    if not layers:  # checked first: the wrong object is the wrong object, torch or not
        raise TypeError(f"to_torch converts an MLP, got {type(model).__name__}")
    torch = _import_torch()
    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
    modules = []
    for layer in layers:
        linear = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(
                torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
            )
            linear.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        modules.append(linear)
        if layer.act != "linear":
            modules.append(acts[layer.act]())
    return torch.nn.Sequential(*modules)


__all__ = ["to_torch"]
