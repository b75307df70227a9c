"""`rmserve export`: a reward-model folder -> a servable ONNX folder, refused when a gate fails.

    rmserve export --model DIR --out DIR [--precision fp32|bf16|int8] [--optimize] [--fp16] [--force]
                   [--gate-data FILE] [--gate-rows RANGE] [--min-agreement X] [--max-length N] [--json]

Progress and the measured figures go to stderr; `--json` prints the card's `export` section on stdout.
torch, onnx and onnxruntime are imported only inside `run`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models.data import row_range_argument
from models.quantize import MIN_AGREEMENT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="reward-model folder (safetensors) to export")
    parser.add_argument("--out", required=True, type=Path, help="new folder to write the ONNX model into")
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16", "int8"],
        default="fp32",
        help="fp32 (default); bf16: an fp32 graph whose bf16 run on OpenVINO (CPUs with AMX or AVX512-BF16) is "
        "measured by the fidelity gate on held-out pairs and recorded in the card; int8: dynamic int8 (one pair "
        "per run, batch invariant), gated on agreement with fp32 on held-out pairs",
    )
    parser.add_argument("--quantize", choices=["int8"], default=None, help="the same as --precision int8")
    parser.add_argument(
        "--optimize", action="store_true", help="apply onnxruntime's transformer graph fusions (BERT-like models)"
    )
    parser.add_argument("--fp16", action="store_true", help="fp16 weights and activations, for GPU serving")
    parser.add_argument(
        "--force", action="store_true", help="write an int8 or bf16 model that fails its gate (recorded in the card)"
    )
    parser.add_argument(
        "--gate-data",
        "--calibration-data",
        dest="gate_data",
        type=Path,
        default=None,
        help="preference pairs (JSONL, TRL or HH-RLHF format) to gate an int8 or bf16 model on: the --gate-rows rows, "
        "else every fifth row; default: rmserve's own preference set (its every fifth row is what the default "
        "model is not trained on)",
    )
    parser.add_argument(
        "--gate-rows",
        type=row_range_argument,
        default=None,
        help="rows of --gate-data held out from the model's training, as START:STOP (e.g. 1800:)",
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=MIN_AGREEMENT,
        help=f"least share of gate pairs whose winner int8 must keep (default {MIN_AGREEMENT}; recorded in the card)",
    )
    parser.add_argument("--max-length", type=int, default=None, help="token cap per pair (default: the model's)")
    parser.add_argument("--json", action="store_true", help="print the card's export record as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from models.export import ExportOptions, export_model

    options = ExportOptions(
        optimize=args.optimize,
        quantize=args.quantize,
        precision=args.precision,
        fp16=args.fp16,
        force=args.force,
        gate_data=args.gate_data,
        gate_rows=args.gate_rows,
        min_agreement=args.min_agreement,
        max_length=args.max_length,
    )
    result = export_model(args.model, args.out, options)
    if args.json:
        record = result.card.export
        print(json.dumps(record.model_dump(mode="json") if record else None, indent=2))
    return 0
