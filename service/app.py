"""The FastAPI application: `create_app(settings)`.

Start-up does not block the server: the lifespan starts loading in a thread, so /health answers at once
and /ready turns true only when the model is loaded, self-tested (the model card's reference pairs,
when it has some, must reproduce), warmed up and profiled, and the batcher's workers run. A load
failure marks the service failed and calls `state.on_fatal` (the serve command then exits non-zero).
Shutdown drains: the batcher finishes the queued pairs within `shutdown_grace_s`, then the backend closes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.errors import UserError
from models.folder import ModelLoadError
from models.formatting import EncodedPair
from models.selftest import tolerance_for, verify_reference_scores
from models.steps import EncodedSteps
from service.api.classify.router import router as classify_router
from service.api.docs import install_docs
from service.api.routes import probes, scoring
from service.api.score_steps.router import router as score_steps_router
from service.backends.base import Backend, StepBackend
from service.batcher import DynamicBatcher
from service.cost_model import profile_backend, profile_grid
from service.errors import install_error_handlers
from service.limits import BodyBudget, BodySizeLimit
from service.metrics import Metrics
from service.model_loading import LoadedModel, load_model
from service.scorer import Scorer, ScorerLimits
from service.settings import Settings
from service.state import ServiceState

logger = logging.getLogger("rmserve")

# CPU batches beyond this many padded tokens are not profiled: the per-pair cost is flat by then, and the
# warm-up must stay short. GPUs are profiled up to max_batch_tokens.
_CPU_PROFILE_MAX_TOKENS = 2048
_CPU_PROFILE_MAX_ROWS = 32


class RequestMetrics:
    """Counts requests by route and status and times them (pure ASGI; unmatched paths count as 'other')."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The router records the matched route in the scope; its path template keeps the label set small.
            matched = scope.get("route")
            route = getattr(matched, "path", None) or "other"
            self.metrics.requests.labels(route=route, status=str(status)).inc()
            self.metrics.request_latency.labels(route=route).observe(time.perf_counter() - started)


def _self_test(model: LoadedModel) -> None:
    """Refuse to serve unless the backend reproduces the model card's reference scores (when it has some).
    Reference pairs hold one score each: a one-output reward model's."""
    backend = model.backend
    if model.formatter is None or model.head.kind != "reward":
        return
    result = verify_reference_scores(
        model.folder.card, model.formatter, backend.score, tolerance_for(backend.dtype, backend.device)
    )
    if result.checked:
        logger.info("self-test passed: %d reference pairs, max |diff| %.3g", result.checked, result.max_abs_diff)


def _warm_up_and_profile(model: LoadedModel, settings: Settings) -> DynamicBatcher:
    """Run the first passes (lazy initialisation, kernels), time batch shapes, and build the batcher."""
    prompt = "How do I keep basil fresh after buying it?"
    answer = "Trim the stems, stand it in a glass of water at room temperature and cover it loosely."
    backend = model.backend
    score: Callable[[Sequence[EncodedPair]], object] = backend.score
    if model.step_formatter is not None:
        # Short steps, so that the template fits the smallest max_length (8 tokens).
        template: EncodedPair = model.step_formatter.encode(prompt, ["Trim.", "Water."])
        if not isinstance(backend, StepBackend):
            raise ModelLoadError(f"the {backend.name} backend cannot score a process reward model's steps")
        step_backend = backend

        def score(batch: Sequence[EncodedPair]) -> object:
            # A synthetic pair of any length reads as one step scored at its last token.
            return step_backend.score_steps([EncodedSteps.read_at_end(pair) for pair in batch])

    else:
        assert model.formatter is not None
        template = model.formatter.encode([{"role": "user", "content": prompt}], answer)
    score([template])
    # A model that runs one pair per onnxruntime run (int8, for batch invariance) gains nothing from a
    # batch: its pairs would run one after another in one worker while other workers could take them.
    # Measured with batches allowed: 11-pair batches at 64 short-pair clients, p95 1.1 s against 0.7 s.
    one_pair_per_run = getattr(backend, "rows_per_run", None) == 1
    max_batch_size = 1 if one_pair_per_run else settings.max_batch_size
    on_cpu = not settings.on_gpu
    max_rows = min(max_batch_size, _CPU_PROFILE_MAX_ROWS if on_cpu else max_batch_size)
    max_tokens = min(settings.max_batch_tokens, _CPU_PROFILE_MAX_TOKENS if on_cpu else settings.max_batch_tokens)
    shapes = profile_grid(max_rows, model.max_length, max_tokens)
    cost_model = profile_backend(score, template, shapes, settings.profile_budget_s)
    return DynamicBatcher(backend, settings.batcher_config(max_batch_size), cost_model)


