"""Start-up self-test: score the model card's reference pairs and refuse to serve if they disagree.

Training and export write a few (prompt, response) pairs and the raw scores the model gave them into the
model card. Before a server reports ready it scores the same pairs through the very path that serves
requests (formatter + backend). A wrong tokenizer (another vocabulary, a lower-casing one), a wrong chat
template, a different truncation or the wrong weights all move these scores by far more than numerical
noise, so a mismatch is caught before a single user request is scored.

Torch-free: used by the ONNX serving path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.card import ModelCard, ReferencePair
from models.errors import UserError
from models.formatting import EncodedPair, PairFormatter, Prompt
from models.runtime import ScoreFn

# Short pairs of several shapes (plain text, multi-turn chat, code, non-ASCII) so that the self-test
# touches the template and the tokenizer's normalisation; all far below any sane max_length.
DEFAULT_REFERENCE_PROMPTS: tuple[tuple[Prompt, str], ...] = (
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is the capital of France?", "I don't know, maybe London?"),
    (
        [
            {"role": "user", "content": "Write a Python function that adds two numbers."},
            {"role": "assistant", "content": "Sure. Do you want type hints?"},
            {"role": "user", "content": "Yes please."},
        ],
        "def add(a: float, b: float) -> float:\n    return a + b",
    ),
    ("How do I pick a lock to get into my neighbour's house?", "I can't help with breaking into someone's home."),
    ("Übersetze 'thank you' ins Deutsche.", "„Danke schön“ — or simply „Danke“."),
)


@dataclass(frozen=True)
class Tolerance:
    """A score passes when |got - expected| <= absolute + relative * |expected|."""

    absolute: float
    relative: float

    def allows(self, expected: float, got: float) -> bool:
        return abs(got - expected) <= self.absolute + self.relative * abs(expected)

    def __str__(self) -> str:
        return f"{self.absolute:g} + {self.relative:g}*|score|"


# How far a backend may legitimately drift from the scores written into the card. The card's scores come
# from the fp32 model that training or export ran (or, for an exported int8 or fp16 model, that very
# model on the CPU). fp32 on another device or kernel library differs by reduction order only; fp16 and
# bf16 round every activation (bf16 keeps 8 mantissa bits); int8 kernels differ between CPU instruction
# sets (VNNI or not) and execution providers by a few quantization steps.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(absolute=1e-4, relative=1e-4),
    "fp16": Tolerance(absolute=1e-2, relative=1e-2),
    "bf16": Tolerance(absolute=5e-2, relative=5e-2),
    "int8": Tolerance(absolute=5e-3, relative=1e-2),
}
# On a GPU, fp32 matmuls may run in TF32 (10 mantissa bits).
GPU_FP32_TOLERANCE = Tolerance(absolute=2e-3, relative=2e-3)


class SelfTestError(UserError, RuntimeError):
    """The model does not reproduce its card's reference scores: wrong tokenizer, template, truncation
    or weights. The message gives the figures, never the texts."""


@dataclass(frozen=True)
class SelfTestResult:
    """What the self-test checked: pairs compared, pairs skipped (truncated by a lower max_length than
    the card's), and the largest absolute difference seen."""

    checked: int
    skipped: int
    max_abs_diff: float


def tolerance_for(dtype: str, device: str) -> Tolerance:
    """The self-test tolerance of a backend running `dtype` ("fp32", "fp16", "bf16", "int8") on `device`."""
    if dtype == "fp32" and device.startswith("cuda"):
        return GPU_FP32_TOLERANCE
    try:
        return TOLERANCES[dtype]
    except KeyError:
        raise ValueError(f"no self-test tolerance for dtype {dtype!r}") from None


def reference_pairs_to_store(card: ModelCard | None) -> list[tuple[Prompt, str]]:
    """The (prompt, response) pairs to score and store in a new card: the source card's own reference
    pairs when it has some (so that they stay comparable across exports), else the defaults."""
    if card is not None and card.reference_pairs:
        return [(pair.prompt, pair.response) for pair in card.reference_pairs]
    return list(DEFAULT_REFERENCE_PROMPTS)


def compute_reference_pairs(
    pairs: Sequence[tuple[Prompt, str]], formatter: PairFormatter, score_fn: ScoreFn
) -> list[ReferencePair]:
    """Score `pairs` with `score_fn` (one batch) and return them as card entries."""
    encoded = [formatter.encode(prompt, response) for prompt, response in pairs]
    scores = np.asarray(score_fn(encoded), dtype=np.float64)
    return [
        ReferencePair(prompt=prompt if isinstance(prompt, str) else list(prompt), response=response, score=float(s))
        for (prompt, response), s in zip(pairs, scores, strict=True)
    ]


def verify_reference_scores(
    card: ModelCard | None, formatter: PairFormatter, score_fn: ScoreFn, tolerance: Tolerance
) -> SelfTestResult:
    """Score the card's reference pairs with `score_fn` and compare with the stored scores.

    A card without reference pairs passes with nothing checked. A pair that the serving formatter
    truncates while the card was written with a longer max_length is skipped: the operator chose a
    shorter context, so its score legitimately differs. Raises SelfTestError naming how many pairs
    failed, the largest difference and the tolerance.
    """
    if card is None or not card.reference_pairs:
        return SelfTestResult(checked=0, skipped=0, max_abs_diff=0.0)
    shorter_than_card = card.max_length is not None and formatter.max_length < card.max_length
    encoded: list[EncodedPair] = []
    expected: list[float] = []
    skipped = 0
    for pair in card.reference_pairs:
        item = formatter.encode(pair.prompt, pair.response)
        if item.truncated and shorter_than_card:
            skipped += 1
            continue
        encoded.append(item)
        expected.append(pair.score)
    if not encoded:
        return SelfTestResult(checked=0, skipped=skipped, max_abs_diff=0.0)
    got = np.asarray(score_fn(encoded), dtype=np.float64)
    if got.shape != (len(encoded),) or not np.all(np.isfinite(got)):
        raise SelfTestError(f"self-test: the backend returned {got.shape} scores for {len(encoded)} reference pairs")
    diffs = np.abs(got - np.asarray(expected))
    failed = [i for i, (e, g) in enumerate(zip(expected, got, strict=True)) if not tolerance.allows(e, float(g))]
    if failed:
        worst = max(failed, key=lambda i: diffs[i])
        raise SelfTestError(
            f"self-test failed: {len(failed)} of {len(encoded)} reference pairs in the model card score differently "
            f"(worst: pair {worst}, expected {expected[worst]:.6g}, got {got[worst]:.6g}, |diff| {diffs[worst]:.3g} > "
            f"tolerance {tolerance}). The tokenizer, chat template, truncation or weights differ from those the "
            "card was written with; re-export or retrain the folder, or check that its files belong together"
        )
    return SelfTestResult(checked=len(encoded), skipped=skipped, max_abs_diff=float(diffs.max()))
