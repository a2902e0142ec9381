"""nn: micrograd-identical initialisation and forward, parameters and names, scopes, state dicts,
and gradients of every activation against PyTorch float64."""

import math
import random

import pytest

import tapegrad
from tapegrad import Value
from tapegrad.nn import MLP, Layer, Module, Neuron

# The lecture's toy set.
XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def test_seed_gives_micrograds_weights_and_outputs(micrograd):
    MValue = micrograd.engine.Value
    MMLP = micrograd.nn.MLP

    random.seed(1337)
    theirs = MMLP(2, [16, 16, 1])
    ours = MLP(2, [16, 16, 1], seed=1337)
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
    rng = random.Random(7)
    for _ in range(5):
        x = [rng.uniform(-2, 2), rng.uniform(-2, 2)]
        out, ref = ours(x), theirs([MValue(v) for v in x])
        assert out.data == ref.data
        out.backward()
        ref.backward()
        # micrograd sums a node's incoming gradients in set order, so only the last bit may differ
        expected = [p.grad for p in theirs.parameters()]
        assert [p.grad for p in ours.parameters()] == pytest.approx(expected, rel=1e-12, abs=1e-15)
        ours.zero_grad()
        theirs.zero_grad()


def test_without_seed_draws_from_global_random_like_micrograd(micrograd):
    MMLP = micrograd.nn.MLP

    random.seed(42)
    theirs = MMLP(3, [4, 4, 1])
    random.seed(42)
    ours = MLP(3, [4, 4, 1])
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]


def test_rng_and_seed_agree_and_are_exclusive():
    a = MLP(3, [4, 1], rng=random.Random(5))
    b = MLP(3, [4, 1], seed=5)
    assert a.state_dict() == b.state_dict()
    assert MLP(3, [4, 1], seed=6).state_dict() != b.state_dict()
    with pytest.raises(ValueError, match="not both"):
        MLP(3, [4, 1], rng=random.Random(5), seed=5)


def test_initialisation_scheme():
    m = MLP(3, [8, 1], seed=0)
    for name, p in m.named_parameters():
        if name.endswith(".b"):
            assert p.data == 0.0
        else:
            assert -1.0 <= p.data <= 1.0


def test_parameter_counts():
    assert len(MLP(2, [16, 16, 1]).parameters()) == 337
    # 3 inputs -> 4 -> 4 -> 1: 4*(3+1) + 4*(4+1) + 1*(4+1)
    assert len(MLP(3, [4, 4, 1], act="tanh").parameters()) == 41
    assert len(Layer(3, 2).parameters()) == 8
    assert len(Neuron(5).parameters()) == 6


def test_named_parameters_follow_module_paths():
    m = MLP(2, [3, 1], seed=0)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == [
        "layers.0.neurons.0.w.0",
        "layers.0.neurons.0.w.1",
        "layers.0.neurons.0.b",
        "layers.0.neurons.1.w.0",
    ]
    assert names[-1] == "layers.1.neurons.0.b"
    assert "layers.1.neurons.0.w.2" in names
    assert [p for _, p in m.named_parameters()] == m.parameters()
    assert list(m.state_dict()) == names


def test_user_module_finds_nested_and_shared_parameters_once():
    class Net(Module):
        def __init__(self):
            self.scale = Value(2.0)
            self.body = MLP(2, [2, 1], seed=0)
            self.again = self.scale  # shared: listed once, under its first name

        def __call__(self, x):
            return self.scale * self.body(x)

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names[0] == "scale" and names[1] == "body.layers.0.neurons.0.w.0"
    assert len(names) == 1 + 9
    net(x=[1.0, 2.0]).backward()
    assert net.scale.grad != 0.0


def test_parameters_and_zero_grad_walk_what_named_parameters_walks():
    # parameters() and zero_grad() walk without making names (they run every step): the same
    # Values, in the same order, each once, wherever a module keeps them.
    shared = Value(0.5)

    class Net(Module):
        def __init__(self):
            self.body = MLP(2, [2, 1], seed=0)
            self.pair = (Value(1.0), [Value(2.0), shared])  # a tuple holding a nested list
            self.shared = shared  # listed once, under its first name
            self.same_body = self.body  # a shared module is walked once
            self.note, self.fn = "text", len  # attributes that hold no Value

    net = Net()
    named = net.named_parameters()
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in named]
    assert [n for n, _ in named][-3:] == ["pair.0", "pair.1.0", "pair.1.1"]
    assert len(named) == 9 + 3
    for _, p in named:
        p.grad = 3.0
    net.zero_grad()
    assert all(p.grad == 0.0 for _, p in named)