def start_service(state: ServiceState, backend: Backend | None, freeze_gc: bool = False) -> None:
    """Load, self-test, warm up, start the workers, then mark the service ready (runs in a thread).

    `freeze_gc` (for the process that owns the service, not for tests that build many apps): move every
    object loading made into the collector's permanent generation. Without it each full collection
    re-scanned the tokenizer, model and library objects, a pause of about 100 ms every few seconds under
    load (measured with gc.callbacks) that every request in flight, and /health, waited through.
    """
    settings = state.settings
    model = load_model(settings, backend)
    state.model = model
    _self_test(model)
    batcher = _warm_up_and_profile(model, settings)
    batcher.observer = state.metrics
    state.metrics.busy_workers.set_function(batcher.busy_workers)
    state.metrics.drain_rate.set_function(batcher.drain_tokens_per_s)
    batcher.start()
    state.batcher = batcher
    stats = model.folder.card.score_stats if model.folder.card else None
    limits = ScorerLimits(settings.max_items_per_request, settings.max_chars_per_text, model.max_length)
    state.scorer = Scorer(
        model.formatter,
        batcher,
        limits,
        stats,
        observer=state.metrics,
        head=model.head,
        step_formatter=model.step_formatter,
    )
    if freeze_gc:
        gc.collect()
        gc.freeze()
    if state.phase == "loading":
        state.phase = "ready"
        state.metrics.ready.set(1)
        logger.info("ready: %d backend workers", batcher.config.workers)


def stop_service(state: ServiceState) -> None:
    """Drain the batcher within the grace period, then release the model (runs in a thread)."""
    state.begin_drain()
    if state.batcher is not None:
        # The grace period runs from the signal: the server has already spent part of it waiting for
        # connections, so the batcher only gets what is left (the process exits within the grace period).
        state.batcher.close(drain=True, timeout_s=state.drain_time_left_s())
    if state.scorer is not None:
        state.scorer.close()
    if state.model is not None:
        state.model.backend.close()


def create_app(settings: Settings, backend: Backend | None = None, freeze_gc: bool = False) -> FastAPI:
    """The service for `settings`. `backend`, when given, is served instead of the one the settings name
    (tests inject slow or failing backends this way; the model folder still provides the tokenizer).
    `freeze_gc`: see `start_service`; `rmserve serve` sets it."""
    state = ServiceState(settings, Metrics())

    async def load() -> None:
        try:
            await asyncio.to_thread(start_service, state, backend, freeze_gc)
        except Exception as exc:
            state.phase = "failed"
            state.failure = str(exc)
            # A UserError (bad folder, failed self-test) explains itself; anything else is a bug: keep its trace.
            logger.error("model failed to load: %s", exc, exc_info=not isinstance(exc, UserError))
            if state.on_fatal is not None:
                state.on_fatal()
        finally:
            state.loaded.set()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader = asyncio.create_task(load())
        try:
            yield
        finally:
            state.begin_drain()
            await loader
            await asyncio.to_thread(stop_service, state)

    app = FastAPI(
        title="rmserve",
        summary="Reward-model scoring service",
        description="Raw rewards for (prompt, response) pairs with dynamic batching; see /docs.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from the installed Swagger UI files, not a CDN
        redoc_url=None,
    )
    app.state.service = state
    install_docs(app)
    install_error_handlers(app)
    app.include_router(scoring)
    app.include_router(score_steps_router)
    app.include_router(classify_router)
    app.include_router(probes)
    body_budget = BodyBudget(settings.max_inflight_body_bytes)
    state.metrics.body_bytes_held.set_function(lambda: body_budget.held_bytes)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes, budget=body_budget)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    return app
