"""interop: to_torch gives a float64 Sequential whose outputs and gradients match eager tapegrad."""

import random
import sys

import pytest

import tapegrad
from tapegrad.interop import to_torch
from tapegrad.nn import MLP


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("nouts", [[5, 4, 3], [16, 16, 1]])
def test_outputs_match_eager(act, nouts, torch):
    model = MLP(3, nouts, act=act, seed=4)
    for p in model.parameters():  # nonzero biases, so they are exercised
        if p.data == 0.0:
            p.data = 0.37
    net = to_torch(model)
    rng = random.Random(8)
    xs = [[rng.uniform(-3, 3) for _ in range(3)] for _ in range(16)]
    with torch.no_grad():
        got = net(torch.tensor(xs, dtype=torch.float64))
    assert got.shape == (16, nouts[-1]) and got.dtype == torch.float64
    for x, row in zip(xs, got.tolist(), strict=True):
        out = model(x)
        expected = [out.data] if nouts[-1] == 1 else [o.data for o in out]
        assert row == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_structure_and_weights(torch):
    model = MLP(2, [3, 2], act="tanh", seed=0)
    net = to_torch(model)
    kinds = [type(m) for m in net]
    assert kinds == [torch.nn.Linear, torch.nn.Tanh, torch.nn.Linear]
    assert net[0].weight.tolist() == [[w.data for w in n.w] for n in model.layers[0].neurons]
    assert net[2].bias.tolist() == [n.b.data for n in model.layers[1].neurons]
    # a copy: changing tapegrad's weights later leaves the torch model alone
    model.layers[0].neurons[0].w[0].data = 123.0
    assert net[0].weight[0, 0].item() != 123.0


def test_gradients_match_eager(torch):
    model = MLP(2, [4, 1], act="sigmoid", seed=2)
    net = to_torch(model)
    x = [0.3, -1.7]
    model(x).backward()
    net(torch.tensor([x], dtype=torch.float64)).sum().backward()
    expected = []
    for linear in (net[0], net[2]):
        for j in range(linear.out_features):
            expected += linear.weight.grad[j].tolist() + [linear.bias.grad[j].item()]
    assert [p.grad for p in model.parameters()] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_top_level_name():
    assert tapegrad.to_torch is to_torch


def test_without_torch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'tapegrad\[torch\]'"):
        to_torch(MLP(2, [1], seed=0))


def test_rejects_non_mlp():
    with pytest.raises(TypeError, match="MLP"):
        to_torch(object())