def test_scopes_tag_parameters_and_forward_nodes():
    m = MLP(2, [3, 2, 1], seed=0)
    for name, p in m.named_parameters():
        assert p._scope == ".".join(name.split(".")[:4])  # "layers.I.neurons.J"
    out = m([0.5, -0.5])
    assert out._scope == "layers.2.neurons.0"
    hidden = out._prev[0]  # the sum's left side, inside the same neuron
    assert hidden._scope == "layers.2.neurons.0"
    scopes = {getattr(n, "_scope", None) for n in tapegrad.trace(out)[0]}
    assert "layers.0.neurons.2" in scopes and "layers.1.neurons.1" in scopes
    assert tapegrad.engine.current_scope() is None  # nothing leaks out of a call


def test_neuron_op_order_is_micrograds():
    # The explicit graph is built with fused=False (a fused neuron is one node: tests below).
    n = Neuron(2, act="linear", seed=1, fused=False)
    out = n([3.0, 4.0])
    # sum(..., b) = (b + w0*x0) + w1*x1
    assert out._op == "+"
    left, right = out._prev
    assert right._op == "*" and right._prev[0] is n.w[1]
    assert left._op == "+" and left._prev[0] is n.b


def test_fused_neuron_is_one_affine_node_reading_weights_inputs_and_bias():
    n = Neuron(3, act="linear", seed=1)
    x = [Value(3.0), 4.0, Value(-1.0)]
    out = n(x)
    assert out._op == "affine" and len(out._prev) == 7
    assert out._prev[:3] == tuple(n.w) and out._prev[3] is x[0] and out._prev[5] is x[2]
    assert type(out._prev[4]) is tapegrad.Constant and out._prev[4].data == 4.0
    assert out._prev[6] is n.b
    # micrograd's sum((wi*xi for ...), b): b first, then left to right
    expected = ((n.b.data + n.w[0].data * 3.0) + n.w[1].data * 4.0) + n.w[2].data * -1.0
    assert out.data == expected


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "linear"])
def test_fused_and_explicit_give_the_same_numbers(act):
    fused = MLP(3, [4, 4, 2], act=act, seed=3)
    explicit = MLP(3, [4, 4, 2], act=act, seed=3, fused=False)
    assert fused.state_dict() == explicit.state_dict()  # same names, order and weights
    for x in XS:
        a, b = fused(x), explicit(x)
        assert [v.data for v in a] == [v.data for v in b]  # same additions, same order
        (a[0] * a[1]).backward()
        (b[0] * b[1]).backward()
    # a gradient gathered along another route may differ in its last bits
    np_fused = [p.grad for p in fused.parameters()]
    assert np_fused == pytest.approx([p.grad for p in explicit.parameters()], rel=1e-12, abs=1e-15)


def test_fused_graph_is_smaller_and_explicit_graph_is_the_lectures():
    x = [2.0, 3.0, -1.0]
    fused = tapegrad.graph.stats(MLP(3, [4, 4, 1], act="tanh", seed=1)(x))
    explicit = tapegrad.graph.stats(MLP(3, [4, 4, 1], act="tanh", seed=1, fused=False)(x))
    assert fused.ops == {"affine": 9, "tanh": 8}
    assert explicit.ops == {"*": 3 * 4 + 4 * 4 + 4, "+": 3 * 4 + 4 * 4 + 4, "tanh": 8}


def test_fused_flag_passes_down_and_shows_in_repr():
    m = MLP(2, [3, 1], fused=False)
    assert not m.fused and all(not n.fused for layer in m.layers for n in layer.neurons)
    assert repr(m) == "MLP(2, [3, 1], act='relu', fused=False)"
    assert repr(m.layers[0]) == "Layer(2, 3, act='relu', fused=False)"
    assert repr(m.layers[0].neurons[0]) == "ReLUNeuron(2, fused=False)"
    assert repr(MLP(2, [3, 1])) == "MLP(2, [3, 1], act='relu')"  # the default says nothing
    assert MLP(2, [3, 1]).layers[1].neurons[0].fused


