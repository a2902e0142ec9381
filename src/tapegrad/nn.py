"""Neural-net modules on Values: Module, Neuron, Layer and MLP, as in micrograd, plus state dicts.

Initialisation is micrograd's, draw for draw (weights `rng.uniform(-1, 1)` in order, bias 0,
one `random.Random` for the whole network): `MLP(2, [16, 16, 1], seed=1337)` holds the weights
micrograd's `MLP(2, [16, 16, 1])` gets after `random.seed(1337)`, and with neither `seed` nor
`rng` they come from Python's global `random`, as in micrograd. Modules tag what they create
with `tapegrad.scope` ("layers.1.neurons.3"), so pictures can collapse a network.

A neuron's `b + w1*x1 + ... + wn*xn` is one `affine` node by default (*fused*): the numbers of
the lecture's chain of products and sums, added in the same order, at a fraction of the nodes
and time. `fused=False` (on a Neuron, Layer or MLP) builds that chain, to draw or step through.

Sizes are checked against `tapegrad.limits` before a weight is made (at most 1,000 layers,
1,000,000 inputs or neurons a layer, 2,000,000 parameters): a LimitError (a ValueError) names
the number and the limit, and every network that can be built can be saved and loaded.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

from . import limits
from ._helpers import positive_int, some
from .engine import Constant, Value, apply, scope
from .modes import call_in_scopes
from .ops import AFFINE, RELU, SIGMOID, TANH

Inputs = Value | float | Iterable[Value | float]
"""What a module takes: one input (a Value or a number), or a sequence of them."""


class Rng(Protocol):
    """A source of weights: `random.Random`, or the `random` module itself."""

    def uniform(self, a: float, b: float) -> float:
        """A number drawn uniformly from [a, b]."""


class HasParameters(Protocol):
    """Anything with `parameters()`, as a Module: what optimizers and `losses.l2` accept in
    place of a list of Values."""

    def parameters(self) -> list[Value]:
        """The leaf Values to train."""


ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    # The ops applied directly, not through `v.relu()`: a neuron's forward pass calls one
    # per neuron, and the method is one more Python call than the op.
    "relu": partial(apply, RELU),
    "tanh": partial(apply, TANH),
    "sigmoid": partial(apply, SIGMOID),
    "linear": lambda v: v,
}
"""Activation name -> what a neuron applies to its weighted sum."""

_ACT_TITLES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Linear"}


def _check_act(act: str) -> str:
    if act not in ACTIVATIONS:
        allowed = ", ".join(repr(a) for a in ACTIVATIONS)
        raise ValueError(f"unknown activation {act!r}: expected one of {allowed}")
    return act


def _resolve_act(act: str | None, nonlin: bool | None) -> str:
    """The activation from tapegrad's `act=` and micrograd's `nonlin=` (True: ReLU, as
    micrograd's neurons; False: none, "linear"). Both may be given if they agree."""
    if nonlin is None:
        return _check_act("relu" if act is None else act)
    if not isinstance(nonlin, bool):
        raise TypeError(f"nonlin must be True or False (micrograd's keyword), got {nonlin!r}")
    if act is None:
        return "relu" if nonlin else "linear"
    if nonlin != (_check_act(act) != "linear"):
        raise ValueError(
            f"act={act!r} and nonlin={nonlin} disagree: nonlin=False means act='linear', "
            f"nonlin=True any other activation; give one of them"
        )
    return act


def _make_rng(rng: Rng | None, seed: int | None) -> Rng:
    """`rng`, a Random seeded with `seed`, or (neither given) the global `random`, as micrograd."""
    if rng is not None and seed is not None:
        raise ValueError("give either rng= or seed=, not both")
    if rng is not None:
        if not callable(getattr(rng, "uniform", None)):
            raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
        return rng
    if seed is not None:
        return random.Random(seed)
    return random


def _as_inputs(x: Inputs, nin: int, who: Module) -> Sequence[Value | float]:
    """`x` as a sequence of `nin` inputs (one input becomes a list of one), or a ValueError."""
    if not isinstance(x, list | tuple):  # asked first: numbers.Real's check is the slow one
        x = [x] if isinstance(x, Value | float | numbers.Real) else list(x)
    if len(x) != nin:
        raise ValueError(f"{who!r} expects {nin} inputs, got {len(x)}")
    return x


def _as_values(x: Iterable[Value | float]) -> list[Value]:
    """A fused neuron's inputs as Values: numbers become Constants, once per layer."""
    return [v if isinstance(v, Value) else Constant(v) for v in x]


def _fused_suffix(fused: bool) -> str:
    return "" if fused else ", fused=False"


class Module:
    """Base class: finds its parameters in its attributes (Values, Modules and lists of them),
    in the order they were assigned, and names them by attribute path as PyTorch does."""

    def named_parameters(self) -> list[tuple[str, Value]]:
        """(name, parameter) pairs, e.g. ("layers.0.neurons.3.w.1", Value); each Value once."""
        out: list[tuple[str, Value]] = []
        _collect(self, "", out, set())
        return out

    def parameters(self) -> list[Value]:
        """Every parameter, in `named_parameters` order."""
        out: list[Value] = []
        _collect(self, None, out, set())
        return out

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to 0 (gradients accumulate across `backward()` calls)."""
        for p in self.parameters():
            p.grad = 0.0

    def state_dict(self) -> dict[str, float]:
        """The weights as plain floats, name -> value, in parameter order."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, float]) -> None:
        """Set every weight from `state_dict`. All or nothing: the names must be exactly this
        module's and every value a finite real number, checked before any weight changes."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict must be a mapping of name -> number, got {type(state_dict).__name__}"
            )
        named = self.named_parameters()
        names = [n for n, _ in named]
        missing = [n for n in names if n not in state_dict]
        unexpected = []
        if missing or len(state_dict) != len(names):  # else the names are exactly these
            known = set(names)
            unexpected = [k for k in state_dict if k not in known]
        if missing or unexpected:
            parts = [f"expected {len(names)} parameters, got {len(state_dict)}"]
            if missing:
                parts.append(f"missing {some(missing)}")
            if unexpected:
                parts.append(f"unexpected {some(unexpected)}")
            raise ValueError("state_dict does not match the model: " + "; ".join(parts))
        values = []
        for name in names:
            v = state_dict[name]
            if type(v) is not float or not math.isfinite(v):  # the common case stays cheap
                v = _weight(name, v)
            values.append(v)
        for (_, p), v in zip(named, values, strict=True):
            p.data = v

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _weight(name: str, v: object) -> float:
    """`v` as a float weight, or a ValueError naming the parameter (checkpoints load here too)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(
            f"parameter {name!r} is {v!r:.60}, not a finite number (weights are real numbers)"
        )
    try:
        f = float(v)
    except OverflowError:  # an integer too large for a float
        f = math.inf
    if not math.isfinite(f):
        raise ValueError(f"parameter {name!r} is {v!r:.60}, not a finite number")
    return f


# Made once: `isinstance(x, A | B)` builds the union object anew at every call.
_SEQUENCES = (list, tuple)
_HOLDERS = (Value, Module, list, tuple)


def _collect(value: object, name: str | None, out: list, seen: set[int]) -> None:
    """Append `value`'s parameters to `out`, each once: (name, Value) pairs, or with `name`
    None the Values alone, as `parameters()` and `zero_grad()` (once per training step) want:
    making no names and skipping attributes that hold no Value halves an MLP's zero_grad."""
    if isinstance(value, Value):
        if id(value) not in seen:
            seen.add(id(value))
            out.append(value if name is None else (name, value))
    elif isinstance(value, Module):
        if id(value) not in seen:  # a shared (or self-referencing) module is walked once
            seen.add(id(value))
            prefix = None if name is None else f"{name}." if name else ""
            for attr, item in vars(value).items():
                if isinstance(item, _HOLDERS):
                    _collect(item, None if prefix is None else prefix + attr, out, seen)
    elif isinstance(value, _SEQUENCES):
        for i, item in enumerate(value):
            if type(item) is Value:  # a layer's weights, inline: loading 1M weights walks here
                if id(item) not in seen:
                    seen.add(id(item))
                    out.append(item if name is None else (f"{name}.{i}", item))
            elif isinstance(item, _HOLDERS):
                _collect(item, None if name is None else f"{name}.{i}", out, seen)


class Neuron(Module):
    """One neuron: act(w . x + b), weights drawn uniform in [-1, 1], bias 0. `w . x + b` is one
    `affine` node, or with `fused=False` micrograd's chain of products and sums (same numbers)."""

    def __init__(
        self,
        nin: int,
        act: str | None = None,
        *,
        nonlin: bool | None = None,
        rng: Rng | None = None,
        seed: int | None = None,
        fused: bool = True,
    ) -> None:
        nin = limits.check("nin is {}", positive_int("nin", nin), limits.MAX_WIDTH)
        act = _resolve_act(act, nonlin)  # default ReLU; nonlin=False: linear, as micrograd
        self._act = ACTIVATIONS[act]
        r = _make_rng(rng, seed)
        self.w = [Value(r.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.act = act
        self.fused = bool(fused)

    @property
    def nin(self) -> int:
        """How many inputs the neuron reads."""
        return len(self.w)

    @property
    def nonlin(self) -> bool:
        """Whether the neuron applies an activation (micrograd's name)."""
        return self.act != "linear"

    def __call__(self, x: Inputs) -> Value:
        """act(w . x + b) for `nin` inputs (a Value or number, or a sequence of them)."""
        xs = _as_inputs(x, len(self.w), self)
        return self._forward(_as_values(xs) if self.fused else xs)

    def _forward(self, x: Sequence[Any]) -> Value:
        # micrograd's op order (b first, then left to right) either way: the same numbers, bit
        # for bit. Inputs are Values if fused, else Values or numbers (Any: it depends on fused).
        if self.fused:
            return self._act(apply(AFFINE, *self.w, *x, self.b))
        return self._act(sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b))

    def __repr__(self) -> str:
        return f"{_ACT_TITLES[self.act]}Neuron({len(self.w)}{_fused_suffix(self.fused)})"


def _kept_scopes(module: Module, children: str) -> list[scope]:
    """The scopes `children.0`, `children.1`, ... for a module's list attribute `children`,
    made once and kept: entering a kept scope reuses its mode, where a new scope per neuron per
    call cost about 15 % of an eager training step."""
    n = len(getattr(module, children))
    kept = module.__dict__.get("_scopes")
    if kept is None or len(kept) != n:
        kept = module.__dict__["_scopes"] = [scope(f"{children}.{i}") for i in range(n)]
    return kept


class Layer(Module):
    """`nout` neurons reading the same inputs. One output gives a Value, more give a list."""

    def __init__(
        self,
        nin: int,
        nout: int,
        act: str | None = None,
        *,
        nonlin: bool | None = None,
        rng: Rng | None = None,
        seed: int | None = None,
        fused: bool = True,
    ) -> None:
        nin = positive_int("nin", nin)
        nout = positive_int("nout", nout)
        limits.check("nout is {}", nout, limits.MAX_WIDTH)
        limits.check_network(nin, [nout])  # the sizes alone, before a weight is made
        act = _resolve_act(act, nonlin)
        r = _make_rng(rng, seed)
        self.neurons: list[Neuron] = []
        for j in range(nout):
            with scope(f"neurons.{j}"):
                self.neurons.append(Neuron(nin, act, rng=r, fused=fused))
        self.act = act
        self.fused = bool(fused)

    @property
    def nin(self) -> int:
        """How many inputs each neuron reads."""
        return self.neurons[0].nin

    @property
    def nout(self) -> int:
        """How many neurons (outputs) the layer has."""
        return len(self.neurons)

    def forward(self, x: Inputs) -> list[Value]:
        """Every neuron's output, as a list even when there is one."""
        xs = _as_inputs(x, self.neurons[0].nin, self)
        return self._forward(_as_values(xs) if self.fused else xs)

    def _forward(self, x: Sequence[Value | float]) -> list[Value]:
        # `x` is checked: nin items, Values if the neurons are fused (any neuron takes Values).
        return call_in_scopes(_kept_scopes(self, "neurons"), Neuron._forward, self.neurons, x)

    def __call__(self, x: Inputs) -> Value | list[Value]:
        """The neurons' outputs: a Value for one neuron, else a list."""
        out = self.forward(x)
        return out[0] if len(out) == 1 else out

    def __repr__(self) -> str:
        return f"Layer({self.nin}, {self.nout}, act={self.act!r}{_fused_suffix(self.fused)})"


class MLP(Module):
    """A multi-layer perceptron: hidden layers use `act`, the last layer is linear. One output
    gives a Value, more a list; neurons are fused (one node each) unless `fused=False`.
    `MLP(2, [16, 16, 1])` is micrograd's demo model (337 parameters), `MLP(3, [4, 4, 1],
    act="tanh")` the lecture's."""

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        act: str = "relu",
        *,
        rng: Rng | None = None,
        seed: int | None = None,
        fused: bool = True,
    ) -> None:
        nin = positive_int("nin", nin)
        if isinstance(nouts, str) or not isinstance(nouts, list | tuple) or not nouts:
            raise ValueError(f"nouts must be a non-empty list of layer sizes, got {nouts!r}")
        nouts = [positive_int(f"nouts[{i}]", n) for i, n in enumerate(nouts)]
        limits.check_network(nin, nouts)  # the sizes alone, before a weight is made
        _check_act(act)
        r = _make_rng(rng, seed)
        sizes = [nin, *nouts]
        self.layers: list[Layer] = []
        for i in range(len(nouts)):
            layer_act = act if i < len(nouts) - 1 else "linear"
            with scope(f"layers.{i}"):
                self.layers.append(Layer(sizes[i], sizes[i + 1], layer_act, rng=r, fused=fused))
        self.nin = nin
        self.nouts = nouts
        self.act = act
        self.fused = bool(fused)

    def __call__(self, x: Inputs) -> Value | list[Value]:
        """The network's outputs: a Value for one output, else a list."""
        xs = _as_inputs(x, self.nin, self)
        if self.fused:  # numbers become Constants here, outside any layer's scope
            xs = _as_values(xs)
        scopes = _kept_scopes(self, "layers")
        outs: list[Value] = []
        for i, (layer, where) in enumerate(zip(self.layers, scopes, strict=True)):
            with where:
                # After the first layer the inputs are Values from the layer before: only
                # their count is left to check (a layer may have been replaced by another).
                outs = layer._forward(xs) if i and len(xs) == layer.nin else layer.forward(xs)
            xs = outs
        return outs[0] if len(outs) == 1 else outs

    def config(self) -> dict:
        """The architecture as plain JSON-able data; `MLP.from_config` rebuilds it."""
        return {"type": "MLP", "nin": self.nin, "nouts": list(self.nouts), "act": self.act}

    @classmethod
    def from_config(cls, cfg: Mapping, *, rng: Rng | None = None, seed: int | None = None) -> MLP:
        """A fresh MLP with the architecture `cfg` describes (weights initialised anew)."""
        if not isinstance(cfg, Mapping):
            raise ValueError(f"architecture must be a mapping, got {type(cfg).__name__}")
        expected = {"type", "nin", "nouts", "act"}
        if set(cfg) != expected:
            missing = sorted(expected - set(cfg))
            extra = sorted(set(cfg) - expected, key=str)
            raise ValueError(
                f"architecture must have keys {sorted(expected)}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {extra}" if extra else "")
            )
        if cfg["type"] != "MLP":
            raise ValueError(f"architecture type must be 'MLP', got {cfg['type']!r}")
        return cls(cfg["nin"], cfg["nouts"], cfg["act"], rng=rng, seed=seed)

    def __repr__(self) -> str:
        return f"MLP({self.nin}, {self.nouts}, act={self.act!r}{_fused_suffix(self.fused)})"


__all__ = ["ACTIVATIONS", "MLP", "HasParameters", "Layer", "Module", "Neuron", "Rng"]
