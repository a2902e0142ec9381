"""The report of a table (issue 20): the sample graph's layers say what the layer table says,
the curves begin where the slider does, the kept weights are the last moment, a regression is
shown in the label's own units, and the samples are real rows named by column and class."""

import re

import numpy as np
import pytest

from tapegrad.nn import MLP
from tapegrad.pages import report as R
from tapegrad.train import fit


def graph_params(view) -> list[int]:
    """The `N params` each collapsed box of a sample's graph says, in the layers' order."""
    boxes = re.findall(r"(layers\.\d+)</text>.*?(\d+) params", view._repr_html_(), flags=re.S)
    return [int(n) for _, n in sorted(set(boxes), key=lambda b: int(b[0].split(".")[1]))]


@pytest.mark.parametrize(
    ("nin", "sizes", "loss", "kind"),
    [
        (4, [16, 16, 3], "softmax_ce", "classes"),  # several outputs: every class's neuron
        (4, [16, 16, 1], "hinge", "binary"),  # one output
        (2, [16, 16, 1], "hinge", "binary"),  # micrograd's demo network
        (3, [12, 2], "mse", "regression"),  # a regression of two outputs
    ],
)
def test_the_sample_graphs_layers_have_the_layer_tables_parameter_counts(nin, sizes, loss, kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, nin))
    if kind == "classes":
        y = rng.integers(0, sizes[-1], size=30)
    elif kind == "binary":
        y = (X[:, 0] > 0).astype(int)
    else:
        y = np.column_stack([X[:, 0], X[:, 1] - X[:, 0]])
    model = MLP(nin, sizes, seed=1)
    history = fit(model, X, y, loss=loss, steps=3, snapshots=2, progress=False)
    page = R.report(history, model, X, y, loss=loss)
    want = [len(layer.parameters()) for layer in model.layers]  # counted here, not by the page
    assert [n for _, n in page.layers] == want
    for m in page.moments:
        for view in m.views:
            assert not isinstance(view, str), view
            assert graph_params(view) == want
            # every parameter of the model is a leaf of the graph, and gets its gradient
            assert set(map(id, model.parameters())) <= set(map(id, view.grads))
