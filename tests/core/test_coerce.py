"""Input types (coerce.py): real numbers of any type become float data, anything else is a
TypeError naming its type, integers too large for a float become infinities, and numbers
mix with Values both ways."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
import pytest

from tapegrad import Value

# --- input types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (True, 1.0),
        (False, 0.0),
        (3, 3.0),
        (2.5, 2.5),
        (np.float32(1.5), 1.5),
        (np.float64(-0.25), -0.25),
        (np.int64(7), 7.0),
        (np.bool_(True), 1.0),
    ],
    ids=lambda x: type(x).__name__,
)
def test_real_numbers_become_float_data(raw, want):
    v = Value(raw)
    assert type(v.data) is float and v.data == want


@pytest.mark.parametrize(
    "raw",
    ["1.0", 1 + 2j, None, [1.0], np.complex128(1.0), {"a": 1}],
    ids=lambda x: type(x).__name__,
)
def test_non_real_data_is_a_type_error_naming_the_type(raw):
    with pytest.raises(TypeError, match=type(raw).__name__):
        Value(raw)


@pytest.mark.parametrize("bad", ["2", None, 1j, [1.0]], ids=lambda x: type(x).__name__)
def test_arithmetic_with_non_numbers_is_a_type_error(bad):
    x = Value(1.0)
    for op in (lambda: x + bad, lambda: bad + x, lambda: x - bad, lambda: x / bad, lambda: x**bad):
        with pytest.raises(TypeError, match=type(bad).__name__):
            op()
    for op in (lambda: x * bad, lambda: bad * x):  # str and list: "can't multiply sequence..."
        with pytest.raises(TypeError):
            op()


# IEEE 754 rounds an integer to the nearest double, ties to even. The largest double is
# (2 - 2**-52) * 2**1023; integers from halfway to the next power, 2**1024 - 2**970, round to
# inf. (Python's float() raises OverflowError there, and so does torch.tensor(10**400).)
FLOAT_MAX = (2**53 - 1) * 2**971
HALFWAY = FLOAT_MAX + 2**970


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (10**400, math.inf),
        (-(10**400), -math.inf),
        (HALFWAY, math.inf),  # a tie: rounds to the even neighbour, 2**1024, which is inf
        (HALFWAY - 1, sys.float_info.max),
        (-HALFWAY, -math.inf),
        (Fraction(10**400, 3), math.inf),
    ],
    ids=["1e400", "-1e400", "halfway", "below-halfway", "-halfway", "fraction"],
)
def test_integers_too_large_for_a_float_become_infinities(raw, want):
    assert Value(raw).data == want
    assert FLOAT_MAX == sys.float_info.max


@pytest.mark.parametrize(
    ("name", "f", "want"),
    [
        ("x + 10**400", lambda x: x + 10**400, math.inf),
        ("10**400 + x", lambda x: 10**400 + x, math.inf),
        ("x - 10**400", lambda x: x - 10**400, -math.inf),
        ("10**400 - x", lambda x: 10**400 - x, math.inf),
        ("x * 10**400", lambda x: x * 10**400, math.inf),
        ("x / 10**400", lambda x: x / 10**400, 0.0),
        ("10**400 / x", lambda x: 10**400 / x, math.inf),
        ("x ** 10**400", lambda x: x**10**400, math.inf),
        ("x.max(10**400)", lambda x: x.max(10**400), math.inf),
        ("x.clamp(hi=-10**400)", lambda x: x.clamp(hi=-(10**400)), -math.inf),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_huge_integers_mix_with_values_as_infinities(name, f, want):
    out = f(Value(2.0))
    assert out.data == want, name


# --- mixing with numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "f", "value", "grad"),
    [
        # f at x = 1.5, f(1.5) and f'(1.5) by hand
        ("2 * x", lambda x: 2 * x, 3.0, 2.0),
        ("x * 2", lambda x: x * 2, 3.0, 2.0),
        ("1 - x", lambda x: 1 - x, -0.5, -1.0),
        ("x - 1", lambda x: x - 1, 0.5, 1.0),
        ("x / 3", lambda x: x / 3, 0.5, 1 / 3),
        ("3 / x", lambda x: 3 / x, 2.0, -3 / 2.25),
        ("2 ** x", lambda x: 2**x, 2**1.5, 2**1.5 * 0.6931471805599453),
        ("x ** 2", lambda x: x**2, 2.25, 3.0),
        ("-x", lambda x: -x, -1.5, -1.0),
        ("x + 0.5", lambda x: x + 0.5, 2.0, 1.0),
        ("np.float64(2) * x", lambda x: np.float64(2) * x, 3.0, 2.0),
        ("x * np.float32(2)", lambda x: x * np.float32(2), 3.0, 2.0),
        ("np.int64(1) - x", lambda x: np.int64(1) - x, -0.5, -1.0),
        ("np.float64(3) / x", lambda x: np.float64(3) / x, 2.0, -3 / 2.25),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_numbers_mix_both_ways(name, f, value, grad):
    x = Value(1.5)
    out = f(x)
    assert type(out) is Value, f"{name} gave {type(out).__name__}"
    out.backward()
    assert out.data == pytest.approx(value, rel=1e-15), name
    assert x.grad == pytest.approx(grad, rel=1e-15), name


def test_sum_of_values():
    values = [Value(float(i)) for i in range(1, 5)]
    total = sum(values)
    assert isinstance(total, Value) and total.data == 10.0
    total.backward()
    assert [v.grad for v in values] == [1.0] * 4
