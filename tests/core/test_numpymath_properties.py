"""The NumPy namespace equals the eager float namespace on any floats Hypothesis draws, nan and
the infinities included. A property test: it needs Hypothesis, and skips without it (see
tests/references.py)."""

import numpy as np
from references import require
from test_numpymath import BINARY, SPECIALS, UNARY, assert_same

from tapegrad import floatmath as fm
from tapegrad import numpymath as npm

hypothesis = require("hypothesis")
st = require("hypothesis.strategies")
given = hypothesis.given

finite_or_special = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(SPECIALS),
)


@given(st.lists(finite_or_special, min_size=1, max_size=8), finite_or_special)
def test_functions_equal_float_namespace_on_any_floats(xs, y):
    x = np.array(xs)
    for name in UNARY:
        assert_same(getattr(npm, name)(x), [getattr(fm, name)(v) for v in xs])
    for name in BINARY:
        assert_same(getattr(npm, name)(x, y), [getattr(fm, name)(v, y) for v in xs])
