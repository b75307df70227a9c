"""`RewardClient`: the blocking client of an rmserve server.

Thread-safe: one client (one pooled connection pool) may be shared by any number of threads. A call whose
items span several requests sends them from a small thread pool, at most `max_concurrency` at a time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, TypeVar

import httpx

from rmserve import _calls
from rmserve._core import (
    DEFAULT_BASE_URL,
    Call,
    ClientConfig,
    Deadline,
    Limits,
    RetryPolicy,
    encode_json,
    error_from_response,
    is_retryable_transport_error,
    limits_from_models,
    next_delay_s,
    read_json,
)
from rmserve.errors import ConnectionFailedError, OverloadedError, RewardServiceError
from rmserve.types import (
    JSON,
    CompareResult,
    Comparison,
    GateResult,
    Pair,
    Priority,
    Prompt,
    RankResult,
    ScoreResult,
    StepsItem,
    StepsResult,
)

T = TypeVar("T")


class RewardClient:
    """Blocking client: `score`, `rank`, `compare`, `compare_batch`, `gate`, `models`, `health`, `ready`.

    ```python
    with RewardClient("http://127.0.0.1:8000") as client:
        client.score([("What is 2+2?", "4"), ("What is 2+2?", "5")]).scores
    ```

    `transport` replaces the network (an `httpx.MockTransport` or `httpx.WSGITransport` in tests). Every
    method takes `timeout_s`, the total time of that call (default: the client's). Errors are the classes of
    `rmserve.errors`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_items_per_request: int | None = None,
        max_body_bytes: int | None = None,
        max_concurrency: int = 4,
        retry: RetryPolicy | None = None,
        priority: Priority | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = ClientConfig(
            base_url=base_url,
            api_key=api_key,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            max_items_per_request=max_items_per_request,
            max_body_bytes=max_body_bytes,
            max_concurrency=max_concurrency,
            retry=retry or RetryPolicy(),
            priority=priority,
        )
        self._http = httpx.Client(
            base_url=base_url,
            headers=self.config.headers(),
            transport=transport,
            limits=httpx.Limits(max_connections=max(max_concurrency, 10), max_keepalive_connections=max_concurrency),
        )
        self._rng = random.Random()
        self._sleep: Callable[[float], None] = time.sleep
        self._limits: Limits | None = None
        self._limits_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> RewardClient:
        return cls(
            config.base_url,
            api_key=config.api_key,
            timeout_s=config.timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            max_items_per_request=config.max_items_per_request,
            max_body_bytes=config.max_body_bytes,
            max_concurrency=config.max_concurrency,
            retry=config.retry,
            priority=config.priority,
            transport=transport,
        )

    def __enter__(self) -> RewardClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool. The client cannot be used afterwards."""
        self._http.close()

    def score(
        self, pairs: Sequence[Pair], *, weights: Sequence[float] | None = None, timeout_s: float | None = None
    ) -> ScoreResult:
        """Raw rewards of `(prompt, response)` pairs, in order; long lists go out as concurrent chunks.
        `weights`: a multi-objective model's combination for this call (one per attribute; default: its card's)."""
        deadline = self._deadline(timeout_s)
        call = _calls.score_call(pairs, self._get_limits(deadline), deadline.timeout_s, weights)
        return self._run(call, deadline)

    def score_steps(self, items: Sequence[StepsItem], *, timeout_s: float | None = None) -> StepsResult:
        """A process reward model's per-step scores of `(prompt, steps)` items, with their aggregates, in order."""
        deadline = self._deadline(timeout_s)
        return self._run(_calls.score_steps_call(items, self._get_limits(deadline), deadline.timeout_s), deadline)

    def score_texts(
        self,
        texts: Sequence[str],
        *,
        prompts: Sequence[str] | None = None,
        add_special_tokens: bool | None = None,
        timeout_s: float | None = None,
    ) -> ScoreResult:
        """Raw rewards of texts a trainer rendered already (chat template applied), scored as given, in order.

        `prompts[i]` (optional) is the start of `texts[i]`: an encoder RM reads its pair split there.
        `add_special_tokens`: None adds the tokenizer's own unless the text begins with them (no doubled BOS).
        """
        deadline = self._deadline(timeout_s)
        limits = self._get_limits(deadline)
        call = _calls.score_texts_call(texts, prompts, add_special_tokens, limits, deadline.timeout_s)
        return self._run(call, deadline)

    def rank(
        self, prompt: Prompt, responses: Sequence[str], *, top_k: int | None = None, timeout_s: float | None = None
    ) -> RankResult:
        """Best-of-n: the responses to one prompt, ranked best first."""
        deadline = self._deadline(timeout_s)
        call = _calls.rank_call(prompt, responses, top_k, self._get_limits(deadline), deadline.timeout_s)
        return self._run(call, deadline)

    def compare(
        self, prompt: Prompt, response_a: str, response_b: str, *, timeout_s: float | None = None
    ) -> CompareResult:
        """Both scores and the Bradley-Terry probability that `response_a` is preferred."""
        deadline = self._deadline(timeout_s)
        return self._run(_calls.compare_call(prompt, response_a, response_b, deadline.timeout_s), deadline)

    def compare_batch(
        self, comparisons: Sequence[Comparison], *, timeout_s: float | None = None
    ) -> list[CompareResult]:
        """Many comparisons at once, each a `(prompt, response_a, response_b)` tuple or a mapping with those
        keys: their results in order; long lists go out as concurrent chunks, all answered by one model."""
        deadline = self._deadline(timeout_s)
        call = _calls.compare_batch_call(comparisons, self._get_limits(deadline), deadline.timeout_s)
        return self._run(call, deadline)

    def gate(
        self, prompt: Prompt, response: str, *, threshold: float | None = None, timeout_s: float | None = None
    ) -> GateResult:
        """Allow or block `response`: its score against `threshold` (default: the server's)."""
        deadline = self._deadline(timeout_s)
        return self._run(_calls.gate_call(prompt, response, threshold, deadline.timeout_s), deadline)

    def models(self, *, timeout_s: float | None = None) -> JSON:
        """The server's /v1/models: what is loaded, from where, how, and its limits."""
        return self._run(_calls.get_call("/v1/models"), self._deadline(timeout_s))

    def health(self, *, timeout_s: float | None = None) -> JSON:
        """The server's /health (liveness)."""
        return self._run(_calls.get_call("/health"), self._deadline(timeout_s))

    def ready(self, *, timeout_s: float = 5.0) -> bool:
        """Whether /ready answers 200 now (one try, no retries): the model is loaded and not draining."""
        try:
            response = self._http.get("/ready", timeout=timeout_s)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def _deadline(self, timeout_s: float | None) -> Deadline:
        return Deadline(self.config.timeout_s if timeout_s is None else timeout_s)

    def _get_limits(self, deadline: Deadline) -> Limits:
        if self.config.max_items_per_request is not None and self.config.max_body_bytes is not None:
            return limits_from_models(self.config, None)
        with self._limits_lock:
            if self._limits is None:
                self._limits = limits_from_models(self.config, self._run(_calls.get_call("/v1/models"), deadline))
            return self._limits

    def _run(self, call: Call[T], deadline: Deadline) -> T:
        """Send the call's requests (concurrently when there are several) and combine the answers in order."""
        if len(call.requests) == 1:
            return call.combine([self._send(*call.requests[0], deadline)])
        workers = min(self.config.max_concurrency, len(call.requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rmserve-client") as pool:
            futures = [pool.submit(self._send, method, path, body, deadline) for method, path, body in call.requests]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = _first_failure(futures, done)
            if failed is not None:
                for future in futures:
                    future.cancel()
                raise failed
            return call.combine([future.result() for future in futures])

    def _send(self, method: str, path: str, body: JSON | None, deadline: Deadline) -> JSON:
        """One request with retries on connection errors and 429/503, within the call's deadline."""
        content = None if body is None else encode_json(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        retry_number = 0
        while True:
            if deadline.remaining_s() <= 0:
                raise deadline.expired()
            error: RewardServiceError
            retry_after: float | None = None
            try:
                response = self._http.request(
                    method,
                    path,
                    content=content,
                    headers=headers,
                    timeout=deadline.attempt_timeout(self.config.connect_timeout_s),
                )
            except httpx.TimeoutException as exc:
                if deadline.remaining_s() <= 0:
                    raise deadline.expired() from exc
                error = ConnectionFailedError(f"{method} {path}: {type(exc).__name__}")
                error.__cause__ = exc
            except httpx.TransportError as exc:
                if not is_retryable_transport_error(exc):
                    raise ConnectionFailedError(f"{method} {path}: {exc}") from exc
                error = ConnectionFailedError(f"{method} {path}: {type(exc).__name__}: {exc}")
                error.__cause__ = exc
            else:
                if response.status_code < 400:
                    return read_json(response)
                error = error_from_response(response)
                if not isinstance(error, OverloadedError):
                    raise error
                retry_after = error.retry_after_s
            retry_number += 1
            delay = next_delay_s(self.config.retry, retry_number, retry_after, deadline, self._rng)
            if delay is None:
                raise error
            self._sleep(delay)


def _first_failure(futures: list[Future[Any]], done: set[Future[Any]]) -> BaseException | None:
    """The exception of the first failed future, in submission order, among those done."""
    for future in futures:
        if future in done and future.exception() is not None:
            return future.exception()
    return None
