"""Read preference pairs from JSONL or JSONL.gz files, in TRL's format or in HH-RLHF's.

One row is one JSON object on one line. Accepted shapes:

- TRL, explicit prompt: `{"prompt", "chosen", "rejected"}` where the prompt is a string or a message list
  and the responses are strings or message lists (whose final assistant message is the response).
- TRL, implicit prompt: `{"chosen", "rejected"}` as message lists sharing a prefix; the shared messages
  are the prompt and the final assistant message of each list is its response.
- HH-RLHF: `{"chosen", "rejected"}` as full transcripts of `\\n\\nHuman:` / `\\n\\nAssistant:` turns; the
  shared transcript up to the last `\\n\\nAssistant:` becomes a message-list prompt, and the text after it
  is each response.

Any row may carry a numeric `margin` (how much better chosen is than rejected) and other keys, which are
ignored. Blank lines are skipped. A malformed row raises `DataFormatError` naming the file and the line.

Row selection (`RowRange`, written `A:B` on the command line) counts data rows from 0 and follows
Python's slice rules: `:1800` is the first 1,800 rows, `1800:` the rest, `-512:` the last 512 (on the
command line `--rows=-512:`, with `=`, so that argparse does not read it as an option).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import UserError
from models.formatting import FormattingError, Message, Prompt, validate_messages

HUMAN_MARKER = "\n\nHuman:"
ASSISTANT_MARKER = "\n\nAssistant:"
_TURN_RE = re.compile(r"\n\n(Human|Assistant):")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


class DataFormatError(UserError, ValueError):
    """A preference file is missing, unreadable or holds a malformed row (the message names the line)."""


@dataclass(frozen=True, slots=True)
class PreferencePair:
    """One preference: `chosen` is the better response to `prompt`, `rejected` the worse one.

    `margin`, when given, is how much higher the chosen reward should be (Bradley-Terry with margin).
    """

    prompt: Prompt
    chosen: str
    rejected: str
    margin: float | None = None


@dataclass(frozen=True, slots=True)
class RowRange:
    """A slice of a file's data rows, 0-based, Python slice semantics (negative counts from the end)."""

    start: int | None = None
    stop: int | None = None

    @classmethod
    def parse(cls, text: str) -> RowRange:
        """Parse `A:B`, `A:` or `:B` (A, B integers, possibly negative). Raises DataFormatError."""
        start_text, sep, stop_text = text.partition(":")
        if not sep:
            raise DataFormatError(f"row range {text!r} must look like A:B, A: or :B (e.g. :1800 or 1800:)")
        try:
            start = int(start_text) if start_text.strip() else None
            stop = int(stop_text) if stop_text.strip() else None
        except ValueError as exc:
            raise DataFormatError(f"row range {text!r}: bounds must be integers") from exc
        return cls(start, stop)

    def __str__(self) -> str:
        return f"{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}"

    def apply(self, items: Sequence[Any]) -> list[Any]:
        return list(items[self.start : self.stop])

    def indices(self, total_rows: int) -> range:
        """The 0-based row indices this range selects from a file of `total_rows` rows."""
        return range(total_rows)[self.start : self.stop]


def row_range_argument(text: str) -> RowRange:
    """`RowRange.parse` for argparse's `type=`: a bad range becomes argparse's usage error with our message."""
    try:
        return RowRange.parse(text)
    except DataFormatError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        yield from handle


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, text) of every non-blank line."""
    if not path.is_file():
        raise DataFormatError(f"preference file {path} does not exist")
    try:
        return [(number, line) for number, line in enumerate(_open_text(path), start=1) if line.strip()]
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataFormatError(
            f"{path}: cannot be read as UTF-8 JSONL{' (gzip)' if path.suffix == '.gz' else ''}: {exc}"
        ) from exc


def parse_hh_transcript(text: str) -> list[Message]:
    """Split an HH-RLHF transcript into user/assistant messages. Raises ValueError when it has no turn.

    Text before the first marker must be blank. A turn's content is its text without the one space that
    follows the marker, so `prompt_as_text` renders the messages back to the original transcript.
    """
    parts = _TURN_RE.split(text)
    if parts[0].strip():
        raise ValueError("text before the first Human:/Assistant: turn")
    if len(parts) < 3:
        raise ValueError("no '\\n\\nHuman:' or '\\n\\nAssistant:' turn")
    messages: list[Message] = []
    for label, content in zip(parts[1::2], parts[2::2], strict=True):
        messages.append({"role": _HH_ROLES[label], "content": content.removeprefix(" ")})
    return messages


def _common_prefix_length(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _split_hh(chosen: str, rejected: str) -> tuple[list[Message], str, str]:
    """Shared prompt messages and the two final assistant responses of an HH-RLHF row."""
    c_cut, r_cut = chosen.rfind(ASSISTANT_MARKER), rejected.rfind(ASSISTANT_MARKER)
    if c_cut < 0 or r_cut < 0:
        raise ValueError("a transcript has no '\\n\\nAssistant:' turn")
    if chosen[:c_cut] != rejected[:r_cut]:
        # A few HH rows have a response that itself runs on into more turns; the prompt is then the
        # transcripts' common part up to its last Assistant marker, and the rest is each response.
        common = chosen[: _common_prefix_length(chosen, rejected)]
        c_cut = r_cut = common.rfind(ASSISTANT_MARKER)
        if c_cut < 0:
            raise ValueError("chosen and rejected do not share a prompt ending with an Assistant turn")
    messages = parse_hh_transcript(chosen[:c_cut])
    if messages[-1]["role"] != "user":
        raise ValueError("the prompt must end with a Human turn")
    response_start = len(ASSISTANT_MARKER)
    return messages, chosen[c_cut + response_start :].strip(), rejected[r_cut + response_start :].strip()


def _as_messages(value: Any, key: str) -> list[Message]:
    if not isinstance(value, list):
        raise ValueError(f"'{key}' must be a string or a list of messages")
    try:
        validate_messages(value)
    except FormattingError as exc:
        raise ValueError(f"'{key}': {exc}") from exc
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _response_text(value: Any, key: str) -> str:
    """A response given as a string, or as a message list ending with the assistant's reply."""
    if isinstance(value, str):
        return value
    messages = _as_messages(value, key)
    if messages[-1]["role"] != "assistant":
        raise ValueError(f"'{key}' as messages must end with an assistant message")
    return messages[-1]["content"]


