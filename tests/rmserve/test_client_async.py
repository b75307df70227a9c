"""The asyncio client: the same behaviours as the blocking one against a scripted server, and both clients'
answers against the real app run in process (httpx.ASGITransport) agreeing with each other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from rmserve import (
    AsyncRewardClient,
    InvalidRequestError,
    OverloadedError,
    RetryPolicy,
    UnexpectedResponseError,
)
from tests.rmserve.fake_server import FakeRewardServer, fake_score

T = TypeVar("T")


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


def pairs(n: int) -> list[tuple[str, str]]:
    return [(f"prompt {i % 5}", f"response {i} " + "y" * (i % 11)) for i in range(n)]


def make_client(server: FakeRewardServer, **kwargs: Any) -> tuple[AsyncRewardClient, list[float]]:
    client = AsyncRewardClient("http://rm.test", transport=httpx.MockTransport(server.async_handler), **kwargs)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    client._sleep = record
    return client, waits


def test_async_chunks_run_concurrently_within_the_bound_and_keep_order() -> None:
    concurrency = 3
    server = FakeRewardServer()

    async def scenario() -> tuple[list[float], int]:
        barrier = asyncio.Barrier(concurrency)
        in_flight = peak = 0

        async def handler(request: httpx.Request) -> httpx.Response:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.wait_for(barrier.wait(), timeout=10)
            in_flight -= 1
            return server.handler(request)

        async with AsyncRewardClient(
            "http://rm.test",
            transport=httpx.MockTransport(handler),
            max_items_per_request=50,
            max_body_bytes=1 << 20,
            max_concurrency=concurrency,
        ) as client:
            result = await client.score(pairs(600))
        return result.scores, peak

    scores, peak = run(scenario)
    assert scores == [fake_score(p, r) for p, r in pairs(600)]
    assert peak == concurrency
    assert [len(b["items"]) for b in server.bodies("/v1/score")] == [50] * 12


def test_async_limits_come_from_the_server() -> None:
    server = FakeRewardServer(max_items_per_request=7)

    async def scenario() -> None:
        client, _ = make_client(server)
        async with client:
            await client.score(pairs(20))
            await client.score(pairs(2))

    run(scenario)
    assert sorted(len(b["items"]) for b in server.bodies("/v1/score")) == [2, 6, 7, 7]
    assert sum(r.url.path == "/v1/models" for r in server.requests) == 1


def test_async_retry_honours_retry_after_then_gives_up() -> None:
    server = FakeRewardServer()
    overloaded = {"error": {"type": "overloaded", "message": "queue full"}}
    server.script.extend([(429, {"Retry-After": "3"}, overloaded), httpx.ConnectError("refused")])

    async def scenario() -> tuple[list[float], list[float]]:
        client, waits = make_client(server, max_items_per_request=64, max_body_bytes=1 << 20)
        async with client:
            assert len((await client.score(pairs(2))).scores) == 2
        server.script.extend([(503, {"Retry-After": "1"}, overloaded)] * 2)
        impatient, impatient_waits = make_client(
            server, retry=RetryPolicy(max_attempts=2), max_items_per_request=64, max_body_bytes=1 << 20
        )
        async with impatient:
            with pytest.raises(OverloadedError) as info:
                await impatient.score(pairs(1))
            assert info.value.retry_after_s == 1.0
        return waits, impatient_waits

    waits, impatient_waits = run(scenario)
    assert (
        len(waits) == 2 and 3.0 <= waits[0] <= 3.6 and 0.0 <= waits[1] <= 0.5
    )  # second retry: backoff ceiling 0.25 * 2
    assert len(impatient_waits) == 1 and 1.0 <= impatient_waits[0] <= 1.2


def test_async_errors_are_typed_and_cancel_the_other_chunks() -> None:
    server = FakeRewardServer()
    server.script.append((422, {}, {"error": {"type": "invalid_request", "message": "bad item"}}))

    async def yielding_handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # a network answer never arrives within the same event-loop step
        return server.handler(request)

    async def scenario() -> None:
        client = AsyncRewardClient(
            "http://rm.test",
            transport=httpx.MockTransport(yielding_handler),
            max_items_per_request=1,
            max_body_bytes=1 << 20,
            max_concurrency=1,
        )
        async with client:
            with pytest.raises(InvalidRequestError, match="bad item"):
                await client.score(pairs(8))
            server.script.append((200, {}, {"model": "m", "weights_digest": "d", "scores": []}))
            with pytest.raises(UnexpectedResponseError):
                await client.score(pairs(1))

    run(scenario)
    assert len(server.bodies("/v1/score")) < 8


def test_async_rank_compare_compare_batch_gate() -> None:
    server = FakeRewardServer()

    async def scenario() -> None:
        client, _ = make_client(server, max_items_per_request=4, max_body_bytes=1 << 20)
        async with client:
            ranked = await client.rank("q", ["a", "bbb", "cc", "dddd", "e"], top_k=2)
            assert ranked.ranking == [3, 1]
            compared = await client.compare("q", "aa", "b")
            assert compared.score_a > compared.score_b
            gated = await client.gate("q", "aa", threshold=0.0)
            assert gated.allow
            batch = await client.compare_batch([("q", "aa", "b"), ("q", "b", "aaa"), ("r", "x", "yy")])
            assert [r.prob_a_preferred for r in batch] == [1.0, 0.0, 0.0]
            assert [len(body["pairs"]) for body in server.bodies("/v1/compare") if "pairs" in body] == [2, 1]

    run(scenario)


# ------------------------------------------------------------------ against the real app, in process


@pytest.fixture(scope="module")
def encoder_app(tiny_encoder_dir: Path) -> Any:
    from service.app import create_app
    from service.settings import Settings

    settings = Settings.model_validate(
        {"model": tiny_encoder_dir, "max_items_per_request": 16, "profile_budget_s": 0.5}
    )
    return create_app(settings)


@asynccontextmanager
async def started(app: Any) -> AsyncIterator[httpx.ASGITransport]:
    """Run the app's lifespan (ASGITransport does not) and wait until its loader thread has finished."""
    async with app.router.lifespan_context(app):
        await asyncio.to_thread(app.state.service.loaded.wait, 300)
        yield httpx.ASGITransport(app=app)


def test_async_client_in_process_matches_the_sync_path(encoder_app: Any) -> None:
    conversation = [{"role": "user", "content": "How do I keep basil fresh?"}]
    data = [(conversation, f"Answer {i}: keep it in water, away from the fridge." * (1 + i % 3)) for i in range(40)]

    async def scenario() -> tuple[Any, Any, Any]:
        async with (
            started(encoder_app) as transport,
            AsyncRewardClient("http://rmserve", transport=transport, max_concurrency=3) as client,
        ):
            chunked = await client.score(data)
            one_by_one = [await client.score([pair]) for pair in data[:5]]
            ranked = await client.rank(conversation, [r for _, r in data[:20]], top_k=3)
            return chunked, one_by_one, ranked

    chunked, one_by_one, ranked = run(scenario)
    assert len(chunked.scores) == 40 and chunked.model == encoder_app.state.service.model.folder.name
    for single, score in zip(one_by_one, chunked.scores[:5], strict=True):
        assert single.scores[0] == pytest.approx(score, abs=1e-5)
    # 20 responses exceed the server's cap of 16: ranked here from chunked /v1/score answers
    expected = sorted(range(20), key=lambda i: -chunked.scores[i])[:3]
    assert ranked.ranking == expected
