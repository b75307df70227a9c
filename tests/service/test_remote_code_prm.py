"""A Qwen2.5-Math-PRM-style process reward model: a custom head in the folder's own code (config.json
auto_map, loaded only with trust_remote_code) and the step token `<extra_0>`.

The folder is written here: a tiny Qwen2 backbone with Qwen2.5-Math-PRM's head shape (Linear, ReLU,
Linear to two labels, logits at every token) in a local `modeling_tiny_qwen_prm.py`, a byte-level
tokenizer holding `<extra_0>` as one added token, and a ChatML template. Its untrained scores are
compared with the procedure of Qwen2.5-Math-PRM's model card run directly with transformers:
apply_chat_template over system/user/assistant("<extra_0>".join(steps) + "<extra_0>"), tokenizer.encode,
softmax of the logits at the step-token positions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from service.settings import Settings
from tests.prm import corpus
from tests.service.app_harness import serving

MODELING = """
import torch
from torch import nn
from transformers import Qwen2Model, Qwen2PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutputWithPast


class Qwen2ForProcessRewardModel(Qwen2PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = 2
        self.model = Qwen2Model(config)
        self.score = nn.Sequential(
            nn.Linear(config.hidden_size, config.hidden_size), nn.ReLU(), nn.Linear(config.hidden_size, 2)
        )
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return SequenceClassifierOutputWithPast(logits=self.score(hidden))
"""
SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


@pytest.fixture(scope="module")
def qwen_prm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import AddedToken, Tokenizer
    from transformers import AutoConfig, AutoModel, Qwen2Config

    from models.tiny import build_byte_level_tokenizer

    out = tmp_path_factory.mktemp("qwen-prm") / "prm"
    out.mkdir()
    build_byte_level_tokenizer(out, corpus(), vocab_size=400)
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    tokenizer.add_special_tokens([AddedToken("<extra_0>", special=True)])
    tokenizer.save(str(out / "tokenizer.json"))
    (out / "modeling_tiny_qwen_prm.py").write_text(MODELING, encoding="utf-8")
    config = Qwen2Config(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    config.architectures = ["Qwen2ForProcessRewardModel"]
    config.auto_map = {"AutoModel": "modeling_tiny_qwen_prm.Qwen2ForProcessRewardModel"}
    config.save_pretrained(str(out))
    torch.manual_seed(0)
    model = AutoModel.from_config(AutoConfig.from_pretrained(str(out), trust_remote_code=True), trust_remote_code=True)
    model.save_pretrained(str(out), safe_serialization=True)
    saved = json.loads((out / "config.json").read_text())
    assert saved["architectures"] == ["Qwen2ForProcessRewardModel"] and "AutoModel" in saved["auto_map"]
    return out


def _direct(folder: Path, system: str, query: str, steps: list[str]) -> list[float]:
    """Qwen2.5-Math-PRM's model-card procedure, with transformers only."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), trust_remote_code=True).eval()
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": query},
        {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"},
    ]
    conversation = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    input_ids = torch.tensor([tokenizer.encode(conversation)])
    step_token = tokenizer.encode("<extra_0>")[0]
    with torch.inference_mode():
        logits = model(input_ids=input_ids)[0][0].double()
    return torch.softmax(logits[input_ids[0] == step_token], dim=-1)[:, 1].tolist()


def _settings(folder: Path, **overrides: Any) -> Settings:
    return Settings(model=folder, profile_budget_s=0, workers=1, threads_per_worker=1, **overrides)


def test_a_remote_code_prm_is_refused_without_trust_remote_code(qwen_prm_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from service.app import create_app

    app = create_app(_settings(qwen_prm_dir))
    with TestClient(app, raise_server_exceptions=False):
        state = app.state.service
        assert state.loaded.wait(120)
    assert state.phase == "failed" and "--trust-remote-code" in state.failure


def test_step_token_prm_scores_match_its_model_card_procedure(qwen_prm_dir: Path) -> None:
    items = [
        ("What is two plus three?", ["two plus three makes five so yes", "check the sum so yes"]),
        ("Add the digits of the sum.", ["we add the digits so no"]),
        ("Check the carry in five plus five.", ["carry the digits", "five plus five", "makes ten so yes"]),
    ]
    body = {
        "items": [
            {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}], "steps": s}
            for q, s in items
        ]
    }
    with serving(_settings(qwen_prm_dir, trust_remote_code=True)) as client:
        response = client.post("/v1/score_steps", json=body)
        head = client.get("/v1/models").json()["head"]
        contains = client.post("/v1/score_steps", json={"prompt": "q", "steps": ["a <extra_0> b"]})
    assert response.status_code == 200, response.text
    assert head["step_format"] == "step_token" and head["step_separator"] == "<extra_0>"
    for (query, steps), result in zip(items, response.json()["results"], strict=True):
        expected = _direct(qwen_prm_dir, SYSTEM, query, steps)
        assert max(abs(a - b) for a, b in zip(result["scores"], expected, strict=True)) <= 1e-5
    assert contains.status_code == 422 and "contains the step token" in contains.json()["error"]["message"]
