"""Per-step accuracy of a process reward model on step-labelled data (TRL's stepwise-supervision format).

A row is `{"prompt": str | messages, "completions": [step, ...], "labels": [bool, ...]}`, one label per
step (true: the step is right). A step counts as correct when the model's P(right) > 0.5 agrees with its
label. Steps whose scoring token truncation dropped are not scored and are counted apart (`unscored`).
Besides the step accuracy (with its Wilson interval) the result gives the accuracy on right and on wrong
steps (a model that calls every step right scores the share of right steps on the first figure alone),
and the solution-level accuracy of the `min` aggregate: a solution is judged all-right when its weakest
step's P(right) > 0.5.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.data import DataFormatError, RowRange, _read_lines
from models.evaluate import wilson_interval
from models.formatting import FormattingError, Prompt, validate_messages
from models.steps import EncodedSteps, StepFormatter, step_probabilities


@dataclass(frozen=True, slots=True)
class StepwiseRow:
    prompt: Prompt
    steps: list[str]
    labels: list[bool]


def _parse_stepwise(row: Any) -> StepwiseRow:
    if not isinstance(row, dict):
        raise ValueError("a row must be a JSON object")
    missing = [key for key in ("prompt", "completions", "labels") if key not in row]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(repr(k) for k in missing)} (TRL's stepwise format)")
    prompt, steps, labels = row["prompt"], row["completions"], row["labels"]
    if not isinstance(prompt, str):
        validate_messages(prompt)
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) and s for s in steps):
        raise ValueError("'completions' must be a non-empty list of non-empty step strings")
    if not isinstance(labels, list) or len(labels) != len(steps) or not all(isinstance(x, bool | int) for x in labels):
        raise ValueError(f"'labels' must hold one boolean per step ({len(steps)} steps)")
    return StepwiseRow(prompt, list(steps), [bool(x) for x in labels])


def read_stepwise(path: str | Path, rows: RowRange | None = None) -> list[StepwiseRow]:
    """The step-labelled rows of a JSONL(.gz) file, optionally only `rows`. Raises DataFormatError."""
    file = Path(path)
    lines = _read_lines(file)
    selected = rows.apply(lines) if rows else lines
    out = []
    for number, line in selected:
        try:
            out.append(_parse_stepwise(json.loads(line)))
        except (ValueError, FormattingError) as exc:
            raise DataFormatError(f"{file}:{number}: {exc}") from exc
    if not out:
        raise DataFormatError(f"{file}: no step-labelled rows{f' in rows {rows}' if rows else ''}")
    return out


def is_stepwise_file(path: str | Path) -> bool:
    """Whether the file's first row is in the stepwise format (has 'completions' and 'labels')."""
    lines = _read_lines(Path(path))
    if not lines:
        return False
    try:
        first = json.loads(lines[0][1])
    except json.JSONDecodeError:
        return False
    return isinstance(first, dict) and "completions" in first and "labels" in first


@dataclass(frozen=True)
class StepAccuracy:
    n_steps: int  # scored steps
    correct: int
    accuracy: float
    ci95_low: float
    ci95_high: float
    right_step_accuracy: float | None  # on steps labelled right (None when there are none)
    wrong_step_accuracy: float | None
    unscored_steps: int  # dropped by truncation
    n_solutions: int
    solution_accuracy: float  # min aggregate > 0.5 agrees with "every step is right"
    truncated_solutions: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "n": self.n_steps,
            "correct": self.correct,
            "ci95": [self.ci95_low, self.ci95_high],
            "right_step_accuracy": self.right_step_accuracy,
            "wrong_step_accuracy": self.wrong_step_accuracy,
            "unscored_steps": self.unscored_steps,
            "solutions": self.n_solutions,
            "solution_accuracy_min": self.solution_accuracy,
            "truncated_solutions": self.truncated_solutions,
        }


def _share(hits: np.ndarray) -> float | None:
    return float(hits.mean()) if hits.size else None


def step_accuracy(
    rows: Sequence[StepwiseRow],
    formatter: StepFormatter,
    step_logits: Callable[[Sequence[EncodedSteps]], list[np.ndarray]],
    batch_size: int = 16,
) -> StepAccuracy:
    """Score every row's steps with `step_logits` (a backend's `score_steps`) and measure the accuracy."""
    encoded = []
    for index, row in enumerate(rows):
        try:
            encoded.append(formatter.encode(row.prompt, row.steps))
        except FormattingError as exc:
            raise DataFormatError(f"row {index}: {exc}") from exc
    order = sorted(range(len(encoded)), key=lambda i: encoded[i].num_tokens, reverse=True)
    logits: list[np.ndarray | None] = [None] * len(encoded)
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        for i, batch_logits in zip(indices, step_logits([encoded[i] for i in indices]), strict=True):
            logits[i] = batch_logits
    predicted: list[bool] = []
    labels: list[bool] = []
    solutions_right = 0
    unscored = 0
    for row, item, out in zip(rows, encoded, logits, strict=True):
        assert out is not None
        probs, _ = step_probabilities(out)
        first = item.first_scored_step
        unscored += first
        predicted += [bool(p > 0.5) for p in probs]
        labels += row.labels[first:]
        solutions_right += int((probs.min() > 0.5) == all(row.labels))
    hits = np.asarray(predicted) == np.asarray(labels)
    truth = np.asarray(labels, dtype=bool)
    correct = int(hits.sum())
    low, high = wilson_interval(correct, len(hits))
    return StepAccuracy(
        n_steps=len(hits),
        correct=correct,
        accuracy=correct / len(hits) if len(hits) else 0.0,
        ci95_low=low,
        ci95_high=high,
        right_step_accuracy=_share(hits[truth]),
        wrong_step_accuracy=_share(hits[~truth]),
        unscored_steps=unscored,
        n_solutions=len(rows),
        solution_accuracy=solutions_right / len(rows),
        truncated_solutions=sum(item.truncated for item in encoded),
    )


@dataclass(frozen=True)
class FolderStepEvaluation:
    result: StepAccuracy
    model: str
    max_length: int


def evaluate_prm_folder(
    model_dir: str | Path,
    rows: Sequence[StepwiseRow],
    batch_size: int = 16,
    max_length: int | None = None,
    device: str = "cpu",
    threads: int | None = None,
    trust_remote_code: bool = False,
) -> FolderStepEvaluation:
    """Load a process reward model folder (torch, fp32) and measure its per-step accuracy on `rows`."""
    from models.folder import ModelLoadError, inspect_model_folder, load_tokenizer, resolve_max_length
    from models.heads import read_head

    folder = inspect_model_folder(model_dir)
    head = read_head(str(folder.path), folder.config, folder.card, trust_remote_code)
    if head.kind != "process":
        raise ModelLoadError(f"{folder.path} is not a process reward model ({head.kind} head); it scores whole pairs")
    tokenizer = load_tokenizer(folder)
    formatter = StepFormatter(tokenizer, head, resolve_max_length(folder, tokenizer, max_length))
    from models.torch_model import configure_threads, load_torch_reward_model, step_logits_encoded

    configure_threads(threads)
    model = load_torch_reward_model(
        folder, tokenizer.pad_token_id, device=device, trust_remote_code=trust_remote_code, head=head
    )
    result = step_accuracy(
        rows, formatter, lambda batch: step_logits_encoded(model, batch, tokenizer.pad_token_id, device), batch_size
    )
    return FolderStepEvaluation(result, folder.name, formatter.max_length)
