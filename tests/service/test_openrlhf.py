"""OpenRLHF's remote reward model, against the real server process.

What OpenRLHF's trainer sends to `--remote_rm_url` (openrlhf/utils/agent.py, SingleTurnAgentExecutor): for
each sample, after generation, one POST of `{"query": [prompt + response as decoded with special tokens],
"prompts": [prompt], "labels": [label]}`, many samples in parallel; it reads `rewards`, then `scores` (or
`rewards` again) and `extra_logs`. Older versions (remote_rm_fn) send a whole batch in one request and read
`rewards`. Both shapes are exercised here.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from rmserve import RewardClient
from tests.service.server_process import shared_server

# The policy's chat template as OpenRLHF applies it to build `prompts` (apply_chat_template(tokenize=False)),
# and the EOS text that decoding with skip_special_tokens=False leaves at the end of `query`.
PROMPT_TEMPLATE = "<s><|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
EOS_TEXT = "</s>"


@pytest.fixture(scope="module")
def server_url(request: pytest.FixtureRequest, tiny_encoder_dir: Path) -> str:
    return shared_server(request.config, tiny_encoder_dir)


def samples(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        prompt = PROMPT_TEMPLATE.format(question=f"What is {i} plus {i}?")
        response = f"{i} plus {i} is {2 * i}." + (" Let me double-check that." * (i % 4))
        rows.append({"prompt": prompt, "response": response, "label": str(2 * i)})
    return rows


def post_like_openrlhf(url: str, payload: dict[str, Any]) -> httpx.Response:
    """What `requests.post(url, json=data, headers={"Content-Type": "application/json"}, timeout=180)` sends."""
    return httpx.post(url, json=payload, headers={"Content-Type": "application/json"}, timeout=180)


def test_one_sample_per_request_many_in_parallel(server_url: str) -> None:
    rows = samples(48)
    payloads = [
        {"query": [r["prompt"] + r["response"] + EOS_TEXT], "prompts": [r["prompt"]], "labels": [r["label"]]}
        for r in rows
    ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda p: post_like_openrlhf(f"{server_url}/get_reward", p), payloads))

    rewards = []
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        # the fields OpenRLHF reads: rewards, scores (or rewards), extra_logs
        assert isinstance(body["rewards"], list) and len(body["rewards"]) == 1
        assert body["scores"] == body["rewards"]
        assert isinstance(body.get("extra_logs") or {}, dict)
        assert math.isfinite(body["rewards"][0])
        rewards.append(body["rewards"][0])

    # The reward is the server's score of (prompt, the rest of the query), the same pair scored through /v1/score;
    # parallel answers landed on the right samples (every sample has its own response text).
    with RewardClient(server_url) as client:
        expected = client.score([(r["prompt"], r["response"] + EOS_TEXT) for r in rows]).scores
    assert rewards == pytest.approx(expected, abs=1e-5)
    assert len({round(r, 6) for r in rewards}) > 1


def test_a_batch_in_one_request_keeps_its_order(server_url: str) -> None:
    rows = samples(12)
    payload = {
        "query": [r["prompt"] + r["response"] for r in rows],
        "prompts": [r["prompt"] for r in rows],
        "labels": [None] * len(rows),
    }
    batched = post_like_openrlhf(f"{server_url}/get_reward", payload)
    assert batched.status_code == 200, batched.text
    singles = [
        post_like_openrlhf(f"{server_url}/get_reward", {"query": [q], "prompts": [p]}).json()["rewards"][0]
        for q, p in zip(payload["query"], payload["prompts"], strict=True)
    ]
    assert batched.json()["rewards"] == pytest.approx(singles, abs=1e-5)


def test_query_only_requests_are_scored_whole(server_url: str) -> None:
    """The oldest remote_rm_fn sends only {"query": [...]}: the whole text is the response."""
    answer = post_like_openrlhf(f"{server_url}/get_reward", {"query": ["Human: hi\n\nAssistant: hello"]})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["rewards"]) == 1


def test_a_malformed_request_gets_a_machine_readable_422(server_url: str) -> None:
    answer = post_like_openrlhf(f"{server_url}/get_reward", {"query": ["a", "b"], "prompts": ["a"]})
    assert answer.status_code == 422
    assert answer.json()["error"]["type"] == "invalid_request"
