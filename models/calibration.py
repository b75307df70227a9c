"""Calibration of a reward model's Bradley-Terry probabilities: one temperature fitted on preference pairs.

A reward model trained with `-log sigmoid(r_chosen - r_rejected)` states a probability that one response
is preferred to another, `sigmoid(r_a - r_b)`. Its raw scores usually make that probability over- or
under-confident on data unlike its training set. Temperature scaling (Guo et al., 2017) fits one number
`T > 0` on held-out pairs so that `sigmoid((r_a - r_b) / T)` is as close as it gets to the rate at which
people agree. It keeps the ranking of every response (accuracy and rankings are unchanged) and keeps the
comparison antisymmetric (`P(a over b) = 1 - P(b over a)`), which a bias term would break.

Everything here takes `margins`: float arrays of shape (n,), `r_chosen - r_rejected` for n labelled pairs,
in raw score units. Numpy only, so that the server can import it without torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.errors import UserError
from models.evaluate import Z_95

MIN_CALIBRATION_PAIRS = 30
ECE_BINS = 10
# The search for the inverse temperature stops at these bounds: 1/T this large means the pairs leave
# the model infinitely confident, which the identifiability checks below rule out before the search.
_MAX_INVERSE_TEMPERATURE = 1e6
_BISECTION_STEPS = 200


class CalibrationError(UserError):
    """The pairs cannot determine a temperature (too few, no mistake, or no better than chance)."""


@dataclass(frozen=True)
class ReliabilityBin:
    """Pairs whose predicted winner's probability fell in [low, high): how sure the model was, how right."""

    low: float
    high: float
    pairs: int
    mean_confidence: float
    accuracy: float


@dataclass(frozen=True)
class CalibrationMetrics:
    """How well `sigmoid(margin / temperature)` matches the labels of n pairs.

    `nll`: mean -log P(chosen preferred) (the Bradley-Terry loss, in nats). `brier`: mean
    (1 - P(chosen preferred))^2. `ece`: expected calibration error of the predicted winner: pairs binned by
    the probability the model gives its own pick (0.5 to 1, `ECE_BINS` equal bins), the pair-weighted mean
    of |accuracy - mean probability| over the bins. A tie counts as a wrong pick, as in `rmserve eval`.
    """

    temperature: float
    n: int
    nll: float
    brier: float
    ece: float
    bins: tuple[ReliabilityBin, ...]

    def summary(self) -> dict[str, float]:
        """The three figures, for a model card or a JSON report."""
        return {"nll": self.nll, "brier": self.brier, "ece": self.ece}


def _as_margins(margins: np.ndarray) -> np.ndarray:
    values = np.asarray(margins, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("margins must be a non-empty 1-D array")
    if not np.all(np.isfinite(values)):
        raise ValueError("margins must be finite")
    return values


def preference_probability(margins: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """P(chosen preferred) = sigmoid(margin / temperature), float64 shape (n,), without overflow."""
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    # sigmoid(x) = exp(-logaddexp(0, -x)) stays finite for any x.
    return np.exp(-np.logaddexp(0.0, -np.asarray(margins, dtype=np.float64) / temperature))


def calibration_metrics(margins: np.ndarray, temperature: float = 1.0) -> CalibrationMetrics:
    """NLL, Brier score, ECE and the reliability bins of `margins` at `temperature`."""
    values = _as_margins(margins)
    probability = preference_probability(values, temperature)
    nll = float(np.mean(np.logaddexp(0.0, -values / temperature)))
    brier = float(np.mean((1.0 - probability) ** 2))
    confidence = np.maximum(probability, 1.0 - probability)
    right = values > 0
    edges = np.linspace(0.5, 1.0, ECE_BINS + 1)
    # Bin i holds [edges[i], edges[i + 1]); the last bin also holds confidence exactly 1.0.
    index = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, ECE_BINS - 1)
    bins: list[ReliabilityBin] = []
    ece = 0.0
    for i in range(ECE_BINS):
        members = index == i
        count = int(members.sum())
        if count == 0:
            continue
        mean_confidence = float(confidence[members].mean())
        accuracy = float(right[members].mean())
        ece += count / values.size * abs(accuracy - mean_confidence)
        bins.append(ReliabilityBin(float(edges[i]), float(edges[i + 1]), count, mean_confidence, accuracy))
    return CalibrationMetrics(temperature, int(values.size), nll, brier, ece, tuple(bins))


def _nll_slope(margins: np.ndarray, inverse_temperature: float) -> float:
    """d/ds of mean(log(1 + exp(-s m))): -mean(m sigmoid(-s m)); increasing in s (the NLL is convex in s)."""
    return float(-np.mean(margins * np.exp(-np.logaddexp(0.0, inverse_temperature * margins))))


def temperature_interval(margins: np.ndarray, temperature: float, z: float = Z_95) -> tuple[float, float | None]:
    """A 95% interval for the fitted `temperature` (Wald, on s = 1/T, from the NLL's curvature at the fit).

    The mean NLL's second derivative in s is mean(m^2 sigmoid(s m) sigmoid(-s m)), so s has standard error
    1 / sqrt(n * that). The interval is mapped back to T; its upper end is None (unbounded) when the
    interval for s reaches 0, i.e. when the pairs cannot rule out "no confidence at all".
    """
    values = _as_margins(margins)
    inverse = 1.0 / temperature
    p = preference_probability(values, temperature)
    curvature = float(np.mean(values**2 * p * (1.0 - p)))
    if curvature <= 0:
        return 0.0, None
    error = 1.0 / math.sqrt(values.size * curvature)
    high_inverse, low_inverse = inverse + z * error, inverse - z * error
    return 1.0 / high_inverse, (1.0 / low_inverse if low_inverse > 0 else None)


def require_enough_pairs(pairs: int, min_pairs: int = MIN_CALIBRATION_PAIRS) -> None:
    """Raise CalibrationError for fewer than `min_pairs` pairs (before any of them is scored)."""
    if pairs < min_pairs:
        raise CalibrationError(f"calibration needs at least {min_pairs} pairs, got {pairs}")


def fit_temperature(margins: np.ndarray, min_pairs: int = MIN_CALIBRATION_PAIRS) -> float:
    """The temperature T > 0 that minimises the mean Bradley-Terry NLL of `margins`.

    The NLL is convex in s = 1/T, so its minimum is where its slope crosses zero, found by bisection.
    Raises CalibrationError when fewer than `min_pairs` pairs are given, when no pair is ordered wrongly
    (the NLL then falls forever as T -> 0: nothing bounds the model's confidence), or when the mean margin
    is not positive (the model does no better than chance here, and only T -> infinity, probability 0.5
    for everything, minimises the NLL).
    """
    values = _as_margins(margins)
    require_enough_pairs(values.size, min_pairs)
    # A tie's NLL does not depend on T, so only a wrongly ordered pair bounds the confidence.
    if not np.any(values < 0):
        raise CalibrationError(
            f"the model orders all {values.size} pairs correctly: no temperature is determined by them; "
            "calibrate on more pairs, or on harder ones"
        )
    if values.mean() <= 0:
        raise CalibrationError(
            f"the mean margin (chosen - rejected) is {values.mean():.4g}: the model does no better than chance on "
            "these pairs, so no temperature makes its probabilities informative"
        )
    low, high = 0.0, 1.0
    while _nll_slope(values, high) < 0:
        low, high = high, high * 2
        if high > _MAX_INVERSE_TEMPERATURE:
            raise CalibrationError("the temperature is too small to determine from these pairs")
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        if _nll_slope(values, middle) < 0:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return 1.0 / ((low + high) / 2)
