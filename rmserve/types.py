"""What the client sends and what it returns: input normalisation and typed results.

A prompt is a string or a list of chat messages `{"role", "content"}`; a response is a string. A pair may
be given as a `(prompt, response)` tuple or a mapping with "prompt" and "response" keys, a comparison as a
`(prompt, response_a, response_b)` tuple or a mapping with those keys. Results are frozen dataclasses; `raw`
keeps the server's whole JSON answer for fields this client does not name (for one comparison of a batch,
its own entry of the answer's `results`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from rmserve.errors import UnexpectedResponseError

Priority: TypeAlias = Literal["interactive", "bulk"]  # the server's lanes (service.lanes), said again: no server import
PRIORITY_HEADER = "X-Rmserve-Priority"

Message: TypeAlias = Mapping[str, Any]
Prompt: TypeAlias = str | Sequence[Message]
Pair: TypeAlias = tuple[Prompt, str] | Mapping[str, Any]
StepsItem: TypeAlias = tuple[Prompt, Sequence[str]] | Mapping[str, Any]
Comparison: TypeAlias = tuple[Prompt, str, str] | Mapping[str, Any]
JSON: TypeAlias = dict[str, Any]


def prompt_to_json(prompt: Prompt) -> str | list[dict[str, Any]]:
    """A prompt as the API takes it: the string itself, or the messages as plain dicts."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        messages = [dict(m) for m in prompt if isinstance(m, Mapping)]
        if len(messages) == len(prompt):
            return messages
    raise TypeError(f"a prompt must be a string or a list of {{'role', 'content'}} messages, not {type(prompt)}")


def pair_to_json(pair: Pair) -> JSON:
    """One `{"prompt", "response"}` item of /v1/score from a tuple or a mapping."""
    if isinstance(pair, Mapping):
        if "prompt" not in pair or "response" not in pair:
            raise TypeError("a pair mapping needs the keys 'prompt' and 'response'")
        prompt, response = pair["prompt"], pair["response"]
    elif isinstance(pair, tuple) and len(pair) == 2:
        prompt, response = pair
    else:
        raise TypeError(f"a pair is a (prompt, response) tuple or a mapping, not {type(pair)}")
    if not isinstance(response, str):
        raise TypeError(f"a response must be a string, not {type(response)}")
    return {"prompt": prompt_to_json(prompt), "response": response}


def steps_item_to_json(item: StepsItem) -> JSON:
    """One `{"prompt", "steps"}` item of /v1/score_steps from a `(prompt, steps)` tuple or a mapping."""
    if isinstance(item, Mapping):
        if "prompt" not in item or "steps" not in item:
            raise TypeError("a steps mapping needs the keys 'prompt' and 'steps'")
        prompt, steps = item["prompt"], item["steps"]
    elif isinstance(item, tuple) and len(item) == 2:
        prompt, steps = item
    else:
        raise TypeError(f"a steps item is a (prompt, steps) tuple or a mapping, not {type(item)}")
    if isinstance(steps, str) or not isinstance(steps, Sequence) or not all(isinstance(s, str) for s in steps):
        raise TypeError("steps must be a list of strings")
    return {"prompt": prompt_to_json(prompt), "steps": list(steps)}


def comparison_to_json(comparison: Comparison) -> JSON:
    """One `{"prompt", "response_a", "response_b"}` entry of /v1/compare's `pairs` from a tuple or a mapping."""
    keys = ("prompt", "response_a", "response_b")
    if isinstance(comparison, Mapping):
        missing = [key for key in keys if key not in comparison]
        if missing:
            raise TypeError(f"a comparison mapping needs the keys {', '.join(map(repr, keys))}; missing {missing}")
        prompt, response_a, response_b = (comparison[key] for key in keys)
    elif isinstance(comparison, tuple) and len(comparison) == 3:
        prompt, response_a, response_b = comparison
    else:
        raise TypeError(
            f"a comparison is a (prompt, response_a, response_b) tuple or a mapping, not {type(comparison)}"
        )
    if not isinstance(response_a, str) or not isinstance(response_b, str):
        raise TypeError("both responses of a comparison must be strings")
    return {"prompt": prompt_to_json(prompt), "response_a": response_a, "response_b": response_b}


def _field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if not isinstance(value, kind):
        raise UnexpectedResponseError(f"the server's answer has no valid {name!r} field")
    return value


def _digest(body: Mapping[str, Any]) -> str | None:
    digest = body.get("weights_digest")
    return digest if isinstance(digest, str) else None


def _float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UnexpectedResponseError(f"the server's answer has a non-numeric {what}")
    return float(value)


def _optional_float(value: Any, what: str) -> float | None:
    return None if value is None else _float(value, what)


@dataclass(frozen=True, slots=True)
class ItemScore:
    """One scored pair: the raw reward, its token count, whether it was cut, and the z-score if known."""

    score: float
    tokens: int | None
    truncated: bool
    normalized: float | None
    attributes: dict[str, float] | None = None  # a multi-objective model's values by name


