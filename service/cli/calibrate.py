"""`rmserve calibrate`: fit the temperature of a model's Bradley-Terry probabilities on preference pairs.

    rmserve calibrate --model runs/hh-rm --data harmless-base-test.jsonl.gz --rows 1500:1800 --json

A thin layer over `models.folder_calibration.calibrate_folder`, which says what is scored, fitted,
refused and written. `--json` prints one JSON object: the temperature, the pairs, and NLL / Brier / ECE
before and after.
"""

from __future__ import annotations

import argparse
import json
import time

from models.data import row_range_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="reward-model folder (safetensors or an ONNX export)")
    parser.add_argument("--data", required=True, help="preference pairs: JSONL or JSONL.gz, TRL or HH-RLHF format")
    parser.add_argument("--rows", type=row_range_argument, help="rows of --data to calibrate on, as A:B")
    parser.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx", "openvino"],
        default="auto",
        help="auto (default): onnx when the folder holds model.onnx, else torch, as rmserve eval picks",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="torch or openvino precision")
    parser.add_argument("--max-length", type=int, help="tokens per pair (default: the model card's)")
    parser.add_argument("--batch-size", type=int, default=16, help="pairs per forward pass")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: the CPUs available)")
    parser.add_argument(
        "--allow-training-rows", action="store_true", help="calibrate even on rows the card says it trained on"
    )
    parser.add_argument("--dry-run", action="store_true", help="report the fit, leave the model card as it is")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _interval_text(interval: tuple[float, float | None]) -> str:
    low, high = interval
    return f"{low:.3g} to {'unbounded' if high is None else f'{high:.3g}'}"


def run(args: argparse.Namespace) -> int:
    from models.folder_calibration import calibrate_folder

    started = time.perf_counter()
    fit = calibrate_folder(
        args.model,
        args.data,
        args.rows,
        backend=args.backend,
        device=args.device,
        dtype=args.dtype,
        max_length=args.max_length,
        batch_size=args.batch_size,
        threads=args.threads,
        allow_training_rows=args.allow_training_rows,
        dry_run=args.dry_run,
    )
    c, before, after = fit.calibration, fit.before, fit.after
    assert c.temperature_ci95 is not None
    if args.json:
        report = {
            "temperature": c.temperature,
            "temperature_ci95": list(c.temperature_ci95),
            "n": c.pairs,
            "accuracy": c.accuracy,
            "before": c.before,
            "after": c.after,
            "reliability_after": [vars(b) for b in after.bins],
            "model": fit.model,
            "data": c.data,
            "backend": c.backend,
            "dtype": c.dtype,
            "training_rows_overlap": fit.training_rows_overlap,
            "card": str(fit.card_path) if fit.card_path else None,
            "seconds": round(time.perf_counter() - started, 2),
        }
        print(json.dumps(report))
    else:
        where = f"written to {fit.card_path}" if fit.card_path else "not written (--dry-run)"
        print(
            f"{fit.model} on {c.data} ({c.pairs} pairs, accuracy {c.accuracy:.4f}, {c.backend} {c.dtype}): "
            f"temperature {c.temperature:.4g} (95% CI {_interval_text(c.temperature_ci95)}); "
            f"NLL {before.nll:.4f} -> {after.nll:.4f}, Brier {before.brier:.4f} -> {after.brier:.4f}, "
            f"ECE {before.ece:.4f} -> {after.ece:.4f}; {where}"
        )
    return 0
