"""The request-body size limit, enforced before any parsing, also for chunked bodies without a length.

An ASGI middleware (not Starlette's BaseHTTPMiddleware, which would buffer and break streaming): a
declared Content-Length over the limit is refused at once; otherwise the body is read up to the limit
and refused as soon as it passes it, then replayed to the app. Either way the app never parses a body
larger than `max_body_bytes`, and memory per request stays bounded by it.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body


class BodySizeLimit:
    """Answer 413 (body `{"error": {"type": "payload_too_large", ...}}`) to bodies over `max_body_bytes`."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_body_bytes
            except ValueError:
                await self._refuse(send, 400, "invalid_request", "Content-Length is not a number")
                return
            if too_large:
                await self._refuse_too_large(send)
                return
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

    async def _refuse_too_large(self, send: Send) -> None:
        await self._refuse(
            send, 413, "payload_too_large", f"request body exceeds the limit of {self.max_body_bytes} bytes"
        )

    @staticmethod
    async def _refuse(send: Send, status: int, error_type: str, message: str) -> None:
        payload = json.dumps(error_body(error_type, message)).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        # The unread rest of the body would otherwise be taken for the next request on this connection.
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
