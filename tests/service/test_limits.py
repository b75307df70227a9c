"""The request-body middleware on its own (pure ASGI): the per-request cap and the budget across requests."""

from __future__ import annotations

import asyncio
import json

from starlette.types import Message, Receive, Scope, Send

from service.limits import BodyBudget, BodySizeLimit


async def echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    body = json.dumps({"size": len(message["body"])}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def call(middleware: BodySizeLimit, chunks: list[bytes], declared: int | None) -> tuple[int, dict[bytes, bytes]]:
    """Send a body in `chunks` (with a Content-Length when `declared`); return the status and headers."""
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start["headers"])


def test_a_body_that_does_not_fit_the_budget_is_refused_with_retry_after_and_the_budget_comes_back() -> None:
    budget = BodyBudget(1000)
    middleware = BodySizeLimit(echo_size, max_body_bytes=800, budget=budget)
    assert budget.take(500)  # another request holds half the budget
    status, headers = call(middleware, [b"x" * 600], declared=600)
    assert status == 503 and headers[b"retry-after"] == b"1"
    # Without a declared length the bytes are taken as they come: refused once past what is left.
    status, _ = call(middleware, [b"x" * 300, b"x" * 300], declared=None)
    assert status == 503
    assert budget.held_bytes == 500  # the refused requests gave back what they took
    assert call(middleware, [b"x" * 400], declared=400)[0] == 200
    assert budget.held_bytes == 500
    budget.give_back(500)
    # An empty budget takes any body within the per-request cap; the cap itself still gives 413.
    assert call(middleware, [b"x" * 800], declared=None)[0] == 200
    assert call(middleware, [b"x" * 801], declared=None)[0] == 413
    assert budget.held_bytes == 0
