"""A process reward model trained in TRL's PRMTrainer format, for the tests that serve and evaluate one.

`trl_tokenize_row` builds a training row exactly as TRL's `PRMTrainer.tokenize_row` did (TRL 0.13-0.2x,
`trl/trainer/prm_trainer.py`), with the transformers tokenizer, independently of rmserve's own encoder:
prompt without special tokens after BOS, each step tokenized alone plus the separator's tokens, the label
on each step's last token and -100 elsewhere. `train_tiny_prm` trains a tiny model on such rows with a
plain loop (token-level cross-entropy, as the Trainer computes it for a token classifier), so the folder
it leaves is what PRMTrainer would have saved.

The task is learnable by a tiny model in seconds: a step is right when it ends with "so yes", wrong
when it ends with "so no".
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

WORDS = ["two", "plus", "three", "makes", "five", "we", "add", "the", "terms", "check", "sum", "carry", "digits"]
PROMPTS = ["What is two plus three?", "Add the digits of the sum.", "Check the carry in five plus five."]


def stepwise_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Rows in TRL's stepwise-supervision format: prompt, completions (steps), labels (one bool per step)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        steps, labels = [], []
        for _ in range(rng.randint(1, 4)):
            right = rng.random() < 0.5
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
            steps.append(f"{words} so {'yes' if right else 'no'}")
            labels.append(right)
        rows.append({"prompt": rng.choice(PROMPTS), "completions": steps, "labels": labels})
    return rows


def corpus() -> list[str]:
    return [*PROMPTS, " ".join(WORDS), "so yes\nso no\n", *(" ".join(r["completions"]) for r in stepwise_rows(50, 1))]


def trl_tokenize_row(row: dict[str, Any], tokenizer: Any, step_separator: str = "\n") -> dict[str, list[int]]:
    """TRL PRMTrainer.tokenize_row with no length limits and train_on_last_step_only=False."""
    prompt_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
    completions_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in row["completions"]]
    separator_ids = tokenizer.encode(step_separator, add_special_tokens=False)
    completions_ids = [c + separator_ids for c in completions_ids]
    labels = [[-100] * (len(c) - 1) + [int(label)] for c, label in zip(completions_ids, row["labels"], strict=True)]
    if tokenizer.bos_token_id is not None:
        prompt_ids = [tokenizer.bos_token_id, *prompt_ids]
    input_ids = prompt_ids + [t for c in completions_ids for t in c]
    return {"input_ids": input_ids, "labels": [-100] * len(prompt_ids) + [x for step in labels for x in step]}


def train_tiny_prm(out: Path, steps: int = 80, seed: int = 0) -> Path:
    """Build a tiny PRM in `out`, train it `steps` optimizer steps on TRL rows, save it; return `out`."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from models.tiny import build_tiny_prm

    build_tiny_prm(out, corpus(), seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForTokenClassification.from_pretrained(str(out))
    rows = [trl_tokenize_row(r, tokenizer) for r in stepwise_rows(256, seed)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(seed)
    model.train()
    for step in range(steps):
        batch = rows[(step * 16) % len(rows) :][:16]
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.tensor([r["input_ids"] + [tokenizer.pad_token_id] * (width - len(r["input_ids"])) for r in batch])
        mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in batch])
        labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in batch])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(str(out), safe_serialization=True)
    return out


def write_stepwise_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def load_direct(model_dir: Path) -> tuple[Any, Any]:
    """(transformers tokenizer, token-classification model in eval mode) of a PRM folder."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return tokenizer, AutoModelForTokenClassification.from_pretrained(str(model_dir)).eval()


def direct_step_scores(tokenizer: Any, model: Any, row: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(P(right), logit difference) at each labelled position of the TRL row, from the model alone."""
    import torch

    encoded = trl_tokenize_row({**row, "labels": [True] * len(row["completions"])}, tokenizer)
    positions = [i for i, label in enumerate(encoded["labels"]) if label != -100]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([encoded["input_ids"]])).logits[0, positions].double()
    probs = torch.softmax(logits, dim=-1)[:, 1]
    return probs.tolist(), (logits[:, 1] - logits[:, 0]).tolist()
