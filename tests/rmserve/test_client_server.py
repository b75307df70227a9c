"""The blocking client (and the async twin's score_texts) against the real server process: every method,
chunking against the server's own limits, and the server's real error answers arriving as the client's
typed errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rmserve import AsyncRewardClient, InvalidRequestError, PayloadTooLargeError, RewardClient
from tests.service.server_process import shared_server


@pytest.fixture(scope="module")
def server_url(request: pytest.FixtureRequest, tiny_encoder_dir: Path) -> str:
    return shared_server(request.config, tiny_encoder_dir)


def test_every_method_against_the_real_server(server_url: str) -> None:
    conversation = [{"role": "user", "content": "How do I keep basil fresh?"}]
    replies = [
        "Trim the stems and keep it in a glass of water.",
        "Put it in the freezer.",
        "I don't know.",
    ]
    with RewardClient(server_url) as client:
        info = client.models()
        assert info["limits"]["max_items_per_request"] >= 1
        assert client.health()["status"] == "ok" and client.ready()
        scored = client.score([(conversation, r) for r in replies])
        ranked = client.rank(conversation, replies, top_k=2)
        compared = client.compare(conversation, replies[0], replies[1])
        batch = client.compare_batch([(conversation, replies[0], replies[1]), (conversation, replies[2], replies[0])])
        gated = client.gate(conversation, replies[0], threshold=scored.scores[0] + 1.0)

    assert scored.model == info["model"] and scored.weights_digest == info["weights_digest"]
    assert all(item.tokens and item.tokens > 0 and not item.truncated for item in scored.items)
    assert ranked.scores == pytest.approx(scored.scores, abs=1e-5)
    assert ranked.ranking == sorted(range(3), key=lambda i: -scored.scores[i])[:2]
    assert compared.score_a == pytest.approx(scored.scores[0], abs=1e-5)
    assert 0.0 < compared.prob_a_preferred < 1.0
    assert [s for r in batch for s in (r.score_a, r.score_b)] == pytest.approx(
        [scored.scores[0], scored.scores[1], scored.scores[2], scored.scores[0]], abs=1e-5
    )
    assert batch[0].prob_a_preferred == pytest.approx(compared.prob_a_preferred, abs=1e-5)
    assert gated.decision == "block" and gated.score == pytest.approx(scored.scores[0], abs=1e-5)


def test_chunked_and_whole_calls_agree(server_url: str) -> None:
    data = [(f"Question {i % 4}?", f"Answer {i}." + " More detail." * (i % 5)) for i in range(50)]
    with (
        RewardClient(server_url) as whole,
        RewardClient(server_url, max_items_per_request=7, max_concurrency=3) as chunked,
    ):
        expected = whole.score(data).scores
        got = chunked.score(data).scores
        comparisons = [(p, a, data[i + 1][1]) for i, (p, a) in enumerate(data[:-1])]
        compared_whole = whole.compare_batch(comparisons)
        compared_chunked = chunked.compare_batch(comparisons)
    assert got == pytest.approx(expected, abs=1e-5)
    assert [s for r in compared_chunked for s in (r.score_a, r.score_b)] == pytest.approx(
        [s for r in compared_whole for s in (r.score_a, r.score_b)], abs=1e-5
    )
    assert [r.prob_a_preferred for r in compared_chunked] == pytest.approx(
        [r.prob_a_preferred for r in compared_whole], abs=1e-6
    )


def test_the_servers_errors_arrive_typed(server_url: str) -> None:
    with RewardClient(server_url, max_items_per_request=100_000) as client:
        limit = client.models()["limits"]["max_items_per_request"]
        with pytest.raises(PayloadTooLargeError) as too_many:
            client.score([("q", "a")] * (limit + 1))
        with pytest.raises(InvalidRequestError) as surrogate:
            client.score([("q", "broken \ud800 text")])
        with pytest.raises(InvalidRequestError) as bad_role:
            client.gate([{"role": "robot", "content": "beep"}], "a")
    assert too_many.value.status_code == 413 and too_many.value.error_type == "payload_too_large"
    assert surrogate.value.status_code == 422 and "surrogate" in surrogate.value.message
    assert bad_role.value.error_type == "invalid_request"


def test_score_texts_scores_rendered_texts_as_given_sync_and_async(server_url: str) -> None:
    prompts = [f"\n\nHuman: question {i}?\n\nAssistant:" for i in range(9)]
    texts = [p + f" Answer {i}." + " More detail." * (i % 4) for i, p in enumerate(prompts)]
    with (
        RewardClient(server_url) as whole,
        RewardClient(server_url, max_items_per_request=4, max_concurrency=2) as chunked,
    ):
        pairs = whole.score([(p, t[len(p) :]) for p, t in zip(prompts, texts, strict=True)])
        split = whole.score_texts(texts, prompts=prompts)
        split_chunked = chunked.score_texts(texts, prompts=prompts)
        one_segment = whole.score_texts(texts)
    # The encoder RM reads the text pair split where the prompt ends: the same scores as the pairs.
    assert split.scores == pytest.approx(pairs.scores, abs=1e-5)
    assert split_chunked.scores == pytest.approx(split.scores, abs=1e-5)
    assert [item.tokens for item in split.items] == [item.tokens for item in pairs.items]
    assert split.model == pairs.model and split.weights_digest == pairs.weights_digest
    # Without prompts, one segment: [CLS] text [SEP] (one [SEP] fewer than the pair).
    assert [item.tokens for item in one_segment.items] == [(item.tokens or 0) - 1 for item in pairs.items]

    async def score_async() -> list[float]:
        async with AsyncRewardClient(server_url, max_items_per_request=4) as client:
            return (await client.score_texts(texts, prompts=prompts)).scores

    assert asyncio.run(score_async()) == pytest.approx(split.scores, abs=1e-5)
    with RewardClient(server_url) as client, pytest.raises(ValueError, match="prompts"):
        client.score_texts(texts, prompts=prompts[:-1])
