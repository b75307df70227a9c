"""OpenRLHF's remote reward model: the request bodies its own code builds, answered as it parses them.

- `openrlhf/utils/agent.py`, `SingleTurnAgentExecutor`: for each sample, once generated, `query =
  hf_tokenizer.decode(observation_tokens, skip_special_tokens=False)` (the prompt rendered with the chat
  template, then the response), and `_fetch_rewards_via_http([query], [prompt], [label])` shards that list
  over the `--remote_rm_url`s: server i gets `{"query": q[i*b:(i+1)*b], "prompts": ..., "labels": ...}` with
  `b = ceil(len / servers)`, so with several servers all but the first get empty lists. It POSTs with
  `aiohttp` (`raise_for_status`: any error status fails the sample after 5 tries), takes the first answer
  and reads `rewards`, then `scores` (or `rewards`) and `extra_logs`.
- `openrlhf/utils/remote_rm_utils.py`, `remote_rm_fn`: `requests.post(url, json={"query": queries})` with
  a whole batch, and reads `rewards`.

Queries are whole texts scored as given: on a decoder RM no chat template is applied again (in-process
tests, on a Llama-style RM); on the encoder RM the prompt's end is where the pair is split (the real server
process).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from models.tokenizer import RMTokenizer
from rmserve import RewardClient
from service.settings import Settings
from tests.service.app_harness import serving, state_of
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
    """remote_rm_fn sends only {"query": [...]}: with no prompt, the encoder reads the text as one segment."""
    text = "Human: hi\n\nAssistant: hello"
    answer = post_like_openrlhf(f"{server_url}/get_reward", {"query": [text]})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["rewards"]) == 1
    padded = post_like_openrlhf(f"{server_url}/get_reward", {"query": ["[PAD][PAD]" + text + "[PAD]"]})
    assert padded.json()["rewards"] == answer.json()["rewards"]  # a padded batch's pad text is not read


def test_a_malformed_request_gets_a_machine_readable_422(server_url: str) -> None:
    answer = post_like_openrlhf(f"{server_url}/get_reward", {"query": ["a", "b"], "prompts": ["a"]})
    assert answer.status_code == 422
    assert answer.json()["error"]["type"] == "invalid_request"


# ---------------------------------------------------------------- a decoder RM, in-process

CHATS = [
    [{"role": "user", "content": "what is the capital of france ?"}],
    [{"role": "user", "content": "hello how can i help you today"}],
    [{"role": "system", "content": "please write a python function"}, {"role": "user", "content": "the lazy dog"}],
]
RESPONSES = ["paris is the capital .", "i cannot help with that , but here is a safer idea", "the quick brown fox"]


@pytest.fixture(scope="module")
def decoder_client(bos_decoder_dir: Path) -> Iterator[TestClient]:
    settings = Settings(model=bos_decoder_dir, max_length=96, profile_budget_s=0, workers=1, threads_per_worker=1)
    with serving(settings) as client:
        yield client


def openrlhf_sample(tokenizer: RMTokenizer, chat: list[dict[str, str]], response: str) -> tuple[str, str]:
    """(query, prompt) as SingleTurnAgentExecutor builds them when the policy shares the RM's tokenizer: the
    prompt rendered with a generation prompt, the query the decoded prompt + response tokens (which a
    byte-level tokenizer decodes back to the same text), ending with the template's end of turn."""
    prompt = tokenizer.render_chat(chat, add_generation_prompt=True)
    query = tokenizer.render_chat([*chat, {"role": "assistant", "content": response}], add_generation_prompt=False)
    assert query.startswith(prompt)
    return query, prompt


def fetch_rewards_like_openrlhf(
    client: TestClient, urls: int, queries: list[str], prompts: list[str], labels: list[Any]
) -> list[dict[str, Any]]:
    """SingleTurnAgentExecutor._fetch_rewards_via_http: the lists sharded over `urls` servers in order."""
    batch_size = (len(queries) + urls - 1) // urls
    answers = []
    for i in range(urls):
        start_idx, end_idx = i * batch_size, min((i + 1) * batch_size, len(queries))
        payload = {
            "query": queries[start_idx:end_idx],
            "prompts": prompts[start_idx:end_idx],
            "labels": labels[start_idx:end_idx],
        }
        response = client.post("/get_reward", json=payload)
        assert response.status_code == 200, (i, response.text)  # aiohttp's raise_for_status
        answers.append(response.json())
    return answers


def test_queries_are_scored_as_rendered_once_not_templated_again(decoder_client: TestClient) -> None:
    model = state_of(decoder_client).model
    assert model is not None
    items = [{"prompt": c, "response": r} for c, r in zip(CHATS, RESPONSES, strict=True)]
    expected = decoder_client.post("/v1/score", json={"items": items}).json()["scores"]
    samples = [openrlhf_sample(model.tokenizer, c, r) for c, r in zip(CHATS, RESPONSES, strict=True)]
    for (query, prompt), score in zip(samples, expected, strict=True):
        assert query.startswith("<s>")  # decoded with skip_special_tokens=False: the template's BOS is in the text
        (answer,) = fetch_rewards_like_openrlhf(decoder_client, 1, [query], [prompt], [None])
        assert abs(answer["rewards"][0] - score) <= 1e-5
    assert len({round(s, 6) for s in expected}) == 3


def test_several_urls_get_empty_lists_and_answer_them(decoder_client: TestClient) -> None:
    model = state_of(decoder_client).model
    assert model is not None
    query, prompt = openrlhf_sample(model.tokenizer, CHATS[0], RESPONSES[0])
    answers = fetch_rewards_like_openrlhf(decoder_client, 3, [query], [prompt], ["paris"])
    assert [len(a["rewards"]) for a in answers] == [1, 0, 0]
    for empty in answers[1:]:
        assert (empty["rewards"], empty["scores"], empty["extra_logs"]) == ([], [], {})
    # What the executor keeps: the first answer's rewards, scores (or rewards) and extra_logs.
    rewards_info = answers[0]
    reward = rewards_info.get("rewards")
    scores = rewards_info.get("scores") or rewards_info.get("rewards")
    assert reward == scores and len(reward) == 1 and (rewards_info.get("extra_logs") or {}) == {}
    # Longer lists shard into uneven parts, some empty, each answered in its order.
    samples = [openrlhf_sample(model.tokenizer, c, r) for c, r in zip(CHATS, RESPONSES, strict=True)]
    queries, prompts = [q for q, _ in samples], [p for _, p in samples]
    parts = fetch_rewards_like_openrlhf(decoder_client, 4, queries, prompts, [None] * 3)
    assert [len(a["rewards"]) for a in parts] == [1, 1, 1, 0]
    whole = fetch_rewards_like_openrlhf(decoder_client, 1, queries, prompts, [None] * 3)[0]["rewards"]
    assert [r for a in parts for r in a["rewards"]] == pytest.approx(whole, abs=1e-5)
