"""Multi-objective heads over HTTP: per-attribute values by name on every scoring route, the card's
combination as `score`, a request's own weights, and the refusals."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from models.card import CARD_FILENAME
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from service.app import create_app
from service.settings import Settings
from tests.conftest import MULTI_OBJECTIVE_LABELS, MULTI_OBJECTIVE_WEIGHTS
from tests.service.app_harness import serving

TOLERANCE = 1e-5
CARD_WEIGHTS = np.array([MULTI_OBJECTIVE_WEIGHTS[name] for name in MULTI_OBJECTIVE_LABELS])
PAIRS = [
    ("what is the capital of france ?", "paris is the capital ."),
    ([{"role": "user", "content": "hello how can i help you today"}], "the quick brown fox jumps over the lazy dog"),
    ("please write a python function that adds two numbers", "i cannot help with that , but here is a safer idea"),
]


def _settings(model: Path) -> Settings:
    return Settings(model=model, profile_budget_s=0, workers=2, threads_per_worker=1, max_wait_ms=20, gate_threshold=0)


@pytest.fixture(scope="module")
def client(tiny_multi_objective_dir: Path) -> Iterator[TestClient]:
    with serving(_settings(tiny_multi_objective_dir)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def direct_outputs(tiny_multi_objective_dir: Path) -> np.ndarray:
    """Every head output of PAIRS from the model run directly with transformers, one pair at a time."""
    from transformers import AutoModelForSequenceClassification

    folder = inspect_model_folder(tiny_multi_objective_dir)
    formatter = build_formatter(folder, load_tokenizer(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_multi_objective_dir)).eval()
    rows = []
    with torch.inference_mode():
        for prompt, response in PAIRS:
            ids = formatter.encode(prompt, response).input_ids  # type: ignore[arg-type]
            rows.append(model(input_ids=torch.tensor([ids])).logits[0].double().numpy())
    return np.array(rows)


def _items() -> list[dict[str, Any]]:
    return [{"prompt": p, "response": r} for p, r in PAIRS]


def test_score_carries_every_attribute_and_the_cards_combination(
    client: TestClient, direct_outputs: np.ndarray
) -> None:
    body = client.post("/v1/score", json={"items": _items()}).json()
    for item, expected, score in zip(body["items"], direct_outputs, body["scores"], strict=True):
        assert list(item["attributes"]) == MULTI_OBJECTIVE_LABELS
        got = np.array([item["attributes"][name] for name in MULTI_OBJECTIVE_LABELS])
        assert np.max(np.abs(got - expected)) <= TOLERANCE
        assert abs(score - float(CARD_WEIGHTS @ expected)) <= TOLERANCE
        assert item["score"] == score


def test_a_request_may_pass_its_own_weights(client: TestClient, direct_outputs: np.ndarray) -> None:
    weights = [0.0, 1.0, 2.0]
    body = client.post("/v1/score", json={"items": _items(), "weights": weights}).json()
    expected = direct_outputs @ np.array(weights)
    assert np.max(np.abs(np.array(body["scores"]) - expected)) <= TOLERANCE


def test_rank_compare_and_gate_carry_attributes(client: TestClient) -> None:
    prompt = "what is the capital of france ?"
    responses = ["paris is the capital .", "hello how can i help you today"]
    rank = client.post("/v1/rank", json={"prompt": prompt, "responses": responses, "weights": [1, 0, 0]}).json()
    helpfulness = [item["attributes"]["helpfulness"] for item in rank["items"]]
    assert rank["scores"] == pytest.approx(helpfulness, abs=1e-9)
    compare = client.post(
        "/v1/compare", json={"prompt": prompt, "response_a": responses[0], "response_b": responses[1]}
    )
    result = compare.json()
    assert set(result["attributes_a"]) == set(MULTI_OBJECTIVE_LABELS) == set(result["results"][0]["attributes_b"])
    gate = client.post("/v1/gate", json={"prompt": prompt, "response": responses[0]}).json()
    assert set(gate["attributes"]) == set(MULTI_OBJECTIVE_LABELS)
    assert gate["allow"] == (gate["score"] >= 0)
    head = client.get("/v1/models").json()["head"]
    assert head["kind"] == "multi_objective"
    assert head["attributes"] == MULTI_OBJECTIVE_LABELS and head["weights"] == list(CARD_WEIGHTS)


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        ("[1.0, 2.0]", "weights has 2 entries; the model has 3 attributes"),
        ("[NaN, 1.0, 1.0]", "weights.0"),
        ("[]", "weights"),
    ],
)
def test_bad_weights_get_422(client: TestClient, weights: str, needle: str) -> None:
    raw = '{"items": [{"prompt": "q", "response": "a"}], "weights": ' + weights + "}"
    response = client.post("/v1/score", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and needle in error["message"]


def test_weights_on_a_one_output_model_get_422(tiny_encoder_dir: Path) -> None:
    with serving(_settings(tiny_encoder_dir)) as one_output:
        response = one_output.post("/v1/score", json={"items": [{"prompt": "q", "response": "a"}], "weights": [1.0]})
    assert response.status_code == 422 and "one output" in response.json()["error"]["message"]


def test_a_k_output_classifier_without_a_declared_combination_is_refused(
    tiny_multi_objective_dir: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "no-card"
    shutil.copytree(tiny_multi_objective_dir, bare)
    (bare / CARD_FILENAME).unlink()
    app = create_app(_settings(bare))
    with TestClient(app, raise_server_exceptions=False):
        state = app.state.service
        assert state.loaded.wait(120)
        assert state.phase == "failed"
    assert "3 outputs (helpfulness, correctness, verbosity)" in state.failure
    declared = json.dumps({"objectives": {"weights": {"helpfulness": 1.0, "correctness": 1.0, "verbosity": 1.0}}})
    assert f"add to rmserve_card.json: {declared}" in state.failure


def test_get_reward_logs_the_attributes_for_openrlhf(client: TestClient) -> None:
    body = client.post("/get_reward", json={"query": ["what is the capital of france ? paris .", "hello"]}).json()
    assert body["rewards"] == body["scores"] and len(body["rewards"]) == 2
    logs = body["extra_logs"]
    assert list(logs) == MULTI_OBJECTIVE_LABELS and all(len(v) == 2 for v in logs.values())
    combined = [float(CARD_WEIGHTS @ np.array([logs[n][i] for n in MULTI_OBJECTIVE_LABELS])) for i in range(2)]
    assert body["rewards"] == pytest.approx(combined, abs=1e-5)


def test_the_onnx_backend_refuses_a_multi_objective_head(tiny_multi_objective_dir: Path) -> None:
    from models.folder import ModelLoadError
    from service.model_loading import load_model

    settings = Settings(model=tiny_multi_objective_dir, backend="onnx")
    with pytest.raises(ModelLoadError, match="multi-objective head, which the onnx backend does not serve"):
        load_model(settings)
