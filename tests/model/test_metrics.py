from __future__ import annotations

import math

import numpy as np
import pytest
from allora_sdk.loss_methods import make_zptae_loss

from allora_worker.model.metrics import compute_metrics, directional_accuracy, wilson_interval, zptae_mean


def test_zptae_is_the_sdk_loss_with_the_given_scale() -> None:
    rng = np.random.default_rng(1)
    y, p = rng.normal(0, 0.1, 50), rng.normal(0, 0.05, 50)
    loss = make_zptae_loss(std=0.1)
    assert zptae_mean(y, p, 0.1) == pytest.approx(np.mean([loss(a, b) for a, b in zip(y, p, strict=True)]))
    stds = np.r_[np.full(25, 0.1), np.full(25, 0.2)]
    loss2 = make_zptae_loss(std=0.2)
    want = (
        sum(loss(a, b) for a, b in zip(y[:25], p[:25], strict=True))
        + sum(loss2(a, b) for a, b in zip(y[25:], p[25:], strict=True))
    ) / 50
    assert zptae_mean(y, p, stds) == pytest.approx(want)


def test_directional_accuracy_and_zero_calls() -> None:
    y = np.array([0.1, -0.1, 0.2, -0.2])
    assert directional_accuracy(y, np.array([1.0, -1.0, -1.0, 1.0])) == 0.5
    assert directional_accuracy(y, np.array([1.0, -1.0, 1.0, -1.0])) == 1.0
    assert directional_accuracy(y, np.zeros(4)) == 0.5


def test_ci_uses_the_effective_sample_not_rows() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(0, 0.1, 168 * 100)
    m = compute_metrics(y, y * 0.5 + 0.01, horizon_hours=168, zptae_std=0.1)
    assert m.effective_n == pytest.approx(100)
    low, high = wilson_interval(m.directional_accuracy, 100)
    assert (m.da_ci_low, m.da_ci_high) == pytest.approx((low, high))
    assert high - low > 0.1  # 100 independent weeks cannot pin accuracy down to a point
    narrow = wilson_interval(m.directional_accuracy, len(y))
    assert narrow[1] - narrow[0] < (high - low) / 10


def test_pearson_of_constant_is_undefined_and_serializes_as_null() -> None:
    y = np.array([0.1, -0.2, 0.3])
    m = compute_metrics(y, np.full(3, 0.0123), horizon_hours=1, zptae_std=0.1)
    assert math.isnan(m.pearson) and m.to_dict()["pearson"] is None
    assert m.mse == pytest.approx(np.mean((y - 0.0123) ** 2))
