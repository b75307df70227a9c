"""The HTTP API in-process on the real small encoder RM (MiniLM + random head): every endpoint, the
error table, limits, batch invariance and metrics."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import numpy as np
import pydantic
import pytest
from fastapi.testclient import TestClient

from models.formatting import EncodedPair, WholeText
from service.api.protocol import CompareRequest, ErrorResponse
from service.api.routes import PROMETHEUS_CONTENT_TYPE
from service.errors import ERROR_TABLE
from service.settings import Settings
from tests.service.app_harness import serving, state_of

MAX_LENGTH = 128


@pytest.fixture(scope="module")
def client(tiny_encoder_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        model=tiny_encoder_dir,
        max_length=MAX_LENGTH,
        max_items_per_request=64,
        max_chars_per_text=5000,
        max_body_bytes=200_000,
        profile_budget_s=0,
        workers=2,
        threads_per_worker=1,
        gate_threshold=-100.0,
    )
    with serving(settings) as test_client:
        yield test_client


def direct_scores(client: TestClient, pairs: list[tuple[object, str]]) -> list[float]:
    """The same pairs scored one at a time straight through the formatter and backend."""
    model = state_of(client).model
    assert model is not None
    encoded = [model.formatter.encode(p, r) for p, r in pairs]  # type: ignore[arg-type]
    return [float(model.backend.score([e])[0]) for e in encoded]


def mixed_pairs(n: int) -> list[tuple[object, str]]:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "rain", "falls"]
    pairs: list[tuple[object, str]] = []
    for i in range(n):
        response = " ".join(words[(i + k) % len(words)] for k in range(1 + (i * 7) % 60))
        prompt: object = f"question {i}: what happened?" if i % 3 else [{"role": "user", "content": f"tell me {i}"}]
        pairs.append((prompt, response))
    return pairs


def test_score_returns_raw_scores_in_order_with_details(client: TestClient) -> None:
    pairs = mixed_pairs(12)
    r = client.post("/v1/score", json={"items": [{"prompt": p, "response": s} for p, s in pairs]})
    assert r.status_code == 200, r.text
    body = r.json()
    state = state_of(client)
    assert state.model is not None
    assert body["model"] == state.model.folder.name
    assert body["weights_digest"] == state.model.weights_digest
    assert np.max(np.abs(np.array(body["scores"]) - direct_scores(client, pairs))) <= 1e-5
    assert [item["score"] for item in body["items"]] == body["scores"]
    assert all(item["tokens"] > 0 and item["truncated"] is False for item in body["items"])
    assert all(item["normalized"] is None for item in body["items"])  # no score_stats in this card
    for header in ("x-queue-time", "x-tokenization-time", "x-inference-time", "x-total-time"):
        assert float(r.headers[header]) >= 0


def test_long_pairs_are_truncated_to_max_length_and_say_so(client: TestClient) -> None:
    r = client.post("/v1/score", json={"items": [{"prompt": "p", "response": "word " * 400}]})
    item = r.json()["items"][0]
    assert item["truncated"] is True
    assert item["tokens"] == MAX_LENGTH


def test_a_pair_scores_the_same_alone_and_inside_busy_mixed_batches(client: TestClient) -> None:
    pairs = mixed_pairs(40)
    alone = direct_scores(client, pairs)
    # Directly: one pair inside a mixed-length padded batch.
    model = state_of(client).model
    assert model is not None
    encoded: list[EncodedPair] = [model.formatter.encode(p, r) for p, r in pairs]  # type: ignore[arg-type]
    in_batch = model.backend.score(encoded)
    assert np.max(np.abs(in_batch - np.array(alone))) <= 1e-5
    # Through the service: concurrent requests that the batcher merges and splits as it likes.
    chunks = [pairs[i : i + 8] for i in range(0, 40, 8)]

    def post(chunk: list[tuple[object, str]]) -> list[float]:
        r = client.post("/v1/score", json={"items": [{"prompt": p, "response": s} for p, s in chunk]})
        assert r.status_code == 200, r.text
        return list(r.json()["scores"])

    with ThreadPoolExecutor(len(chunks)) as pool:
        served = [s for part in pool.map(post, chunks) for s in part]
    assert np.max(np.abs(np.array(served) - np.array(alone))) <= 1e-5


def test_rank_orders_best_first_with_group_zscores(client: TestClient) -> None:
    responses = ["Sure, here is a careful answer.", "no", "I will not help.", "Here are three steps to do it safely."]
    r = client.post("/v1/rank", json={"prompt": "How do I do it?", "responses": responses, "top_k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    scores = body["scores"]
    full = sorted(range(4), key=lambda i: -scores[i])
    assert body["ranking"] == full[:2]
    assert body["best_index"] == full[0]
    assert sum(body["zscores"]) == pytest.approx(0.0, abs=1e-6)
    mean = sum(scores) / 4
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / 4)
    assert body["zscores"] == pytest.approx([(s - mean) / std for s in scores])
    assert np.max(np.abs(np.array(scores) - direct_scores(client, [("How do I do it?", x) for x in responses]))) <= 1e-5


def test_compare_gives_the_bradley_terry_probability_single_and_batched(client: TestClient) -> None:
    single = client.post(
        "/v1/compare", json={"prompt": "hi", "response_a": "Hello! How can I help?", "response_b": "go away"}
    )
    assert single.status_code == 200, single.text
    body = single.json()
    assert body["prob_a_preferred"] == pytest.approx(1 / (1 + math.exp(body["score_b"] - body["score_a"])))
    assert body["calibrated_prob_a_preferred"] is None  # the model card has no calibration
    a, b = direct_scores(client, [("hi", "Hello! How can I help?"), ("hi", "go away")])
    assert abs(body["score_a"] - a) <= 1e-5 and abs(body["score_b"] - b) <= 1e-5
    pairs = [
        {"prompt": "hi", "response_a": "Hello! How can I help?", "response_b": "go away"},
        {"prompt": "x", "response_a": "a", "response_b": "b"},
    ]
    batched = client.post("/v1/compare", json={"pairs": pairs}).json()
    assert len(batched["results"]) == 2
    assert batched["results"][0]["score_a"] == pytest.approx(body["score_a"], abs=1e-5)
    both_forms = client.post("/v1/compare", json={"pairs": pairs, "prompt": "hi"})
    assert both_forms.status_code == 422


def test_gate_allows_and_blocks_against_the_threshold(client: TestClient) -> None:
    (score,) = direct_scores(client, [("Is this safe?", "Yes, entirely.")])
    base = {"prompt": "Is this safe?", "response": "Yes, entirely."}
    allow = client.post("/v1/gate", json={**base, "threshold": score - 1}).json()
    block = client.post("/v1/gate", json={**base, "threshold": score + 1}).json()
    default = client.post("/v1/gate", json=base).json()
    assert (allow["decision"], allow["allow"]) == ("allow", True)
    assert (block["decision"], block["allow"]) == ("block", False)
    assert block["threshold"] == pytest.approx(score + 1)
    assert default["threshold"] == -100.0 and default["decision"] == "allow"
    assert (default["threshold_source"], block["threshold_source"]) == ("settings", "request")
    assert abs(block["score"] - score) <= 1e-5
    assert client.get("/v1/models").json()["gate"] == {
        "threshold": -100.0,
        "source": "settings",
        "rule": "set by RMSERVE_GATE_THRESHOLD",
    }


def test_get_reward_speaks_openrlhf_and_splits_the_prompt_off(client: TestClient) -> None:
    """The encoder RM reads a query as a text pair split where its prompt ends, else as one segment."""
    prompt = "Human: how do I bake bread?\n\nAssistant:"
    body = {
        "query": [prompt + " Mix flour, water, salt and yeast.", "no prompt prefix here"],
        "prompts": [prompt, "something else"],
        "labels": ["", ""],
    }
    r = client.post("/get_reward", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["extra_logs"] == {} and out["rewards"] == out["scores"]
    model = state_of(client).model
    assert model is not None
    expected = [
        direct_scores(client, [(prompt, " Mix flour, water, salt and yeast.")])[0],
        float(model.backend.score([model.formatter.encode_text(WholeText("no prompt prefix here"))])[0]),
    ]
    assert np.max(np.abs(np.array(out["rewards"]) - expected)) <= 1e-5
    mismatched = client.post("/get_reward", json={"query": ["a", "b"], "prompts": ["a"]})
    assert mismatched.status_code == 422


def test_models_describes_what_is_served(client: TestClient, tiny_encoder_dir: Path) -> None:
    body = client.get("/v1/models").json()
    assert body["folder"] == str(tiny_encoder_dir)
    assert body["architecture"] == "BertForSequenceClassification"
    assert (body["backend"], body["device"], body["dtype"], body["kind"]) == ("torch", "cpu", "fp32", "encoder")
    assert body["max_length"] == MAX_LENGTH
    assert body["limits"]["max_items_per_request"] == 64
    assert len(body["weights_digest"]) == 16


def test_probes_and_docs(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").json()["ready"] is True
    assert "/v1/score" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


SCORING_OPERATIONS = ["/v1/score", "/v1/rank", "/v1/compare", "/v1/gate", "/get_reward", "/classify"]


def test_openapi_documents_every_error_answer_with_the_body_sent(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    # 499 is logged only: the client that would read it has gone.
    answered = {status for status, _ in ERROR_TABLE.values() if status != 499} | {400}
    for path in SCORING_OPERATIONS:
        responses = spec["paths"][path]["post"]["responses"]
        documented = {int(status) for status in responses if int(status) >= 400}
        assert documented == answered, path
        for status in documented:
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)
        assert {"429", "503"} <= {s for s, r in responses.items() if "Retry-After" in r.get("headers", {})}
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's default, never sent
    assert list(spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == [PROMETHEUS_CONTENT_TYPE]

    bad_requests = [
        ("/v1/score", b"{not json"),
        ("/v1/score", b'{"items": []}'),
        ("/v1/score", b'{"items": [{"prompt": "a"}]}'),
        ("/v1/rank", b'{"prompt": "a", "responses": "b"}'),
    ]
    for path, body in bad_requests:
        answer = client.post(path, content=body, headers={"content-type": "application/json"})
        assert answer.status_code in answered, (path, body)
        ErrorResponse.model_validate(answer.json())


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"prompt": "p", "response_a": "a", "response_b": "b"}, True),
        ({"prompt": [{"role": "user", "content": "p"}], "response_a": "a", "response_b": "b", "pairs": None}, True),
        ({"pairs": [{"prompt": "p", "response_a": "a", "response_b": "b"}]}, True),
        ({"pairs": [{"prompt": "p", "response_a": "a", "response_b": "b"}], "prompt": None}, True),
        ({}, False),
        ({"prompt": "p", "response_a": "a"}, False),
        ({"prompt": None, "response_a": "a", "response_b": "b"}, False),
        ({"pairs": None, "prompt": None, "response_a": None, "response_b": None}, False),
        ({"pairs": [{"prompt": "p", "response_a": "a", "response_b": "b"}], "prompt": "p"}, False),
    ],
)
def test_compare_schema_states_the_one_form_rule_the_validator_enforces(body: dict[str, object], valid: bool) -> None:
    schema = CompareRequest.model_json_schema()
    schema_says = jsonschema.Draft202012Validator(schema).is_valid(body)
    try:
        CompareRequest.model_validate(body)
        validator_says = True
    except pydantic.ValidationError:
        validator_says = False
    assert schema_says == validator_says == valid


def error_of(response: object) -> tuple[int, str]:
    status = response.status_code  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body["error"]) == {"type", "message"}, body
    return status, body["error"]["type"]


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"items": []}',
        b'{"items": [{"prompt": 3, "response": "x"}]}',
        b'{"items": [{"prompt": "a"}]}',
        b'{"items": [{"prompt": "\\ud800", "response": "x"}]}',
        b'{"items": [{"prompt": "a", "response": "b\\udfff"}]}',
        b'{"items": [{"prompt": [], "response": "x"}]}',
        b'{"items": [{"prompt": [{"role": "robot", "content": "x"}], "response": "x"}]}',
        b'{"items": [{"prompt": "a", "response": "b"}], "unknown": 1}',
        b'{"items": [{"prompt": "a", "response": "b"}], "timeout_s": -1}',
        b"[1, 2, 3]",
    ],
)
def test_bad_input_is_422_with_a_machine_readable_body(client: TestClient, raw: bytes) -> None:
    r = client.post("/v1/score", content=raw, headers={"content-type": "application/json"})
    assert error_of(r) == (422, "invalid_request")


def test_limits_are_413(client: TestClient) -> None:
    too_many = {"items": [{"prompt": "a", "response": "b"}] * 65}
    assert error_of(client.post("/v1/score", json=too_many)) == (413, "payload_too_large")
    too_long = {"items": [{"prompt": "a", "response": "b" * 5001}]}
    assert error_of(client.post("/v1/score", json=too_long)) == (413, "payload_too_large")
    big_body = json.dumps({"items": [{"prompt": "a", "response": "b" * 4000}] * 60}).encode()
    assert len(big_body) > 200_000
    assert error_of(client.post("/v1/score", content=big_body, headers={"content-type": "application/json"})) == (
        413,
        "payload_too_large",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"items": ['
        for _ in range(400):
            yield b'{"prompt": "a", "response": "' + b"b" * 1000 + b'"},'
        yield b'{"prompt": "a", "response": "b"}]}'

    chunked = client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
    assert error_of(chunked) == (413, "payload_too_large")


def test_unknown_routes_use_the_error_body(client: TestClient) -> None:
    assert error_of(client.get("/v1/nothing")) == (404, "not_found")
    assert error_of(client.get("/v1/score")) == (405, "method_not_allowed")


def test_metrics_cover_traffic_batches_and_rewards(client: TestClient) -> None:
    client.post("/v1/score", json={"items": [{"prompt": "m", "response": "x" * (10 * i + 1)} for i in range(6)]})
    text = client.get("/metrics").text
    for name in (
        'rmserve_requests_total{route="/v1/score",status="200"}',
        "rmserve_request_duration_seconds_bucket",
        "rmserve_queue_items",
        "rmserve_queue_wait_seconds_count",
        "rmserve_batch_size_count",
        "rmserve_batch_tokens_count",
        "rmserve_batch_padding_ratio_count",
        "rmserve_forward_seconds_count",
        "rmserve_tokens_total",
        "rmserve_reward_count",
        "rmserve_truncation_rate",
        "rmserve_reward_length_correlation",
        "rmserve_ready 1.0",
    ):
        assert name in text, name
    assert 'rmserve_requests_total{route="other",status="404"}' in text


def test_the_gate_threshold_comes_from_the_settings_else_the_card_else_zero(tiny_encoder_dir: Path) -> None:
    from types import SimpleNamespace

    from models.card import GateThreshold, ModelCard
    from service.api.serving import default_gate

    gate = GateThreshold(
        threshold=-1.5,
        rule="blocks 90% of held-out harmful replies",
        data="d",
        blocks_harmful=0.9,
        allows_chosen=0.8,
        allows_harmless_chosen=0.7,
    )
    with_gate = SimpleNamespace(folder=SimpleNamespace(card=ModelCard(name="m", gate=gate)))
    without = SimpleNamespace(folder=SimpleNamespace(card=None))
    unset = Settings(model=tiny_encoder_dir)
    assert default_gate(with_gate, unset).model_dump() == {  # type: ignore[arg-type]
        "threshold": -1.5,
        "source": "model card",
        "rule": "blocks 90% of held-out harmful replies",
    }
    assert default_gate(with_gate, Settings(model=tiny_encoder_dir, gate_threshold=2.0)).source == "settings"  # type: ignore[arg-type]
    assert (default_gate(without, unset).threshold, default_gate(without, unset).source) == (0.0, "default")  # type: ignore[arg-type]
