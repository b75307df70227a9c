"""Whole texts scored as given (`PairFormatter.encode_text`): a conversation the trainer rendered already is
tokenized once, with no chat template applied again and special tokens as the caller asks.

On a decoder RM the tokens must equal the formatter's own encoding of the same conversation rendered once,
whether the text carries the template's BOS (OpenRLHF decodes with special tokens) or has it stripped (verl
strips it because vLLM adds it again); on an encoder RM, a split at the prompt gives the pair encoding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair, FormattingError, PairFormatter, WholeText, prompt_as_text

PROMPT = [
    {"role": "user", "content": "what is the capital of france ?"},
    {"role": "assistant", "content": "paris is the capital ."},
    {"role": "user", "content": "please write a python function that adds two numbers"},
]
RESPONSE = "i cannot help with that , but here is a safer idea"


def formatter_for(model_dir: Path, max_length: int = 256) -> PairFormatter:
    folder = inspect_model_folder(model_dir)
    return build_formatter(folder, load_tokenizer(folder), max_length)


def tokens(encoded: EncodedPair) -> tuple[object, ...]:
    """What the model reads (a whole text carries no prompt length: prompt_tokens is 0 by contract)."""
    return encoded.input_ids, encoded.token_type_ids, encoded.truncated


def rendered(formatter: PairFormatter) -> str:
    """The conversation as a trainer renders it: the RM's chat template applied once, as text."""
    conversation = [*PROMPT, {"role": "assistant", "content": RESPONSE}]
    return formatter.tokenizer.render_chat(conversation, add_generation_prompt=False)


@pytest.mark.parametrize("fixture", ["tiny_decoder_dir", "bos_decoder_dir"])
def test_a_rendered_conversation_gives_the_formatters_own_tokens(fixture: str, request: pytest.FixtureRequest) -> None:
    formatter = formatter_for(request.getfixturevalue(fixture))
    expected = formatter.encode(PROMPT, RESPONSE)
    text = rendered(formatter)
    bos = formatter.tokenizer.special_tokens["bos_token"]
    assert text.startswith(bos)  # the template writes BOS into the text
    for add_special_tokens in (None, False):
        encoded = formatter.encode_text(WholeText(text, add_special_tokens))
        assert encoded.prompt_tokens == 0
        assert tokens(encoded) == tokens(expected), add_special_tokens
    # verl strips the template's BOS text because vLLM adds BOS again: the tokenizer's own BOS puts it back.
    if fixture == "bos_decoder_dir":
        assert tokens(formatter.encode_text(WholeText(text[len(bos) :], None))) == tokens(expected)
        assert tokens(formatter.encode_text(WholeText(text[len(bos) :], True))) == tokens(expected)


def test_special_tokens_follow_the_caller_when_it_says(bos_decoder_dir: Path) -> None:
    formatter = formatter_for(bos_decoder_dir)
    bos_id = formatter.tokenizer.bos_token_id
    text = rendered(formatter)
    own = formatter.encode(PROMPT, RESPONSE).input_ids
    # Asked for explicitly, the tokenizer's BOS is added even before the template's (what vLLM does).
    assert formatter.encode_text(WholeText(text, True)).input_ids == (bos_id, *own)
    # Asked for none, a text without BOS stays without.
    assert formatter.encode_text(WholeText(text[len("<s>") :], False)).input_ids == own[1:]


def test_the_tokenizers_special_tokens_are_the_ones_transformers_adds(bos_decoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(bos_decoder_dir))
    formatter = formatter_for(bos_decoder_dir)
    text = "hello how can i help you today"
    for add_special_tokens in (True, False):
        expected = reference(text, add_special_tokens=add_special_tokens)["input_ids"]
        assert list(formatter.encode_text(WholeText(text, add_special_tokens)).input_ids) == expected


