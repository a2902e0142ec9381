"""Optimizers (SGD with momentum, Adam) and learning-rate schedules, with PyTorch's update rules.

`SGD` and `Adam` follow `torch.optim` formula for formula (weight decay added to the gradient,
torch's momentum buffer, Adam's bias correction), so a run matches PyTorch step for step. Each
rule is written once, `update(w, g)` on arrays in parameter order: `step()` runs it on the
Values, compiled training on weights kept in an array. The learning rate is a number or a
schedule: a callable from the step index k (0 for the first `step()`) to that step's rate.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from ._helpers import positive_int
from .engine import Value
from .nn import HasParameters

Schedule = Callable[[int], float]


def _check_number(name: str, x: object, *, low: float = 0.0, below: float | None = None) -> float:
    """`x` as a float if it is a finite real number in [low, below); else a ValueError."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite real number, got {x!r}")
    value = float(x)
    if value < low or (below is not None and value >= below):
        bound = f"in [{low}, {below})" if below is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {x!r}")
    return value


class constant:
    """The same rate at every step."""

    def __init__(self, lr: float) -> None:
        self.lr = _check_number("lr", lr)

    def __call__(self, k: int) -> float:
        """`lr`, whatever the step."""
        return self.lr

    def __repr__(self) -> str:
        return f"constant({self.lr!r})"


class _FromTo:
    """A schedule from `start` to `end` over `steps` steps, then `end`."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start = _check_number("start", start)
        self.end = _check_number("end", end)
        self.steps = positive_int("steps", steps)

    def __call__(self, k: int) -> float:
        return self.end if k >= self.steps else self.at(k)

    def at(self, k: int) -> float:
        """The rate at step k < steps."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.start!r}, {self.end!r}, {self.steps})"


class linear(_FromTo):
    """From `start` to `end` in a straight line over `steps` steps, then `end`:
    lr(k) = start + (end - start) * k / steps. micrograd's demo (lr = 1.0 - 0.9*k/100) is
    `linear(1.0, 0.1, 100)`, to the bit."""

    def at(self, k: int) -> float:
        """start + (end - start) * k / steps."""
        return self.start + (self.end - self.start) * k / self.steps


class cosine(_FromTo):
    """Cosine annealing from `start` to `end` over `steps` steps, then `end` (the closed form of
    torch's CosineAnnealingLR): end + (start - end) * (1 + cos(pi * k / steps)) / 2."""

    def at(self, k: int) -> float:
        """end + (start - end) * (1 + cos(pi * k / steps)) / 2."""
        return self.end + (self.start - self.end) * (1 + math.cos(math.pi * k / self.steps)) / 2


