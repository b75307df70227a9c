"""Tiny random reward models built offline from a config, for tests and examples of other architectures.

`build_tiny_decoder_rm` writes a Llama- or Qwen-style `ForSequenceClassification` folder with a small
word-level tokenizer that carries a chat template (`TinyChat`: ChatML with a BOS token by default, or
the Llama-3 and Qwen2.5 templates with those families' special tokens); with `labels` it is a
multi-objective head (one output per name), and `size` makes it larger for speed measurements.
`build_tiny_prm` writes a Qwen2-style `ForTokenClassification` process reward model (two labels, TRL's
PRMTrainer format) with a byte-level BPE tokenizer, in which the step separator "\n" is a token of its
own, as in the tokenizers such PRMs are trained with. Nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]

# Llama 3's template (without its tool and date blocks): BOS, header-delimited turns closed by <|eot_id|>.
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
# Qwen2.5's template (without tools): no BOS, a default system prompt unless the messages bring one.
QWEN2_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}"
    "{%- else %}{{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\n' }}{%- endif %}{%- for message in messages %}"
    "{%- if not (message.role == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class TinyChat:
    """A chat template with the special tokens it uses; `tokens` names bos/eos/pad/unk (None = absent)."""

    template: str = CHAT_TEMPLATE
    specials: tuple[str, ...] = tuple(_SPECIALS)
    tokens: dict[str, str | None] = field(
        default_factory=lambda: {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    )


# Llama-3 reward models usually pad with the EOS token: the head then reads before a trailing <|eot_id|>.
LLAMA3_CHAT = TinyChat(
    LLAMA3_TEMPLATE,
    ("<|eot_id|>", "<|begin_of_text|>", "<unk>", "<|start_header_id|>", "<|end_header_id|>"),
    {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|eot_id|>", "unk_token": "<unk>"},
)
QWEN2_CHAT = TinyChat(
    QWEN2_TEMPLATE,
    ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"),
    {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>"},
)


def build_tiny_tokenizer(
    out: Path, corpus: list[str], vocab_size: int, chat: TinyChat | None = None, model_max_length: int = 256
) -> None:
    """Train a word-piece tokenizer on `corpus` and write it, with `chat`'s template (ChatML), into `out`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    chat = chat or TinyChat()
    unk = chat.tokens.get("unk_token") or "<unk>"
    tokenizer = Tokenizer(models.WordPiece(unk_token=unk, max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(chat.specials))
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.save(str(out / "tokenizer.json"))
    config: dict[str, Any] = {"tokenizer_class": "PreTrainedTokenizerFast"}
    config |= {name: token for name, token in chat.tokens.items() if token is not None}
    config |= {"model_max_length": model_max_length, "chat_template": chat.template}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def build_byte_level_tokenizer(out: Path, corpus: list[str], vocab_size: int) -> None:
    """Train a byte-level BPE tokenizer (GPT-2/Qwen style: every byte, newlines included, is a token) on
    `corpus` and write it, with the ChatML-style chat template, into `out`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=_SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "model_max_length": 256,
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def _decoder_config(family: Literal["llama", "qwen2"], vocab_size: int, **overrides: Any) -> Any:
    from transformers import LlamaConfig, Qwen2Config

    common: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
        "num_labels": 1,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    common.update(overrides)
    return LlamaConfig(**common) if family == "llama" else Qwen2Config(**common)


def build_tiny_prm(out: Path, corpus: list[str], seed: int = 0) -> Path:
    """Write a tiny random Qwen2-style `ForTokenClassification` PRM (two labels: wrong, right) with a
    byte-level tokenizer trained on `corpus` into `out`; return `out`. Train it before trusting a score."""
    import torch
    from transformers import AutoModelForTokenClassification

    out.mkdir(parents=True, exist_ok=True)
    build_byte_level_tokenizer(out, corpus, vocab_size=400)
    vocab_size = len(json.loads((out / "tokenizer.json").read_text())["model"]["vocab"])
    config = _decoder_config("qwen2", vocab_size, num_labels=2, id2label={0: "wrong", 1: "right"})
    config.label2id = {"wrong": 0, "right": 1}
    torch.manual_seed(seed)
    model = AutoModelForTokenClassification.from_config(config)
    model.save_pretrained(str(out), safe_serialization=True)
    return out


def build_tiny_decoder_rm(
    out: Path,
    family: Literal["llama", "qwen2"] = "llama",
    seed: int = 0,
    corpus: list[str] | None = None,
    labels: list[str] | None = None,
    chat: TinyChat | None = None,
    size: dict[str, Any] | None = None,
) -> Path:
    """Write a random decoder RM with its tokenizer into `out`; return `out`.

    Tiny by default (hidden 32, 2 layers); `size` overrides config fields (hidden_size, num_hidden_layers,
    initializer_range, max_position_embeddings, ...) for larger models measured for speed. With `labels`,
    the head has one output per name (`id2label`): a multi-objective RM, which serves once its card
    declares the combination (`objectives.weights`)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    out.mkdir(parents=True, exist_ok=True)
    words = corpus or [
        "the quick brown fox jumps over the lazy dog",
        "what is the capital of france ? paris is the capital .",
        "please write a python function that adds two numbers",
        "i cannot help with that , but here is a safer idea",
        "hello how can i help you today",
    ]
    chat = chat or TinyChat()
    max_positions = int((size or {}).get("max_position_embeddings", 256))
    build_tiny_tokenizer(out, words, vocab_size=400, chat=chat, model_max_length=max_positions)
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    token_ids = {f"{name}_id": vocab[token] if token is not None else None for name, token in chat.tokens.items()}
    head: dict[str, Any] = {}
    if labels:
        head = {"num_labels": len(labels), "id2label": dict(enumerate(labels))}
    special = {name: token_ids[name] for name in ("pad_token_id", "bos_token_id", "eos_token_id")}
    config = _decoder_config(family, len(vocab), **special, **head, **(size or {}))
    if labels:
        config.label2id = {name: index for index, name in enumerate(labels)}
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(str(out), safe_serialization=True)
    return out
