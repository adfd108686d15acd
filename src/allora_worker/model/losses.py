"""The network's loss functions, by the name a topic's `loss_method` carries.

The chain stores `loss_method` as a free string (allora-chain x/emissions/types/validations.go only
checks it is non-empty and not too long) and computes no loss itself: reputers score inferences
off-chain, and the official SDK's reputer picks its default loss by that name
(allora_sdk/loss_methods/defaults.py, `get_default_loss_fn`). These are the same functions, under the
same names and aliases, with the same defaults, written here so that the daemon's realized-loss
figures do not import `allora_sdk`: its package `__init__` loads the SDK's whole worker stack
(~44 MB of a long-running daemon's RSS). tests/model/test_losses.py checks every one against the
SDK's on many values.

Each function takes floats or numpy arrays (element-wise, for `evaluate`'s ZPTAE over a backtest)
and returns an array; `loss_function(name)` gives the float-to-float form the daemon uses. Where the
SDK's Python floats raise OverflowError (huge inputs), these return inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

Values = npt.ArrayLike
Array = npt.NDArray[np.float64]
LossFn = Callable[[float, float], float]


class UnknownLossMethod(ValueError):
    """A topic names a loss method we do not compute (nor does the SDK's reputer by default)."""

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(f"unknown loss method {method!r}; known: {', '.join(sorted(_BY_NAME))} "
                         f"(and the SDK's aliases: {', '.join(sorted(_ALIASES))})")


def _arrays(truth: Values, predicted: Values) -> tuple[Array, Array]:
    return np.asarray(truth, dtype=np.float64), np.asarray(predicted, dtype=np.float64)


def squared_error(truth: Values, predicted: Values) -> Array:
    """(truth - predicted)^2 (allora_sdk/loss_methods/squared_error.py)."""
    t, p = _arrays(truth, predicted)
    with np.errstate(over="ignore"):
        return np.square(t - p)


def absolute_error(truth: Values, predicted: Values) -> Array:
    """|truth - predicted| (allora_sdk/loss_methods/absolute_error.py)."""
    t, p = _arrays(truth, predicted)
    return np.abs(t - p)


def huber(truth: Values, predicted: Values, delta: float = 1.0) -> Array:
    """Half the squared error up to `delta`, linear beyond it (allora_sdk/loss_methods/huber.py,
    delta 1 by default)."""
    if not delta > 0:
        raise ValueError(f"huber's delta must be positive, got {delta}")
    t, p = _arrays(truth, predicted)
    error = np.abs(t - p)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(error <= delta, 0.5 * np.square(error), delta * (error - 0.5 * delta))


def log_cosh(truth: Values, predicted: Values) -> Array:
    """log(cosh(predicted - truth)) (allora_sdk/loss_methods/log_cosh.py). cosh overflows past
    |x| ~ 710, so from |x| = 20 on it is |x| - log 2: the two differ by log1p(e^-2|x|) < 5e-18, below
    a double's resolution there (the direct form below 20 keeps small errors right: x^2/2 near 0)."""
    t, p = _arrays(truth, predicted)
    x = np.abs(p - t)
    with np.errstate(over="ignore"):
        return np.where(x < 20.0, np.log(np.cosh(x)), x - math.log(2.0))


def binary_cross_entropy(truth: Values, predicted: Values, epsilon: float = 1e-15) -> Array:
    """-(y log p + (1 - y) log(1 - p)) with p clipped to [epsilon, 1 - epsilon], for a label and a
    probability in [0, 1] (allora_sdk/loss_methods/binary_cross_entropy.py). Outside [0, 1]: ValueError."""
    t, p = _arrays(truth, predicted)
    for name, v in (("truth", t), ("predicted", p)):
        if np.any((v < 0) | (v > 1)):
            raise ValueError(f"binary cross entropy needs {name} in [0, 1], got {v}")
    q = np.clip(p, epsilon, 1.0 - epsilon)
    # max(., 0): with y in [0, 1] the value is never negative; rounding may give -0.0 or -1e-17.
    return np.maximum(-(t * np.log(q) + (1.0 - t) * np.log(1.0 - q)), 0.0)


def poisson(truth: Values, predicted: Values, epsilon: float = 1e-7) -> Array:
    """predicted - truth * log(predicted), predicted at least epsilon, both non-negative
    (allora_sdk/loss_methods/poisson.py). Negative input: ValueError."""
    if not epsilon > 0:
        raise ValueError(f"poisson's epsilon must be positive, got {epsilon}")
    t, p = _arrays(truth, predicted)
    for name, v in (("truth", t), ("predicted", p)):
        if np.any(v < 0):
            raise ValueError(f"poisson loss needs a non-negative {name}, got {v}")
    rate = np.maximum(p, epsilon)
    return rate - t * np.log(rate)


def _z(truth: Values, predicted: Values, std: Values, mean: float) -> tuple[Array, Array]:
    scale = np.asarray(std, dtype=np.float64)
    if not np.all(scale > 0):
        raise ValueError(f"the z-score's std must be positive, got {scale.min()}")
    t, p = _arrays(truth, predicted)
    return (t - mean) / scale, (p - mean) / scale


def ztae(truth: Values, predicted: Values, std: Values = 1.0, mean: float = 0.0) -> Array:
    """|tanh(z_truth) - tanh(z_predicted)|, z = (value - mean) / std (allora_sdk/loss_methods/ztae.py;
    the SDK's default, the one a topic's name selects, has std 1 and mean 0)."""
    zt, zp = _z(truth, predicted, std, mean)
    difference: Array = np.tanh(zt) - np.tanh(zp)
    return np.abs(difference)


def power_tanh(x: Values, alpha: float = 0.25, beta: float = 2.0) -> Array:
    """x / (1 + |x|^beta)^((1 - alpha) / beta): like x near 0, like sign(x)|x|^alpha far out.

    For |x| > 1 it is computed as sign(x)|x|^alpha (1 + |x|^-beta)^-((1 - alpha) / beta), the same
    value, so that |x|^beta cannot overflow (the SDK falls back to sign(x)|x|^alpha then)."""
    v = np.asarray(x, dtype=np.float64)
    a = np.abs(v)
    k = (1.0 - alpha) / beta
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        near = v / (1.0 + a**beta) ** k
        far = np.sign(v) * a**alpha * (1.0 + a ** (-beta)) ** (-k)
        return np.where(a > 1.0, far, near)


def zptae(truth: Values, predicted: Values, std: Values = 1.0, mean: float = 0.0, *, alpha: float = 0.25,
          beta: float = 2.0, mse_norm: float = 0.01, gamma: float = 4.0) -> Array:
    """|pt(z_truth) - pt(z_predicted)| + (mse_norm |z_predicted - z_truth|)^gamma, pt the power-tanh
    above (allora_sdk/loss_methods/zptae.py, with its defaults alpha 0.25, beta 2, mse_norm 0.01,
    gamma 4; a topic's name selects std 1, mean 0). `std` may be one scale or one per value."""
    if not beta > 0:
        raise ValueError(f"zptae's beta must be positive, got {beta}")
    zt, zp = _z(truth, predicted, std, mean)
    with np.errstate(over="ignore"):
        return np.abs(power_tanh(zt, alpha, beta) - power_tanh(zp, alpha, beta)) + (mse_norm * np.abs(zp - zt)) ** gamma


_BY_NAME: dict[str, Callable[[Values, Values], Array]] = {
    "sqe": squared_error, "abse": absolute_error, "huber": huber, "logcosh": log_cosh,
    "bce": binary_cross_entropy, "poisson": poisson, "ztae": ztae, "zptae": zptae,
}
# The other names the SDK's defaults.py accepts for each.
_ALIASES: dict[str, str] = {
    "mse": "sqe", "squared_error": "sqe", "se": "sqe",
    "mae": "abse", "absolute_error": "abse", "ae": "abse",
    "huber_loss": "huber",
    "log_cosh": "logcosh", "logcosh_loss": "logcosh",
    "binary_cross_entropy": "bce", "bce_loss": "bce",
    "poisson_loss": "poisson",
    "ztae_loss": "ztae", "z_transformed_absolute_error": "ztae",
    "zptae_loss": "zptae", "z_power_tanh_absolute_error": "zptae",
}
KNOWN_METHODS: frozenset[str] = frozenset(_BY_NAME) | frozenset(_ALIASES)


def loss_function(method: str) -> LossFn:
    """The loss a topic's `loss_method` names, as (truth, predicted) -> float; case and surrounding
    spaces do not matter (as in the SDK). An unknown name raises UnknownLossMethod, which says the
    known ones."""
    key = method.strip().lower()
    fn = _BY_NAME.get(_ALIASES.get(key, key))
    if fn is None:
        raise UnknownLossMethod(method)

    def loss(truth: float, predicted: float) -> float:
        return float(fn(truth, predicted))

    return loss
