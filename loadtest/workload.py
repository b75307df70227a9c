"""The pairs the benchmarks and load tests send, and the request bodies built from them.

- HH lengths: HH-RLHF (`../shared/data/hh-rlhf/harmless-base-test.jsonl.gz` beside the checkout), rows
  `:1800` only (the last 512 rows are the held-out evaluation set and are never used here); (prompt
  messages, chosen response). Where the file is absent, HH-like multi-turn pairs are built from the
  project's own preference set: each prompt strings 1 to 6 of its exchanges together as earlier turns,
  which gives a similar long-tailed spread of lengths (the source is named in every result).
- Short pairs: single-turn pairs of the project's preference set of 35 to 65 tokens (about 50 with
  MiniLM's tokenizer).

Light: no torch, no tokenizer (it reads JSON only), so that the locustfile can import it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.data import PreferencePair, RowRange, read_preferences
from models.default_model import DEFAULT_DATA_PATH
from models.formatting import Message, Prompt, prompt_as_text

REPO_ROOT = Path(__file__).resolve().parent.parent
HH_DATA_PATH = REPO_ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"
HH_TUNING_ROWS = ":1800"  # the last 512 rows of the file are the held-out eval: never used here

Pair = tuple[Prompt, str]


@dataclass(frozen=True)
class PairSet:
    """A named list of (prompt, response) pairs, with where they came from."""

    name: str  # "hh" or "short"
    source: str
    pairs: list[Pair]


def hh_data_path() -> Path | None:
    return HH_DATA_PATH if HH_DATA_PATH.is_file() else None


def _preference_pairs() -> list[PreferencePair]:
    return read_preferences(DEFAULT_DATA_PATH)


def _synthetic_hh(count: int, seed: int) -> list[Pair]:
    """Multi-turn pairs from the preference set: 0-5 earlier exchanges, then a final question and answer."""
    rows = _preference_pairs()
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for _ in range(count):
        turns = rng.choice([1, 1, 1, 2, 2, 3, 4, 6])
        picked = rng.sample(rows, turns)
        messages: list[Message] = []
        for row in picked[:-1]:
            messages.append({"role": "user", "content": prompt_as_text(row.prompt).strip()})
            messages.append({"role": "assistant", "content": row.chosen})
        last = picked[-1]
        messages.append({"role": "user", "content": prompt_as_text(last.prompt).strip()})
        pairs.append((messages, last.chosen))
    return pairs


def hh_pairs(count: int, seed: int = 0, path: Path | None = None) -> PairSet:
    """`count` pairs with HH-RLHF's length spread (HH itself when present: `path`, else the file beside the
    checkout), in a seeded shuffled order."""
    path = path or hh_data_path()
    if path is None:
        return PairSet("hh", "synthetic HH-like (preference set; HH-RLHF not found)", _synthetic_hh(count, seed))
    rows = read_preferences(path, RowRange.parse(HH_TUNING_ROWS))
    random.Random(seed).shuffle(rows)
    pairs: list[Pair] = [(row.prompt, row.chosen) for row in rows]
    return PairSet("hh", f"HH-RLHF {path.name} rows {HH_TUNING_ROWS}", _cycle(pairs, count))


def short_pairs(count: int, seed: int = 0, min_chars: int = 120, max_chars: int = 260) -> PairSet:
    """`count` single-turn pairs of the preference set whose prompt + response run 120-260 characters
    (35-65 MiniLM tokens; chosen and rejected responses both used)."""
    candidates: list[Pair] = []
    for row in _preference_pairs():
        prompt = prompt_as_text(row.prompt)
        for response in (row.chosen, row.rejected):
            if min_chars <= len(prompt) + len(response) <= max_chars:
                candidates.append((row.prompt, response))
    random.Random(seed).shuffle(candidates)
    return PairSet("short", "rmserve preference set, 120-260 characters", _cycle(candidates, count))


def _cycle(pairs: Sequence[Pair], count: int) -> list[Pair]:
    if not pairs:
        raise ValueError("no pairs to draw from")
    return [pairs[i % len(pairs)] for i in range(count)]


# ---------------------------------------------------------------- request bodies (JSON-ready dicts)


def score_body(pairs: Sequence[Pair]) -> dict[str, Any]:
    return {"items": [{"prompt": prompt, "response": response} for prompt, response in pairs]}


def rank_body(prompt: Prompt, responses: Sequence[str]) -> dict[str, Any]:
    return {"prompt": prompt, "responses": list(responses)}


def gate_body(prompt: Prompt, response: str) -> dict[str, Any]:
    return {"prompt": prompt, "response": response}


def get_reward_body(pairs: Sequence[Pair]) -> dict[str, Any]:
    """OpenRLHF's remote-RM request: `query` is the whole text (prompt then response), `prompts` the
    prompts (a prefix of each query), `labels` the dataset labels (empty here)."""
    prompts = [prompt_as_text(prompt) for prompt, _ in pairs]
    return {
        "query": [text + " " + response for text, (_, response) in zip(prompts, pairs, strict=True)],
        "prompts": prompts,
        "labels": ["" for _ in pairs],
    }


def request_lines(
    pairs: Sequence[Pair], pairs_per_request: int, path: str = "/v1/score", timeout_s: float | None = None
) -> Iterator[dict[str, Any]]:
    """Load-generator request lines {path, body, pairs}: consecutive chunks of `pairs_per_request` pairs,
    with the request's own deadline `timeout_s` when given (/v1/score only)."""
    for start in range(0, len(pairs) - pairs_per_request + 1, pairs_per_request):
        chunk = pairs[start : start + pairs_per_request]
        body = get_reward_body(chunk) if path == "/get_reward" else score_body(chunk)
        if timeout_s is not None and path == "/v1/score":
            body["timeout_s"] = timeout_s
        yield {"path": path, "body": body, "pairs": len(chunk)}


def write_request_lines(out: Path, lines: Iterator[dict[str, Any]]) -> Path:
    with out.open("w") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return out


def write_pairs(out: Path, pair_set: PairSet) -> Path:
    """JSON lines {prompt, response} (what `loadtest.limit` reads)."""
    with out.open("w") as handle:
        for prompt, response in pair_set.pairs:
            handle.write(json.dumps({"prompt": prompt, "response": response}, ensure_ascii=False) + "\n")
    return out


def read_pairs(path: Path) -> list[Pair]:
    pairs: list[Pair] = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            pairs.append((row["prompt"], row["response"]))
    return pairs
