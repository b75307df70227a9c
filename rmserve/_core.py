"""What the sync and the async client share, with no I/O: configuration, the retry policy, the call deadline,
chunking, request bodies and reading answers. Each client adds only its own sending loop on top.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, get_args

import httpx

from rmserve.errors import (
    APIStatusError,
    ClientTimeoutError,
    UnexpectedResponseError,
    error_for_status,
)
from rmserve.types import JSON, PRIORITY_HEADER, Priority

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Used when neither the constructor nor the server's /v1/models names a limit; below the server defaults.
DEFAULT_MAX_ITEMS_PER_REQUEST = 256
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# Room for the envelope around the items ({"items": [...], "timeout_s": ...}) under the body cap.
_ENVELOPE_BYTES = 256
USER_AGENT = "rmserve-client/0.1"
# What `ClientConfig.from_env` reads (RMSERVE_API_KEY is also the key `rmserve score` and `rmserve rank` use).
URL_ENV = "RMSERVE_URL"
API_KEY_ENV = "RMSERVE_API_KEY"
TIMEOUT_ENV = "RMSERVE_TIMEOUT_S"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    Retried: connection failures (connect, read, write, protocol errors) and 429/503 answers; never other
    statuses. `max_attempts` counts the first try. Without a `Retry-After` header the wait is "full jitter"
    exponential backoff: uniform in [0, min(backoff_max_s, backoff_initial_s * 2**(retry - 1))]. With one,
    the wait is the server's value (capped at `max_retry_after_s`) stretched by up to 20% so that clients
    refused together do not all come back in the same instant. No retry is started that would end after
    the call's total timeout: the last error is raised at once instead.
    """

    max_attempts: int = 6
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0

    def delay_s(self, retry_number: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry `retry_number` (1 for the first retry)."""
        if retry_after_s is not None:
            return min(retry_after_s, self.max_retry_after_s) * rng.uniform(1.0, 1.2)
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (retry_number - 1))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything a client is built from; plain values, so a client (or a TRL reward function holding one)
    can be rebuilt in another process from it.

    `timeout_s` is the total time of one call (all its chunks, retries and waits); it is also sent to the
    server as the request's deadline. `max_items_per_request` and `max_body_bytes` bound each request; left
    None, they are read once from the server's /v1/models ("limits"), else the defaults of this module.
    `max_concurrency` bounds the requests one call has in flight. `priority` is the server lane every
    request of this client asks for (the `X-Rmserve-Priority` header): "interactive" for a latency-bound
    caller such as a chat product's safety gate, "bulk" for an RL trainer; None leaves it to the server's
    default for the route (by request size on /v1/score).
    """

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    max_items_per_request: int | None = None
    max_body_bytes: int | None = None
    max_concurrency: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    priority: Priority | None = None

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_concurrency < 1 or self.retry.max_attempts < 1:
            raise ValueError("max_concurrency and retry.max_attempts must be at least 1")
        if self.max_items_per_request is not None and self.max_items_per_request < 1:
            raise ValueError("max_items_per_request must be at least 1")
        if self.priority is not None and self.priority not in get_args(Priority):
            raise ValueError(f"priority must be one of {', '.join(get_args(Priority))}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientConfig:
        """A configuration from environment variables (default: `os.environ`), for code that is given no
        arguments, such as an OpenRLHF reward-function file: `RMSERVE_URL` (the server's base URL),
        `RMSERVE_API_KEY` (bearer key) and `RMSERVE_TIMEOUT_S` (a call's total timeout). An unset or empty
        variable keeps the default; everything else keeps its default too."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if url := env.get(URL_ENV, "").strip():
            values["base_url"] = url
        if api_key := env.get(API_KEY_ENV, "").strip():
            values["api_key"] = api_key
        if timeout := env.get(TIMEOUT_ENV, "").strip():
            try:
                timeout_s = float(timeout)
            except ValueError:
                timeout_s = math.nan
            if not math.isfinite(timeout_s) or timeout_s <= 0:
                raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds, not {timeout!r}")
            values["timeout_s"] = timeout_s
        return cls(**values)

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.priority is not None:
            headers[PRIORITY_HEADER] = self.priority
        return headers


@dataclass(frozen=True, slots=True)
class Limits:
    """The per-request caps a call's chunks respect."""

    max_items_per_request: int
    max_body_bytes: int


def limits_from_models(config: ClientConfig, models_body: JSON | None) -> Limits:
    """The caps to use: the constructor's, else the server's ("limits" of /v1/models), else the defaults."""
    served = models_body.get("limits") if isinstance(models_body, Mapping) else None
    served = served if isinstance(served, Mapping) else {}

    def pick(configured: int | None, key: str, default: int) -> int:
        if configured is not None:
            return configured
        value = served.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

    return Limits(
        pick(config.max_items_per_request, "max_items_per_request", DEFAULT_MAX_ITEMS_PER_REQUEST),
        pick(config.max_body_bytes, "max_body_bytes", DEFAULT_MAX_BODY_BYTES),
    )


class Deadline:
    """The end of one call, on the monotonic clock."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._end = time.monotonic() + timeout_s

    def remaining_s(self) -> float:
        return self._end - time.monotonic()

    def expired(self) -> ClientTimeoutError:
        return ClientTimeoutError(f"the call did not finish within its total timeout of {self.timeout_s:g} s")

    def attempt_timeout(self, connect_timeout_s: float) -> httpx.Timeout:
        """The httpx timeout of one attempt: whatever is left of the call."""
        remaining = max(self.remaining_s(), 0.001)
        return httpx.Timeout(remaining, connect=min(connect_timeout_s, remaining))


def encode_json(body: Any) -> bytes:
    """UTF-8 JSON. Text the UTF-8 codec refuses (a lone surrogate) is sent \\u-escaped, so that the server,
    not this client, decides whether it is valid, and answers with its usual 422."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


def chunk_bounds(items: Sequence[JSON], limits: Limits) -> list[tuple[int, int]]:
    """Split `items` into consecutive `[start, end)` runs of at most `max_items_per_request` items whose JSON
    fits in `max_body_bytes`. An item too large on its own gets a chunk of its own (the server then answers
    413). Deterministic: the same items and limits always give the same chunks."""
    budget = max(limits.max_body_bytes - _ENVELOPE_BYTES, 1)
    bounds: list[tuple[int, int]] = []
    start, size = 0, 0
    for index, item in enumerate(items):
        item_bytes = len(encode_json(item)) + 1  # the comma
        full = index - start >= limits.max_items_per_request or size + item_bytes > budget
        if index > start and full:
            bounds.append((start, index))
            start, size = index, 0
        size += item_bytes
    if start < len(items):
        bounds.append((start, len(items)))
    return bounds


def retry_after_s(headers: httpx.Headers) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The typed exception for an error answer, from the server's `{"error": {"type", "message"}}` body, or
    from the status line and a prefix of the body when something else (a proxy) answered."""
    error_type, message = "http_error", response.reason_phrase or "error"
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        error_type = str(error.get("type") or error_type)
        message = error["message"]
    elif response.text:
        message = f"{message}: {response.text[:200]}"
    return error_for_status(response.status_code, error_type, message, retry_after_s(response.headers))


def read_json(response: httpx.Response) -> JSON:
    """The JSON object of a success answer."""
    try:
        body = response.json()
    except ValueError as exc:
        raise UnexpectedResponseError(f"the server's answer to {response.request.url.path} is not JSON") from exc
    if not isinstance(body, dict):
        raise UnexpectedResponseError(f"the server's answer to {response.request.url.path} is not a JSON object")
    return body


def is_retryable_transport_error(exc: httpx.TransportError) -> bool:
    """Connection trouble worth another try; a bad URL scheme or a proxy misconfiguration is not."""
    return not isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError)


def next_delay_s(
    policy: RetryPolicy, retry_number: int, retry_after: float | None, deadline: Deadline, rng: random.Random
) -> float | None:
    """The wait before retry `retry_number`, or None when no retry may start (attempts used up, or the
    wait would run past the call's deadline)."""
    if retry_number >= policy.max_attempts:
        return None
    delay = policy.delay_s(retry_number, retry_after, rng)
    return delay if delay < deadline.remaining_s() else None


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One public method's work: the requests to send (method, path, JSON body or None) and how to turn
    their answers, in the same order, into the method's result."""

    requests: list[tuple[str, str, JSON | None]]
    combine: Callable[[list[JSON]], T]
