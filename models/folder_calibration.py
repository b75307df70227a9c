"""Calibrate a reward-model folder: score preference pairs, fit one temperature, record it in the card.

`calibrate_folder` is what `rmserve calibrate` runs. It scores every chosen and rejected response as
`rmserve eval` does (`models.evaluate.evaluate_folder`: torch, or onnxruntime/OpenVINO for an ONNX export,
so an int8 model is calibrated on its own scores), fits the temperature (`models.calibration`), and writes
a `Calibration` record into the folder's model card unless asked for a dry run. A server then answers
`/v1/compare` with `calibrated_prob_a_preferred = sigmoid((r_a - r_b) / T)`.

Calibrate on pairs the model was not trained on: margins on training rows are larger than on new data,
so T would come out too small (over-confident probabilities). When the card says the model was trained on
the same file and the rows overlap, the call is refused unless `allow_training_rows`. The checks that need
no model (folder, card, pair count, overlap) run before the model loads, so those mistakes fail at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.calibration import (
    CalibrationMetrics,
    calibration_metrics,
    fit_temperature,
    require_enough_pairs,
    temperature_interval,
)
from models.card import Calibration, ModelCard, write_card
from models.data import RowRange, count_rows, data_name, file_fingerprint, read_preferences
from models.errors import UserError
from models.evaluate import EvalBackend, evaluate_folder
from models.folder import inspect_model_folder
from models.heads import read_head


@dataclass(frozen=True)
class FolderCalibration:
    """The outcome of `calibrate_folder`: the fitted record, the metrics behind it, where it was written
    (None on a dry run), and how many selected rows the card's training rows also covered."""

    calibration: Calibration
    before: CalibrationMetrics
    after: CalibrationMetrics
    model: str
    card_path: Path | None
    training_rows_overlap: int


def training_overlap(card_training_data: dict[str, Any] | None, data: Path, rows: RowRange | None) -> int:
    """How many of the selected rows of `data` the card's training data also covered (0 for another file)."""
    if not card_training_data or card_training_data.get("sha256") != file_fingerprint(data):
        return 0
    total = count_rows(data)
    trained_rows = card_training_data.get("rows")
    trained = (RowRange.parse(trained_rows) if trained_rows else RowRange()).indices(total)
    selected = (rows or RowRange()).indices(total)
    return max(0, min(trained.stop, selected.stop) - max(trained.start, selected.start))


def calibrate_folder(
    model_dir: str | Path,
    data: str | Path,
    rows: RowRange | None = None,
    *,
    backend: EvalBackend = "auto",
    device: str = "cpu",
    dtype: str = "fp32",
    max_length: int | None = None,
    batch_size: int = 16,
    threads: int | None = None,
    allow_training_rows: bool = False,
    dry_run: bool = False,
) -> FolderCalibration:
    """Fit the temperature of a one-output reward model's probabilities on `rows` of `data`.

    Raises UserError (or its subclasses CalibrationError, ModelLoadError, DataFormatError) for a folder
    that cannot be calibrated, too few pairs, training rows without `allow_training_rows`, or pairs that
    determine no temperature; the card is then left as it was.
    """
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    folder = inspect_model_folder(model_dir)
    head = read_head(str(folder.path), folder.config, folder.card, trust_remote_code=False)
    if head.kind != "reward":
        raise UserError(f"rmserve calibrate fits one-output reward models; {folder.path} has a {head.kind} head")
    pairs = read_preferences(data, rows)
    require_enough_pairs(len(pairs))
    overlap = training_overlap(folder.card.training_data if folder.card else None, Path(data), rows)
    if overlap and not allow_training_rows:
        raise UserError(
            f"{overlap} of the selected rows of {Path(data).name} lie in the rows this model was trained from "
            "(its card's training data): calibrated there, its probabilities would be over-confident on new data. "
            "Choose rows it did not train on, or pass --allow-training-rows"
        )
    evaluation = evaluate_folder(
        folder.path, pairs, batch_size, max_length, device=device, threads=threads, backend=backend, dtype=dtype
    )
    margins = evaluation.margins
    temperature = fit_temperature(margins)
    before = calibration_metrics(margins, 1.0)
    after = calibration_metrics(margins, temperature)
    calibration = Calibration(
        temperature=temperature,
        temperature_ci95=temperature_interval(margins, temperature),
        data=data_name(data, rows),
        pairs=len(pairs),
        accuracy=evaluation.result.accuracy,
        backend=evaluation.backend,
        dtype=evaluation.dtype,
        before=before.summary(),
        after=after.summary(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    card_path = None
    if not dry_run:
        current = folder.card or ModelCard(name=folder.name, kind=folder.kind)
        card_path = write_card(folder.path, current.model_copy(update={"calibration": calibration}))
    return FolderCalibration(calibration, before, after, folder.name, card_path, overlap)
