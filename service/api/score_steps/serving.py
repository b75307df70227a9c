"""The logic of /v1/score_steps on top of `Scorer.score_steps`."""

from __future__ import annotations

from service.api.protocol import prompt_value
from service.api.score_steps.protocol import (
    Aggregates,
    ScoreStepsRequest,
    ScoreStepsResponse,
    StepScore,
    StepsResult,
)
from service.api.serving import ScoringContext
from service.scorer import StepScoredItem, Timings


def _result(item: StepScoredItem) -> StepsResult:
    return StepsResult(
        scores=[step.score for step in item.steps],
        steps=[StepScore(score=s.score, logit=s.logit, truncated=s.truncated) for s in item.steps],
        aggregates=Aggregates(**item.aggregates),
        tokens=item.tokens,
        truncated=item.truncated,
        truncated_steps=item.truncated_steps,
    )


async def score_steps(ctx: ScoringContext, request: ScoreStepsRequest) -> tuple[ScoreStepsResponse, Timings]:
    items = [(prompt_value(item.prompt), list(item.steps)) for item in request.all_items()]
    timeout_s = ctx.settings.effective_timeout_s(request.timeout_s)
    outcome = await ctx.scorer.score_steps(items, timeout_s, ctx.disconnected, ctx.lane(request.priority, len(items)))
    body = ScoreStepsResponse(**ctx.identity, results=[_result(item) for item in outcome.items])
    return body, outcome.timings
