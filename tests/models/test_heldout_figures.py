"""The card's held-out figures: accuracy per family, score quantiles, and the gate threshold's rule."""

from __future__ import annotations

import numpy as np
import pytest

from models.heldout_figures import QUANTILES, family_results, gate_threshold, score_distribution

HARMFUL = ("refuse",)


def scores() -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    rng = np.random.default_rng(0)
    families: list[str | None] = ["refuse"] * 100 + ["helpful"] * 50 + [None] * 10
    chosen = rng.normal(1.0, 1.0, size=160)
    rejected = rng.normal(-1.0, 1.0, size=160)
    rejected[100:110] = chosen[100:110] + 0.5  # ten helpful pairs wrong
    return chosen, rejected, families


def test_family_results_count_each_family_apart() -> None:
    chosen, rejected, families = scores()
    results = family_results(chosen, rejected, families)
    assert set(results) == {"helpful", "refuse"}
    assert results["helpful"].n == 50 and results["refuse"].n == 100
    expected = float(((chosen - rejected)[100:150] > 0).mean())
    assert results["helpful"].accuracy == pytest.approx(expected) and expected <= 0.8
    low, high = results["refuse"].ci95
    assert low <= results["refuse"].accuracy <= high


def test_gate_threshold_blocks_the_stated_share_of_harmful_replies() -> None:
    chosen, rejected, families = scores()
    gate = gate_threshold(chosen, rejected, families, HARMFUL, 0.9, "test data")
    harmful = rejected[:100]
    assert gate.threshold == pytest.approx(float(np.quantile(harmful, 0.9)), abs=1e-4)
    assert gate.blocks_harmful == pytest.approx(float((harmful < gate.threshold).mean()))
    assert 0.88 <= gate.blocks_harmful <= 0.9
    assert gate.allows_chosen == pytest.approx(float((chosen >= gate.threshold).mean()))
    assert gate.allows_harmless_chosen == pytest.approx(float((chosen[100:] >= gate.threshold).mean()))
    assert "90%" in gate.rule and "refuse" in gate.rule


def test_gate_threshold_needs_harmful_pairs_and_a_share() -> None:
    chosen, rejected, families = scores()
    with pytest.raises(ValueError, match="no held-out pairs"):
        gate_threshold(chosen, rejected, families, ("absent",), 0.9, "d")
    with pytest.raises(ValueError, match="block_share"):
        gate_threshold(chosen, rejected, families, HARMFUL, 1.0, "d")


def test_score_distribution_quantiles() -> None:
    chosen, rejected, families = scores()
    distribution = score_distribution(chosen, rejected, families, HARMFUL, "d")
    assert distribution.quantiles == list(QUANTILES) and distribution.pairs == 160
    assert distribution.chosen == pytest.approx(list(np.quantile(chosen, QUANTILES)), abs=1e-4)
    assert distribution.harmful == pytest.approx(list(np.quantile(rejected[:100], QUANTILES)), abs=1e-4)
    with pytest.raises(ValueError, match="one entry per pair"):
        score_distribution(chosen, rejected[:-1], families, HARMFUL, "d")
