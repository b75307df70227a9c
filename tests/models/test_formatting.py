"""The one formatting function: pair encoding, chat templates, and truncation that keeps the response end."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import FormattingError, PairFormatter, prompt_as_messages, prompt_as_text
from models.tokenizer import RMTokenizer

MESSAGES = [
    {"role": "user", "content": "what is the capital of france ?"},
    {"role": "assistant", "content": "paris is the capital ."},
    {"role": "user", "content": "please write a python function that adds two numbers"},
]


def encoder_formatter(model_dir: Path, max_length: int) -> PairFormatter:
    folder = inspect_model_folder(model_dir)
    return PairFormatter(load_tokenizer(folder), "encoder", max_length)


def decoder_formatter(model_dir: Path, max_length: int) -> PairFormatter:
    folder = inspect_model_folder(model_dir)
    return PairFormatter(load_tokenizer(folder), "decoder", max_length)


def test_prompt_string_and_messages() -> None:
    assert prompt_as_text("plain") == "plain"
    assert prompt_as_text(MESSAGES[:1]) == "\n\nHuman: what is the capital of france ?\n\nAssistant:"
    assert prompt_as_messages("plain") == [{"role": "user", "content": "plain"}]
    assert prompt_as_messages(MESSAGES) == MESSAGES
    with pytest.raises(FormattingError):
        prompt_as_messages([{"role": "user"}])
    with pytest.raises(FormattingError):
        prompt_as_messages([])


def test_encoder_ids_equal_transformers_pair_encoding(tiny_encoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tiny_encoder_dir))
    formatter = encoder_formatter(tiny_encoder_dir, 512)
    for prompt in ("What is the capital of France?", MESSAGES):
        encoded = formatter.encode(prompt, "Paris is the capital.")
        expected = reference(prompt_as_text(prompt), "Paris is the capital.")
        assert list(encoded.input_ids) == expected["input_ids"]
        assert list(encoded.token_type_ids or ()) == expected["token_type_ids"]
        assert not encoded.truncated


def test_decoder_ids_equal_chat_template_applied_once(tiny_decoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tiny_decoder_dir))
    formatter = decoder_formatter(tiny_decoder_dir, 256)
    for prompt in ("hello how can i help you today", MESSAGES):
        conversation = [*prompt_as_messages(prompt), {"role": "assistant", "content": "the quick brown fox"}]
        expected = reference.apply_chat_template(conversation, tokenize=True)["input_ids"]
        encoded = formatter.encode(prompt, "the quick brown fox")
        assert list(encoded.input_ids) == list(expected)
        assert encoded.token_type_ids is None and not encoded.truncated
        bos = formatter.tokenizer.bos_token_id
        assert encoded.input_ids[0] == bos and encoded.input_ids.count(bos) == 1  # no doubled BOS


def test_encoder_truncation_keeps_response_end_and_drops_oldest_prompt(tiny_encoder_dir: Path) -> None:
    formatter = encoder_formatter(tiny_encoder_dir, 16)
    tokenizer = formatter.tokenizer
    prompt = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november"
    response = "one two three"
    encoded = formatter.encode(prompt, response)
    assert encoded.truncated and encoded.num_tokens == 16
    text = tokenizer.decode(encoded.input_ids)
    assert text.endswith("one two three [SEP]")  # the whole response survives
    assert "november" in text and "alpha" not in text  # the prompt lost its oldest words


def test_encoder_truncation_cuts_long_response_from_its_start(tiny_encoder_dir: Path) -> None:
    formatter = encoder_formatter(tiny_encoder_dir, 16)
    words = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    encoded = formatter.encode("short question", words)
    text = formatter.tokenizer.decode(encoded.input_ids)
    assert encoded.truncated and encoded.num_tokens == 16
    assert text.endswith("fourteen fifteen [SEP]") and "zero" not in text
    assert "short question" in text  # the prompt keeps its floor of a quarter of the budget


def test_decoder_truncation_drops_oldest_turns_keeps_bos_and_response_end(tiny_decoder_dir: Path) -> None:
    full = decoder_formatter(tiny_decoder_dir, 256).encode(MESSAGES, "the quick brown fox")
    formatter = decoder_formatter(tiny_decoder_dir, full.num_tokens - 8)
    encoded = formatter.encode(MESSAGES, "the quick brown fox")
    assert encoded.truncated and encoded.num_tokens == full.num_tokens - 8
    assert encoded.input_ids[0] == formatter.tokenizer.bos_token_id
    # Everything but the 8 oldest prompt tokens after BOS is kept, response included.
    assert encoded.input_ids[1:] == full.input_ids[9:]


def test_untruncated_pair_reports_not_truncated(tiny_encoder_dir: Path) -> None:
    folder = inspect_model_folder(tiny_encoder_dir)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, 64)
    assert formatter.max_length == 64
    assert not formatter.encode("hi", "hello").truncated


def test_decoder_needs_a_chat_template(tiny_encoder_dir: Path) -> None:
    tokenizer = RMTokenizer.from_folder(tiny_encoder_dir)
    with pytest.raises(FormattingError, match="chat template"):
        PairFormatter(tokenizer, "decoder", 64)
