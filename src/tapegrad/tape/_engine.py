"""The engine's names the tape uses, imported in this one place.

The tape reads a recorded graph through each node's `_prev`, `_op`, `data` and `label`, and
needs the engine itself for four things only: making placeholder Values (`Value`), telling a
frozen number from a parameter (`Constant`), recording with gradients on (`enable_grad`) and
guarding Value's comparisons while it records (`tracers`).
If the engine moves one of these, this file is the one to change.
"""

from ..engine import Constant, Value, enable_grad
from ..graph import reachable
from ..modes import tracers

__all__ = ["Constant", "Value", "enable_grad", "reachable", "tracers"]
