"""The fidelity gate of every reduced precision (bf16, int8): is it faithful to fp32 where it matters?

A reward model is used to compare responses, so a reduced precision is judged by the comparisons it
keeps: winner agreement with fp32 on pairs whose fp32 margin exceeds `NEAR_TIE_FRACTION` (5%) of the
standard deviation of the fp32 scores. Near-ties flip on noise (one bf16 rounding step) and would make
the gate measure nothing but luck, so they are reported (`near_tie_flips`), not counted. Beside it: the
Spearman rank correlation of all scores, both accuracies (the share of comparisons the first item wins),
the largest absolute score change, and the fp32 margin of every flipped comparison in units of the std.

A precision passes when agreement above the margin is at least `MIN_AGREEMENT_ABOVE_MARGIN` (99.5%) and
Spearman at least `MIN_SPEARMAN` (0.9995); one that fails is never chosen automatically. Export records
the report on held-out preference pairs in the model card (`fidelity_report`: both criteria, always); the
server checks again at start-up on the card's reference pairs (`reference_fidelity_report`: every two of
them form a comparison).

The start-up check has only a handful of reference scores (the default model's card holds 8, the built-in
reference prompts are 5), and there Spearman measures near-ties, not fidelity: swapping two neighbouring
scores lowers it by 12 / (n (n^2 - 1)), 0.024 for 8 scores, 48 times what the bound allows (1 -
MIN_SPEARMAN = 0.0005). Four of the default model's eight reference scores sit at its head's floor within
the margin of one another (three within 0.003 std); OpenVINO bf16 ties and reorders them and scored 0.976
there (AVX512-BF16) while keeping every winner above the margin. Below `MIN_SCORES_FOR_SPEARMAN` scores
the start-up check therefore judges agreement above the margin alone and reports Spearman without judging
it. Nothing is lost by that: with every two scores compared, agreement above the margin already checks the
whole order at the 5%-of-std resolution, and what Spearman adds beyond it is the order within near-ties,
which the gate exists not to count. From `MIN_SCORES_FOR_SPEARMAN` scores on it is judged as at export.

Torch-free and runtime-free: it only compares score arrays.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NEAR_TIE_FRACTION = 0.05
MIN_AGREEMENT_ABOVE_MARGIN = 0.995
MIN_SPEARMAN = 0.9995
# The fewest scores at which an all-against-all check judges Spearman: the smallest n where one swap of two
# neighbours (12 / (n (n^2 - 1)), 4.8e-5 at 63) costs at most a tenth of the allowance 1 - MIN_SPEARMAN,
# so that near-tie noise alone cannot decide the verdict.
MIN_SCORES_FOR_SPEARMAN = 63


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as Spearman's coefficient requires)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        stop = start + 1
        while stop < len(values) and sorted_values[stop] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop]] = (start + stop + 1) / 2.0
        start = stop
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length 1-D arrays (nan when either is constant)."""
    ra, rb = _ranks(np.asarray(a, dtype=np.float64)), _ranks(np.asarray(b, dtype=np.float64))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


@dataclass(frozen=True)
class FidelityReport:
    """A reduced precision against fp32 on the same `scores` items and `comparisons` between them.

    `margin_threshold`: NEAR_TIE_FRACTION x the std of the fp32 scores (raw score units); comparisons
    with |fp32 margin| above it are `decisive`, and `agreement_above_margin` is the share of those whose
    winner the reduced precision keeps (1.0 when none is decisive). `flipped_margins_std`: |fp32 margin|
    / fp32 std of every flipped comparison, decisive or not, ascending. `spearman_judged`: whether
    `passed` requires `min_spearman` (false only for a start-up check on fewer than
    `MIN_SCORES_FOR_SPEARMAN` reference scores, where Spearman is reported only).
    """

    precision: str
    comparisons: int
    scores: int
    decisive: int
    agreement_above_margin: float
    near_tie_flips: int
    spearman: float
    accuracy_fp32: float
    accuracy_reduced: float
    max_abs_diff: float
    margin_threshold: float
    flipped_margins_std: tuple[float, ...]
    min_agreement_above_margin: float = MIN_AGREEMENT_ABOVE_MARGIN
    min_spearman: float = MIN_SPEARMAN
    spearman_judged: bool = True

    @property
    def passed(self) -> bool:
        agrees = self.agreement_above_margin >= self.min_agreement_above_margin
        return agrees and (self.spearman >= self.min_spearman or not self.spearman_judged)

    def summary(self) -> str:
        flips = len(self.flipped_margins_std)
        largest = f", largest flipped margin {self.flipped_margins_std[-1]:.3g} std" if flips else ""
        verdict = "passes" if self.passed else "FAILS"
        bound = (
            f"minimum {self.min_spearman:g}"
            if self.spearman_judged
            else f"reported, not judged: {self.scores} scores, fewer than {MIN_SCORES_FOR_SPEARMAN}"
        )
        return (
            f"{self.precision} vs fp32 on {self.comparisons} comparisons of {self.scores} scores: {verdict} the "
            f"fidelity gate; agreement above the {NEAR_TIE_FRACTION:.0%}-of-std margin "
            f"{self.agreement_above_margin:.2%} of {self.decisive} (minimum {self.min_agreement_above_margin:.1%}), "
            f"Spearman {self.spearman:.5f} ({bound}), {flips} flipped ({self.near_tie_flips} near-ties{largest}), "
            f"accuracy fp32 {self.accuracy_fp32:.2%} -> {self.accuracy_reduced:.2%}, max |diff| {self.max_abs_diff:.3g}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "comparisons": self.comparisons,
            "scores": self.scores,
            "decisive": self.decisive,
            "agreement_above_margin": self.agreement_above_margin,
            "near_tie_flips": self.near_tie_flips,
            "spearman": self.spearman,
            "accuracy_fp32": self.accuracy_fp32,
            "accuracy_reduced": self.accuracy_reduced,
            "max_abs_diff": self.max_abs_diff,
            "margin_threshold": self.margin_threshold,
            "flipped_margins_std": list(self.flipped_margins_std),
            "min_agreement_above_margin": self.min_agreement_above_margin,
            "min_spearman": self.min_spearman,
            "spearman_judged": self.spearman_judged,
            "passed": self.passed,
        }


