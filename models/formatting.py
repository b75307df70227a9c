"""Turn (prompt, response) into model tokens: the one function shared by training, evaluation and serving.

Every code path that feeds a reward model goes through `PairFormatter.encode`, so a score computed while
training, while evaluating and while serving sees byte-identical token ids.

Encoder RMs (BERT/DeBERTa/RoBERTa style) read the pair as a text pair: `[CLS] prompt [SEP] response [SEP]`.
Decoder RMs (Llama/Qwen/Gemma style) read the tokenizer's chat template rendered once over the prompt's
messages plus the response as the assistant turn, tokenized without adding special tokens again (so the
template's BOS is not doubled); the reward is read at the last token.

Texts that a caller has already rendered for the model (a trainer's full conversation, chat template
applied: OpenRLHF's `query`, verl's `input`) are encoded by `encode_text` as given: tokenized once, no
template applied again, special tokens as the caller asks, into the same `EncodedPair` (see `WholeText`).

Truncation keeps the end of the response: a decoder reads its reward at the last token, so cutting on the
right would score half an answer. When a pair is too long, the prompt loses its oldest tokens first, down
to a floor of a quarter of the budget (a reply scored with no context at all is rarely what a caller
wants); past that, the response loses its beginning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from tokenizers import Encoding

from models.errors import UserError
from models.tokenizer import RMTokenizer

Message: TypeAlias = dict[str, str]
Prompt: TypeAlias = str | Sequence[Message]
ModelKind: TypeAlias = Literal["encoder", "decoder"]

_ROLE_LABELS = {"system": "System", "user": "Human", "assistant": "Assistant"}


class FormattingError(UserError, ValueError):
    """The prompt or response cannot be formatted (bad message list, empty budget)."""


@dataclass(frozen=True, slots=True)
class EncodedPair:
    """Token ids of one (prompt, response) pair, ready for the model.

    `token_type_ids` is None for models that take none. The attention mask is all ones and is built at
    batching time. `truncated` is True when any token of the prompt or the response was dropped.
    `prompt_tokens` is how many leading ids render the prompt (after truncation) for decoder RMs, so that
    pairs of one prompt can be grouped without re-tokenizing; 0 when unknown (encoder pairs, whole texts).
    """

    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...] | None
    truncated: bool
    prompt_tokens: int = field(default=0, kw_only=True)

    @property
    def num_tokens(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True, slots=True)
class WholeText:
    """A text the caller has already rendered for the model, scored as given (OpenRLHF's `query`, verl's `input`).

    Nothing is rendered around it: it is tokenized once, and its special tokens follow `add_special_tokens`:
    - True: the tokenizer's own are added, as `tokenizer(text)` adds them (BOS for Llama-style tokenizers,
      `[CLS] text [SEP]` for BERT-style ones; none for tokenizers that add none, such as Qwen's);
    - False: none are added; the tokens are exactly the text's;
    - None (the caller did not say): the tokenizer's own, unless the text already begins with the first of
      them (the chat template wrote its BOS into the text), so that a BOS is never doubled.

    `prompt_chars` matters to encoder RMs only. They read a text pair (`[CLS] prompt [SEP] response [SEP]`,
    the encoding they were trained on), so when the caller says where the prompt ends (OpenRLHF's `prompts`)
    the two halves are pair-encoded as they are: exactly `encode(text[:k], text[k:])` for a string prompt.
    With 0 (no split known), or with `add_special_tokens=False`, the text is one segment. A decoder RM reads
    the whole text as one sequence whatever the split.

    `max_tokens`: a budget tighter than the formatter's `max_length` (vLLM's `truncate_prompt_tokens`).
    Truncation keeps the end of the text (and a leading BOS), as for pairs.
    """

    text: str
    add_special_tokens: bool | None = None
    prompt_chars: int = 0
    max_tokens: int | None = None


# What the scorer takes: a (prompt, response) pair for the formatter to render, or a text rendered already.
ScoringInput: TypeAlias = tuple[Prompt, str] | WholeText


def validate_messages(prompt: Prompt) -> None:
    """Raise FormattingError unless `prompt` is a string or a non-empty list of role/content messages."""
    if isinstance(prompt, str):
        return
    if len(prompt) == 0:
        raise FormattingError("a message-list prompt needs at least one message")
    for index, message in enumerate(prompt):
        if not isinstance(message, dict):
            raise FormattingError(f"message {index} is not an object with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in _ROLE_LABELS:
            raise FormattingError(f"message {index} has role {role!r}; expected system, user or assistant")
        if not isinstance(content, str):
            raise FormattingError(f"message {index} has no string 'content'")


def prompt_as_text(prompt: Prompt) -> str:
    """Render a prompt as plain text for encoder RMs, in the HH-RLHF transcript style.

    A string is returned unchanged. Messages become `Human: ...` / `Assistant: ...` turns separated by a
    blank line, ending with `Assistant:` so that the response reads as the assistant's next turn.
    """
    if isinstance(prompt, str):
        return prompt
    validate_messages(prompt)
    turns = [f"{_ROLE_LABELS[m['role']]}: {m['content']}" for m in prompt]
    return "\n\n" + "\n\n".join(turns) + "\n\nAssistant:"


def prompt_as_messages(prompt: Prompt) -> list[Message]:
    """Return the prompt as a message list; a string becomes one user message."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    validate_messages(prompt)
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def _keep_tail(ids: list[int], keep: int) -> list[int]:
    return ids[len(ids) - keep :] if keep > 0 else []