def _split_implicit(chosen: Any, rejected: Any) -> tuple[list[Message], str, str]:
    """TRL's implicit-prompt form: two message lists sharing every message but the last."""
    c_msgs, r_msgs = _as_messages(chosen, "chosen"), _as_messages(rejected, "rejected")
    if c_msgs[:-1] != r_msgs[:-1] or len(c_msgs) < 2:
        raise ValueError("chosen and rejected message lists do not share a prompt (all messages but the last)")
    if c_msgs[-1]["role"] != "assistant" or r_msgs[-1]["role"] != "assistant":
        raise ValueError("chosen and rejected must end with an assistant message")
    return c_msgs[:-1], c_msgs[-1]["content"], r_msgs[-1]["content"]


def parse_row(row: Any) -> PreferencePair:
    """Turn one decoded JSON row into a PreferencePair. Raises ValueError saying what is wrong."""
    if not isinstance(row, dict):
        raise ValueError("a row must be a JSON object")
    missing = [key for key in ("chosen", "rejected") if key not in row]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(repr(k) for k in missing)}")
    chosen, rejected = row["chosen"], row["rejected"]
    prompt: Prompt
    if "prompt" in row:
        raw_prompt = row["prompt"]
        prompt = raw_prompt if isinstance(raw_prompt, str) else _as_messages(raw_prompt, "prompt")
        chosen_text, rejected_text = _response_text(chosen, "chosen"), _response_text(rejected, "rejected")
    elif isinstance(chosen, str) and isinstance(rejected, str):
        if ASSISTANT_MARKER not in chosen:
            raise ValueError("no 'prompt' key and 'chosen' is not an HH-RLHF transcript ('\\n\\nAssistant:' turns)")
        prompt, chosen_text, rejected_text = _split_hh(chosen, rejected)
    elif isinstance(chosen, list) and isinstance(rejected, list):
        prompt, chosen_text, rejected_text = _split_implicit(chosen, rejected)
    else:
        raise ValueError("'chosen' and 'rejected' must both be strings or both be message lists")
    margin = row.get("margin")
    if margin is not None and (
        isinstance(margin, bool) or not isinstance(margin, int | float) or not math.isfinite(margin)
    ):
        raise ValueError("'margin' must be a finite number")
    return PreferencePair(prompt, chosen_text, rejected_text, None if margin is None else float(margin))


def read_preferences(path: str | Path, rows: RowRange | None = None) -> list[PreferencePair]:
    """Read the preference pairs of a JSONL or JSONL.gz file, optionally only the rows in `rows`.

    Rows outside the range are not parsed. Raises DataFormatError with the file and line of the first
    malformed row, or when the selection is empty.
    """
    file = Path(path)
    lines = _read_lines(file)
    selected = rows.apply(lines) if rows else lines
    pairs: list[PreferencePair] = []
    for number, line in selected:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{file}:{number}: not valid JSON ({exc.msg})") from exc
        try:
            pairs.append(parse_row(row))
        except ValueError as exc:
            raise DataFormatError(f"{file}:{number}: {exc}") from exc
    if not pairs:
        where = f" in rows {rows}" if rows else ""
        raise DataFormatError(f"{file}: no preference rows{where} (the file has {len(lines)})")
    return pairs


def count_rows(path: str | Path) -> int:
    """The number of data (non-blank) rows of a preference file, without parsing them."""
    return len(_read_lines(Path(path)))


def file_fingerprint(path: str | Path) -> str:
    """sha256 of a data file (hex), recorded in cards and used in cache keys."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_name(path: str | Path, rows: RowRange | None = None) -> str:
    """How a model card names its data: the file name plus the row range when one was taken."""
    name = Path(path).name
    return f"{name}[{rows}]" if rows else name