def test_truncation_keeps_the_end_of_the_text_and_its_bos(tiny_decoder_dir: Path) -> None:
    whole = formatter_for(tiny_decoder_dir).encode_text(WholeText(rendered(formatter_for(tiny_decoder_dir))))
    budget = whole.num_tokens - 10
    for formatter, item in [
        (formatter_for(tiny_decoder_dir, budget), WholeText(rendered(formatter_for(tiny_decoder_dir)))),
        (formatter_for(tiny_decoder_dir), WholeText(rendered(formatter_for(tiny_decoder_dir)), max_tokens=budget)),
    ]:
        encoded = formatter.encode_text(item)
        assert encoded.truncated and encoded.num_tokens == budget
        assert encoded.input_ids[0] == formatter.tokenizer.bos_token_id
        assert encoded.input_ids[1:] == whole.input_ids[11:]  # the oldest tokens after BOS went; the end stayed
    assert not formatter_for(tiny_decoder_dir).encode_text(WholeText("hello")).truncated


@pytest.mark.parametrize("fixture", ["tiny_decoder_dir", "tiny_encoder_dir"])
def test_a_budget_with_room_to_spare_keeps_every_token(fixture: str, request: pytest.FixtureRequest) -> None:
    formatter = formatter_for(request.getfixturevalue(fixture), 512)
    for add_special_tokens in (None, False):
        item = WholeText(rendered(formatter) if fixture == "tiny_decoder_dir" else RESPONSE, add_special_tokens)
        whole = formatter.encode_text(item)
        for spare in range(0, whole.num_tokens + 2):
            budget = whole.num_tokens + spare
            assert formatter.encode_text(WholeText(item.text, add_special_tokens, max_tokens=budget)) == whole


def test_a_tokenizer_that_adds_bos_keeps_it_when_the_text_is_cut(bos_decoder_dir: Path) -> None:
    formatter = formatter_for(bos_decoder_dir, 8)
    encoded = formatter.encode_text(WholeText("the quick brown fox jumps over the lazy dog", True))
    assert encoded.truncated and encoded.num_tokens == 8
    assert formatter.tokenizer.decode(encoded.input_ids).startswith("<s>")
    assert formatter.tokenizer.decode(encoded.input_ids).endswith("lazy dog")


def test_encoder_with_the_prompts_end_gives_the_pair_encoding(tiny_encoder_dir: Path) -> None:
    formatter = formatter_for(tiny_encoder_dir)
    prompt = prompt_as_text(PROMPT)
    item = WholeText(prompt + " " + RESPONSE, prompt_chars=len(prompt))
    assert tokens(formatter.encode_text(item)) == tokens(formatter.encode(prompt, " " + RESPONSE))


def test_encoder_without_a_split_reads_one_segment_as_its_tokenizer_encodes_it(tiny_encoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tiny_encoder_dir))
    formatter = formatter_for(tiny_encoder_dir)
    text = prompt_as_text(PROMPT) + " " + RESPONSE
    expected = reference(text)
    encoded = formatter.encode_text(WholeText(text))
    assert list(encoded.input_ids) == expected["input_ids"]
    assert list(encoded.token_type_ids or ()) == expected["token_type_ids"]
    # Already framed by the caller: [CLS] is not added twice.
    framed = reference.decode(expected["input_ids"])
    assert formatter.encode_text(WholeText(framed)).input_ids == encoded.input_ids
    # No special tokens asked: the text's own tokens, one segment (the prompt's end is not used).
    bare = formatter.encode_text(WholeText(text, False, prompt_chars=10))
    assert list(bare.input_ids) == reference(text, add_special_tokens=False)["input_ids"]
    assert bare.token_type_ids == (0,) * bare.num_tokens


def test_texts_that_cannot_be_encoded_are_refused(tiny_decoder_dir: Path, tiny_encoder_dir: Path) -> None:
    decoder = formatter_for(tiny_decoder_dir)
    with pytest.raises(FormattingError, match="no tokens"):
        decoder.encode_text(WholeText("", False))
    with pytest.raises(FormattingError, match="no room"):
        formatter_for(tiny_encoder_dir).encode_text(WholeText("hello there", True, max_tokens=2))
    with pytest.raises(FormattingError, match="no room"):
        decoder.encode_text(WholeText("hello", max_tokens=0))
