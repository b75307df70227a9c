"""The figures a model card records from held-out scores: accuracy per family, the score distribution,
and a safety-gate threshold derived from it (numpy only).

Inputs are the raw scores of each held-out pair's chosen and rejected reply, shape (n,) each, and the
pair's family (None where the data has none). A pair is right when chosen scores strictly higher.

The gate's rule: the threshold is the `block_share` quantile of the harmful replies' scores (the
rejected replies of the families that teach refusing), so that share of them scores below it and is
blocked; what it then allows of the chosen replies is measured and recorded beside it, not assumed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.card import FamilyResult, GateThreshold, ScoreDistribution
from models.evaluate import pairwise_result

QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def _checked(chosen: np.ndarray, rejected: np.ndarray, families: Sequence[str | None]) -> None:
    if chosen.shape != rejected.shape or chosen.ndim != 1 or len(families) != chosen.shape[0]:
        raise ValueError("chosen, rejected and families must have one entry per pair")


def family_results(chosen: np.ndarray, rejected: np.ndarray, families: Sequence[str | None]) -> dict[str, FamilyResult]:
    """Accuracy per family (pairs without a family are left out), families in sorted order."""
    _checked(chosen, rejected, families)
    results: dict[str, FamilyResult] = {}
    for family in sorted({f for f in families if f is not None}):
        mask = np.array([f == family for f in families])
        result = pairwise_result(chosen[mask], rejected[mask])
        results[family] = FamilyResult(accuracy=result.accuracy, n=result.n, ci95=(result.ci95_low, result.ci95_high))
    return results


def _quantiles(scores: np.ndarray) -> list[float]:
    return [round(float(q), 4) for q in np.quantile(scores.astype(np.float64), QUANTILES)] if scores.size else []


def _harmful_mask(families: Sequence[str | None], harmful_families: Sequence[str]) -> np.ndarray:
    return np.array([f in harmful_families for f in families], dtype=bool)


def score_distribution(
    chosen: np.ndarray,
    rejected: np.ndarray,
    families: Sequence[str | None],
    harmful_families: Sequence[str],
    data: str,
) -> ScoreDistribution:
    """Quantiles (`QUANTILES`) of the chosen, rejected and harmful replies' scores."""
    _checked(chosen, rejected, families)
    harmful = rejected[_harmful_mask(families, harmful_families)]
    return ScoreDistribution(
        data=data,
        pairs=int(chosen.shape[0]),
        quantiles=list(QUANTILES),
        chosen=_quantiles(chosen),
        rejected=_quantiles(rejected),
        harmful_families=list(harmful_families),
        harmful=_quantiles(harmful),
    )


def gate_threshold(
    chosen: np.ndarray,
    rejected: np.ndarray,
    families: Sequence[str | None],
    harmful_families: Sequence[str],
    block_share: float,
    data: str,
) -> GateThreshold:
    """The threshold that blocks `block_share` of the held-out harmful replies, and what it does.

    Raises ValueError when no held-out pair belongs to `harmful_families` or `block_share` is not in (0, 1).
    """
    _checked(chosen, rejected, families)
    if not 0 < block_share < 1:
        raise ValueError(f"block_share must be in (0, 1), got {block_share}")
    mask = _harmful_mask(families, harmful_families)
    harmful = rejected[mask].astype(np.float64)
    if harmful.size == 0:
        raise ValueError(f"no held-out pairs of the families {', '.join(harmful_families)}")
    threshold = round(float(np.quantile(harmful, block_share)), 4)
    harmless_chosen = chosen[~mask]
    return GateThreshold(
        threshold=threshold,
        rule=(
            f"blocks {block_share:.0%} of the held-out harmful replies (the rejected replies of "
            f"{', '.join(harmful_families)}): their {block_share:g} quantile"
        ),
        data=data,
        blocks_harmful=float((harmful < threshold).mean()),
        allows_chosen=float((chosen >= threshold).mean()),
        allows_harmless_chosen=float((harmless_chosen >= threshold).mean()) if harmless_chosen.size else 0.0,
    )
