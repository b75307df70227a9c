"""The logic of each endpoint: request model in, response model out, on top of `Scorer.score`.

Routers (service.api.routes) stay thin: they resolve dependencies, call one function here, and set the
timing headers from the returned `Timings`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Sequence
from typing import Any

from models.formatting import Prompt, ScoringInput, WholeText
from service.api.protocol import (
    CompareRequest,
    CompareResponse,
    CompareResult,
    GateDefault,
    GateRequest,
    GateResponse,
    HeadInfo,
    ItemDetail,
    Limits,
    ModelInfo,
    RankRequest,
    RankResponse,
    RewardRequest,
    RewardResponse,
    ScoreRequest,
    ScoreResponse,
    ThresholdSource,
    prompt_value,
)
from service.errors import InvalidRequest
from service.lanes import Lane, choose_lane
from service.model_loading import LoadedModel
from service.scorer import ScoreOutcome, Scorer, Timings
from service.settings import Settings


class ScoringContext:
    """What one scoring request needs: the scorer, the model's identity, the settings, and where the
    request came from (its route and the priority its header asked for)."""

    def __init__(
        self,
        scorer: Scorer,
        model: LoadedModel,
        settings: Settings,
        disconnected: Awaitable[object],
        route: str,
        header_priority: Lane | None,
    ) -> None:
        self.scorer = scorer
        self.model = model
        self.settings = settings
        self.disconnected = disconnected
        self.route = route
        self.header_priority = header_priority

    @property
    def identity(self) -> dict[str, Any]:
        return {"model": self.model.folder.name, "weights_digest": self.model.weights_digest}

    @property
    def pad_text(self) -> str | None:
        """The tokenizer's pad token as text, when it is declared and is neither its BOS nor its EOS."""
        tokens = self.model.tokenizer.special_tokens
        pad = tokens.get("pad_token")
        return pad if pad and pad not in (tokens.get("bos_token"), tokens.get("eos_token")) else None

    @property
    def temperature(self) -> float | None:
        """The temperature of the model card's calibration, if the model has been calibrated."""
        card = self.model.folder.card
        return card.calibration.temperature if card is not None and card.calibration is not None else None

    def lane(self, priority: Lane | None, pairs: int) -> Lane:
        """The lane of this request: its body's priority, else its header's, else the route's default."""
        s = self.settings
        requested = priority if priority is not None else self.header_priority
        return choose_lane(requested, s.route_lane(self.route), pairs, s.interactive_max_pairs, s.lanes)

    async def run(
        self,
        pairs: Sequence[ScoringInput],
        timeout_s: float | None,
        priority: Lane | None,
        weights: Sequence[float] | None = None,
    ) -> ScoreOutcome:
        timeout = self.settings.effective_timeout_s(timeout_s)
        lane = self.lane(priority, len(pairs))
        return await self.scorer.score(pairs, timeout, self.disconnected, weights=weights, lane=lane)


def _details(outcome: ScoreOutcome) -> list[ItemDetail]:
    return [
        ItemDetail(
            score=i.score,
            tokens=i.tokens,
            truncated=i.truncated,
            normalized=i.normalized,
            attributes=i.attributes,
            shared_prefix_tokens=i.shared_prefix_tokens,
        )
        for i in outcome.items
    ]


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x) without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def group_zscores(scores: Sequence[float]) -> list[float]:
    """(s - mean) / std within the group (population std); all zeros when every score is equal."""
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return [0.0 if std == 0 else (s - mean) / std for s in scores]


async def score(ctx: ScoringContext, request: ScoreRequest) -> tuple[ScoreResponse, Timings]:
    pairs = [(prompt_value(item.prompt), item.response) for item in request.items]
    outcome = await ctx.run(pairs, request.timeout_s, request.priority, request.weights)
    return ScoreResponse(**ctx.identity, scores=outcome.scores, items=_details(outcome)), outcome.timings


