"""Turn (prompt, steps) into a process reward model's tokens and the positions its step scores are read at.

The one encoder of step-scored inputs for serving and evaluation, so that both read the same tokens.

`trl` format, exactly as TRL's `PRMTrainer.tokenize_row` built its training rows: the prompt (a string)
tokenized without special tokens, after the tokenizer's BOS when it has one; then each step tokenized on
its own, without special tokens, followed by the step separator's tokens (after every step, the last one
included). A step is scored at its last token, the separator's last token (or the step's own last token
when the separator tokenizes to nothing, as TRL did).

`step_token` format (Qwen2.5-Math-PRM style): the chat template rendered once over the prompt's messages
plus an assistant turn holding the steps, each followed by the step token (`"<extra_0>".join(steps) +
"<extra_0>"`), tokenized without adding special tokens (the template writes its own); a step is scored at
its step token.

Truncation keeps the last steps: TRL cut its training rows on the right, but a trainer asks about every
step and the last ones matter most (a wrong final answer). When the input is over `max_length`, the prompt
loses its oldest tokens first, down to a floor of a quarter of the budget (as for pairs), then the steps
lose their beginning. Every step that lost a token is reported truncated; a step that lost its scoring
token has no score. A single step longer than the whole budget, an empty step, or a step that contains the
step token is refused (FormattingError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from models.formatting import EncodedPair, FormattingError, Prompt, prompt_as_messages, split_budget
from models.heads import RewardHead
from models.tokenizer import RMTokenizer

Aggregate = Literal["min", "last", "mean", "product"]
AGGREGATES: tuple[Aggregate, ...] = ("min", "last", "mean", "product")


def step_probabilities(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(right), logit difference) per step, float64 (n,), from two-label logits (n, 2).

    P(right) is softmax(logits)[:, 1], computed as sigmoid(logits[:, 1] - logits[:, 0]) without overflow.
    """
    diff = logits[:, 1].astype(np.float64) - logits[:, 0].astype(np.float64)
    exp_neg = np.exp(-np.abs(diff))
    probs = np.where(diff >= 0, 1.0 / (1.0 + exp_neg), exp_neg / (1.0 + exp_neg))
    return probs, diff


def aggregate_steps(probs: Sequence[float]) -> dict[Aggregate, float]:
    """The aggregates trainers read from step probabilities: min (the weakest step), last (the final
    step, the outcome), mean, and product (every step right, if steps were independent)."""
    if len(probs) == 0:
        raise ValueError("no scored step to aggregate")
    values = np.asarray(probs, dtype=np.float64)
    return {
        "min": float(values.min()),
        "last": float(values[-1]),
        "mean": float(values.mean()),
        "product": float(np.prod(values)),
    }


@dataclass(frozen=True, slots=True)
class EncodedSteps(EncodedPair):
    """An `EncodedPair` whose score is read at several positions, one per scored step.

    `num_steps` is the number of steps asked about; the last `len(score_positions)` of them are scored
    (truncation drops the first ones), `score_positions[j]` being the token index of step
    `num_steps - len(score_positions) + j`'s score. `step_truncated[i]` says whether step i lost tokens.
    """

    score_positions: tuple[int, ...]
    num_steps: int
    step_truncated: tuple[bool, ...]

    @property
    def first_scored_step(self) -> int:
        return self.num_steps - len(self.score_positions)

    @classmethod
    def read_at_end(cls, pair: EncodedPair) -> EncodedSteps:
        """`pair` read as one step scored at its last token (for warm-up and profiling)."""
        return cls(pair.input_ids, pair.token_type_ids, pair.truncated, (pair.num_tokens - 1,), 1, (pair.truncated,))