def split_budget(prompt_len: int, response_len: int, budget: int) -> tuple[int, int]:
    """How many prompt and response tokens to keep within `budget` tokens.

    Returns (prompt_keep, response_keep). The prompt gives up tokens first, down to a floor of
    min(prompt_len, budget // 4); the response gives up the rest.
    """
    if budget <= 0:
        raise FormattingError("max_length leaves no room for any token")
    if prompt_len + response_len <= budget:
        return prompt_len, response_len
    prompt_floor = min(prompt_len, budget // 4)
    prompt_keep = max(prompt_floor, budget - response_len)
    return prompt_keep, budget - prompt_keep


class PairFormatter:
    """Formats (prompt, response) pairs into `EncodedPair`s for one tokenizer.

    Thread-safety: `encode` only reads the tokenizer and may be called from several threads at once.
    """

    def __init__(self, tokenizer: RMTokenizer, kind: ModelKind, max_length: int) -> None:
        if max_length < 8:
            raise FormattingError(f"max_length must be at least 8 tokens, got {max_length}")
        if kind == "decoder" and not tokenizer.chat_template:
            raise FormattingError("a decoder reward model needs a tokenizer with a chat template")
        self.tokenizer = tokenizer
        self.kind: ModelKind = kind
        self.max_length = max_length

    def encode(self, prompt: Prompt, response: str) -> EncodedPair:
        """Encode one pair, truncated to at most `max_length` tokens."""
        if not isinstance(response, str):
            raise FormattingError("response must be a string")
        if self.kind == "encoder":
            return self._encode_encoder(prompt, response)
        return self._encode_decoder(prompt, response)

    def encode_many(self, pairs: Sequence[tuple[Prompt, str]]) -> list[EncodedPair]:
        return [self.encode(prompt, response) for prompt, response in pairs]

    def encode_input(self, item: ScoringInput) -> EncodedPair:
        """Encode a (prompt, response) pair with `encode`, or a `WholeText` with `encode_text`."""
        if isinstance(item, WholeText):
            return self.encode_text(item)
        prompt, response = item
        return self.encode(prompt, response)

    def encode_text(self, item: WholeText) -> EncodedPair:
        """Encode a text as given (see `WholeText`), truncated to at most `max_length` (or its `max_tokens`)."""
        if not isinstance(item.text, str):
            raise FormattingError("text must be a string")
        budget = self.max_length if item.max_tokens is None else min(self.max_length, item.max_tokens)
        if budget <= 0:
            raise FormattingError("max_tokens leaves no room for any token")
        split = item.prompt_chars
        if self.kind == "encoder" and 0 < split <= len(item.text) and item.add_special_tokens is not False:
            return self._encode_text_pair(item.text[:split], item.text[split:], budget)
        (content,) = self.tokenizer.encode_texts([item.text])
        if item.add_special_tokens is not False:
            framed = self.tokenizer.with_special_tokens(content)
            mask = framed.special_tokens_mask
            written_already = (
                item.add_special_tokens is None
                and len(content.ids) > 0
                and bool(mask)
                and mask[0] == 1
                and framed.ids[0] == content.ids[0]
            )
            if any(mask) and not written_already:
                return self._encode_framed(content, budget)
        return self._encode_as_is(list(content.ids), budget)

    def _encode_framed(self, content: Encoding, budget: int) -> EncodedPair:
        """One text with the tokenizer's special tokens around it, the text cut from the left to fit."""
        keep = budget - self.tokenizer.num_special_tokens(pair=False)
        if keep <= 0:
            raise FormattingError(f"a budget of {budget} tokens leaves no room for the text")
        truncated = len(content.ids) > keep
        if truncated:
            content.truncate(keep, direction="left")
        framed = self.tokenizer.with_special_tokens(content)
        type_ids = tuple(framed.type_ids) if self.kind == "encoder" else None
        return EncodedPair(tuple(framed.ids), type_ids, truncated)

    def _encode_as_is(self, ids: list[int], budget: int) -> EncodedPair:
        """The text's own tokens, cut from the left to fit; a leading BOS stays in place."""
        if not ids:
            raise FormattingError("the text has no tokens")
        bos_id = self.tokenizer.bos_token_id
        lead = ids[:1] if bos_id is not None and ids[0] == bos_id and budget > 1 else []
        body = ids[len(lead) :]
        keep = budget - len(lead)
        truncated = len(body) > keep
        input_ids = lead + _keep_tail(body, min(keep, len(body)))
        # Encoder models take segment ids; one segment is segment 0.
        type_ids = (0,) * len(input_ids) if self.kind == "encoder" else None
        return EncodedPair(tuple(input_ids), type_ids, truncated)

    def _encode_encoder(self, prompt: Prompt, response: str) -> EncodedPair:
        return self._encode_text_pair(prompt_as_text(prompt), response, self.max_length)

    def _encode_text_pair(self, prompt_text: str, response: str, budget: int) -> EncodedPair:
        prompt_enc, response_enc = self.tokenizer.encode_texts([prompt_text, response])
        prompt_len, response_len = len(prompt_enc.ids), len(response_enc.ids)
        prompt_keep, response_keep = split_budget(
            prompt_len, response_len, budget - self.tokenizer.num_special_tokens(pair=True)
        )
        if prompt_keep < prompt_len:
            prompt_enc.truncate(prompt_keep, direction="left")
        if response_keep < response_len:
            response_enc.truncate(response_keep, direction="left")
        joined = self.tokenizer.join_pair(prompt_enc, response_enc)
        truncated = prompt_keep < prompt_len or response_keep < response_len
        return EncodedPair(tuple(joined.ids), tuple(joined.type_ids), truncated)

    def _encode_decoder(self, prompt: Prompt, response: str) -> EncodedPair:
        messages = prompt_as_messages(prompt)
        full_text = self.tokenizer.render_chat(
            [*messages, {"role": "assistant", "content": response}], add_generation_prompt=False
        )
        prefix_text = self.tokenizer.render_chat(messages, add_generation_prompt=True)
        if not full_text.startswith(prefix_text):
            # Some templates render the last user turn differently once an assistant reply follows;
            # the prompt rendered without a generation prompt is then the shared prefix.
            prefix_text = self.tokenizer.render_chat(messages, add_generation_prompt=False)
            if not full_text.startswith(prefix_text):
                raise FormattingError("the chat template does not render the prompt as a prefix of the pair")
        # The template writes BOS itself; encoding without special tokens keeps it from being doubled.
        prompt_enc, response_enc = self.tokenizer.encode_texts([prefix_text, full_text[len(prefix_text) :]])
        prompt_ids, response_ids = list(prompt_enc.ids), list(response_enc.ids)
        # A leading BOS stays in place even when the prompt is cut from the left.
        lead: list[int] = []
        bos_id = self.tokenizer.bos_token_id
        if bos_id is not None and prompt_ids and prompt_ids[0] == bos_id:
            lead, prompt_ids = prompt_ids[:1], prompt_ids[1:]
        prompt_keep, response_keep = split_budget(len(prompt_ids), len(response_ids), self.max_length - len(lead))
        truncated = prompt_keep < len(prompt_ids) or response_keep < len(response_ids)
        input_ids = lead + _keep_tail(prompt_ids, prompt_keep) + _keep_tail(response_ids, response_keep)
        return EncodedPair(tuple(input_ids), None, truncated, prompt_tokens=len(lead) + prompt_keep)