def _attributes(value: Any) -> dict[str, float] | None:
    if not isinstance(value, Mapping):
        return None
    return {str(name): _float(v, f"attribute {name}") for name, v in value.items()}


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """Scores of a list of pairs, in the order they were given (one request or many chunks merged)."""

    model: str
    weights_digest: str | None
    items: list[ItemScore]
    raw: list[JSON] = field(repr=False, default_factory=list)

    @property
    def scores(self) -> list[float]:
        return [item.score for item in self.items]

    @property
    def normalized(self) -> list[float] | None:
        """z-scores from the model card's statistics, or None when the model has none."""
        values = [item.normalized for item in self.items]
        return None if any(v is None for v in values) else [float(v) for v in values if v is not None]

    @property
    def truncated_fraction(self) -> float:
        return sum(item.truncated for item in self.items) / len(self.items) if self.items else 0.0


def parse_score(body: JSON, n_expected: int) -> ScoreResult:
    """A /v1/score answer for `n_expected` items; raises UnexpectedResponseError on any mismatch."""
    model = _field(body, "model", str)
    scores = _field(body, "scores", list)
    details = body.get("items")
    if len(scores) != n_expected:
        raise UnexpectedResponseError(f"asked for {n_expected} scores, the server sent {len(scores)}")
    if not isinstance(details, list) or len(details) != n_expected:
        details = [{} for _ in scores]
    items = []
    for score, detail in zip(scores, details, strict=True):
        detail = detail if isinstance(detail, Mapping) else {}
        tokens = detail.get("tokens")
        items.append(
            ItemScore(
                score=_float(score, "score"),
                tokens=tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None,
                truncated=bool(detail.get("truncated", False)),
                normalized=_optional_float(detail.get("normalized"), "normalized score"),
                attributes=_attributes(detail.get("attributes")),
            )
        )
    return ScoreResult(model, _digest(body), items, [body])


def _check_one_model(identities: set[tuple[str, str | None]]) -> None:
    if len(identities) > 1:
        raise UnexpectedResponseError(f"the chunks of one call were scored by different models: {sorted(identities)}")


def merge_scores(parts: Sequence[ScoreResult]) -> ScoreResult:
    """Chunks of one call joined in order. All chunks must come from the same model and weights: a model
    swapped in the middle of a call (a rolling deploy) would mix two reward scales in one batch."""
    if not parts:
        raise ValueError("nothing to merge")
    _check_one_model({(p.model, p.weights_digest) for p in parts})
    return ScoreResult(
        parts[0].model,
        parts[0].weights_digest,
        [item for part in parts for item in part.items],
        [body for part in parts for body in part.raw],
    )


@dataclass(frozen=True, slots=True)
class RankResult:
    """Best-of-n: `scores` in the order of the responses, `ranking` the response indices best first (only
    the first `top_k` when asked), `zscores` the scores standardised within the group (GRPO advantages)."""

    model: str
    weights_digest: str | None
    scores: list[float]
    ranking: list[int]
    zscores: list[float]
    raw: JSON = field(repr=False, default_factory=dict)

    @property
    def best_index(self) -> int:
        return self.ranking[0]


def group_zscores(scores: Sequence[float]) -> list[float]:
    """(s - mean) / std over one group (population std); all zeros when the scores are all equal."""
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return [0.0 if std == 0 else (s - mean) / std for s in scores]


def rank_locally(scores: ScoreResult, top_k: int | None) -> RankResult:
    """A ranking computed here from /v1/score results, for groups larger than one request may carry:
    best first, ties broken by the lower index (the order a stable sort gives)."""
    values = scores.scores
    ranking = sorted(range(len(values)), key=lambda i: -values[i])
    return RankResult(scores.model, scores.weights_digest, values, ranking[:top_k], group_zscores(values))


def parse_rank(body: JSON, n_expected: int) -> RankResult:
    model = _field(body, "model", str)
    scores = [_float(s, "score") for s in _field(body, "scores", list)]
    ranking = _field(body, "ranking", list)
    if len(scores) != n_expected or not all(isinstance(i, int) and 0 <= i < n_expected for i in ranking):
        raise UnexpectedResponseError("the server's ranking does not match the responses sent")
    zscores = body.get("zscores")
    if isinstance(zscores, list) and len(zscores) == n_expected:
        zvalues = [_float(z, "z-score") for z in zscores]
    else:
        zvalues = group_zscores(scores)
    return RankResult(model, _digest(body), scores, list(ranking), zvalues, body)


@dataclass(frozen=True, slots=True)
class CompareResult:
    """Two responses to one prompt: both raw scores, `prob_a_preferred = sigmoid(score_a - score_b)`, and
    `calibrated_prob_a_preferred` (the same with the model's calibrated temperature; None when the model
    has not been calibrated)."""

    model: str
    weights_digest: str | None
    score_a: float
    score_b: float
    prob_a_preferred: float
    calibrated_prob_a_preferred: float | None = None
    raw: JSON = field(repr=False, default_factory=dict)