def test_fused_neuron_rejects_what_the_explicit_one_rejects():
    with pytest.raises(TypeError, match="real number"):
        Neuron(2)(["a", 1.0])
    with pytest.raises(ValueError, match="expects 2 inputs"):
        Layer(2, 3)([1.0])


@pytest.mark.parametrize(
    "act,fn",
    [
        ("relu", lambda z: max(z, 0.0)),
        ("tanh", math.tanh),
        ("sigmoid", lambda z: 1.0 / (1.0 + math.exp(-z))),
        ("linear", lambda z: z),
    ],
)
def test_neuron_activation_closed_form(act, fn):
    n = Neuron(3, act=act, seed=3)
    n.b.data = 0.25
    for x in ([0.1, -0.7, 2.0], [-3.0, 1.0, 0.5]):
        z = 0.25 + sum(w.data * xi for w, xi in zip(n.w, x, strict=True))
        assert n(x).data == pytest.approx(fn(z), rel=1e-15, abs=1e-15)


def test_last_layer_is_linear_hidden_use_act():
    m = MLP(2, [4, 3, 2], act="sigmoid", seed=0)
    assert [layer.act for layer in m.layers] == ["sigmoid", "sigmoid", "linear"]
    assert [n.act for n in m.layers[-1].neurons] == ["linear", "linear"]


def test_unknown_activation_lists_allowed():
    for make in (lambda: Neuron(2, act="gelu"), lambda: MLP(2, [1], act="gelu")):
        with pytest.raises(ValueError, match="'relu', 'tanh', 'sigmoid', 'linear'"):
            make()


def test_input_length_mismatch_names_expected_and_actual():
    m = MLP(3, [4, 1], seed=0)
    with pytest.raises(ValueError, match="expects 3 inputs, got 2"):
        m([1.0, 2.0])
    with pytest.raises(ValueError, match="expects 3 inputs, got 4"):
        m.layers[0]([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="expects 3 inputs, got 1"):
        Neuron(3)([1.0])


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_sizes_rejected(bad):
    with pytest.raises(ValueError, match="positive integer"):
        MLP(bad, [2])
    with pytest.raises(ValueError, match=r"nouts\[1\]"):
        MLP(2, [2, bad])


class NoDraws:
    """A weight source that fails the test if a single weight is drawn."""

    def uniform(self, a, b):
        raise AssertionError("a weight was made for a network over the limits")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda r: MLP(10**30, [1], rng=r), r"nin is 1,000,000,000,000,.*, more than the limit "
         r"1,000,000"),
        (lambda r: MLP(2, [700_000, 2], rng=r), "3,500,002 parameters, more than the limit"),
        (lambda r: MLP(2, [10**10], rng=r), r"layer 1 \(nouts\[0\]\) has 10,000,000,000 neurons"),
        (lambda r: MLP(1, [1] * 1001, rng=r), "1,001 layers, more than the limit 1,000"),
        (lambda r: Layer(3, 10**7, rng=r), "nout is 10,000,000, more than the limit 1,000,000"),
        (lambda r: Layer(2000, 1000, rng=r), "2,001,000 parameters, more than the limit"),
        (lambda r: Neuron(10**7, rng=r), "nin is 10,000,000, more than the limit 1,000,000"),
    ],
)  # fmt: skip
def test_sizes_over_the_limits_are_refused_before_a_weight_is_made(make, message):
    # issue 19: nn.MLP(10**30, [1]) allocated until the machine's memory was gone
    with pytest.raises(tapegrad.limits.LimitError, match=message):
        make(NoDraws())