async def rank(ctx: ScoringContext, request: RankRequest) -> tuple[RankResponse, Timings]:
    prompt = prompt_value(request.prompt)
    outcome = await ctx.run(
        [(prompt, response) for response in request.responses], request.timeout_s, request.priority, request.weights
    )
    scores = outcome.scores
    # Best first; a stable sort breaks ties by the lower index.
    ranking = sorted(range(len(scores)), key=lambda i: -scores[i])
    body = RankResponse(
        **ctx.identity,
        scores=scores,
        ranking=ranking[: request.top_k] if request.top_k else ranking,
        best_index=ranking[0],
        zscores=group_zscores(scores),
        items=_details(outcome),
    )
    return body, outcome.timings


async def compare(ctx: ScoringContext, request: CompareRequest) -> tuple[CompareResponse, Timings]:
    comparisons = request.comparisons()
    pairs: list[tuple[Prompt, str]] = []
    for c in comparisons:
        prompt = prompt_value(c.prompt)
        pairs += [(prompt, c.response_a), (prompt, c.response_b)]
    outcome = await ctx.run(pairs, request.timeout_s, request.priority, request.weights)
    s = outcome.scores
    temperature = ctx.temperature
    results = []
    for i in range(len(comparisons)):
        margin = s[2 * i] - s[2 * i + 1]
        calibrated = sigmoid(margin / temperature) if temperature is not None else None
        results.append(
            CompareResult(
                score_a=s[2 * i],
                score_b=s[2 * i + 1],
                prob_a_preferred=sigmoid(margin),
                calibrated_prob_a_preferred=calibrated,
                attributes_a=outcome.items[2 * i].attributes,
                attributes_b=outcome.items[2 * i + 1].attributes,
            )
        )
    single: dict[str, Any] = results[0].model_dump() if request.pairs is None else {}
    return CompareResponse(**ctx.identity, **single, results=results), outcome.timings


def default_gate(model: LoadedModel, settings: Settings) -> GateDefault:
    """The gate's threshold when a request gives none: the settings', else the model card's, else 0.0."""
    if settings.gate_threshold is not None:
        return GateDefault(threshold=settings.gate_threshold, source="settings", rule="set by RMSERVE_GATE_THRESHOLD")
    card = model.folder.card
    if card is not None and card.gate is not None:
        return GateDefault(threshold=card.gate.threshold, source="model card", rule=card.gate.rule)
    return GateDefault(threshold=0.0, source="default", rule="raw score 0: neither the settings nor the card set one")


async def gate(ctx: ScoringContext, request: GateRequest) -> tuple[GateResponse, Timings]:
    threshold: float
    source: ThresholdSource
    if request.threshold is not None:
        threshold, source, rule = request.threshold, "request", "given in the request"
    else:
        default = default_gate(ctx.model, ctx.settings)
        threshold, source, rule = default.threshold, default.source, default.rule
    outcome = await ctx.run(
        [(prompt_value(request.prompt), request.response)], request.timeout_s, request.priority, request.weights
    )
    value = outcome.scores[0]
    allow = value >= threshold
    body = GateResponse(
        **ctx.identity,
        decision="allow" if allow else "block",
        allow=allow,
        score=value,
        threshold=threshold,
        attributes=outcome.items[0].attributes,
        threshold_source=source,
        threshold_rule=rule,
    )
    return body, outcome.timings


_NOTHING_TIMED = Timings(tokenization_s=0.0, queue_s=0.0, inference_s=0.0, total_s=0.0)


def strip_padding(text: str, pad: str | None) -> str:
    """`text` without the runs of `pad` at its ends (decoding a padded batch leaves them; they are not content).

    Linear in the text's length: offsets move, the text is sliced once.
    """
    if not pad:
        return text
    start, end = 0, len(text)
    while text.startswith(pad, start, end):
        start += len(pad)
    while end - start >= len(pad) and text.endswith(pad, start, end):
        end -= len(pad)
    return text[start:end]


