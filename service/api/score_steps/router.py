"""The thin router of /v1/score_steps (mounted by `service.app`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from service.api.routes import SCORING_ERRORS, ContextDep, _set_timing_headers
from service.api.score_steps import serving
from service.api.score_steps.protocol import ScoreStepsRequest, ScoreStepsResponse
from service.auth import require_api_key

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post("/v1/score_steps", response_model=ScoreStepsResponse, responses=SCORING_ERRORS, tags=["scoring"])
async def score_steps(body: ScoreStepsRequest, ctx: ContextDep, response: Response) -> ScoreStepsResponse:
    """A process reward model's score for every step of each (prompt, steps) item, with the aggregates
    trainers use (min, last, mean, product), in request order. Other models answer 422."""
    result, timings = await serving.score_steps(ctx, body)
    _set_timing_headers(response, timings, ctx)
    return result
