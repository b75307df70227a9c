"""A reward model's tokenizer: the Rust `tokenizers` library plus the folder's chat template.

Serving must not import torch or transformers (slow to import, and transformers pulls torch in when it is
installed), so the tokenizer is read straight from `tokenizer.json` and `tokenizer_config.json`, and chat
templates are rendered with Jinja the way transformers renders them (sandboxed, `trim_blocks`,
`lstrip_blocks`, `raise_exception`, `tojson`, `strftime_now`).

Thread-safety: `tokenizers.Tokenizer.encode` releases no shared state and may be called from several
threads; the Jinja template is compiled once and is read-only afterwards.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tokenizers import Encoding, Tokenizer

from models.errors import UserError

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.txt",
    "merges.txt",
    "vocab.json",
    "tokenizer.model",
    "added_tokens.json",
)


class TokenizerLoadError(UserError, RuntimeError):
    """The folder has no fast tokenizer (`tokenizer.json`) or its configuration is malformed."""


def _token_text(value: Any) -> str | None:
    """Special tokens appear in configs as a string or as an AddedToken dict with 'content'."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TokenizerLoadError(f"{path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _raise_template_exception(message: str) -> None:
    raise ValueError(message)


class RMTokenizer:
    """Tokenizer of one model folder. Build with `RMTokenizer.from_folder`."""

    def __init__(self, tokenizer: Tokenizer, config: dict[str, Any], chat_template: str | None) -> None:
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self.config = config
        self.chat_template = chat_template
        self.special_tokens: dict[str, str] = {}
        for name in ("bos_token", "eos_token", "pad_token", "unk_token", "cls_token", "sep_token"):
            text = _token_text(config.get(name))
            if text is not None:
                self.special_tokens[name] = text
        self.bos_token_id = self._id_of("bos_token")
        self.eos_token_id = self._id_of("eos_token")
        pad_id = self._id_of("pad_token")
        # Decoder tokenizers often have no pad token; EOS pads, as transformers' RMs do.
        self.pad_token_id: int = pad_id if pad_id is not None else (self.eos_token_id or 0)
        max_len = config.get("model_max_length")
        self.model_max_length: int | None = (
            int(max_len) if isinstance(max_len, int | float) and 0 < max_len < 1_000_000 else None
        )
        self._template: Any = self._compile(chat_template) if chat_template else None

    @classmethod
    def from_folder(cls, folder: str | Path) -> RMTokenizer:
        path = Path(folder)
        tokenizer_file = path / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise TokenizerLoadError(
                f"{path} has no tokenizer.json; rmserve needs a fast tokenizer. Convert once with "
                "transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir)"
            )
        config = _read_json(path / "special_tokens_map.json") | _read_json(path / "tokenizer_config.json")
        template = config.get("chat_template")
        jinja_file = path / "chat_template.jinja"
        if jinja_file.is_file():
            template = jinja_file.read_text(encoding="utf-8")
        elif (path / "chat_template.json").is_file():
            template = _read_json(path / "chat_template.json").get("chat_template")
        if isinstance(template, list):  # named templates: use the default one
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default")
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # the Rust library raises its own exception type
            raise TokenizerLoadError(f"{tokenizer_file} cannot be read: {exc}") from exc
        return cls(tokenizer, config, template if isinstance(template, str) else None)

    def _id_of(self, name: str) -> int | None:
        text = self.special_tokens.get(name)
        return self._tokenizer.token_to_id(text) if text is not None else None

    @staticmethod
    def _compile(template: str) -> Any:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = lambda value, indent=None: json.dumps(value, indent=indent, ensure_ascii=False)
        env.globals["raise_exception"] = _raise_template_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        return env.from_string(template)

    def encode_texts(self, texts: Sequence[str]) -> list[Encoding]:
        """Tokens of each text, without special tokens and without character offsets.

        One call into the Rust library, which releases the GIL while it tokenizes: `Tokenizer.encode` keeps
        the GIL, so a server's tokenizer threads stalled its event loop and backend threads (about 0.7 ms
        per HH-RLHF pair; two threads encoding at once took 2.1x one thread's time, against 1.0x this way).
        """
        return self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)

    def num_special_tokens(self, pair: bool) -> int:
        processor = self._tokenizer.post_processor
        return processor.num_special_tokens_to_add(pair) if processor is not None else 0

    def join_pair(self, first: Encoding, second: Encoding) -> Encoding:
        """Add the model's special tokens around a text pair (`[CLS] a [SEP] b [SEP]` for BERT)."""
        return self._tokenizer.post_process(first, second, add_special_tokens=True)

    def with_special_tokens(self, encoding: Encoding) -> Encoding:
        """Add the model's special tokens around one text (`<s> a` for Llama, `[CLS] a [SEP]` for BERT), as
        `tokenizer(text)` does; `special_tokens_mask` marks the added ones."""
        return self._tokenizer.post_process(encoding, None, add_special_tokens=True)

    def render_chat(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
        if self._template is None:
            raise ValueError("this tokenizer has no chat template")
        return str(
            self._template.render(
                messages=list(messages), add_generation_prompt=add_generation_prompt, **self.special_tokens
            )
        )

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=False)


def copy_tokenizer_files(source: Path, destination: Path) -> None:
    """Copy a folder's tokenizer files into `destination` (for a trained or exported model)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, destination / name)