def fidelity_report(
    precision: str,
    fp32_scores: np.ndarray,
    reduced_scores: np.ndarray,
    comparisons: Sequence[tuple[int, int]],
    judge_spearman: bool = True,
) -> FidelityReport:
    """Compare `reduced_scores` with `fp32_scores` (shape (n,), the same items) on `comparisons`
    (index pairs (a, b): "does a beat b?"), judged by both criteria (the export gate) unless
    `judge_spearman` is false (`reference_fidelity_report` decides that). Raises ValueError on mismatched
    or empty inputs."""
    fp32 = np.asarray(fp32_scores, dtype=np.float64).reshape(-1)
    reduced = np.asarray(reduced_scores, dtype=np.float64).reshape(-1)
    if fp32.shape != reduced.shape or len(fp32) < 2 or not comparisons:
        raise ValueError("a fidelity report needs two equal score arrays of at least 2 items and a comparison")
    index = np.asarray(comparisons, dtype=np.int64)
    fp32_margin = fp32[index[:, 0]] - fp32[index[:, 1]]
    reduced_margin = reduced[index[:, 0]] - reduced[index[:, 1]]
    std = float(fp32.std())
    threshold = NEAR_TIE_FRACTION * std
    kept = np.sign(fp32_margin) == np.sign(reduced_margin)
    decisive = np.abs(fp32_margin) > threshold
    flipped = np.sort(np.abs(fp32_margin[~kept]))
    correlation = spearman(fp32, reduced)
    return FidelityReport(
        precision=precision,
        comparisons=len(index),
        scores=len(fp32),
        decisive=int(decisive.sum()),
        agreement_above_margin=float(kept[decisive].mean()) if decisive.any() else 1.0,
        near_tie_flips=int((~kept & ~decisive).sum()),
        spearman=correlation if not math.isnan(correlation) else 0.0,
        accuracy_fp32=float(np.mean(fp32_margin > 0)),
        accuracy_reduced=float(np.mean(reduced_margin > 0)),
        max_abs_diff=float(np.max(np.abs(fp32 - reduced))),
        margin_threshold=threshold,
        flipped_margins_std=tuple(float(m / std) if std > 0 else math.inf for m in flipped),
        spearman_judged=judge_spearman,
    )


def preference_comparisons(pairs: int) -> list[tuple[int, int]]:
    """Comparisons of preference pairs scored as [chosen_0..chosen_n-1, rejected_0..rejected_n-1]."""
    return [(i, pairs + i) for i in range(pairs)]


def all_comparisons(items: int) -> list[tuple[int, int]]:
    """Every two of `items` scores (the card's reference pairs: no chosen/rejected labels)."""
    return list(itertools.combinations(range(items), 2))


def reference_fidelity_report(precision: str, fp32_scores: np.ndarray, reduced_scores: np.ndarray) -> FidelityReport:
    """The start-up check on a model card's reference scores: every two of them compared, Spearman judged
    only from `MIN_SCORES_FOR_SPEARMAN` scores on (see the module docstring for why). Raises ValueError
    on mismatched inputs or fewer than two scores."""
    items = np.asarray(fp32_scores).size
    judge = items >= MIN_SCORES_FOR_SPEARMAN
    return fidelity_report(precision, fp32_scores, reduced_scores, all_comparisons(items), judge_spearman=judge)
