"""`grad` and `value_and_grad` (JAX's vocabulary: argnums, has_aux), their errors, and the
lecture's numerical derivative."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tapegrad import (
    Value,
    grad,
    is_grad_enabled,
    no_grad,
    numerical_derivative,
    numerical_gradient,
    value_and_grad,
)
from tapegrad import valuemath as vm


def f3(x, y, z):
    # vm.exp takes a float too: arguments not in argnums arrive as the numbers they were.
    return x * y + vm.exp(z) * x - y**3


def f3_grads(x, y, z):
    """(d/dx, d/dy, d/dz) of f3 by hand."""
    return (y + math.exp(z), x - 3 * y * y, math.exp(z) * x)


X, Y, Z = 1.5, -0.5, 0.25


def test_grad_default_argnum_is_the_first():
    g = grad(f3)(X, Y, Z)
    assert type(g) is float
    assert g == pytest.approx(f3_grads(X, Y, Z)[0], rel=1e-14)


@pytest.mark.parametrize("argnum", [0, 1, 2, -1, -2, -3])
def test_grad_int_argnums_including_negative(argnum):
    g = grad(f3, argnums=argnum)(X, Y, Z)
    assert type(g) is float
    assert g == pytest.approx(f3_grads(X, Y, Z)[argnum], rel=1e-14)


def test_grad_tuple_argnums_gives_a_tuple_in_that_order():
    want = f3_grads(X, Y, Z)
    g = grad(f3, argnums=(2, 0))(X, Y, Z)
    assert isinstance(g, tuple) and all(type(v) is float for v in g)
    assert g == pytest.approx((want[2], want[0]), rel=1e-14)
    assert grad(f3, argnums=(0, -1))(X, Y, Z) == pytest.approx((want[0], want[2]), rel=1e-14)
    assert grad(f3, argnums=[1])(X, Y, Z) == pytest.approx((want[1],), rel=1e-14)


def test_value_and_grad_returns_float_value_and_gradients():
    value, g = value_and_grad(f3, argnums=(0, 1, 2))(X, Y, Z)
    assert type(value) is float
    assert value == pytest.approx(X * Y + math.exp(Z) * X - Y**3, rel=1e-14)
    assert g == pytest.approx(f3_grads(X, Y, Z), rel=1e-14)


def test_has_aux():
    def f(x, y):
        out = x * x * y
        return out, {"x squared": float(x) ** 2}

    (value, aux), g = value_and_grad(f, has_aux=True)(3.0, 2.0)
    assert value == 18.0 and aux == {"x squared": 9.0} and g == 12.0
    g, aux = grad(f, argnums=1, has_aux=True)(3.0, 2.0)
    assert g == 9.0 and aux == {"x squared": 9.0}


def test_keyword_arguments_pass_through():
    def f(x, *, scale, shift=0.0):
        return scale * x * x + shift

    assert grad(f)(2.0, scale=3.0) == 12.0
    assert value_and_grad(f)(2.0, scale=3.0, shift=1.0) == (13.0, 12.0)


def test_numbers_of_any_real_type_go_in_floats_come_out():
    def f(x, y):
        return x * y

    for x in (2, 2.0, np.float64(2.0), np.float32(2.0), np.int64(2), True):
        g = grad(f, argnums=(0, 1))(x, 3)
        assert all(type(v) is float for v in g)
        assert g == (3.0, float(x))


def test_arguments_not_differentiated_can_be_anything():
    def f(x, table, name):
        return x * table[name]

    assert grad(f)(2.0, {"w": 5.0}, "w") == 5.0


def test_input_not_reaching_the_output_has_zero_gradient():
    assert grad(lambda x, y: x * 2.0, argnums=(0, 1))(1.0, 7.0) == (2.0, 0.0)


def test_nesting_gives_higher_derivatives():
    def f(x):
        return x**4

    assert grad(grad(f))(2.0) == 48.0  # 12 x^2
    assert grad(grad(grad(f)))(2.0) == 48.0  # 24 x
    assert grad(grad(grad(grad(f))))(2.0) == 24.0


def test_value_inputs_give_differentiable_value_gradients():
    x = Value(3.0)
    g = grad(lambda v: v * v * v)(x)
    assert isinstance(g, Value) and g.data == 27.0
    g.backward()
    assert x.grad == 18.0  # d/dx 3x^2


def test_grad_inside_no_grad_still_differentiates():
    """grad is a transform, as torch.func.grad: an outer no_grad does not switch it off."""
    with no_grad():
        assert grad(lambda x: x**3)(2.0) == 12.0
        assert grad(grad(lambda x: x**3))(2.0) == 12.0
        assert not is_grad_enabled()


def test_no_grad_inside_the_function_is_respected():
    def f(x):
        with no_grad():
            frozen = x * 1.0  # a constant as far as the gradient is concerned
        return x * frozen

    assert grad(f)(3.0) == 3.0  # not 2x = 6


# --- errors --------------------------------------------------------------------------------


def test_list_output_is_a_clear_error():
    with pytest.raises(TypeError, match="list") as caught:
        grad(lambda x: [x, x * 2])(1.0)
    assert "scalar" in str(caught.value)


def test_non_value_output_is_a_clear_error():
    with pytest.raises(TypeError, match="float"):
        grad(lambda x: 3.0)(1.0)
    with pytest.raises(TypeError, match="tuple"):
        value_and_grad(lambda x: (x, x))(1.0)


@pytest.mark.parametrize("argnums", [2, -3, (0, 2)])
def test_argnums_out_of_range(argnums):
    with pytest.raises(ValueError, match="argnums") as caught:
        grad(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)
    assert "2 positional" in str(caught.value)


@pytest.mark.parametrize("argnums", ["x", 1.0, (), (0, "y"), None])
def test_argnums_of_the_wrong_type(argnums):
    with pytest.raises(TypeError, match="argnums"):
        grad(lambda x, y: x * y, argnums=argnums)


@pytest.mark.parametrize("bad", ["1.0", None, [1.0], 1j], ids=lambda b: type(b).__name__)
def test_non_number_argument(bad):
    with pytest.raises(TypeError, match=type(bad).__name__) as caught:
        grad(lambda x, y: x * y, argnums=1)(1.0, bad)
    assert "argument 1" in str(caught.value)


def test_has_aux_needs_a_pair():
    with pytest.raises(TypeError, match="has_aux"):
        grad(lambda x: x * 2, has_aux=True)(1.0)


# --- numerical derivatives -------------------------------------------------------------------


def lecture_f(x):
    return 3 * x**2 - 4 * x + 5


def test_numerical_derivative_of_the_lectures_parabola():
    assert numerical_derivative(lecture_f, 3.0) == pytest.approx(14.0, abs=1e-6)  # 6x - 4
    assert numerical_derivative(lecture_f, 2 / 3) == pytest.approx(0.0, abs=1e-6)
    assert numerical_derivative(lecture_f, -3.0, h=1e-4) == pytest.approx(-22.0, abs=1e-6)


def test_numerical_derivative_takes_float_functions():
    assert numerical_derivative(lambda x: math.sin(float(x)), 0.3) == pytest.approx(
        math.cos(0.3), abs=1e-8
    )


def test_numerical_gradient_of_the_lectures_d():
    # d = a*b + c at a=2, b=-3, c=10: dd/da = b, dd/db = a, dd/dc = 1
    got = numerical_gradient(lambda a, b, c: a * b + c, 2.0, -3.0, 10.0)
    assert got == pytest.approx((-3.0, 2.0, 1.0), abs=1e-6)
