"""The model card that training and export write beside a reward model (`rmserve_card.json`).

It records where the model came from (data, hyperparameters, held-out accuracy, per family where the
data has families), the score distribution on held-out pairs and the safety gate's default threshold
derived from it (where the trainer derived one), the mean and standard deviation of its training scores
(for normalized scores), and a few reference pairs with their scores so
that a server can check at start-up that it reproduces them (wrong tokenizer, template or truncation).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.errors import validation_problems

CARD_FILENAME = "rmserve_card.json"


class ReferencePair(BaseModel):
    """One (prompt, response) pair and the raw score the model gave it when the card was written."""

    prompt: str | list[dict[str, str]]
    response: str
    score: float


class ScoreStats(BaseModel):
    """Mean and standard deviation of raw scores over the training responses (chosen and rejected)."""

    mean: float
    std: float = Field(gt=0)


class Calibration(BaseModel):
    """The temperature of the model's Bradley-Terry probabilities, `sigmoid((r_a - r_b) / temperature)`,
    and what it was fitted on (`rmserve calibrate` fills every field): the data, the backend that scored
    it, and the NLL / Brier / ECE of those pairs before (temperature 1) and after. Only the temperature is
    required, so that a temperature fitted elsewhere can be written by hand."""

    temperature: float = Field(gt=0)
    temperature_ci95: tuple[float, float | None] | None = Field(
        default=None, description="95% interval; an upper end of None is unbounded"
    )
    data: str | None = None
    pairs: int | None = None
    accuracy: float | None = None
    backend: str | None = None
    dtype: str | None = None
    before: dict[str, float] | None = None
    after: dict[str, float] | None = None
    created_at: str | None = None


class Objectives(BaseModel):
    """How a multi-objective head's K outputs combine into the one `score`: a weight per output, named as
    the config's `id2label` names them; `score = sum(weights[name] * value[name])`."""

    weights: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(min_length=1)


class ProcessReward(BaseModel):
    """How a process reward model (TRL's PRMTrainer format) was trained: the text that ended every step.
    TRL's `PRMConfig.step_separator` defaults to a newline; a model trained with another writes it here."""

    step_separator: str = Field(default="\n", min_length=1)


class FamilyResult(BaseModel):
    """Pairwise accuracy on one family of held-out pairs, with its 95% Wilson interval."""

    accuracy: float
    n: int
    ci95: tuple[float, float]


class ScoreDistribution(BaseModel):
    """Quantiles of raw scores on held-out pairs: `chosen[i]` and `rejected[i]` are the `quantiles[i]`
    quantiles of the chosen and of the rejected replies' scores; `harmful` those of the rejected replies
    of the families named in `harmful_families` (harmful compliance, what a safety gate must block)."""

    data: str
    pairs: int
    quantiles: list[float]
    chosen: list[float]
    rejected: list[float]
    harmful_families: list[str] = Field(default_factory=list)
    harmful: list[float] = Field(default_factory=list)


class GateThreshold(BaseModel):
    """The default threshold of /v1/gate for this model (allow when score >= threshold), how it was
    derived (`rule`), and what it does on the held-out data it was derived from: the share of harmful
    replies it blocks and the share of chosen replies (all families, and harmless families only) it allows."""

    threshold: float
    rule: str
    data: str
    blocks_harmful: float
    allows_chosen: float
    allows_harmless_chosen: float


class ExportParity(BaseModel):
    """The fp32 gate of `rmserve export`: the largest |onnx - torch| over `pairs` parity pairs (scored in one
    padded batch and each alone), its tolerance, and the largest |alone - in batch| of the ONNX scores."""

    pairs: int
    max_abs_diff: float
    tolerance: float
    batch_invariance_max_abs_diff: float


class Fp16Check(BaseModel):
    """The fp16 gate: the execution provider it ran on, the largest |fp16 - torch fp32| and its tolerance."""

    provider: str
    max_abs_diff: float
    tolerance: float


class ExportRecord(BaseModel):
    """The card's `export` section: how `rmserve export` made model.onnx and what its gates measured.

    `dtype` is what the file computes in ("fp32", "fp16" or "int8"; model.onnx's own metadata says the same,
    `models.runtime.OnnxMetadata`). The optional steps leave None when they were not asked for:
    `optimization` (`models.export.optimize_graph`'s report: `applied`, and `reason` or `model_type`,
    `fused_operators`, `parity_max_abs_diff`), `fp16`, and `quantization` (`models.quantize`'s method plus
    `gate_data`, `gate` (a `QualityReport`), `forced`, `batch_invariance_max_abs_diff`); `fidelity` holds the
    fidelity gate of each reduced precision measured at export (bf16, int8). Keys this version
    does not know are kept, so a card written by a newer rmserve survives a rewrite by `rmserve calibrate`.
    """

    model_config = ConfigDict(extra="allow")

    format: str = "onnx"
    file: str = "model.onnx"
    dtype: str = "fp32"
    opset: int | None = None
    exporter: str | None = None
    inputs: list[str] = Field(default_factory=list)
    output: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    source: dict[str, str] = Field(default_factory=dict, description="path and weights_digest of the source")
    max_length: int | None = None
    parity: ExportParity | None = None
    optimization: dict[str, Any] | None = None
    fp16: Fp16Check | None = None
    quantization: dict[str, Any] | None = None
    precision: str | None = Field(default=None, description="what --precision asked for (fp32, bf16 or int8)")
    fidelity: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per reduced precision, its fidelity gate against fp32 (models.fidelity)"
    )
    force: bool = False
    reference_scores: dict[str, str] | None = None
    exported_at: str | None = None


class ModelCard(BaseModel):
    """Provenance of a reward model folder. Every field but `name` is optional so that folders made
    elsewhere (a checkpoint from the hub, say) can carry a partial card."""

    name: str
    description: str | None = None
    base_model: str | None = None
    kind: str | None = None
    max_length: int | None = None
    training_data: dict[str, Any] | None = None
    hyperparameters: dict[str, Any] | None = None
    heldout_accuracy: float | None = None
    heldout_pairs: int | None = None
    heldout_families: dict[str, FamilyResult] | None = None
    score_distribution: ScoreDistribution | None = None
    gate: GateThreshold | None = None
    score_stats: ScoreStats | None = None
    reference_pairs: list[ReferencePair] = Field(default_factory=list)
    export: ExportRecord | None = None
    calibration: Calibration | None = None
    objectives: Objectives | None = None
    process_reward: ProcessReward | None = None
    created_at: str | None = None
    rmserve_version: str | None = None


def read_card(model_dir: Path) -> ModelCard | None:
    """Return the folder's card, or None when it has none. A malformed card raises ValueError."""
    path = model_dir / CARD_FILENAME
    if not path.is_file():
        return None
    try:
        return ModelCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise ValueError(f"{path}: malformed model card: {validation_problems(exc)}") from exc
    except ValueError as exc:  # not JSON, or not UTF-8
        raise ValueError(f"{path}: malformed model card: {exc}") from exc


def write_card(model_dir: Path, card: ModelCard) -> Path:
    """Write the card atomically (a temporary file renamed over it): `rmserve calibrate` rewrites the card
    of a folder that a server may be reading, which must see the old card or the new one, never half."""
    path = model_dir / CARD_FILENAME
    partial = path.with_name(f".{CARD_FILENAME}.{os.getpid()}.tmp")
    partial.write_text(card.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path
