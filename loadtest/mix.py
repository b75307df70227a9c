"""The realistic request mix of the locust load test, as plain functions (no locust import, so that tests
can send each kind of request without gevent's monkey-patching).

Kinds and weights: `/v1/score` with 1 to 32 pairs (an RL trainer's micro-batches and single checks),
`/v1/rank` best-of-n with 4 to 16 candidates, `/v1/gate` with one reply (a chat product's moderation
step), and `/get_reward` as OpenRLHF's remote reward model sends it (4 to 16 full texts in `query`, the
prompts beside them). Texts: `loadtest.workload.hh_pairs` (HH-RLHF rows :1800 when present).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from loadtest.workload import Pair, gate_body, get_reward_body, hh_pairs, rank_body, score_body

WEIGHTS = {"score": 4, "rank": 2, "gate": 3, "get_reward": 2}
SCORE_SIZES = (1, 1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class MixRequest:
    path: str
    name: str  # how locust groups it in its statistics
    body: dict[str, Any]
    result_key: str | None  # the list that must hold `expected` entries (None: a gate decision)
    expected: int


class Mix:
    """Draws requests of each kind from a fixed pool of pairs. Not thread-safe (one per user)."""

    def __init__(self, pairs: list[Pair] | None = None, seed: int | None = None) -> None:
        self.pairs = pairs or hh_pairs(1024, seed=7).pairs
        self.responses = [response for _, response in self.pairs]
        self.rng = random.Random(seed)

    def _pairs(self, count: int) -> list[Pair]:
        start = self.rng.randrange(len(self.pairs))
        return [self.pairs[(start + i) % len(self.pairs)] for i in range(count)]

    def request(self, kind: str) -> MixRequest:
        if kind == "score":
            size = self.rng.choice(SCORE_SIZES)
            return MixRequest("/v1/score", f"/v1/score [{size}]", score_body(self._pairs(size)), "scores", size)
        if kind == "rank":
            prompt, _ = self._pairs(1)[0]
            n = self.rng.randint(4, 16)
            return MixRequest(
                "/v1/rank", "/v1/rank", rank_body(prompt, self.rng.sample(self.responses, n)), "scores", n
            )
        if kind == "gate":
            prompt, response = self._pairs(1)[0]
            return MixRequest("/v1/gate", "/v1/gate", gate_body(prompt, response), None, 1)
        if kind == "get_reward":
            size = self.rng.choice([4, 8, 16])
            return MixRequest("/get_reward", "/get_reward", get_reward_body(self._pairs(size)), "rewards", size)
        raise ValueError(f"unknown request kind {kind!r}")


def answer_problem(request: MixRequest, status: int, data: Any) -> str | None:
    """Why an answer is wrong (None when it is right): status 200 and one score per pair sent."""
    if status != 200:
        return f"status {status}"
    if not isinstance(data, dict):
        return "the body is not a JSON object"
    if request.result_key is None:
        return None if data.get("decision") in ("allow", "block") else "no allow/block decision"
    values = data.get(request.result_key)
    if not isinstance(values, list) or len(values) != request.expected:
        return f"expected {request.expected} {request.result_key}"
    return None