def test_the_limits_boundaries_build():
    from tapegrad import limits

    assert len(MLP(1, [1] * limits.MAX_LAYERS, seed=0).layers) == 1_000
    # MLP(3, [333333, 2]) holds exactly MAX_PARAMETERS weights: the count alone is checked
    assert limits.check_network(3, [333_333, 2]) == limits.MAX_PARAMETERS
    with pytest.raises(limits.LimitError, match="2,000,001 parameters"):
        limits.check_network(2, [666_667])  # 3 * 666,667
    with pytest.raises(limits.LimitError, match="nin is 1,000,001"):
        limits.check_network(limits.MAX_WIDTH + 1, [1])
    assert limits.check_network(limits.MAX_WIDTH, [1]) == 1_000_001


def test_empty_nouts_rejected():
    with pytest.raises(ValueError, match="nouts"):
        MLP(2, [])


def test_outputs_value_for_one_list_for_many():
    assert isinstance(Layer(2, 1, seed=0)([1.0, 2.0]), Value)
    out = Layer(2, 3, seed=0)([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3
    assert isinstance(MLP(2, [3, 1], seed=0)([1.0, 2.0]), Value)
    assert len(MLP(2, [3, 2], seed=0)([1.0, 2.0])) == 2
    # a one-neuron hidden layer feeds the next layer (micrograd's MLP crashes here)
    assert isinstance(MLP(2, [1, 1], seed=0)([1.0, 2.0]), Value)
    assert isinstance(MLP(1, [2, 1], seed=0)(0.5), Value)


def _torch_forward(torch, model: MLP, x, act):
    h = torch.tensor(x, dtype=torch.float64)
    params = []
    for i, layer in enumerate(model.layers):
        w = torch.tensor(
            [[p.data for p in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True
        )
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        params += [w, b]
        h = w @ h + b
        if i < len(model.layers) - 1:
            h = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}.get(
                act, lambda t: t
            )(h)
    return h, params


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "linear"])
def test_forward_and_gradients_match_torch(act, torch):
    model = MLP(3, [5, 4, 2], act=act, seed=11)
    rng = random.Random(3)
    for _ in range(3):
        x = [rng.uniform(-2, 2) for _ in range(3)]
        out = model(x)
        loss = out[0] * 0.7 + out[1] * -1.3
        loss.backward()
        h, params = _torch_forward(torch, model, x, act)
        ref = h[0] * 0.7 + h[1] * -1.3
        ref.backward()
        assert loss.data == pytest.approx(ref.item(), rel=1e-12, abs=1e-12)
        expected = []
        for w, b in zip(params[::2], params[1::2], strict=True):
            for j in range(w.shape[0]):
                expected += w.grad[j].tolist() + [b.grad[j].item()]
        got = [p.grad for p in model.parameters()]
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
        model.zero_grad()
        assert all(p.grad == 0.0 for p in model.parameters())


def test_lecture_tanh_mlp_fits_toy_set():
    model = MLP(3, [4, 4, 1], act="tanh", seed=0)
    for _ in range(300):
        loss = sum((model(x) - y) ** 2 for x, y in zip(XS, YS, strict=True))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data += -0.05 * p.grad
    loss = sum((model(x) - y) ** 2 for x, y in zip(XS, YS, strict=True))
    assert loss.data < 0.01
    assert [math.copysign(1.0, model(x).data) for x in XS] == YS


def test_state_dict_round_trip_is_exact():
    a = MLP(3, [4, 4, 1], act="tanh", seed=1)
    b = MLP(3, [4, 4, 1], act="tanh", seed=2)
    a.layers[0].neurons[0].b.data = 0.1 + 0.2  # a value with a long repr
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    x = [0.3, -0.2, 1.5]
    assert b(x).data == a(x).data


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda sd: sd.pop("layers.1.neurons.0.b"), r"missing 'layers.1.neurons.0.b'"),
        (lambda sd: sd.__setitem__("layers.9.neurons.0.b", 1.0), r"unexpected 'layers.9"),
        (lambda sd: sd.__setitem__("layers.0.neurons.1.w.0", math.nan), r"w.0.*finite"),
        (lambda sd: sd.__setitem__("layers.0.neurons.1.w.0", math.inf), r"w.0.*finite"),
        (lambda sd: sd.__setitem__("layers.1.neurons.0.b", "0.5"), r"neurons.0.b.*real number"),
        (lambda sd: sd.__setitem__("layers.1.neurons.0.b", True), r"neurons.0.b.*real number"),
        (lambda sd: sd.__setitem__("layers.1.neurons.0.b", None), r"neurons.0.b.*real number"),
    ],
)
def test_load_state_dict_rejects_bad_input_and_leaves_model_unchanged(mutate, message):
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    sd = {k: v + 1.0 for k, v in before.items()}  # every value different, so a partial load shows
    mutate(sd)
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(sd)
    assert model.state_dict() == before


