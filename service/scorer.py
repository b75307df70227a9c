"""The scoring domain: (prompt, response) pairs (or whole texts rendered already) in, raw rewards out, in order.

`Scorer.score` checks the request's limits, reserves room in the batcher's queue (refusing before any
tokenizing is spent), formats the pairs on a thread pool (never on the event loop), submits them to the
`DynamicBatcher`, and waits for every pair's future until the request's deadline or the client's
disconnection, whichever comes first. The reservation gives back, however the request ends, whatever it
still holds: unused room, pairs that have not started running. Batcher and backend failures become the
service's errors (see `service.errors`).

A multi-objective head's pairs come back with every attribute by name, and `score` is their combination
(the request's weights, else the model card's). A process reward model scores (prompt, steps) items
through `score_steps` instead; pair scoring refuses it, and step scoring refuses every other head.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from models.card import ScoreStats
from models.formatting import EncodedPair, FormattingError, PairFormatter, Prompt, ScoringInput, WholeText
from models.heads import HeadError, RewardHead
from models.steps import Aggregate, EncodedSteps, StepFormatter, aggregate_steps, step_probabilities
from service.backends.base import BackendError
from service.batcher import BatcherClosed, DynamicBatcher, ItemExpired, ItemResult, Refused, Ticket
from service.errors import (
    BackendFailed,
    ClientClosed,
    DeadlineExceeded,
    InvalidRequest,
    Overloaded,
    PayloadTooLarge,
    ServiceError,
    Unavailable,
)
from service.lanes import Lane

_CHARS_PER_TOKEN_ESTIMATE = 3  # admission estimates tokens before tokenizing; English runs ~4 chars/token
StepsItem = tuple[Prompt, Sequence[str]]
Encoded = TypeVar("Encoded", bound=EncodedPair)
Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """`attributes` (a multi-objective head's outputs by name) is None for a one-output head."""

    score: float
    tokens: int
    truncated: bool
    normalized: float | None
    attributes: dict[str, float] | None = None
    shared_prefix_tokens: int = 0  # leading tokens computed once for the pair's group (0: scored alone)


@dataclass(frozen=True, slots=True)
class ScoredStep:
    """One step: `score` is P(right) (the positive label's probability), `logit` the raw logit difference
    (right - wrong); both None when truncation dropped the step's scoring token."""

    score: float | None
    logit: float | None
    truncated: bool


@dataclass(frozen=True, slots=True)
class StepScoredItem:
    """One (prompt, steps) item: its steps in order and the aggregates of the scored steps' P(right)."""

    steps: list[ScoredStep]
    aggregates: dict[Aggregate, float]
    tokens: int
    truncated: bool

    @property
    def truncated_steps(self) -> int:
        return sum(step.truncated for step in self.steps)


@dataclass(frozen=True, slots=True)
class Timings:
    """Where a request's time went, in seconds (the queue time is its slowest pair's), and how many of its
    pairs were scored as part of a group that shared its prefix pass."""

    tokenization_s: float
    queue_s: float
    inference_s: float
    total_s: float
    shared_items: int = 0


@dataclass(frozen=True, slots=True)
class ScoreOutcome:
    items: list[ScoredItem]
    timings: Timings

    @property
    def scores(self) -> list[float]:
        return [item.score for item in self.items]


@dataclass(frozen=True, slots=True)
class StepOutcome:
    items: list[StepScoredItem]
    timings: Timings


@dataclass(frozen=True)
class ScorerLimits:
    max_items_per_request: int
    max_chars_per_text: int
    max_length: int


class ScoreObserver(Protocol):
    """Metrics on what was scored; called on the event loop."""

    def on_scored(self, scores: Sequence[float], response_chars: Sequence[int], truncated: Sequence[bool]) -> None: ...

    def on_waited(self, lane: Lane, predicted_s: float, actual_s: float) -> None:
        """An admitted request's queue wait as admission predicted it and as it was (its slowest pair's)."""


def _prompt_chars(prompt: Prompt) -> list[int]:
    if isinstance(prompt, str):
        return [len(prompt)]
    return [len(m.get("content", "")) if isinstance(m, dict) else 0 for m in prompt]


def _text_chars(item: ScoringInput) -> list[int]:
    """The length of each text of an input, in characters (the per-text limit applies to each)."""
    if isinstance(item, WholeText):
        return [len(item.text)]
    prompt, response = item
    return [*_prompt_chars(prompt), len(response)]


def _response_chars(item: ScoringInput) -> int:
    if isinstance(item, WholeText):
        return len(item.text) - item.prompt_chars
    return len(item[1])


class Scorer:
    """Thread-safety: `score` runs on one event loop; the formatter runs on `tokenizer_threads` threads."""

    def __init__(
        self,
        formatter: PairFormatter | None,
        batcher: DynamicBatcher,
        limits: ScorerLimits,
        score_stats: ScoreStats | None = None,
        observer: ScoreObserver | None = None,
        tokenizer_threads: int = 2,
        head: RewardHead | None = None,
        step_formatter: StepFormatter | None = None,
    ) -> None:
        self.formatter = formatter
        self.head = head or RewardHead("reward")
        self.step_formatter = step_formatter
        self.batcher = batcher
        self.limits = limits
        self.score_stats = score_stats
        self.observer = observer
        self._pool = ThreadPoolExecutor(max_workers=tokenizer_threads, thread_name_prefix="rmserve-tokenize")
        self.draining = False  # set when the server begins to shut down (see `score`)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def check_limits(self, pairs: Sequence[ScoringInput]) -> None:
        """Raise PayloadTooLarge/InvalidRequest for a request over the caps (before any tokenizing)."""
        if not pairs:
            raise InvalidRequest("at least one item is required")
        if len(pairs) > self.limits.max_items_per_request:
            raise PayloadTooLarge(
                f"{len(pairs)} items in one request; the limit is {self.limits.max_items_per_request}"
            )
        cap = self.limits.max_chars_per_text
        for index, item in enumerate(pairs):
            if any(n > cap for n in _text_chars(item)):
                raise PayloadTooLarge(f"item {index} has a text longer than {cap} characters")

    def check_step_limits(self, items: Sequence[StepsItem]) -> None:
        """`check_limits` for (prompt, steps) items: every step counts as a text."""
        self.check_limits([(prompt, "") for prompt, _ in items])
        cap = self.limits.max_chars_per_text
        for index, (_, steps) in enumerate(items):
            if any(len(step) > cap for step in steps):
                raise PayloadTooLarge(f"item {index} has a step longer than {cap} characters")

    def _estimate_tokens(self, pairs: Sequence[ScoringInput]) -> int:
        total = 0
        for item in pairs:
            chars = sum(_text_chars(item))
            total += min(self.limits.max_length, chars // _CHARS_PER_TOKEN_ESTIMATE + 4)
        return total

    async def score(
        self,
        pairs: Sequence[ScoringInput],
        timeout_s: float,
        disconnected: Awaitable[object] | None = None,
        weights: Sequence[float] | None = None,
        lane: Lane = "bulk",
    ) -> ScoreOutcome:
        """Raw scores for `pairs` (pairs or `WholeText`s, see `PairFormatter.encode_input`) in order; raises a
        ServiceError (see the module docstring).

        `timeout_s` is the whole request's budget; `disconnected` completes when the client goes away;
        `weights` combine a multi-objective head's attributes (default: the model card's).
        `lane` is the batcher lane its pairs queue in. Admission refusals (a full lane, a deadline the work
        ahead makes unreachable) are Overloaded (429) with the batcher's Retry-After.
        """
        started = time.monotonic()
        formatter = self.formatter
        if self.head.kind == "process" or formatter is None:
            raise InvalidRequest(
                "the served model is a process reward model: send (prompt, steps) items to /v1/score_steps"
            )
        try:
            combination = self.head.resolve_weights(weights)
        except HeadError as exc:
            raise InvalidRequest(str(exc)) from None
        self.check_limits(pairs)

        def encode() -> list[EncodedPair]:
            return _encode_all(formatter.encode_input, pairs)

        encoded, results, tokenized_at = await self._run(
            len(pairs), self._estimate_tokens(pairs), encode, timeout_s, disconnected, lane
        )
        outcome = self._assemble(encoded, results, started, tokenized_at, combination)
        if self.observer is not None:
            self.observer.on_scored(
                outcome.scores, [_response_chars(item) for item in pairs], [item.truncated for item in outcome.items]
            )
        return outcome

    async def score_steps(
        self,
        items: Sequence[StepsItem],
        timeout_s: float,
        disconnected: Awaitable[object] | None = None,
        lane: Lane = "bulk",
    ) -> StepOutcome:
        """Per-step scores and their aggregates for (prompt, steps) items, in order (a process reward model
        only); raises a ServiceError like `score`."""
        started = time.monotonic()
        step_formatter = self.step_formatter
        if step_formatter is None:
            raise InvalidRequest(
                f"the served model has a {self.head.kind.replace('_', '-')} head, not a process reward model: "
                "score whole responses with /v1/score"
            )
        self.check_step_limits(items)
        flat = [(prompt, "\n".join(steps)) for prompt, steps in items]

        def encode() -> list[EncodedSteps]:
            return _encode_all(lambda item: step_formatter.encode(*item), items)

        encoded, results, tokenized_at = await self._run(
            len(items), self._estimate_tokens(flat), encode, timeout_s, disconnected, lane
        )
        outcome = StepOutcome(
            [_step_item(e, r) for e, r in zip(encoded, results, strict=True)],
            _timings(results, started, tokenized_at),
        )
        if self.observer is not None:
            self.observer.on_scored(
                [item.aggregates["last"] for item in outcome.items],
                [len(response) for _, response in flat],
                [item.truncated for item in outcome.items],
            )
        return outcome

    async def _run(
        self,
        count: int,
        estimated_tokens: int,
        encode: Callable[[], list[Encoded]],
        timeout_s: float,
        disconnected: Awaitable[object] | None,
        lane: Lane,
    ) -> tuple[list[Encoded], list[ItemResult], float]:
        """Reserve, encode off the event loop, submit and wait: (encoded items, their results, when the
        tokenizing ended)."""
        deadline = time.monotonic() + timeout_s
        try:
            reservation = self.batcher.reserve(count, estimated_tokens, deadline, lane)
        except Refused as exc:
            raise Overloaded(f"the server is at capacity: {exc}; retry later", exc.retry_after_s) from None
        except BatcherClosed:
            raise Unavailable("the server is shutting down", retry_after_s=1.0) from None
        with reservation:
            loop = asyncio.get_running_loop()
            encoded = await loop.run_in_executor(self._pool, encode)
            tokenized_at = time.monotonic()
            try:
                ticket = reservation.submit(encoded)
            except BatcherClosed:
                raise Unavailable("the server is shutting down", retry_after_s=1.0) from None
            try:
                results = await self._wait(ticket, deadline, disconnected)
            except asyncio.CancelledError:
                if not self.draining:
                    raise
                # The server cancels the requests still waiting when its shutdown grace period ends: answer
                # 503 (retry on another replica) rather than let it send a bare 500.
                raise Unavailable(
                    "the server shut down before this request was scored; retry on another replica",
                    retry_after_s=1.0,
                ) from None
        if self.observer is not None:
            self.observer.on_waited(lane, reservation.predicted_wait_s, max(r.queue_s for r in results))
        return encoded, results, tokenized_at

    async def _wait(self, ticket: Ticket, deadline: float, disconnected: Awaitable[object] | None) -> list[ItemResult]:
        done = _all_settled(ticket.futures, asyncio.get_running_loop())
        waiters: set[asyncio.Future[object]] = {done}
        gone = asyncio.ensure_future(disconnected) if disconnected is not None else None
        if gone is not None:
            waiters.add(gone)
        try:
            await asyncio.wait(waiters, timeout=max(0.0, deadline - time.monotonic()), return_when="FIRST_COMPLETED")
        finally:
            if gone is not None:
                gone.cancel()
        if not done.done():
            done.cancel()
            if gone is not None and gone.done() and not gone.cancelled():
                raise ClientClosed("the client disconnected")
            raise DeadlineExceeded("the request's deadline passed before its scores were ready")
        return [_result_of(future) for future in ticket.futures]

    def _assemble(
        self,
        encoded: list[EncodedPair],
        results: list[ItemResult],
        started: float,
        tokenized_at: float,
        weights: tuple[float, ...] | None,
    ) -> ScoreOutcome:
        stats = self.score_stats
        items = []
        for pair, result in zip(encoded, results, strict=True):
            attributes = None
            value = result.score
            if weights is not None:
                if result.values is None or result.values.shape != (len(weights),):
                    raise BackendFailed("the model returned the wrong number of attributes")
                attributes = {name: float(v) for name, v in zip(self.head.labels, result.values, strict=True)}
                value = float(np.dot(np.asarray(weights, dtype=np.float64), result.values.astype(np.float64)))
            if not math.isfinite(value) or (attributes and not all(map(math.isfinite, attributes.values()))):
                raise BackendFailed("the model produced a non-finite score")
            normalized = (value - stats.mean) / stats.std if stats is not None else None
            items.append(
                ScoredItem(value, pair.num_tokens, pair.truncated, normalized, attributes, result.shared_prefix_tokens)
            )
        return ScoreOutcome(items, _timings(results, started, tokenized_at))


def _encode_all(encode_one: Callable[[Item], Encoded], items: Sequence[Item]) -> list[Encoded]:
    """Encode every item, a formatting failure becoming InvalidRequest naming the item."""
    encoded = []
    for index, item in enumerate(items):
        try:
            encoded.append(encode_one(item))
        except FormattingError as exc:
            raise InvalidRequest(f"item {index}: {exc}") from None
    return encoded


def _timings(results: list[ItemResult], started: float, tokenized_at: float) -> Timings:
    batches = {r.batch_id: r.inference_s for r in results}
    return Timings(
        tokenization_s=tokenized_at - started,
        queue_s=max(r.queue_s for r in results),
        inference_s=sum(batches.values()),
        total_s=time.monotonic() - started,
        shared_items=sum(1 for r in results if r.shared_prefix_tokens),
    )


def _step_item(encoded: EncodedSteps, result: ItemResult) -> StepScoredItem:
    logits = result.values
    if logits is None or logits.shape != (len(encoded.score_positions), 2) or not np.all(np.isfinite(logits)):
        raise BackendFailed("the model returned no finite step scores for an item")
    probs, diffs = step_probabilities(logits)
    first = encoded.first_scored_step
    steps = []
    for index, truncated in enumerate(encoded.step_truncated):
        scored = index >= first
        steps.append(
            ScoredStep(
                float(probs[index - first]) if scored else None,
                float(diffs[index - first]) if scored else None,
                truncated,
            )
        )
    return StepScoredItem(steps, aggregate_steps(probs.tolist()), encoded.num_tokens, encoded.truncated)


def _result_of(future: Future[ItemResult]) -> ItemResult:
    """A settled future's result, with batcher and backend failures turned into service errors."""
    try:
        return future.result(timeout=0)
    except ServiceError:
        raise
    except ItemExpired:
        raise DeadlineExceeded("the request's deadline passed while it was queued") from None
    except BatcherClosed:
        raise Unavailable("the server is shutting down", retry_after_s=1.0) from None
    except BackendError as exc:
        raise BackendFailed(f"the model failed on this batch: {exc}") from None
    except Exception:
        raise BackendFailed("the model failed on this batch") from None


def _all_settled(futures: Sequence[Future[ItemResult]], loop: asyncio.AbstractEventLoop) -> asyncio.Future[object]:
    """An asyncio future that completes (on `loop`) once every concurrent future is settled."""
    waiter: asyncio.Future[object] = loop.create_future()
    remaining = [len(futures)]
    lock = threading.Lock()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    def on_settled(_: Future[ItemResult]) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            # A closed loop means nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake)

    for future in futures:
        future.add_done_callback(on_settled)
    return waiter
