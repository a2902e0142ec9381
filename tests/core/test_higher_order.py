"""Second and third derivatives against closed forms, both through `backward(create_graph=True)`
and through nested `grad`; mixed partials via argnums; a closure over the outer variable."""

from __future__ import annotations

import math

import pytest

from tapegrad import Value, grad


def _tanh_derivs(x):
    t = math.tanh(x)
    return [1 - t * t, -2 * t * (1 - t * t), -2 * (1 - t * t) * (1 - 3 * t * t)]


def _sigmoid_derivs(x):
    s = 1 / (1 + math.exp(-x))
    return [s * (1 - s), s * (1 - s) * (1 - 2 * s), s * (1 - s) * (1 - 6 * s + 6 * s * s)]


def _power_derivs(p):
    # d^k/dx^k x**p = p (p-1) ... (p-k+1) x**(p-k)
    def derivs(x):
        return [p * x ** (p - 1), p * (p - 1) * x ** (p - 2), p * (p - 1) * (p - 2) * x ** (p - 3)]

    return derivs


def _exponential_derivs(a):
    # d^k/dx^k a**x = a**x (ln a)**k
    def derivs(x):
        return [a**x * math.log(a) ** k for k in (1, 2, 3)]

    return derivs


# (id, f on Values, closed-form [f', f'', f'''], points)
CASES = [
    ("tanh", lambda x: x.tanh(), _tanh_derivs, [0.3, -1.2, 2.0]),
    ("exp", lambda x: x.exp(), lambda x: [math.exp(x)] * 3, [0.5, -2.0]),
    ("log", lambda x: x.log(), lambda x: [1 / x, -1 / x**2, 2 / x**3], [0.7, 3.0]),
    ("sigmoid", lambda x: x.sigmoid(), _sigmoid_derivs, [0.4, -3.0]),
    ("pow base, x**3", lambda x: x**3, _power_derivs(3.0), [1.7, -0.8]),
    ("pow base, x**2.5", lambda x: x**2.5, _power_derivs(2.5), [1.7, 0.4]),
    ("pow base, x**-1.5", lambda x: x**-1.5, _power_derivs(-1.5), [1.7, 0.6]),
    ("pow exponent, 2.5**x", lambda x: 2.5**x, _exponential_derivs(2.5), [1.3, -0.7]),
    ("pow exponent, 0.6**x", lambda x: 0.6**x, _exponential_derivs(0.6), [1.3, 2.2]),
]
POINTS = [(name, f, d, x) for name, f, d, xs in CASES for x in xs]
IDS = [f"{name} at {x}" for name, _, _, x in POINTS]


def _close(got: float, want: float) -> bool:
    return abs(got - want) <= 1e-11 * abs(want) + 1e-13


def derivatives_by_create_graph(f, x: float, order: int = 3) -> list[float]:
    """f', f'', ... at x: backward(create_graph=True), then backward through x.grad again."""
    v = Value(x)
    out = f(v)
    results = []
    for _ in range(order):
        v.grad = 0.0  # keep only this pass's derivative, not the previous one plus it
        out.backward(create_graph=True)
        out = v.grad
        assert isinstance(out, Value), "create_graph=True must leave a differentiable Value"
        results.append(out.data)
    return results


@pytest.mark.parametrize(("name", "f", "closed_form", "x"), POINTS, ids=IDS)
def test_derivatives_through_create_graph(name, f, closed_form, x):
    got = derivatives_by_create_graph(f, x)
    want = closed_form(x)
    for k, (g, w) in enumerate(zip(got, want, strict=True), start=1):
        assert _close(g, w), f"{name}: derivative {k} at {x} is {g!r}, closed form {w!r}"


@pytest.mark.parametrize(("name", "f", "closed_form", "x"), POINTS, ids=IDS)
def test_derivatives_through_nested_grad(name, f, closed_form, x):
    d1 = grad(f)
    d2 = grad(grad(f))
    d3 = grad(grad(grad(f)))
    got = [d1(x), d2(x), d3(x)]
    assert all(type(g) is float for g in got), got
    for k, (g, w) in enumerate(zip(got, closed_form(x), strict=True), start=1):
        assert _close(g, w), f"{name}: derivative {k} at {x} is {g!r}, closed form {w!r}"


def test_pow_with_both_arguments_values_second_derivatives():
    """x ** p with x and p both Values: d2/dx2, d2/dp2 and the mixed partial by create_graph."""
    x0, p0 = 1.7, 2.3
    x, p = Value(x0), Value(p0)
    z = x**p
    z.backward(create_graph=True)
    dx, dp = x.grad, p.grad
    x.grad, p.grad = 0.0, 0.0
    dx.backward()
    dxx, dxp = x.grad, p.grad
    x.grad, p.grad = 0.0, 0.0
    dp.backward()
    dpx, dpp = x.grad, p.grad
    ln = math.log(x0)
    assert _close(dxx, p0 * (p0 - 1) * x0 ** (p0 - 2))
    assert _close(dpp, x0**p0 * ln * ln)
    mixed = x0 ** (p0 - 1) * (1 + p0 * ln)
    assert _close(dxp, mixed) and _close(dpx, mixed)


def test_mixed_partial_via_argnums():
    def f(x, y):
        return x * x * y**3 + (x * y).sin()

    x, y = 0.8, -1.3
    # d/dy d/dx f = 6 x y^2 + cos(xy) - x y sin(xy)
    want = 6 * x * y * y + math.cos(x * y) - x * y * math.sin(x * y)
    assert _close(grad(grad(f, argnums=0), argnums=1)(x, y), want)
    assert _close(grad(grad(f, argnums=1), argnums=0)(x, y), want)
    # d2/dx2 f = 2 y^3 - y^2 sin(xy)
    assert _close(grad(grad(f, argnums=0), argnums=0)(x, y), 2 * y**3 - y * y * math.sin(x * y))


def test_inner_grad_closing_over_the_outer_variable():
    """Perturbation confusion (Siskind & Pearlmutter): d/dx [x * d/dy (x + y)] is 1, not 2."""

    def f(x):
        return x * grad(lambda y: x + y)(1.0)

    assert grad(f)(2.0) == 1.0

    # d/dx [d/dy (x y^2) at y=2] = d/dx (4 x) = 4; and d/dx of x * that = 8 x.
    def g(x):
        return grad(lambda y: x * y * y)(2.0)

    assert grad(g)(0.5) == 4.0
    assert _close(grad(lambda x: x * g(x))(0.5), 8 * 0.5)

    # The inner derivative depends on x nonlinearly: d/dx [d/dy exp(x y) at y=1] =
    # d/dx [x e^x] = (1 + x) e^x.
    def h(x):
        return grad(lambda y: (x * y).exp())(1.0)

    assert _close(grad(h)(0.3), 1.3 * math.exp(0.3))


def test_first_derivative_with_create_graph_equals_plain_backward():
    def f(v):
        return (v.tanh() * v.exp() + v**2).log()

    a, b = Value(0.9), Value(0.9)
    f(a).backward()
    f(b).backward(create_graph=True)
    assert isinstance(b.grad, Value)
    assert _close(b.grad.data, a.grad)