def test_load_state_dict_counts_in_message_and_type_check():
    model = MLP(2, [3, 1], seed=0)
    with pytest.raises(ValueError, match="expected 13 parameters, got 0"):
        model.load_state_dict({})
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([0.0] * 13)


def test_config_round_trip_and_attributes():
    m = MLP(3, [4, 4, 1], act="tanh", seed=0)
    assert (m.nin, m.nouts, m.act) == (3, [4, 4, 1], "tanh")
    cfg = m.config()
    assert cfg == {"type": "MLP", "nin": 3, "nouts": [4, 4, 1], "act": "tanh"}
    rebuilt = MLP.from_config(cfg, seed=0)
    assert rebuilt.config() == cfg and rebuilt.state_dict() == m.state_dict()


@pytest.mark.parametrize(
    "cfg,message",
    [
        ({"type": "MLP", "nin": 2, "nouts": [1]}, "missing.*act"),
        ({"type": "MLP", "nin": 2, "nouts": [1], "act": "relu", "x": 1}, "unexpected.*x"),
        ({"type": "CNN", "nin": 2, "nouts": [1], "act": "relu"}, "'CNN'"),
        ({"type": "MLP", "nin": 2.0, "nouts": [1], "act": "relu"}, "nin"),
        ({"type": "MLP", "nin": 2, "nouts": "16,1", "act": "relu"}, "nouts"),
        ({"type": "MLP", "nin": 2, "nouts": [1], "act": "swish"}, "swish"),
        ([2, [1], "relu"], "mapping"),
    ],
)
def test_from_config_rejects_bad_architecture(cfg, message):
    with pytest.raises(ValueError, match=message):
        MLP.from_config(cfg)


def test_reprs():
    assert repr(MLP(2, [16, 16, 1])) == "MLP(2, [16, 16, 1], act='relu')"
    assert repr(Layer(3, 4, act="tanh")) == "Layer(3, 4, act='tanh')"
    assert repr(Neuron(3)) == "ReLUNeuron(3)"
    assert repr(Neuron(2, act="linear")) == "LinearNeuron(2)"


def test_training_modules_import_no_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys, tapegrad.nn, tapegrad.losses, tapegrad.checkpoint, tapegrad.interop; "
        "print([m for m in ('numpy', 'torch', 'matplotlib', 'graphviz') if m in sys.modules]); "
        "import tapegrad.optim; "  # its update rules run on NumPy arrays, and nothing heavier
        "print([m for m in ('torch', 'matplotlib', 'graphviz') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "[]"]


def test_kept_scopes_follow_the_mode_they_are_entered_in():
    """A module reuses its scope objects across calls; each call must still see the mode in
    force outside it (no_grad, an outer scope, another thread), not the last call's."""
    import threading

    model = MLP(2, [3, 1], seed=0)
    first = model([1.0, 2.0])
    assert first._prev and first._scope == "layers.1.neurons.0"
    with tapegrad.no_grad():
        assert model([1.0, 2.0])._prev == ()  # recorded nothing, though the scopes are kept
    with tapegrad.scope("outer"):
        assert model([1.0, 2.0])._scope == "outer.layers.1.neurons.0"
    assert model([1.0, 2.0])._scope == "layers.1.neurons.0"
    seen = {}

    def run(name):
        with tapegrad.scope(name):
            for _ in range(200):
                out = model([0.5, -0.5])
                if out._scope != f"{name}.layers.1.neurons.0":
                    seen[name] = out._scope
                    return

    threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen == {}


