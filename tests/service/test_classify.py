"""`POST /classify` as verl's reward loop calls it (vLLM's classification API), on a Llama-style decoder RM.

The request bodies are the ones verl builds in `verl/experimental/reward_loop/reward_loop.py`
(`RewardLoopWorker._preprocess_reward_inputs` and `compute_score_disrm`): the conversation rendered with the
RM tokenizer's chat template (`apply_chat_template(chat, add_generation_prompt=False, tokenize=False)`), its
leading BOS text stripped ("llama tokenizer will add bos token by default"), then
`{"model": model_path, "input": rm_prompt, "activation": False}` (vLLM < 0.11.2) or `"use_activation": False`
(later verl), read as `output["data"][-1]["probs"][-1]`. The commented-out successor sends
`"add_special_tokens": False` with the BOS left in. Each must give the RM's raw reward for that conversation:
the score `/v1/score` gives the same messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
from fastapi.testclient import TestClient

from models.formatting import WholeText
from service.api.classify.protocol import ClassificationRequest
from service.settings import Settings
from tests.service.app_harness import serving, state_of

MAX_LENGTH = 96
CHATS = [
    [{"role": "user", "content": "what is the capital of france ?"}],
    [
        {"role": "system", "content": "please write a python function"},
        {"role": "user", "content": "hello how can i help you today"},
    ],
    [{"role": "user", "content": "the quick brown fox jumps over the lazy dog"}],
]
RESPONSES = ["paris is the capital .", "i cannot help with that , but here is a safer idea", "the lazy dog"]


@pytest.fixture(scope="module")
def client(bos_decoder_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        model=bos_decoder_dir, max_length=MAX_LENGTH, profile_budget_s=0, workers=1, threads_per_worker=1
    )
    with serving(settings) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def hf_tokenizer(bos_decoder_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bos_decoder_dir))


def verl_rm_prompt(tokenizer: Any, chat: list[dict[str, str]], response: str, strip_bos: bool = True) -> str:
    """What verl's `_preprocess_reward_inputs` posts as `input`."""
    rm_prompt = str(tokenizer.apply_chat_template([*chat, {"role": "assistant", "content": response}], tokenize=False))
    if strip_bos and tokenizer.bos_token is not None and rm_prompt.startswith(tokenizer.bos_token):
        rm_prompt = rm_prompt[len(tokenizer.bos_token) :]
    return rm_prompt


def scores_of_messages(client: TestClient) -> list[float]:
    items = [{"prompt": chat, "response": response} for chat, response in zip(CHATS, RESPONSES, strict=True)]
    answer = client.post("/v1/score", json={"items": items})
    assert answer.status_code == 200, answer.text
    return [float(s) for s in answer.json()["scores"]]


@pytest.mark.parametrize("flag", ["activation", "use_activation"])
def test_verls_request_gets_the_raw_reward_of_the_conversation(
    client: TestClient, hf_tokenizer: Any, flag: str
) -> None:
    expected = scores_of_messages(client)
    for chat, response, score in zip(CHATS, RESPONSES, expected, strict=True):
        payloads = {
            "model": "/models/tiny-llama-rm",
            "input": verl_rm_prompt(hf_tokenizer, chat, response),
            flag: False,
        }
        output = client.post("/classify", json=payloads)
        assert output.status_code == 200, output.text
        rm_score = output.json()["data"][-1]["probs"][-1]
        assert abs(rm_score - score) <= 1e-5


def test_a_list_without_special_tokens_keeps_its_bos_and_order(client: TestClient, hf_tokenizer: Any) -> None:
    expected = scores_of_messages(client)
    texts = [verl_rm_prompt(hf_tokenizer, c, r, strip_bos=False) for c, r in zip(CHATS, RESPONSES, strict=True)]
    body = {"model": "m", "input": texts, "use_activation": False, "add_special_tokens": False}
    output = client.post("/classify", json=body)
    assert output.status_code == 200, output.text
    data = output.json()["data"]
    assert [row["index"] for row in data] == [0, 1, 2]
    assert [row["probs"][-1] for row in data] == pytest.approx(expected, abs=1e-5)
    assert len({round(s, 6) for s in expected}) == 3  # different texts, different rewards: the order is checked