class StepFormatter:
    """Formats (prompt, steps) for one process reward model's tokenizer and head.

    Thread-safety: `encode` only reads the tokenizer and may be called from several threads at once.
    """

    def __init__(self, tokenizer: RMTokenizer, head: RewardHead, max_length: int) -> None:
        if head.kind != "process" or head.step_format is None or head.step_separator is None:
            raise FormattingError("a step formatter needs a process reward head")
        if max_length < 8:
            raise FormattingError(f"max_length must be at least 8 tokens, got {max_length}")
        self.tokenizer = tokenizer
        self.format = head.step_format
        self.separator = head.step_separator
        self.max_length = max_length
        self._separator_ids = list(tokenizer.encode_texts([self.separator])[0].ids)
        if self.format == "step_token":
            if not tokenizer.chat_template:
                raise FormattingError("a step-token process reward model needs a tokenizer with a chat template")
            if len(self._separator_ids) != 1:
                raise FormattingError(
                    f"the step token {self.separator!r} is not one token of this tokenizer "
                    f"({len(self._separator_ids)} tokens)"
                )

    def encode(self, prompt: Prompt, steps: Sequence[str]) -> EncodedSteps:
        """Encode one prompt and its steps, truncated to at most `max_length` tokens."""
        if len(steps) == 0:
            raise FormattingError("steps must hold at least one step")
        for index, step in enumerate(steps):
            if not isinstance(step, str):
                raise FormattingError(f"step {index} is not a string")
            if not step:
                raise FormattingError(f"step {index} is empty")
        if self.format == "trl":
            lead, prompt_ids, completion_ids, step_ends = self._tokens_trl(prompt, steps)
        else:
            lead, prompt_ids, completion_ids, step_ends = self._tokens_step_token(prompt, steps)
        return self._truncate(lead, prompt_ids, completion_ids, step_ends)

    def _tokens_trl(self, prompt: Prompt, steps: Sequence[str]) -> tuple[list[int], list[int], list[int], list[int]]:
        if not isinstance(prompt, str):
            raise FormattingError(
                "this process reward model reads TRL's stepwise format, whose prompt is plain text; "
                "send the prompt as a string"
            )
        encodings = self.tokenizer.encode_texts([prompt, *steps])
        completion_ids: list[int] = []
        step_ends: list[int] = []
        for index, encoding in enumerate(encodings[1:]):
            if not encoding.ids:
                raise FormattingError(f"step {index} has no tokens (only whitespace?)")
            completion_ids += list(encoding.ids) + self._separator_ids
            step_ends.append(len(completion_ids))
        bos_id = self.tokenizer.bos_token_id
        lead = [bos_id] if bos_id is not None else []
        return lead, list(encodings[0].ids), completion_ids, step_ends

    def _tokens_step_token(
        self, prompt: Prompt, steps: Sequence[str]
    ) -> tuple[list[int], list[int], list[int], list[int]]:
        for index, step in enumerate(steps):
            if self.separator in step:
                raise FormattingError(f"step {index} contains the step token {self.separator!r}")
        messages = prompt_as_messages(prompt)
        assistant = self.separator.join(steps) + self.separator
        full_text = self.tokenizer.render_chat(
            [*messages, {"role": "assistant", "content": assistant}], add_generation_prompt=False
        )
        prefix_text = self.tokenizer.render_chat(messages, add_generation_prompt=True)
        if not full_text.startswith(prefix_text):
            prefix_text = self.tokenizer.render_chat(messages, add_generation_prompt=False)
            if not full_text.startswith(prefix_text):
                raise FormattingError("the chat template does not render the prompt as a prefix of the steps")
        prompt_enc, response_enc = self.tokenizer.encode_texts([prefix_text, full_text[len(prefix_text) :]])
        prompt_ids, response_ids = list(prompt_enc.ids), list(response_enc.ids)
        step_token_id = self._separator_ids[0]
        step_ends = [i + 1 for i, token in enumerate(response_ids) if token == step_token_id]
        if len(step_ends) != len(steps) or step_token_id in prompt_ids:
            raise FormattingError(
                f"the step token {self.separator!r} appears {len(step_ends)} times for {len(steps)} steps "
                "(does the prompt or the chat template write it?)"
            )
        lead: list[int] = []
        bos_id = self.tokenizer.bos_token_id
        if bos_id is not None and prompt_ids and prompt_ids[0] == bos_id:
            lead, prompt_ids = prompt_ids[:1], prompt_ids[1:]
        return lead, prompt_ids, response_ids, step_ends

    def _truncate(
        self, lead: list[int], prompt_ids: list[int], completion_ids: list[int], step_ends: list[int]
    ) -> EncodedSteps:
        budget = self.max_length - len(lead)
        starts = [0, *step_ends[:-1]]
        for index, (start, end) in enumerate(zip(starts, step_ends, strict=True)):
            if end - start > budget:
                raise FormattingError(
                    f"step {index} has {end - start} tokens; the model reads at most {budget} "
                    "(split it, or serve with a larger max_length)"
                )
        prompt_keep, completion_keep = split_budget(len(prompt_ids), len(completion_ids), budget)
        cut = len(completion_ids) - completion_keep  # completion tokens dropped from the front
        kept_prompt = prompt_ids[len(prompt_ids) - prompt_keep :] if prompt_keep > 0 else []
        offset = len(lead) + len(kept_prompt) - cut  # completion index -> input index
        positions = tuple(end - 1 + offset for end in step_ends if end - 1 >= cut)
        step_truncated = tuple(start < cut for start in starts)
        input_ids = lead + kept_prompt + completion_ids[cut:]
        truncated = prompt_keep < len(prompt_ids) or cut > 0
        return EncodedSteps(tuple(input_ids), None, truncated, positions, len(step_ends), step_truncated)
