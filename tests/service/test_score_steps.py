"""Process reward models over HTTP: /v1/score_steps on a PRM trained in TRL's format, checked against the
model run directly with transformers; batch invariance, truncation and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from models.heads import RewardHead
from models.steps import StepFormatter
from models.tokenizer import RMTokenizer
from service.settings import Settings
from tests.prm import direct_step_scores, load_direct, stepwise_rows
from tests.service.app_harness import serving

TOLERANCE = 1e-5  # fp32, as the issue asks
PRM_HEAD = RewardHead("process", step_format="trl", step_separator="\n")


def _settings(model: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "model": model,
        "profile_budget_s": 0,
        "workers": 2,
        "threads_per_worker": 1,
        "max_wait_ms": 20,
        "max_chars_per_text": 2000,
    }
    return Settings(**(base | overrides))


@pytest.fixture(scope="module")
def prm_client(tiny_prm_dir: Path) -> Iterator[TestClient]:
    with serving(_settings(tiny_prm_dir)) as client:
        yield client


@pytest.fixture(scope="module")
def direct(tiny_prm_dir: Path) -> tuple[Any, Any]:
    return load_direct(tiny_prm_dir)


def _items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"prompt": r["prompt"], "steps": r["completions"]} for r in rows]


def test_step_scores_match_the_model_run_directly(prm_client: TestClient, direct: tuple[Any, Any]) -> None:
    rows = stepwise_rows(12, seed=21)
    response = prm_client.post("/v1/score_steps", json={"items": _items(rows)})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(rows)
    worst = 0.0
    right = total = 0
    for row, result in zip(rows, results, strict=True):
        probs, diffs = direct_step_scores(*direct, row)
        assert len(result["steps"]) == len(row["completions"]) == len(result["scores"])
        for step, prob, diff in zip(result["steps"], probs, diffs, strict=True):
            worst = max(worst, abs(step["score"] - prob), abs(step["logit"] - diff))
        scores = result["scores"]
        assert result["aggregates"] == pytest.approx(
            {"min": min(scores), "last": scores[-1], "mean": sum(scores) / len(scores), "product": _product(scores)},
            abs=1e-12,
        )
        assert not result["truncated"] and result["truncated_steps"] == 0
        right += sum((s > 0.5) == label for s, label in zip(scores, row["labels"], strict=True))
        total += len(scores)
    assert worst <= TOLERANCE
    # The few seconds of training took: the served scores are the trained model's, not a random head's.
    assert right / total >= 0.9


def _product(values: list[float]) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


def test_step_scores_do_not_depend_on_the_batch(prm_client: TestClient) -> None:
    rows = stepwise_rows(10, seed=33)
    together = prm_client.post("/v1/score_steps", json={"items": _items(rows)}).json()["results"]
    reversed_ = prm_client.post("/v1/score_steps", json={"items": _items(rows[::-1])}).json()["results"][::-1]
    alone = [
        prm_client.post("/v1/score_steps", json={"prompt": r["prompt"], "steps": r["completions"]}).json()["results"][0]
        for r in rows
    ]
    for a, b, c in zip(together, reversed_, alone, strict=True):
        for x, y, z in zip(a["scores"], b["scores"], c["scores"], strict=True):
            assert abs(x - y) <= TOLERANCE and abs(x - z) <= TOLERANCE


def test_truncation_keeps_the_last_steps_and_reports_the_dropped_ones(
    tiny_prm_dir: Path, direct: tuple[Any, Any]
) -> None:
    steps = [f"we add the terms {i} so {'yes' if i % 3 else 'no'}" for i in range(10)]
    with serving(_settings(tiny_prm_dir, max_length=40)) as client:
        body = client.post("/v1/score_steps", json={"prompt": "What is two plus three?", "steps": steps}).json()
    result = body["results"][0]
    assert result["truncated"] and result["tokens"] <= 40
    scored = [s for s in result["steps"] if s["score"] is not None]
    dropped = result["steps"][: len(steps) - len(scored)]
    assert dropped and all(s["truncated"] and s["logit"] is None for s in dropped)
    assert result["truncated_steps"] >= len(dropped)
    assert result["aggregates"]["last"] == result["scores"][-1]
    # The scored steps are the model's scores of exactly the kept tokens (the encoder's tokens are checked
    # against TRL's rows in tests/models/test_steps.py).
    encoded = StepFormatter(RMTokenizer.from_folder(tiny_prm_dir), PRM_HEAD, 40).encode(
        "What is two plus three?", steps
    )
    _, model = direct
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([encoded.input_ids])).logits[0, list(encoded.score_positions)].double()
    expected = torch.softmax(logits, dim=-1)[:, 1].tolist()
    got = [s["score"] for s in scored]
    assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= TOLERANCE


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"prompt": "q", "steps": []}, "steps"),
        ({"prompt": "q", "steps": ["so yes", ""]}, "steps"),
        ({"items": []}, "items"),
        ({"prompt": "q"}, "prompt and steps are both required"),
        ({"prompt": "q", "steps": ["so yes"], "items": [{"prompt": "q", "steps": ["so no"]}]}, "not both"),
        ({"prompt": "q", "steps": [" ".join(["terms"] * 300)]}, "step 0 has"),
        ({"prompt": [{"role": "user", "content": "q"}], "steps": ["so yes"]}, "send the prompt as a string"),
        ({"prompt": "q", "steps": ["so yes"], "weights": [1.0]}, "weights"),
    ],
)
def test_bad_step_requests_get_422_with_the_error_body(
    prm_client: TestClient, body: dict[str, Any], needle: str
) -> None:
    response = prm_client.post("/v1/score_steps", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and needle in error["message"]


def test_pair_routes_refuse_a_prm_and_models_describes_its_head(prm_client: TestClient) -> None:
    response = prm_client.post("/v1/score", json={"items": [{"prompt": "q", "response": "so yes"}]})
    assert response.status_code == 422 and "/v1/score_steps" in response.json()["error"]["message"]
    head = prm_client.get("/v1/models").json()["head"]
    assert head == {
        "kind": "process",
        "attributes": None,
        "weights": None,
        "step_format": "trl",
        "step_separator": "\n",
    }


def test_a_one_output_model_refuses_steps(tiny_encoder_dir: Path) -> None:
    with serving(_settings(tiny_encoder_dir)) as client:
        response = client.post("/v1/score_steps", json={"prompt": "q", "steps": ["a"]})
    assert response.status_code == 422
    assert "not a process reward model" in response.json()["error"]["message"]


def test_client_score_steps_and_the_trl_prm_reward_function(prm_client: TestClient) -> None:
    import httpx

    from rmserve import RewardClient
    from rmserve.trl import TRLRewardFunc

    def through_the_app(request: httpx.Request) -> httpx.Response:
        answer = prm_client.request(request.method, request.url.path, content=request.content, headers=request.headers)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    rows = stepwise_rows(5, seed=44)
    direct_body = prm_client.post("/v1/score_steps", json={"items": _items(rows)}).json()
    client = RewardClient(
        "http://testserver",
        transport=httpx.MockTransport(through_the_app),
        max_items_per_request=2,
        max_body_bytes=100_000,
    )
    with client:
        result = client.score_steps([(r["prompt"], r["completions"]) for r in rows])  # three chunks
        for item, expected in zip(result.items, direct_body["results"], strict=True):
            assert item.scores == pytest.approx(expected["scores"], abs=TOLERANCE)
        assert result.aggregate("min") == pytest.approx(
            [r["aggregates"]["min"] for r in direct_body["results"]], abs=TOLERANCE
        )
        reward = TRLRewardFunc(client, name="prm", aggregate="product")
        logged: dict[str, float] = {}
        completions = ["\n".join(r["completions"]) + "\n" for r in rows] + ["  \n"]
        rewards = reward(
            prompts=[r["prompt"] for r in rows] + ["q"], completions=completions, log_metric=logged.__setitem__
        )
    assert rewards[:-1] == pytest.approx([r["aggregates"]["product"] for r in direct_body["results"]], abs=TOLERANCE)
    assert rewards[-1] == 0.0  # no step at all: the lowest probability, not a server error
    assert logged == {"prm/truncated_frac": 0.0}
    with pytest.raises(ValueError, match="aggregate must be one of"):
        TRLRewardFunc(client, aggregate="median")  # type: ignore[arg-type]


def test_a_real_server_process_serves_the_prm_to_both_clients(
    tiny_prm_dir: Path, direct: tuple[Any, Any], request: pytest.FixtureRequest
) -> None:
    import asyncio

    from rmserve import AsyncRewardClient, RewardClient
    from tests.service.server_process import shared_server

    url = shared_server(request.config, tiny_prm_dir)
    rows = stepwise_rows(6, seed=55)
    items = [(r["prompt"], r["completions"]) for r in rows]
    with RewardClient(url) as client:
        blocking = client.score_steps(items)

    async def call() -> Any:
        async with AsyncRewardClient(url) as client:
            return await client.score_steps(items)

    awaited = asyncio.run(call())
    for row, a, b in zip(rows, blocking.items, awaited.items, strict=True):
        expected, _ = direct_step_scores(*direct, row)
        assert a.scores == pytest.approx(expected, abs=TOLERANCE)
        assert b.scores == pytest.approx(expected, abs=TOLERANCE)
