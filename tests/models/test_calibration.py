"""Temperature scaling of Bradley-Terry probabilities (`models.calibration`), checked on simulated
preference worlds where the true temperature is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.calibration import (
    CalibrationError,
    calibration_metrics,
    fit_temperature,
    preference_probability,
    temperature_interval,
)


def simulated_margins(n: int, true_temperature: float, seed: int) -> np.ndarray:
    """Margins (chosen - rejected) of n labelled pairs in a world where people prefer a over b with
    probability sigmoid((r_a - r_b) / true_temperature): each pair's label is drawn, and the pair is
    written with the preferred response as `chosen`."""
    rng = np.random.default_rng(seed)
    model_margins = rng.normal(0.0, 2.0, size=n)
    a_preferred = rng.random(n) < preference_probability(model_margins, true_temperature)
    return np.where(a_preferred, model_margins, -model_margins)


def mean_nll(margins: np.ndarray, temperature: float) -> float:
    return float(np.mean(np.logaddexp(0.0, -margins / temperature)))


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.0, 4.0])
def test_fit_recovers_the_temperature_of_a_bradley_terry_world(true_temperature: float) -> None:
    margins = simulated_margins(40_000, true_temperature, seed=1)
    fitted = fit_temperature(margins)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    low, high = temperature_interval(margins, fitted)
    assert high is not None and low < true_temperature < high


def test_the_fit_is_the_minimum_of_the_bradley_terry_loss() -> None:
    margins = simulated_margins(2_000, 2.5, seed=2)
    fitted = fit_temperature(margins)
    best = mean_nll(margins, fitted)
    for other in (1.0, fitted * 0.97, fitted * 1.03, fitted * 2):
        assert best < mean_nll(margins, other)
    assert calibration_metrics(margins, fitted).nll == pytest.approx(best)


def test_the_interval_covers_the_true_temperature_about_95_percent_of_the_time() -> None:
    covered = 0
    runs = 300
    for seed in range(runs):
        margins = simulated_margins(300, 1.5, seed=100 + seed)
        low, high = temperature_interval(margins, fit_temperature(margins))
        covered += low <= 1.5 and (high is None or high >= 1.5)
    assert 0.90 <= covered / runs <= 0.99


def test_the_interval_is_unbounded_when_few_pairs_cannot_rule_out_no_confidence() -> None:
    # Nearly a coin toss: 16 right and 14 wrong with equal margins leaves s = 1/T compatible with 0.
    margins = np.array([1.0] * 16 + [-1.0] * 14)
    low, high = temperature_interval(margins, fit_temperature(margins))
    assert low > 0 and high is None


def test_ece_is_small_for_calibrated_probabilities_and_large_for_over_confident_ones() -> None:
    margins = simulated_margins(40_000, 1.0, seed=3)
    assert calibration_metrics(margins, 1.0).ece < 0.01
    over_confident = margins * 3  # the same model with its scores stretched
    assert calibration_metrics(over_confident, 1.0).ece > 0.1
    assert calibration_metrics(over_confident, fit_temperature(over_confident)).ece < 0.01


def test_metrics_of_a_small_hand_computed_case() -> None:
    log3 = math.log(3.0)
    # P(chosen) = 0.75 and right; 0.25 (the model picks rejected at 0.75) and wrong; 0.5 (a tie) and wrong.
    metrics = calibration_metrics(np.array([log3, -log3, 0.0]))
    assert metrics.n == 3
    assert metrics.nll == pytest.approx((math.log(4 / 3) + math.log(4) + math.log(2)) / 3)
    assert metrics.brier == pytest.approx((0.25**2 + 0.75**2 + 0.5**2) / 3)
    by_low = {round(b.low, 2): b for b in metrics.bins}
    assert set(by_low) == {0.5, 0.75}
    assert (by_low[0.5].pairs, by_low[0.5].accuracy, by_low[0.5].mean_confidence) == (1, 0.0, 0.5)
    assert by_low[0.75].pairs == 2 and by_low[0.75].accuracy == 0.5
    assert by_low[0.75].mean_confidence == pytest.approx(0.75)
    assert metrics.ece == pytest.approx(1 / 3 * 0.5 + 2 / 3 * 0.25)


def test_probabilities_are_antisymmetric_and_finite_for_huge_margins() -> None:
    margins = np.array([-1e4, -3.0, 0.0, 0.5, 1e4])
    for temperature in (0.1, 1.0, 7.0):
        p = preference_probability(margins, temperature)
        q = preference_probability(-margins, temperature)
        assert np.all(np.isfinite(p)) and np.allclose(p + q, 1.0)
    assert preference_probability(np.array([0.0]), 3.0)[0] == 0.5


def test_pairs_that_cannot_determine_a_temperature_are_refused() -> None:
    with pytest.raises(CalibrationError, match="at least 30 pairs"):
        fit_temperature(np.array([1.0, -1.0] * 10))
    # All right (ties do not bound the confidence either): T could shrink forever.
    with pytest.raises(CalibrationError, match="all 40 pairs correctly"):
        fit_temperature(np.array([1.0] * 30 + [0.0] * 10))
    with pytest.raises(CalibrationError, match="no better than chance"):
        fit_temperature(np.array([1.0] * 20 + [-1.5] * 20))
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(np.array([1.0] * 39 + [math.nan]))
