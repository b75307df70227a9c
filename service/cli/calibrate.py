"""`rmserve calibrate`: fit the temperature of a model's Bradley-Terry probabilities on preference pairs.

    rmserve calibrate --model runs/hh-rm --data harmless-base-test.jsonl.gz --rows 1500:1800 --json

Scores every chosen and rejected response with the backend the server would use for the folder (torch,
or onnxruntime for an ONNX export, so an int8 model is calibrated on its own scores), fits one
temperature T (`models.calibration`), and writes it into the folder's model card. A server then answers
`/v1/compare` with `calibrated_prob_a_preferred = sigmoid((r_a - r_b) / T)` beside the raw
`prob_a_preferred`. Raw scores, rankings and accuracy do not change.

Calibrate on pairs the model was not trained on: margins on training rows are larger than on new data,
so T would come out too small (over-confident probabilities). When the card says the model was trained
on the same file and the rows overlap, the command refuses unless `--allow-training-rows` is given.
`--json` prints one JSON object: the temperature, the pairs, and NLL / Brier / ECE before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.data import RowRange, row_range_argument
from models.errors import UserError, validation_problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="reward-model folder (safetensors or an ONNX export)")
    parser.add_argument("--data", required=True, help="preference pairs: JSONL or JSONL.gz, TRL or HH-RLHF format")
    parser.add_argument("--rows", type=row_range_argument, help="rows of --data to calibrate on, as A:B")
    parser.add_argument("--backend", default="auto", help="auto | torch | onnx (auto: as the server picks)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="fp32", help="fp32 | fp16 | bf16 (torch backend)")
    parser.add_argument("--max-length", type=int, help="tokens per pair (default: the model card's)")
    parser.add_argument("--batch-size", type=int, default=16, help="pairs per forward pass")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: the CPUs available)")
    parser.add_argument(
        "--allow-training-rows", action="store_true", help="calibrate even on rows the card says it trained on"
    )
    parser.add_argument("--dry-run", action="store_true", help="report the fit, leave the model card as it is")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def training_overlap(card_training_data: dict[str, Any] | None, data: Path, rows: RowRange | None) -> int:
    """How many of the selected rows of `data` the card's training data also covered (0 for another file)."""
    from models.data import count_rows, file_fingerprint

    if not card_training_data or card_training_data.get("sha256") != file_fingerprint(data):
        return 0
    total = count_rows(data)
    trained_rows = card_training_data.get("rows")
    trained = (RowRange.parse(trained_rows) if trained_rows else RowRange()).indices(total)
    selected = (rows or RowRange()).indices(total)
    return max(0, min(trained.stop, selected.stop) - max(trained.start, selected.start))


def _interval_text(interval: tuple[float, float | None]) -> str:
    low, high = interval
    return f"{low:.3g} to {'unbounded' if high is None else f'{high:.3g}'}"


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from models.calibration import calibration_metrics, fit_temperature, require_enough_pairs, temperature_interval
    from models.card import Calibration, ModelCard, write_card
    from models.data import data_name, read_preferences
    from models.evaluate import encode_preferences
    from models.folder import inspect_model_folder
    from models.runtime import score_in_length_order
    from service.model_loading import load_model
    from service.settings import Settings

    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    started = time.perf_counter()
    try:
        settings = Settings(
            model=Path(args.model),
            backend=args.backend,
            device=args.device,
            dtype=args.dtype,
            max_length=args.max_length,
            workers=1,
            threads_per_worker=args.threads or os.cpu_count() or 1,
        )
    except ValidationError as exc:
        raise UserError(f"invalid options: {validation_problems(exc)}") from None
    # The checks that need no model run before it loads.
    card = inspect_model_folder(args.model).card
    pairs = read_preferences(args.data, args.rows)
    require_enough_pairs(len(pairs))
    overlap = training_overlap(card.training_data if card else None, Path(args.data), args.rows)
    if overlap and not args.allow_training_rows:
        raise UserError(
            f"{overlap} of the selected rows of {Path(args.data).name} lie in the rows this model was trained from "
            "(its card's training data): calibrated there, its probabilities would be over-confident on new data. "
            "Choose rows it did not train on, or pass --allow-training-rows"
        )
    model = load_model(settings)
    folder = model.folder
    if model.formatter is None or model.head.kind != "reward":
        model.backend.close()
        raise UserError(f"rmserve calibrate fits one-output reward models; {folder.path} has a {model.head.kind} head")
    try:
        chosen, rejected = encode_preferences(model.formatter, pairs)
        scores = score_in_length_order(model.backend.score, chosen + rejected, args.batch_size)
    finally:
        model.backend.close()
    margins = scores[: len(pairs)].astype(np.float64) - scores[len(pairs) :].astype(np.float64)
    temperature = fit_temperature(margins)
    interval = temperature_interval(margins, temperature)
    before = calibration_metrics(margins, 1.0)
    after = calibration_metrics(margins, temperature)
    accuracy = float(np.mean(margins > 0))
    name = data_name(args.data, args.rows)
    card_path: Path | None = None
    if not args.dry_run:
        calibration = Calibration(
            temperature=temperature,
            temperature_ci95=interval,
            data=name,
            pairs=len(pairs),
            accuracy=accuracy,
            backend=model.backend.name,
            dtype=model.backend.dtype,
            before=before.summary(),
            after=after.summary(),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        current = folder.card or ModelCard(name=folder.name, kind=folder.kind)
        card_path = write_card(folder.path, current.model_copy(update={"calibration": calibration}))
    if args.json:
        report = {
            "temperature": temperature,
            "temperature_ci95": list(interval),
            "n": len(pairs),
            "accuracy": accuracy,
            "before": before.summary(),
            "after": after.summary(),
            "reliability_after": [vars(b) for b in after.bins],
            "model": folder.name,
            "data": name,
            "backend": model.backend.name,
            "dtype": model.backend.dtype,
            "training_rows_overlap": overlap,
            "card": str(card_path) if card_path else None,
            "seconds": round(time.perf_counter() - started, 2),
        }
        print(json.dumps(report))
    else:
        where = f"written to {card_path}" if card_path else "not written (--dry-run)"
        print(
            f"{folder.name} on {name} ({len(pairs)} pairs, accuracy {accuracy:.4f}, {model.backend.name} "
            f"{model.backend.dtype}): temperature {temperature:.4g} (95% CI {_interval_text(interval)}); "
            f"NLL {before.nll:.4f} -> {after.nll:.4f}, "
            f"Brier {before.brier:.4f} -> {after.brier:.4f}, ECE {before.ece:.4f} -> {after.ece:.4f}; {where}"
        )
    return 0
