"""The thin router of `POST /classify` (vLLM's classification route, which verl's reward loop calls)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from service.api.classify import serving
from service.api.classify.protocol import ClassificationRequest, ClassificationResponse
from service.api.routes import SCORING_ERRORS, ContextDep, _set_timing_headers
from service.auth import require_api_key

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post("/classify", response_model=ClassificationResponse, responses=SCORING_ERRORS, tags=["vllm"])
async def classify(body: ClassificationRequest, ctx: ContextDep, response: Response) -> ClassificationResponse:
    """vLLM's classification API over already-rendered texts: verl's reward loop (`reward_model.rollout.name=vllm`)
    reads `data[i].probs[-1]`, the raw reward when it sends `use_activation: false`."""
    result, timings = await serving.classify(ctx, body)
    _set_timing_headers(response, timings, ctx)
    return result
