"""Optional bearer-key authentication, enforced per route by a FastAPI dependency.

Keys come from `settings.api_keys`. A route that needs a key declares `Depends(require_api_key)`, so a
crafted path (`//v1/score`, `/v1/../v1/score`) cannot slip past it the way it can past a path-prefix
middleware. Keys are compared in constant time, and every configured key is compared on every request so
that timing does not reveal which key nearly matched.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from service.errors import Unauthenticated


def key_matches(presented: str, keys: list[str]) -> bool:
    """Whether `presented` equals one of `keys`, in time independent of where they differ."""
    presented_bytes = presented.encode("utf-8", "surrogatepass")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented_bytes, key.encode("utf-8"))
    return matched


async def require_api_key(request: Request) -> None:
    """Raise Unauthenticated unless the request carries `Authorization: Bearer <key>` with a configured key
    (a no-op when no keys are configured). Async, though it never awaits: FastAPI runs a plain `def`
    dependency in its thread pool, a thread hop per request that costs more than the check."""
    keys: list[str] = request.app.state.service.settings.api_key_list
    if not keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or not key_matches(token.strip(), keys):
        raise Unauthenticated("a valid API key is required: Authorization: Bearer <key>")
