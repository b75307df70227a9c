"""Each public client method as a `Call`: the requests it sends and how their answers become its result.

Shared by the sync and the async client, so both send exactly the same requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from rmserve._core import Call, Limits, chunk_bounds, encode_json
from rmserve.types import (
    JSON,
    CompareResult,
    Comparison,
    GateResult,
    Pair,
    Prompt,
    RankResult,
    ScoreResult,
    StepsItem,
    StepsResult,
    comparison_to_json,
    merge_compare_batches,
    merge_scores,
    merge_steps,
    pair_to_json,
    parse_compare,
    parse_compare_batch,
    parse_gate,
    parse_rank,
    parse_score,
    parse_score_steps,
    prompt_to_json,
    rank_locally,
    steps_item_to_json,
)

Part = TypeVar("Part")
Result = TypeVar("Result")


def _chunked_call(
    path: str,
    key: str,
    entries: list[JSON],
    limits: Limits,
    timeout_s: float,
    parse: Callable[[JSON, int], Part],
    merge: Callable[[list[Part]], Result],
    extra: JSON | None = None,
) -> Call[Result]:
    """POSTs of `{key: <a chunk of entries>, "timeout_s", **extra}` to `path`, chunked to respect `limits`;
    each answer is parsed with its chunk's size and the parts merged in the order of `entries`."""
    bounds = chunk_bounds(entries, limits)
    requests: list[tuple[str, str, JSON | None]] = [
        ("POST", path, {key: entries[start:end], "timeout_s": timeout_s, **(extra or {})}) for start, end in bounds
    ]

    def combine(bodies: list[JSON]) -> Result:
        return merge([parse(body, end - start) for body, (start, end) in zip(bodies, bounds, strict=True)])

    return Call(requests, combine)


def _weights(weights: Sequence[float] | None) -> JSON | None:
    return {"weights": [float(w) for w in weights]} if weights is not None else None


def score_call(
    pairs: Sequence[Pair], limits: Limits, timeout_s: float, weights: Sequence[float] | None = None
) -> Call[ScoreResult]:
    """/v1/score in chunks that respect `limits`; the merged result keeps the order of `pairs`. `weights`
    (a multi-objective model's, one per attribute) go with every chunk."""
    items = [pair_to_json(pair) for pair in pairs]
    if not items:
        raise ValueError("score() needs at least one pair")
    return _chunked_call("/v1/score", "items", items, limits, timeout_s, parse_score, merge_scores, _weights(weights))


def score_steps_call(items: Sequence[StepsItem], limits: Limits, timeout_s: float) -> Call[StepsResult]:
    """/v1/score_steps in chunks that respect `limits`; the merged result keeps the order of `items`."""
    entries = [steps_item_to_json(item) for item in items]
    if not entries:
        raise ValueError("score_steps() needs at least one item")
    return _chunked_call("/v1/score_steps", "items", entries, limits, timeout_s, parse_score_steps, merge_steps)


def score_texts_call(
    texts: Sequence[str],
    prompts: Sequence[str] | None,
    add_special_tokens: bool | None,
    limits: Limits,
    timeout_s: float,
) -> Call[ScoreResult]:
    """/get_reward in chunks that respect `limits`: texts rendered already (a chat template applied), scored
    as given; `prompts[i]`, when given, is the start of `texts[i]` (an encoder RM splits its pair there)."""
    if not texts:
        raise ValueError("score_texts() needs at least one text")
    if prompts is not None and len(prompts) != len(texts):
        raise ValueError(f"{len(prompts)} prompts for {len(texts)} texts")
    # Sized for chunking only: each text travels with its prompt.
    entries: list[JSON] = [{"query": text, "prompt": prompts[i] if prompts else None} for i, text in enumerate(texts)]
    bounds = chunk_bounds(entries, limits)

    def body(start: int, end: int) -> JSON:
        chunk: JSON = {"query": list(texts[start:end]), "timeout_s": timeout_s}
        if prompts is not None:
            chunk["prompts"] = list(prompts[start:end])
        if add_special_tokens is not None:
            chunk["add_special_tokens"] = add_special_tokens
        return chunk

    def combine(bodies: list[JSON]) -> ScoreResult:
        parts = [parse_score(answer, end - start) for answer, (start, end) in zip(bodies, bounds, strict=True)]
        return merge_scores(parts)

    return Call([("POST", "/get_reward", body(start, end)) for start, end in bounds], combine)


def rank_call(
    prompt: Prompt, responses: Sequence[str], top_k: int | None, limits: Limits, timeout_s: float
) -> Call[RankResult]:
    """/v1/rank when the group fits in one request; a larger group is scored in chunks through /v1/score and
    ranked here (same model, same scores; ties go to the lower index)."""
    if not responses:
        raise ValueError("rank() needs at least one response")
    if top_k is not None and top_k < 1:
        raise ValueError("top_k must be at least 1")
    body: JSON = {"prompt": prompt_to_json(prompt), "responses": list(responses), "timeout_s": timeout_s}
    if top_k is not None:
        body["top_k"] = top_k
    n = len(responses)
    if n <= limits.max_items_per_request and len(encode_json(body)) <= limits.max_body_bytes:
        return Call([("POST", "/v1/rank", body)], lambda bodies: parse_rank(bodies[0], n))
    scores = score_call([(prompt, response) for response in responses], limits, timeout_s)
    return Call(scores.requests, lambda bodies: rank_locally(scores.combine(bodies), top_k))


def compare_call(prompt: Prompt, response_a: str, response_b: str, timeout_s: float) -> Call[CompareResult]:
    body: JSON = {
        "prompt": prompt_to_json(prompt),
        "response_a": response_a,
        "response_b": response_b,
        "timeout_s": timeout_s,
    }
    return Call([("POST", "/v1/compare", body)], lambda bodies: parse_compare(bodies[0]))


def compare_batch_call(
    comparisons: Sequence[Comparison], limits: Limits, timeout_s: float
) -> Call[list[CompareResult]]:
    """/v1/compare with `pairs`, in chunks that respect `limits` (the server counts each comparison as two
    scored items); the merged results keep the order of `comparisons`."""
    entries = [comparison_to_json(c) for c in comparisons]
    if not entries:
        raise ValueError("compare_batch() needs at least one comparison")
    per_comparison = Limits(max(1, limits.max_items_per_request // 2), limits.max_body_bytes)
    return _chunked_call(
        "/v1/compare", "pairs", entries, per_comparison, timeout_s, parse_compare_batch, merge_compare_batches
    )


def gate_call(prompt: Prompt, response: str, threshold: float | None, timeout_s: float) -> Call[GateResult]:
    body: JSON = {"prompt": prompt_to_json(prompt), "response": response, "timeout_s": timeout_s}
    if threshold is not None:
        body["threshold"] = threshold
    return Call([("POST", "/v1/gate", body)], lambda bodies: parse_gate(bodies[0]))


def get_call(path: str) -> Call[JSON]:
    """A GET whose JSON object is the result (/v1/models, /health)."""
    return Call([("GET", path, None)], lambda bodies: bodies[0])