class step_decay:
    """`start`, multiplied by `gamma` every `step_size` steps (torch's StepLR):
    start * gamma ** (k // step_size)."""

    def __init__(self, start: float, step_size: int, gamma: float = 0.1) -> None:
        self.start = _check_number("start", start)
        self.step_size = positive_int("step_size", step_size)
        self.gamma = _check_number("gamma", gamma)

    def __call__(self, k: int) -> float:
        """start * gamma ** (k // step_size)."""
        return self.start * self.gamma ** (k // self.step_size)

    def __repr__(self) -> str:
        return f"step_decay({self.start!r}, {self.step_size}, gamma={self.gamma!r})"


def _check_params(params: Iterable[Value] | HasParameters) -> list[Value]:
    """A module's parameters (or the Values given) as a list: non-empty, Values, each once."""
    found = list(params.parameters() if hasattr(params, "parameters") else params)
    if not found:
        raise ValueError("optimizer got an empty parameter list")
    seen: dict[int, int] = {}
    for i, p in enumerate(found):
        if not isinstance(p, Value):
            raise TypeError(f"parameter {i} must be a Value, got {type(p).__name__}")
        if id(p) in seen:
            raise ValueError(f"parameter {i} is the same Value as parameter {seen[id(p)]}")
        seen[id(p)] = i
    return found


_DATA = operator.attrgetter("data")


def _grad(p: Value) -> float:
    g = p.grad
    return g if type(g) is float else float(g)  # a Value after backward(create_graph=True)


class Optimizer:
    """What SGD and Adam share: the parameters, the rate (number or schedule), the step count."""

    def __init__(self, params: Iterable[Value] | HasParameters, lr: float | Schedule) -> None:
        self.params = _check_params(params)
        self.lr: float | Schedule = lr if callable(lr) else _check_number("lr", lr)
        self.step_count = 0  # steps taken; the next step() uses lr(step_count)
        self._asked: tuple | None = None  # (schedule, step, its rate): asked once a step

    def current_lr(self) -> float:
        """The rate the next `step()` will use. A schedule is asked once per step, so the rate
        `fit` records is the one the step then uses."""
        if not callable(self.lr):
            return self.lr
        asked = getattr(self, "_asked", None)  # a subclass may not run __init__
        if asked is not None and asked[0] is self.lr and asked[1] == self.step_count:
            return asked[2]
        lr = self.lr(self.step_count)
        if type(lr) is not float or not lr >= 0:  # the usual float skips the slower ABC check
            if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr >= 0:
                raise ValueError(f"schedule {self.lr!r} gave lr {lr!r} at step {self.step_count}")
            lr = float(lr)
        self._asked = (self.lr, self.step_count, lr)
        return lr

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to 0."""
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        """Update every parameter's `.data` from its `.grad`."""
        n = len(self.params)
        w = np.fromiter(map(_DATA, self.params), np.float64, count=n)
        self.update(w, np.fromiter(map(_grad, self.params), np.float64, count=n))
        for p, v in zip(self.params, w.tolist(), strict=True):
            p.data = v

    def update(self, w: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> None:
        """One step on arrays in parameter order: `w` (the weights) is updated in place from
        `g` (their gradients), or with `out` the new weights are written there and `w` kept
        (the same numbers: the last operation writes to `out`, not to `w`). The optimizer's
        rule lives here, once."""
        raise NotImplementedError

    _buffers: tuple[str, ...] = ()  # state for resuming, in parameter order
    _nullable: tuple[str, ...] = ()  # buffers that are None until the first step

    def state_dict(self) -> dict:
        """The running state (step count and buffers) as plain JSON-able data; hyperparameters
        come from the constructor."""
        sd: dict = {"type": type(self).__name__, "step": self.step_count}
        for name in self._buffers:
            buf = getattr(self, name)
            sd[name] = None if buf is None else [float(x) for x in buf]
        return sd

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore what `state_dict()` gave. All or nothing: everything is checked (type, step,
        buffer lengths, finite numbers) before any state changes."""
        kind = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"{kind} state must be a mapping, got {type(state_dict).__name__}")
        expected = {"type", "step", *self._buffers}
        if set(state_dict) != expected:
            raise ValueError(
                f"{kind} state must have keys {sorted(expected)}, got {sorted(state_dict, key=str)}"
            )
        if state_dict["type"] != kind:
            raise ValueError(f"state is for {state_dict['type']!r}, not {kind!r}")
        step = state_dict["step"]
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"{kind} state 'step' must be a non-negative integer, got {step!r}")
        buffers: dict[str, list[float] | None] = {}
        for name in self._buffers:
            buf = state_dict[name]
            if buf is None and name in self._nullable:
                buffers[name] = None
                continue
            if not isinstance(buf, list | tuple) or len(buf) != len(self.params):
                n = len(buf) if isinstance(buf, list | tuple) else type(buf).__name__
                raise ValueError(
                    f"{kind} state {name!r} must be a list of {len(self.params)} numbers "
                    f"(one per parameter), got {n}"
                )
            buffers[name] = [
                _check_number(f"{kind} state {name}[{i}]", v, low=-math.inf)
                for i, v in enumerate(buf)
            ]
        self.step_count = int(step)
        for name, buf in buffers.items():
            setattr(self, name, None if buf is None else np.array(buf, dtype=np.float64))


class SGD(Optimizer):
    """Stochastic gradient descent as torch.optim.SGD (dampening 0):
    g += weight_decay * p; buf = momentum * buf + g (buf = g on the first step);
    g = g + momentum * buf if nesterov else buf; p -= lr * g."""

    _buffers = ("momentum_buffer",)
    _nullable = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Value] | HasParameters,
        lr: float | Schedule,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _check_number("momentum", momentum)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.momentum_buffer: np.ndarray | None = None

    def update(self, w: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> None:
        """One SGD step on `w` in place, or into `out` (see the class docstring for the rule)."""
        lr, mu, wd = self.current_lr(), self.momentum, self.weight_decay
        if wd != 0.0:
            g = g + wd * w
        if mu != 0.0:
            buf = self.momentum_buffer
            buf = g.copy() if buf is None else buf * mu + g
            self.momentum_buffer = buf
            g = g + mu * buf if self.nesterov else buf
        np.subtract(w, lr * g, out=w if out is None else out)
        self.step_count += 1

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.lr!r}, momentum={self.momentum}, weight_decay={self.weight_decay}, "
            f"nesterov={self.nesterov})"
        )


def _lerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    # torch's lerp kernel, branch for branch (the weight is one number for all elements)
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1.0 - w)


class Adam(Optimizer):
    """Adam as torch.optim.Adam (amsgrad off, L2 weight decay added to the gradient):
    m = lerp(m, g, 1 - b1); v = b2 * v + (1 - b2) * g * g;
    p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)."""

    _buffers = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Value] | HasParameters,
        lr: float | Schedule = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, list | tuple) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = tuple(_check_number(f"betas[{i}]", b, below=1.0) for i, b in enumerate(betas))
        self.eps = _check_number("eps", eps)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.exp_avg = np.zeros(len(self.params))
        self.exp_avg_sq = np.zeros(len(self.params))

    def update(self, w: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> None:
        """One Adam step on `w` in place, or into `out` (see the class docstring for the rule)."""
        lr, wd, eps = self.current_lr(), self.weight_decay, self.eps
        b1, b2 = self.betas
        t = self.step_count + 1
        step_size = lr / (1 - b1**t)
        bc2_sqrt = math.sqrt(1 - b2**t)
        if wd != 0.0:
            g = g + wd * w
        self.exp_avg = m = _lerp(self.exp_avg, g, 1 - b1)
        self.exp_avg_sq = v = self.exp_avg_sq * b2 + (1 - b2) * g * g
        np.add(w, -step_size * m / (np.sqrt(v) / bc2_sqrt + eps), out=w if out is None else out)
        self.step_count = t

    def __repr__(self) -> str:
        return (
            f"Adam(lr={self.lr!r}, betas={self.betas}, eps={self.eps}, "
            f"weight_decay={self.weight_decay})"
        )


__all__ = [
    "SGD",
    "Adam",
    "Optimizer",
    "Schedule",
    "constant",
    "cosine",
    "linear",
    "step_decay",
]
