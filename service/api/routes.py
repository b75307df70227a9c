"""Thin routers: resolve dependencies, call `service.api.serving`, set the timing headers.

Scoring routes and /v1/models require an API key when keys are configured (a per-route dependency);
/health, /ready and /metrics are open. Each route declares the error answers it can give, with their
real body (`ErrorResponse`), so that the OpenAPI schema is a contract a generated client can rely on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from service.api import serving
from service.api.protocol import (
    CompareRequest,
    CompareResponse,
    ErrorResponse,
    GateRequest,
    GateResponse,
    Health,
    ModelInfo,
    RankRequest,
    RankResponse,
    Readiness,
    RewardRequest,
    RewardResponse,
    ScoreRequest,
    ScoreResponse,
)
from service.auth import require_api_key
from service.errors import Unavailable
from service.lanes import PRIORITY_HEADER, Lane
from service.scorer import Timings
from service.state import ServiceState

_LOADING_RETRY_S = 5.0
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_RETRY_AFTER_HEADER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
_ERROR_DESCRIPTIONS = {
    400: "the body is not readable JSON (invalid_request)",
    401: "a missing or wrong API key, when the server has keys (unauthenticated)",
    413: "the body, the item count or a text is over the server's limits, listed by /v1/models (payload_too_large)",
    422: "a field is missing, of the wrong type or out of range (invalid_request)",
    429: "the request's lane is full, or the work queued ahead of it would not let it finish before its deadline "
    "(overloaded); Retry-After says when it would be admitted",
    500: "the model failed on this batch (backend_error), or a server fault (internal_error)",
    503: "the model is loading, draining or failed (unavailable), or the bodies being read across connections "
    "are at the server's limit (overloaded); Retry-After says when to come back",
    504: "the request's deadline (its timeout_s, else the server's) passed before its scores were ready "
    "(deadline_exceeded)",
}


def _error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses: each has the body `ErrorResponse`."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]}
        if status in (429, 503):
            responses[status]["headers"] = _RETRY_AFTER_HEADER
    return responses


SCORING_ERRORS = _error_responses(400, 401, 413, 422, 429, 500, 503, 504)


async def get_state(request: Request) -> ServiceState:
    """Async so that FastAPI calls it on the event loop: a plain `def` dependency costs a thread-pool hop,
    which under load delayed even /health."""
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def _wait_for_disconnect(request: Request) -> None:
    """Completes when the client disconnects (the server's receive reports it once the body is read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


PriorityHeader = Annotated[
    Lane | None,
    Header(
        alias=PRIORITY_HEADER,
        description="the queue lane (interactive pairs are served ahead of bulk ones); the body's priority "
        "field wins; default: the server's per-route setting",
    ),
]


async def scoring_context(
    request: Request, state: StateDep, header_priority: PriorityHeader = None
) -> AsyncIterator[serving.ScoringContext]:
    """The context of a scoring request; 503 while loading, draining or failed."""
    scorer, model = state.scorer, state.model
    if state.phase == "draining":
        raise Unavailable("the server is shutting down; retry on another replica", retry_after_s=1.0)
    if state.phase != "ready" or scorer is None or model is None:
        raise Unavailable(f"the model is not ready ({state.phase})", retry_after_s=_LOADING_RETRY_S)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        yield serving.ScoringContext(scorer, model, state.settings, watcher, request.url.path, header_priority)
    finally:
        watcher.cancel()


ContextDep = Annotated[serving.ScoringContext, Depends(scoring_context)]


def _set_timing_headers(response: Response, timings: Timings, ctx: serving.ScoringContext) -> None:
    """Where the request's time went, in milliseconds (the headers TEI sends), and how many of its pairs
    were scored in a group that shared its prefix pass (x-shared-prefix-items)."""
    response.headers["x-tokenization-time"] = f"{timings.tokenization_s * 1000:.2f}"
    response.headers["x-queue-time"] = f"{timings.queue_s * 1000:.2f}"
    response.headers["x-inference-time"] = f"{timings.inference_s * 1000:.2f}"
    response.headers["x-total-time"] = f"{timings.total_s * 1000:.2f}"
    response.headers["x-model-digest"] = ctx.model.weights_digest
    response.headers["x-shared-prefix-items"] = str(timings.shared_items)


scoring = APIRouter(dependencies=[Depends(require_api_key)])


@scoring.post("/v1/score", response_model=ScoreResponse, responses=SCORING_ERRORS, tags=["scoring"])
async def score(body: ScoreRequest, ctx: ContextDep, response: Response) -> ScoreResponse:
    """Raw rewards for (prompt, response) pairs, in request order, with per-item details."""
    result, timings = await serving.score(ctx, body)
    _set_timing_headers(response, timings, ctx)
    return result


@scoring.post("/v1/rank", response_model=RankResponse, responses=SCORING_ERRORS, tags=["scoring"])
async def rank(body: RankRequest, ctx: ContextDep, response: Response) -> RankResponse:
    """Best-of-n: scores, ranking best first, the best index and the group's z-scores."""
    result, timings = await serving.rank(ctx, body)
    _set_timing_headers(response, timings, ctx)
    return result


@scoring.post("/v1/compare", response_model=CompareResponse, responses=SCORING_ERRORS, tags=["scoring"])
async def compare(body: CompareRequest, ctx: ContextDep, response: Response) -> CompareResponse:
    """Bradley-Terry comparison of two responses (or a batch of comparisons via `pairs`)."""
    result, timings = await serving.compare(ctx, body)
    _set_timing_headers(response, timings, ctx)
    return result


@scoring.post("/v1/gate", response_model=GateResponse, responses=SCORING_ERRORS, tags=["scoring"])
async def gate(body: GateRequest, ctx: ContextDep, response: Response) -> GateResponse:
    """allow when score >= threshold (the request's, else the server's), within the request's deadline."""
    result, timings = await serving.gate(ctx, body)
    _set_timing_headers(response, timings, ctx)
    return result


@scoring.post("/get_reward", response_model=RewardResponse, responses=SCORING_ERRORS, tags=["openrlhf"])
async def get_reward(body: RewardRequest, ctx: ContextDep, response: Response) -> RewardResponse:
    """OpenRLHF's remote reward model protocol (`--remote_rm_url http://host:port/get_reward`)."""
    result, timings = await serving.get_reward(ctx, body)
    _set_timing_headers(response, timings, ctx)
    return result


@scoring.get("/v1/models", response_model=ModelInfo, tags=["model"], responses=_error_responses(401, 503))
async def models(state: StateDep) -> ModelInfo:
    """What is served: model, folder, architecture, backend, device, dtype, digest, provenance, limits."""
    model = state.model
    if model is None:
        raise Unavailable(f"the model is not loaded ({state.phase})", retry_after_s=_LOADING_RETRY_S)
    return serving.model_info(model, state.settings, state.settings.resolved_workers())


probes = APIRouter(tags=["operations"])


@probes.get("/health", response_model=Health)
async def health(state: StateDep) -> Health:
    """Liveness: answers at once, whatever the model is doing."""
    return Health(phase=state.phase)


@probes.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(state: StateDep) -> JSONResponse:
    """Readiness: 200 once the model is loaded and warmed; 503 while loading, draining, failed or stalled."""
    reason = state.not_ready_reason()
    body = Readiness(ready=reason is None, phase=state.phase, reason=reason)
    return JSONResponse(body.model_dump(), status_code=200 if reason is None else 503)


@probes.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {PROMETHEUS_CONTENT_TYPE: {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics."""
    return Response(state.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)
