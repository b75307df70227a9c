"""Request-body limits, enforced before any parsing, also for chunked bodies without a length.

An ASGI middleware (not Starlette's BaseHTTPMiddleware, which would buffer and break streaming) with two
limits:

- Per request, `max_body_bytes`: a declared Content-Length over it is refused at once (413); otherwise
  the body is read up to the limit and refused as soon as it passes it.
- Across connections, `max_inflight_body_bytes`: the bytes of the bodies that requests in progress hold
  (being read, or read and still being answered). A body whose declared length does not fit what is left
  is refused with 503 and `Retry-After` before any of it is read; a chunked body takes its bytes as they
  arrive and is refused (503) as soon as they do not fit. A body always fits when no other is held, and
  the budget is at least `max_body_bytes`, so no valid request is refused forever.

Either way the app never parses a body larger than `max_body_bytes`, and the request bodies in memory
at once stay within `max_inflight_body_bytes` (plus what the server buffers per connection before the
app reads: uvicorn stops reading a socket past 64 KiB).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body

_BUDGET_RETRY_AFTER_S = 1  # bodies are read in milliseconds; requests that hold them finish in about a second


class BodyBudget:
    """Bytes held by request bodies now. Used on the event loop only (not thread-safe, needs no lock)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0

    def take(self, size: int) -> bool:
        """Hold `size` more bytes if they fit (always when nothing is held); False otherwise."""
        if self.held_bytes and self.held_bytes + size > self.max_bytes:
            return False
        self.held_bytes += size
        return True

    def give_back(self, size: int) -> None:
        self.held_bytes -= size


class BodySizeLimit:
    """413 (`payload_too_large`) for a body over `max_body_bytes`; 503 (`overloaded`, with Retry-After) for
    a body the shared `budget` cannot hold now."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, budget: BodyBudget) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        held = 0
        try:
            if declared is not None:
                try:
                    declared_size = int(declared)
                except ValueError:
                    await _refuse(send, 400, "invalid_request", "Content-Length is not a number")
                    return
                if declared_size > self.max_body_bytes:
                    await self._refuse_too_large(send)
                    return
                if not self.budget.take(declared_size):
                    await self._refuse_over_budget(send)
                    return
                held = declared_size
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body = message.get("body", b"")
                size += len(body)
                if size > self.max_body_bytes:
                    await self._refuse_too_large(send)
                    return
                if size > held:
                    if not self.budget.take(size - held):
                        await self._refuse_over_budget(send)
                        return
                    held = size
                chunks.append(body)
                if not message.get("more_body", False):
                    break
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                # After the body, the server's receive reports the client's disconnection.
                return await receive()

            await self.app(scope, replay, send)
        finally:
            self.budget.give_back(held)

    async def _refuse_too_large(self, send: Send) -> None:
        await _refuse(send, 413, "payload_too_large", f"request body exceeds the limit of {self.max_body_bytes} bytes")

    async def _refuse_over_budget(self, send: Send) -> None:
        await _refuse(
            send,
            503,
            "overloaded",
            f"the server is reading {self.budget.held_bytes} bytes of request bodies, its limit for all connections "
            f"together ({self.budget.max_bytes}); retry later",
            retry_after_s=_BUDGET_RETRY_AFTER_S,
        )


async def _refuse(send: Send, status: int, error_type: str, message: str, retry_after_s: int | None = None) -> None:
    payload = json.dumps(error_body(error_type, message)).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(retry_after_s).encode()))
    # The unread rest of the body would otherwise be taken for the next request on this connection.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
