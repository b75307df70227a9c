"""What a model folder's head computes, read from its config and card without importing torch.

Three kinds of reward head are served:

- `reward`: `...ForSequenceClassification` with one output: one raw reward per (prompt, response).
- `multi_objective`: `...ForSequenceClassification` with K > 1 outputs named by the config's `id2label`
  (HelpSteer/Nemotron-style attributes). The scalar `score` is the combination the model card declares,
  `score = sum(weight[k] * value[k])`; a request may pass its own weights. A K-output classifier whose
  card declares no combination is refused: without one there is no reward to return.
- `process`: a process reward model (PRM), one reward per step of a response. Two families:
  `trl`, the format TRL's PRMTrainer wrote (`...ForTokenClassification`, two labels, each step followed by
  the step separator, its score read at the separator's last token), and `step_token`, Qwen2.5-Math-PRM
  style (`...ForProcessRewardModel`, a custom head behind `trust_remote_code`, the chat template over the
  prompt and the steps joined by and ending with the step token `<extra_0>`, scores read at that token).
  Both heads give two logits per scored token; a step's score is the positive label's probability,
  `softmax(logits)[1]`, and its logit difference `logits[1] - logits[0]`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from models.card import ModelCard
from models.errors import UserError

HeadKind = Literal["reward", "multi_objective", "process"]
StepFormat = Literal["trl", "step_token"]
TRL_STEP_SEPARATOR = "\n"
QWEN_STEP_TOKEN = "<extra_0>"


class HeadError(UserError, ValueError):
    """A folder's head cannot be served as it is (the message says how to fix it), or a request's
    weights do not fit the head."""


@dataclass(frozen=True)
class RewardHead:
    """The head of a served model. `labels` names a multi-objective head's outputs (in output order);
    `weights` is its declared combination, in the same order. `step_format` and `step_separator` are set
    for process heads: the separator ends every step (`trl`), or is the step token (`step_token`)."""

    kind: HeadKind
    labels: tuple[str, ...] = ()
    weights: tuple[float, ...] | None = None
    step_format: StepFormat | None = None
    step_separator: str | None = None

    @property
    def outputs(self) -> int:
        """Outputs per scored position: 1 (reward), K (multi-objective) or 2 (process: two labels)."""
        if self.kind == "multi_objective":
            return len(self.labels)
        return 2 if self.kind == "process" else 1

    def resolve_weights(self, requested: Sequence[float] | None) -> tuple[float, ...] | None:
        """The weights to combine this request's attribute values with: the request's own, else the card's.

        None for a single-output head (a request may not pass weights to it). Raises HeadError for weights
        of the wrong length or non-finite ones.
        """
        if self.kind != "multi_objective":
            if requested is not None:
                raise HeadError("weights apply to a multi-objective model; the served model has one output")
            return None
        if requested is None:
            return self.weights
        if len(requested) != len(self.labels):
            raise HeadError(
                f"weights has {len(requested)} entries; the model has {len(self.labels)} attributes "
                f"({', '.join(self.labels)}), in that order"
            )
        if not all(math.isfinite(w) for w in requested):
            raise HeadError("weights must be finite numbers")
        return tuple(float(w) for w in requested)


def _label_names(config: dict[str, Any]) -> list[str] | None:
    id2label = config.get("id2label")
    if not isinstance(id2label, dict):
        return None
    try:
        return [str(id2label[key]) for key in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        raise HeadError(f"config.json id2label has keys that are not output indices: {sorted(id2label)}") from None


def _declare_hint(names: Sequence[str]) -> str:
    example = ", ".join(f'"{name}": 1.0' for name in names[:3]) + (", ..." if len(names) > 3 else "")
    return f'add to rmserve_card.json: {{"objectives": {{"weights": {{{example}}}}}}} (one weight per id2label name)'


def _multi_objective(path: str, names: list[str], card: ModelCard | None) -> RewardHead:
    if len(set(names)) != len(names):
        raise HeadError(f"{path}: id2label names its outputs twice ({', '.join(names)}); each needs its own name")
    objectives = card.objectives if card is not None else None
    if objectives is None:
        raise HeadError(
            f"{path} is a classifier with {len(names)} outputs ({', '.join(names)}) and its card declares no "
            f"combination into one reward; {_declare_hint(names)}"
        )
    declared = set(objectives.weights)
    if declared != set(names):
        missing = [n for n in names if n not in declared]
        unknown = sorted(declared - set(names))
        raise HeadError(
            f"{path}: the card's objectives.weights must name exactly the outputs {', '.join(names)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
        )
    return RewardHead("multi_objective", tuple(names), tuple(objectives.weights[n] for n in names))


def read_head(path: str, config: dict[str, Any], card: ModelCard | None, trust_remote_code: bool) -> RewardHead:
    """The head of the folder at `path` (for messages) from its config.json and card. Raises HeadError.

    An architecture that is none of the above reads as `reward`; the loader refuses it if it has no head.
    """
    architectures = [str(a) for a in config.get("architectures") or []]
    architecture = architectures[0] if architectures else ""
    names = _label_names(config)
    labels = len(names) if names is not None else config.get("num_labels")
    separator = card.process_reward.step_separator if card is not None and card.process_reward else None
    if architecture.endswith("ForTokenClassification"):
        if labels != 2:
            raise HeadError(
                f"{path} is a token classifier with {labels} labels; a process reward model (TRL's PRMTrainer "
                "format) has two: 0 for a wrong step, 1 for a right one"
            )
        return RewardHead("process", step_format="trl", step_separator=separator or TRL_STEP_SEPARATOR)
    if architecture.endswith("ForProcessRewardModel"):
        if not trust_remote_code:
            raise HeadError(
                f"{path} is a {architecture}: its head is custom code in the folder (config.json auto_map). Read "
                "that code, then serve it with --trust-remote-code (RMSERVE_TRUST_REMOTE_CODE=1)"
            )
        return RewardHead("process", step_format="step_token", step_separator=separator or QWEN_STEP_TOKEN)
    if architecture.endswith("ForSequenceClassification") and names is not None and len(names) > 1:
        return _multi_objective(path, names, card)
    if architecture.endswith("ForSequenceClassification") and isinstance(labels, int) and labels > 1:
        raise HeadError(f"{path} is a classifier with {labels} outputs but config.json has no id2label to name them")
    return RewardHead("reward")
