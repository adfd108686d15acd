"""Our loss functions (model/losses.py) give the official SDK's (allora_sdk.loss_methods, installed
with the [test] extra) on every method name and alias it accepts, on a grid of values with the edge
cases (zero, negative, equal, tiny, large, far tails), and on the parameters its factories take
(ztae/zptae's std and mean, zptae's alpha/beta/mse_norm/gamma, huber's delta, the epsilons).

Tolerance: 1e-12 relative, or 1e-14 absolute times the size of the terms that are subtracted
(|pt(a) - pt(b)| of two nearly equal numbers, or the poisson rate minus truth*log(rate), keeps
numpy's and the math module's last-bit differences in absolute, not relative, terms).
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import numpy as np
import pytest
from allora_sdk.loss_methods import defaults as sdk_defaults
from allora_sdk.loss_methods import (
    get_default_loss_fn,
    make_bce_loss,
    make_huber_loss,
    make_poisson_loss,
    make_zptae_loss,
    make_ztae_loss,
)

from allora_worker.model import losses

# Log-returns and predictions as a topic sees them, and the edges: zero, signs, equal pairs (the
# grid pairs every value with itself), tiny, huge, the huber and power-tanh switch points (|x| = 1).
VALUES = (0.0, -0.0, 1e-300, -1e-12, 1e-8, 0.001, -0.004, 0.0123, -0.05, 0.2, -0.3, 0.5, 0.999, 1.0, -1.0,
          1.0000001, 2.0, -3.5, 19.99, 20.01, 100.0, -700.0, 711.0, 1e5, -1e10, 1e30, -1e160)
PROBABILITIES = (0.0, 1e-16, 1e-9, 0.01, 0.3, 0.5, 0.7, 0.999999, 1.0 - 1e-16, 1.0)
COUNTS = (0.0, 1e-8, 1e-7, 0.5, 1.0, 2.0, 3.0, 17.5, 1e6)


def _close(ours: float, sdk: float, scale: float) -> bool:
    return ours == sdk or math.isclose(ours, sdk, rel_tol=1e-12, abs_tol=1e-14 * max(1.0, scale))


def _sdk(fn, truth: float, predicted: float) -> float | type[Exception]:  # type: ignore[no-untyped-def]
    try:
        return float(fn(truth, predicted))
    except (ValueError, OverflowError) as exc:
        return type(exc)


def _compare(ours, sdk, pairs, scale=lambda t, p: abs(t) + abs(p)) -> int:  # type: ignore[no-untyped-def]
    """Every pair through both; returns how many were in the loss's domain. Where the SDK raises
    ValueError (outside the domain) ours must too; where its Python floats overflow, ours is inf."""
    checked = 0
    bad = []
    for t, p in pairs:
        want = _sdk(sdk, t, p)
        if want is ValueError:
            with pytest.raises(ValueError):
                ours(t, p)
            continue
        got = float(ours(t, p))
        checked += 1
        if want is OverflowError:
            if got != math.inf:
                bad.append((t, p, got, "SDK overflows"))
            continue
        if not _close(got, want, scale(t, p)):  # type: ignore[arg-type]
            bad.append((t, p, got, want))
    assert not bad, bad[:10]
    return checked


def _grid(values: tuple[float, ...]) -> list[tuple[float, float]]:
    return list(itertools.product(values, values))


def test_every_name_the_sdk_accepts_is_ours_and_gives_its_values() -> None:
    assert losses.KNOWN_METHODS == sdk_defaults.SUPPORTED_LOSS_METHODS
    domain = {"bce": PROBABILITIES, "poisson": COUNTS}
    for name in sorted(losses.KNOWN_METHODS):
        canonical = sdk_defaults._normalize_loss_method(name)
        values = domain.get(canonical, VALUES)
        # Out-of-domain values too (a log-return topic with bce or poisson): both refuse them.
        pairs = [*_grid(values), (-0.5, 0.5), (0.5, -0.5), (1.5, 0.2), (0.2, 1.5)]
        for spelling in (name, name.upper(), f"  {name} "):
            assert _compare(losses.loss_function(spelling), get_default_loss_fn(spelling), pairs) >= len(values) ** 2


def test_unknown_names_are_refused_by_both_with_the_known_ones_named() -> None:
    for name in ("", "rmse", "zptae2", "mse_loss", "z ptae"):
        with pytest.raises(sdk_defaults.UnsupportedLossMethodError):
            get_default_loss_fn(name)
        known = "abse, bce, huber, logcosh, poisson, sqe, zptae, ztae"
        with pytest.raises(losses.UnknownLossMethod, match=rf"unknown loss method .*; known: {known} \("):
            losses.loss_function(name)


@pytest.mark.parametrize("std", [1e-4, 0.0187, 0.05, 1.0, 37.0])
@pytest.mark.parametrize("mean", [0.0, 0.003, -2.0])
def test_ztae_and_zptae_with_the_scales_the_sdk_takes(std: float, mean: float) -> None:
    pairs = _grid((*VALUES[:-4], 1e3))
    z = lambda t, p: (abs(t - mean) + abs(p - mean)) / std  # noqa: E731  (the size of the z-scores)
    assert _compare(lambda t, p: losses.ztae(t, p, std, mean), make_ztae_loss(std=std, mean=mean), pairs, z)
    assert _compare(lambda t, p: losses.zptae(t, p, std, mean), make_zptae_loss(std=std, mean=mean), pairs, z)


@pytest.mark.parametrize(("alpha", "beta", "mse_norm", "gamma"),
                         [(0.25, 2.0, 0.01, 4.0), (0.0, 1.0, 0.1, 2.0), (0.5, 3.0, 0.0, 1.0), (1.0, 0.5, 1.0, 3.0)])
def test_zptae_with_the_shapes_the_sdk_takes(alpha: float, beta: float, mse_norm: float, gamma: float) -> None:
    ours = lambda t, p: losses.zptae(t, p, 0.02, alpha=alpha, beta=beta, mse_norm=mse_norm, gamma=gamma)  # noqa: E731
    sdk = make_zptae_loss(std=0.02, alpha=alpha, beta=beta, mse_norm=mse_norm, gamma=gamma)
    assert _compare(ours, sdk, _grid(VALUES[:-3]), lambda t, p: (abs(t) + abs(p)) / 0.02)


def test_the_other_factories_parameters() -> None:
    for delta in (1e-3, 0.5, 2.0, 50.0):
        assert _compare(partial(losses.huber, delta=delta), make_huber_loss(delta), _grid(VALUES))
    for eps in (1e-12, 1e-3, 0.2):
        assert _compare(partial(losses.binary_cross_entropy, epsilon=eps), make_bce_loss(eps), _grid(PROBABILITIES))
        assert _compare(partial(losses.poisson, epsilon=eps), make_poisson_loss(eps), _grid(COUNTS))


def test_bad_scales_are_refused_like_the_sdk() -> None:
    for std in (0.0, -0.01):
        with pytest.raises(ValueError):
            make_zptae_loss(std=std)
        with pytest.raises(ValueError, match="std must be positive"):
            losses.zptae(0.1, 0.2, std)
        with pytest.raises(ValueError, match="std must be positive"):
            losses.ztae(0.1, 0.2, std)
    with pytest.raises(ValueError):
        make_huber_loss(0.0)
    with pytest.raises(ValueError, match="delta must be positive"):
        losses.huber(0.1, 0.2, 0.0)


def test_arrays_are_element_wise_with_a_scale_per_row() -> None:
    rng = np.random.default_rng(3)
    y, p = rng.normal(0, 0.05, 200), rng.normal(0, 0.02, 200)
    stds = np.where(np.arange(200) < 100, 0.03, 0.07)
    got = losses.zptae(y, p, stds)
    want = [make_zptae_loss(std=float(s))(float(a), float(b)) for a, b, s in zip(y, p, stds, strict=True)]
    assert got.shape == (200,)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