def reward_inputs(request: RewardRequest, pad: str | None) -> list[WholeText]:
    """OpenRLHF's queries as whole texts: padding dropped, the prompt's end noted where it is a prefix."""
    prompts = request.prompts
    inputs = []
    for index, query in enumerate(request.query):
        text = strip_padding(query, pad)
        prompt = strip_padding(prompts[index], pad) if prompts is not None else ""
        prompt_chars = len(prompt) if prompt and text.startswith(prompt) else 0
        inputs.append(WholeText(text, request.add_special_tokens, prompt_chars))
    return inputs


async def get_reward(ctx: ScoringContext, request: RewardRequest) -> tuple[RewardResponse, Timings]:
    prompts = request.prompts
    if prompts is not None and len(prompts) != len(request.query):
        raise InvalidRequest(f"prompts has {len(prompts)} entries but query has {len(request.query)}")
    if not request.query:
        # With several --remote_rm_url's, OpenRLHF shards a sample list over the servers: some get none, and
        # an error here would fail (after retries) the sample that another server scored.
        return RewardResponse(rewards=[], scores=[], extra_logs={}, **ctx.identity), _NOTHING_TIMED
    ctx.scorer.check_limits([WholeText(query) for query in request.query])  # on the texts as sent, padding included
    outcome = await ctx.run(reward_inputs(request, ctx.pad_text), request.timeout_s, request.priority)
    body = RewardResponse(
        rewards=outcome.scores,
        scores=outcome.scores,
        extra_logs=attribute_logs(outcome),
        **ctx.identity,
        items=_details(outcome),
    )
    return body, outcome.timings


def attribute_logs(outcome: ScoreOutcome) -> dict[str, Any]:
    """A multi-objective model's attributes as OpenRLHF `extra_logs` (one list per name, one value per
    query: the trainer logs them beside the reward); empty for one-output models."""
    first = outcome.items[0].attributes if outcome.items else None
    if first is None:
        return {}
    return {name: [(item.attributes or {})[name] for item in outcome.items] for name in first}


def model_info(model: LoadedModel, settings: Settings, workers: int) -> ModelInfo:
    folder = model.folder
    head = model.head
    card = folder.card.model_dump(exclude={"reference_pairs"}, exclude_none=True) if folder.card else None
    if card is not None and folder.card is not None:
        card["reference_pairs"] = len(folder.card.reference_pairs)
    return ModelInfo(
        model=folder.name,
        weights_digest=model.weights_digest,
        folder=str(folder.path),
        architecture=folder.architecture,
        kind=folder.kind,
        head=HeadInfo(
            kind=head.kind,
            attributes=list(head.labels) if head.labels else None,
            weights=list(head.weights) if head.weights is not None else None,
            step_format=head.step_format,
            step_separator=head.step_separator,
        ),
        backend=model.backend.name,
        device=model.backend.device,
        dtype=model.backend.dtype,
        max_length=model.max_length,
        card=card,
        choice=model.choice.to_dict(),
        gate=default_gate(model, settings),
        limits=Limits(
            max_items_per_request=settings.max_items_per_request,
            max_chars_per_text=settings.max_chars_per_text,
            max_body_bytes=settings.max_body_bytes,
            max_length=model.max_length,
            request_timeout_s=settings.request_timeout_s,
            max_request_timeout_s=settings.max_request_timeout_s,
        ),
        batching={
            "max_batch_size": settings.max_batch_size,
            "max_batch_tokens": settings.max_batch_tokens,
            "max_wait_ms": settings.max_wait_ms,
            "workers": workers,
            "threads_per_worker": settings.resolved_threads_per_worker(),
            "share_prompts": settings.share_prompts and bool(getattr(model.backend, "shares_prefixes", False)),
            "min_shared_tokens": settings.min_shared_tokens,
        },
    )
