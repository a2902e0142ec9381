"""The engine's names the tape uses, imported in this one place.

The tape reads a recorded graph through each node's `_prev`, `_op`, `data` and `label`, and
needs the engine itself for three things only: making placeholder Values (`Value`), telling a
frozen number from a parameter (`Constant`) and recording with gradients on (`enable_grad`).
If the engine moves one of these, this file is the one to change.
"""

from ..engine import Constant, Value, enable_grad
from ..graph import reachable

__all__ = ["Constant", "Value", "enable_grad", "reachable"]
