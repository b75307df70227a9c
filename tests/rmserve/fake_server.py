"""A scripted stand-in for the rmserve API, for client tests through `httpx.MockTransport`.

Scores are a pure function of the pair (`fake_score`), so tests can check that every score came back in
the right place. The server records every request; `script` queues canned answers (status, headers, body)
(or None: answer normally; or an exception to raise) that are served before the normal behaviour resumes.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

import httpx

MODEL = "fake-rm"
DIGEST = "sha256:fake"


def fake_score(prompt: Any, response: str) -> float:
    """A deterministic 'reward': distinct for distinct responses, so misplaced scores are caught."""
    prompt_chars = len(prompt) if isinstance(prompt, str) else sum(len(m["content"]) for m in prompt)
    return float(len(response)) + prompt_chars / 1000.0 + (hash(response) % 997) / 1e6


class FakeRewardServer:
    """Thread-safe; usable by the sync client (from many threads) and, via `async_handler`, the async one."""

    def __init__(self, max_items_per_request: int = 1024, max_body_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_items_per_request = max_items_per_request
        self.max_body_bytes = max_body_bytes
        self.requests: list[httpx.Request] = []
        self.script: deque[tuple[int, dict[str, str], Any] | Exception | None] = deque()
        self.model = MODEL
        self._lock = threading.Lock()

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            scripted = self.script.popleft() if self.script else None
        if isinstance(scripted, Exception):
            raise scripted
        if scripted is not None:
            status, headers, body = scripted
            content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            return httpx.Response(status, headers=headers, content=content)
        return httpx.Response(200, json=self.answer(request))

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        return self.handler(request)

    def answer(self, request: httpx.Request) -> dict[str, Any]:
        path = request.url.path
        if path == "/v1/models":
            return {
                "model": self.model,
                "weights_digest": DIGEST,
                "limits": {"max_items_per_request": self.max_items_per_request, "max_body_bytes": self.max_body_bytes},
            }
        if path == "/health":
            return {"status": "ok", "phase": "ready"}
        body = json.loads(request.content)
        ref = {"model": self.model, "weights_digest": DIGEST}
        if path == "/v1/score":
            scores = [fake_score(item["prompt"], item["response"]) for item in body["items"]]
            items = [{"score": s, "tokens": 10, "truncated": False, "normalized": s / 10} for s in scores]
            return {**ref, "scores": scores, "items": items}
        if path == "/v1/rank":
            scores = [fake_score(body["prompt"], r) for r in body["responses"]]
            ranking = sorted(range(len(scores)), key=lambda i: -scores[i])[: body.get("top_k")]
            return {**ref, "scores": scores, "ranking": ranking, "best_index": ranking[0], "zscores": scores}
        if path == "/v1/compare" and "pairs" in body:
            results = []
            for entry in body["pairs"]:
                prompt = entry["prompt"]
                a, b = fake_score(prompt, entry["response_a"]), fake_score(prompt, entry["response_b"])
                probability = 1.0 if a > b else 0.0
                # An uncalibrated model's answer: the calibrated probability is null.
                calibrated = None
                results.append(
                    {
                        "score_a": a,
                        "score_b": b,
                        "prob_a_preferred": probability,
                        "calibrated_prob_a_preferred": calibrated,
                    }
                )
            return {**ref, "results": results}
        if path == "/v1/compare":
            a, b = fake_score(body["prompt"], body["response_a"]), fake_score(body["prompt"], body["response_b"])
            return {
                **ref,
                "score_a": a,
                "score_b": b,
                "prob_a_preferred": 0.5,
                "calibrated_prob_a_preferred": 0.25,
                "results": [],
            }
        if path == "/v1/gate":
            score = fake_score(body["prompt"], body["response"])
            threshold = body.get("threshold", 0.0)
            allow = score >= threshold
            return {
                **ref,
                "decision": "allow" if allow else "block",
                "allow": allow,
                "score": score,
                "threshold": threshold,
            }
        raise AssertionError(f"unexpected path {path}")