def test_the_answer_has_vllms_fields_and_activation_by_default(client: TestClient, hf_tokenizer: Any) -> None:
    texts = [verl_rm_prompt(hf_tokenizer, c, r) for c, r in zip(CHATS, RESPONSES, strict=True)]
    raw = client.post("/classify", json={"input": texts, "use_activation": False}).json()
    answer = client.post("/classify", json={"input": texts, "request_id": "abc"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == "classify-abc" and body["object"] == "list" and isinstance(body["created"], int)
    assert body["model"] == raw["model"] == "model" and len(body["weights_digest"]) == 16
    for row, raw_row in zip(body["data"], raw["data"], strict=True):
        assert row["num_classes"] == 1 and row["label"] == "LABEL_0" and row["truncated"] is False
        # A one-output head: sigmoid of the raw reward, as vLLM's classify activation applies it.
        assert row["probs"][0] == pytest.approx(1 / (1 + math.exp(-raw_row["probs"][0])), abs=1e-6)
    model = state_of(client).model
    assert model is not None
    tokens = sum(model.formatter.encode_text(WholeText(t)).num_tokens for t in texts)
    assert body["usage"] == {
        "prompt_tokens": tokens,
        "total_tokens": tokens,
        "completion_tokens": 0,
        "prompt_tokens_details": None,
    }
    assert float(answer.headers["x-inference-time"]) > 0


def test_chat_messages_are_rendered_once_with_the_models_template(client: TestClient) -> None:
    expected = scores_of_messages(client)
    for chat, response, score in zip(CHATS, RESPONSES, expected, strict=True):
        body = {"messages": [*chat, {"role": "assistant", "content": response}], "use_activation": False}
        output = client.post("/classify", json=body)
        assert output.status_code == 200, output.text
        assert abs(output.json()["data"][0]["probs"][0] - score) <= 1e-5


def test_truncate_prompt_tokens_keeps_the_end(client: TestClient, hf_tokenizer: Any) -> None:
    text = verl_rm_prompt(hf_tokenizer, CHATS[1], RESPONSES[1])
    model = state_of(client).model
    assert model is not None
    cut = model.formatter.encode_text(WholeText(text, max_tokens=12))
    assert cut.truncated and cut.num_tokens == 12
    direct = float(model.backend.score([cut])[0])
    answer = client.post("/classify", json={"input": text, "use_activation": False, "truncate_prompt_tokens": 12})
    assert answer.status_code == 200, answer.text
    row = answer.json()["data"][0]
    assert row["truncated"] is True and abs(row["probs"][0] - direct) <= 1e-5
    assert answer.json()["usage"]["prompt_tokens"] == 12
    whole = client.post("/classify", json={"input": text, "use_activation": False, "truncate_prompt_tokens": -1})
    assert whole.json()["data"][0]["truncated"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"input": []},
        {"input": [1, 2, 3]},
        {"input": "hello", "activation": False, "use_activation": True},
        {"input": "hello", "truncate_prompt_tokens": 0},
        {"input": "hello", "truncate_prompt_tokens": -2},
        {"input": "hello", "truncate_prompt_tokens": MAX_LENGTH + 1},
        {"input": "hello", "truncation_side": "right"},
        {"input": "", "add_special_tokens": False},
        {"model": "m"},
        {"input": "hello", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
        {"messages": [{"role": "assistant", "content": "b"}, {"role": "user", "content": "a"}]},
        {"messages": [{"role": "user", "content": "a"}]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "chat_template": "x"},
        {
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            "add_generation_prompt": True,
        },
        {
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            "truncate_prompt_tokens": 5,
        },
    ],
)
def test_bad_requests_are_422_with_the_error_body(client: TestClient, body: dict[str, Any]) -> None:
    answer = client.post("/classify", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["type"] == "invalid_request"


def test_token_id_input_is_refused_with_a_message_that_says_so(client: TestClient) -> None:
    answer = client.post("/classify", json={"input": [[1, 4, 29]], "use_activation": False})
    assert answer.status_code == 422
    assert "token-id input is not supported" in answer.json()["error"]["message"]


def test_a_multi_objective_head_answers_its_attributes_as_classes(tiny_multi_objective_dir: Path) -> None:
    settings = Settings(model=tiny_multi_objective_dir, profile_budget_s=0, workers=1, threads_per_worker=1)
    messages = [*CHATS[0], {"role": "assistant", "content": RESPONSES[0]}]
    with serving(settings) as mo_client:
        scored = mo_client.post("/v1/score", json={"items": [{"prompt": CHATS[0], "response": RESPONSES[0]}]})
        raw = mo_client.post("/classify", json={"messages": messages, "use_activation": False})
        activated = mo_client.post("/classify", json={"messages": messages})
    assert raw.status_code == activated.status_code == 200, raw.text
    item = scored.json()["items"][0]
    row = raw.json()["data"][0]
    assert row["num_classes"] == 3 and row["score"] == pytest.approx(item["score"], abs=1e-6)
    assert row["probs"] == pytest.approx(list(item["attributes"].values()), abs=1e-6)
    assert row["label"] == max(item["attributes"], key=item["attributes"].get)
    # Several outputs: softmax over them, as vLLM's classify activation.
    exps = [math.exp(v) for v in row["probs"]]
    assert activated.json()["data"][0]["probs"] == pytest.approx([e / sum(exps) for e in exps], abs=1e-6)


def test_fields_of_other_vllm_clients_are_ignored(client: TestClient) -> None:
    # vLLM's integer priority too: the lane comes from rmserve's header, else the route's default (bulk).
    body = {"input": "hello", "user": "u", "priority": 0, "encoding_format": "float", "cache_salt": "s" * 43}
    assert client.post("/classify", json=body).status_code == 200
    lanes = {"interactive": 200, "bulk": 200, "urgent": 422}
    for lane, status in lanes.items():
        answer = client.post("/classify", json={"input": "hello"}, headers={"X-Rmserve-Priority": lane})
        assert answer.status_code == status, (lane, answer.text)


CONVERSATION = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"input": "hello"}, True),
        ({"input": ["hello", "there"], "messages": None}, True),
        ({"messages": CONVERSATION}, True),
        ({"messages": CONVERSATION, "input": None}, True),
        ({}, False),
        ({"input": None, "messages": None}, False),
        ({"input": "hello", "messages": CONVERSATION}, False),
    ],
)
def test_the_schema_states_the_one_form_rule_the_validator_enforces(body: dict[str, Any], valid: bool) -> None:
    schema_says = jsonschema.Draft202012Validator(ClassificationRequest.model_json_schema()).is_valid(body)
    try:
        ClassificationRequest.model_validate(body)
        validator_says = True
    except pydantic.ValidationError:
        validator_says = False
    assert schema_says == validator_says == valid
