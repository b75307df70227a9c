"""A deliberately plain PyTorch reward-model loop, the yardstick for `rmserve train` (issue #21 item 6).

Written the way the Hugging Face docs teach it: `AutoModelForSequenceClassification(num_labels=1)`,
a shuffled `DataLoader` of 16 pairs (no length grouping), dropout on (`model.train()`), AdamW on every
parameter (lr 5e-5, weight decay 0.01), `get_linear_schedule_with_warmup` (10% warmup), grad clip 1.0,
one epoch, loss `-logsigmoid(r_chosen - r_rejected)`. Only the tokens come from the project: pairs go
through the same `PairFormatter` as `models.train`, so both loops see identical token ids.

Dev accuracy is scored directly on the in-memory model in eval mode with `models.evaluate.evaluate_pairs`
(the scoring path `evaluate_folder` uses for a torch folder). Example:

    python -m loadtest.plain_train_loop --train-rows :1300 --eval-rows 1300:1800 --seed 0 --out plain.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import cast

import torch
from torch.utils.data import DataLoader, Dataset
from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

from loadtest.server import REPO_ROOT
from models.batching import pad_batch
from models.data import read_preferences, row_range_argument
from models.evaluate import encode_preferences, evaluate_pairs
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.torch_model import batch_to_tensors, configure_threads
from models.train import default_base_dir

DATA = REPO_ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--train-rows", type=row_range_argument, required=True)
    parser.add_argument("--eval-rows", type=row_range_argument, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the result")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)

    threads = configure_threads(args.threads)
    train_pairs = read_preferences(args.data, args.train_rows)
    dev_pairs = read_preferences(args.data, args.eval_rows)
    started = time.perf_counter()
    base = default_base_dir()
    folder = inspect_model_folder(base)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, 256)
    chosen, rejected = encode_preferences(formatter, train_pairs)

    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
    # A shuffling DataLoader over the pair indices: the order every figure of this loop was measured with.
    indices = cast("Dataset[int]", list(range(len(train_pairs))))
    loader: DataLoader[int] = DataLoader(
        indices, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(args.seed)
    )
    batches: list[list[int]] = [batch.tolist() for batch in loader]
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(0.1 * len(batches)), len(batches))

    model.train()
    losses: list[float] = []
    for idx in batches:
        sequences = [chosen[i] for i in idx] + [rejected[i] for i in idx]
        rewards = model(**batch_to_tensors(pad_batch(sequences, tokenizer.pad_token_id), "cpu")).logits[:, 0]
        half = rewards.shape[0] // 2
        loss = -torch.nn.functional.logsigmoid(rewards[:half] - rewards[half:]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    seconds = time.perf_counter() - started

    model.eval()
    result = evaluate_pairs(model, formatter, tokenizer.pad_token_id, dev_pairs, batch_size=32)
    summary = {
        "loop": "plain",
        "seed": args.seed,
        "train_rows": str(args.train_rows),
        "eval_rows": str(args.eval_rows),
        "train_pairs": len(train_pairs),
        "steps": len(losses),
        "threads": threads,
        "seconds": round(seconds, 1),
        "final_loss_mean20": sum(losses[-20:]) / len(losses[-20:]),
        **result.to_dict(),
    }
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