def test_an_mlp_whose_layer_was_swapped_for_another_size_says_so():
    """The MLP checks only the count of the Values passed between layers: a layer replaced by
    one of another size must still be a clear error, not a silently wrong affine split."""
    model = MLP(2, [3, 1], seed=0)
    model.layers[1] = Layer(4, 1, act="linear", seed=0)
    with pytest.raises(ValueError, match="expects 4 inputs, got 3"):
        model([1.0, 2.0])
    model.layers[1] = Layer(3, 2, act="linear", seed=0, fused=False)  # any kind of layer
    assert len(model([1.0, 2.0])) == 2


def test_a_layer_tags_each_neuron_and_restores_the_mode_even_when_a_neuron_fails():
    """A layer switches scope per neuron without a `with` block each: every neuron's nodes
    carry its own path, and the mode outside is back afterwards, also after an error."""
    from tapegrad.modes import current_scope

    layer = Layer(2, 3, seed=0)
    with tapegrad.scope("net"):
        outs = layer([1.0, 2.0])
        assert current_scope() == "net"
    assert [o._scope for o in outs] == [f"net.neurons.{j}" for j in range(3)]
    assert [o._prev[0]._scope for o in outs] == [f"net.neurons.{j}" for j in range(3)]
    layer.neurons[1].w[0] = "not a weight"  # neuron 0 runs in its scope, then neuron 1 fails
    with tapegrad.scope("net"):
        with pytest.raises(AttributeError):
            layer([1.0, 2.0])
        assert current_scope() == "net"
    assert current_scope() is None
    with tapegrad.no_grad():
        assert layer.neurons[0]([1.0, 2.0])._prev == ()


# --- micrograd's keywords and habits ---------------------------------------------------------


def test_nonlin_is_micrograds_keyword():
    relu, linear = Neuron(3, nonlin=True, seed=0), Neuron(3, nonlin=False, seed=0)
    assert (relu.act, linear.act, relu.nonlin, linear.nonlin) == ("relu", "linear", True, False)
    x = [1.0, -2.0, 0.5]
    raw = sum((w.data * xi for w, xi in zip(linear.w, x, strict=True)), linear.b.data)
    assert linear(x).data == raw and relu(x).data == max(raw, 0.0)
    layer = Layer(3, 2, nonlin=False, seed=0)
    assert all(n.act == "linear" for n in layer.neurons)
    assert Layer(3, 2, act="tanh", nonlin=True).act == "tanh"  # both given, and they agree
    assert Neuron(3, "linear", nonlin=False).act == "linear"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Neuron(3, act="tanh", nonlin=False), "act='tanh' and nonlin=False disagree"),
        (lambda: Layer(3, 2, act="linear", nonlin=True), "act='linear' and nonlin=True disagree"),
        (lambda: Neuron(3, nonlin="yes"), "nonlin must be True or False"),
    ],
)
def test_nonlin_and_act_that_disagree_are_a_clear_error(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make()


def test_micrograds_hand_written_training_loop_matches_micrograd(micrograd):
    # demo.ipynb's cells with tapegrad's classes: the model is built by micrograd's own
    # signatures, trained by hand, and must match micrograd 0.1.0 step for step.

    def run(V, make_mlp):
        random.seed(1337)
        model = make_mlp(2, [16, 16, 1])
        rows = [[0.5, -1.0], [-0.3, 0.8], [1.2, 0.1], [-1.1, -0.4]]
        ys = [1, -1, 1, -1]
        seen = []
        for k in range(3):
            inputs = [list(map(V, row)) for row in rows]
            scores = list(map(model, inputs))
            losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(ys, scores, strict=True)]
            data_loss = sum(losses) * (1.0 / len(losses))
            reg_loss = 1e-4 * sum(p * p for p in model.parameters())
            total_loss = data_loss + reg_loss
            accuracy = [(yi > 0) == (s.data > 0) for yi, s in zip(ys, scores, strict=True)]
            model.zero_grad()
            total_loss.backward()
            learning_rate = 1.0 - 0.9 * k / 100
            for p in model.parameters():
                p.data -= learning_rate * p.grad
            seen += [total_loss.data, sum(accuracy) / len(accuracy)]
        return seen, [p.data for p in model.parameters()]

    ours = run(Value, MLP)
    theirs = run(micrograd.engine.Value, micrograd.nn.MLP)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-12)
    assert ours[1] == pytest.approx(theirs[1], rel=1e-12)