def _compare_result(model: str, digest: str | None, entry: Mapping[str, Any], raw: JSON) -> CompareResult:
    return CompareResult(
        model,
        digest,
        _float(entry.get("score_a"), "score_a"),
        _float(entry.get("score_b"), "score_b"),
        _float(entry.get("prob_a_preferred"), "prob_a_preferred"),
        _optional_float(entry.get("calibrated_prob_a_preferred"), "calibrated_prob_a_preferred"),
        raw,
    )


def parse_compare(body: JSON) -> CompareResult:
    """A /v1/compare answer to one comparison (its top-level fields)."""
    return _compare_result(_field(body, "model", str), _digest(body), body, body)


def parse_compare_batch(body: JSON, n_expected: int) -> list[CompareResult]:
    """A /v1/compare answer to `n_expected` comparisons sent as `pairs`: its `results`, in order; each result's
    `raw` is its own entry of `results`. Raises UnexpectedResponseError on any mismatch."""
    model = _field(body, "model", str)
    results = _field(body, "results", list)
    if len(results) != n_expected:
        raise UnexpectedResponseError(f"asked for {n_expected} comparisons, the server sent {len(results)}")
    if not all(isinstance(entry, dict) for entry in results):
        raise UnexpectedResponseError("the server's answer has a result that is not an object")
    digest = _digest(body)
    return [_compare_result(model, digest, entry, entry) for entry in results]


def merge_compare_batches(parts: Sequence[list[CompareResult]]) -> list[CompareResult]:
    """Chunks of one compare call joined in order; like `merge_scores`, all from one model and weights."""
    merged = [result for part in parts for result in part]
    _check_one_model({(r.model, r.weights_digest) for r in merged})
    return merged


@dataclass(frozen=True, slots=True)
class GateResult:
    """A safety-gate decision: `allow` is True when `score >= threshold`."""

    model: str
    weights_digest: str | None
    allow: bool
    score: float
    threshold: float
    raw: JSON = field(repr=False, default_factory=dict)

    @property
    def decision(self) -> str:
        return "allow" if self.allow else "block"


def parse_gate(body: JSON) -> GateResult:
    model = _field(body, "model", str)
    decision = body.get("decision")
    if decision not in ("allow", "block"):
        raise UnexpectedResponseError("the server's gate answer has no 'decision' of allow or block")
    return GateResult(
        model,
        _digest(body),
        decision == "allow",
        _float(body.get("score"), "score"),
        _float(body.get("threshold"), "threshold"),
        body,
    )


@dataclass(frozen=True, slots=True)
class StepItemScore:
    """One (prompt, steps) item: each step's P(right) (None where truncation dropped the step's scoring
    token), the aggregates of the scored steps (min, last, mean, product), and what truncation did."""

    scores: list[float | None]
    aggregates: dict[str, float]
    tokens: int | None
    truncated: bool
    truncated_steps: int


@dataclass(frozen=True, slots=True)
class StepsResult:
    """Step scores of a list of items, in the order they were given (one request or many chunks merged)."""

    model: str
    weights_digest: str | None
    items: list[StepItemScore]
    raw: list[JSON] = field(repr=False, default_factory=list)

    def aggregate(self, name: str) -> list[float]:
        """One aggregate ("min", "last", "mean" or "product") per item, in order."""
        if name not in ("min", "last", "mean", "product"):
            raise ValueError(f"unknown aggregate {name!r}; use min, last, mean or product")
        return [item.aggregates[name] for item in self.items]


def parse_score_steps(body: JSON, n_expected: int) -> StepsResult:
    """A /v1/score_steps answer for `n_expected` items; raises UnexpectedResponseError on any mismatch."""
    model = _field(body, "model", str)
    results = _field(body, "results", list)
    if len(results) != n_expected:
        raise UnexpectedResponseError(f"asked for {n_expected} step-scored items, the server sent {len(results)}")
    items = []
    for result in results:
        if not isinstance(result, Mapping):
            raise UnexpectedResponseError("the server's answer has a malformed result")
        scores = _field(result, "scores", list)
        aggregates = _field(result, "aggregates", Mapping)
        tokens = result.get("tokens")
        items.append(
            StepItemScore(
                scores=[_optional_float(s, "step score") for s in scores],
                aggregates={str(k): _float(v, f"aggregate {k}") for k, v in aggregates.items()},
                tokens=tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None,
                truncated=bool(result.get("truncated", False)),
                truncated_steps=int(result.get("truncated_steps", 0)),
            )
        )
    return StepsResult(model, _digest(body), items, [body])


def merge_steps(parts: Sequence[StepsResult]) -> StepsResult:
    """Chunks of one call joined in order, all from the same model and weights (see `merge_scores`)."""
    if not parts:
        raise ValueError("nothing to merge")
    _check_one_model({(p.model, p.weights_digest) for p in parts})
    return StepsResult(
        parts[0].model,
        parts[0].weights_digest,
        [item for part in parts for item in part.items],
        [body for part in parts for body in part.raw],
    )
