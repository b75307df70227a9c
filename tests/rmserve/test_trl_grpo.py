"""The TRL adapter: format handling and pickling against a scripted server, then a real TRL `GRPOTrainer`
run (2 steps, CPU, a tiny random Llama policy built from a config) rewarded by the real rmserve process
through both the blocking and the async reward function."""

from __future__ import annotations

import asyncio
import inspect
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest

from rmserve import AsyncRewardClient, RewardClient
from rmserve.trl import AsyncTRLRewardFunc, TRLRewardFunc, trl_pairs
from tests.rmserve.fake_server import FakeRewardServer, fake_score
from tests.service.server_process import shared_server


def fake_client(server: FakeRewardServer) -> RewardClient:
    return RewardClient(
        "http://rm.test",
        transport=httpx.MockTransport(server.handler),
        max_items_per_request=64,
        max_body_bytes=1 << 20,
    )


def test_standard_format_pairs_are_prompt_and_completion() -> None:
    assert trl_pairs(["The sky is", "2 + 2 ="], [" blue.", " 4"]) == [("The sky is", " blue."), ("2 + 2 =", " 4")]


def test_conversational_format_sends_messages_and_the_assistant_text() -> None:
    prompts = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}],
    ]
    completions = [
        [{"role": "assistant", "content": "Paris."}],
        [
            {"role": "assistant", "content": "Let me look.", "tool_calls": [{"name": "lookup"}]},
            {"role": "tool", "content": "a cat"},
            {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        ],
    ]
    pairs = trl_pairs(prompts, completions)
    assert pairs[0] == (prompts[0], "Paris.")
    assert pairs[1] == ([{"role": "user", "content": "What is this?"}], "Let me look.\nA cat.")


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        trl_pairs(["a", "b"], ["x"])


def test_reward_func_has_trl_signature_name_and_logs_truncation() -> None:
    server = FakeRewardServer()
    metrics: dict[str, float] = {}
    func = TRLRewardFunc(fake_client(server), name="helpfulness")
    assert func.__name__ == "helpfulness"
    rewards = func(
        prompts=["q1", "q2"],
        completions=["short", "a longer answer"],
        completion_ids=[[1], [2, 3]],
        trainer_state=None,
        log_metric=lambda name, value: metrics.__setitem__(name, value),
        log_extra=lambda column, values: None,
    )
    assert rewards == [fake_score("q1", "short"), fake_score("q2", "a longer answer")]
    assert metrics == {"helpfulness/truncated_frac": 0.0}
    normalized = TRLRewardFunc(fake_client(server), normalized=True)(prompts=["q"], completions=["abc"])
    assert normalized == [fake_score("q", "abc") / 10]


def test_normalized_rewards_need_card_statistics() -> None:
    server = FakeRewardServer()
    server.script.append(
        (
            200,
            {},
            {
                "model": "m",
                "weights_digest": "d",
                "scores": [1.0],
                "items": [{"score": 1.0, "tokens": 3, "truncated": False, "normalized": None}],
            },
        )
    )
    with pytest.raises(ValueError, match="statistics"):
        TRLRewardFunc(fake_client(server), normalized=True)(prompts=["q"], completions=["a"])


def test_reward_funcs_pickle_as_their_configuration() -> None:
    sync_func = TRLRewardFunc(RewardClient("http://rm.example:8000", api_key="k", timeout_s=12.0), name="rm")
    async_func = AsyncTRLRewardFunc(AsyncRewardClient("http://rm.example:8000", max_concurrency=2))
    sync_copy = pickle.loads(pickle.dumps(sync_func))
    async_copy = pickle.loads(pickle.dumps(async_func))
    assert isinstance(sync_copy, TRLRewardFunc) and sync_copy.__name__ == "rm"
    assert sync_copy.client.config == sync_func.client.config
    assert isinstance(async_copy, AsyncTRLRewardFunc) and async_copy.client.config.max_concurrency == 2
    assert inspect.iscoroutinefunction(async_copy.__call__)  # how TRL tells async reward functions apart


def test_async_reward_func_matches_the_sync_one() -> None:
    server = FakeRewardServer()
    prompts, completions = ["q"] * 3, ["a", "bb", "ccc"]

    async def call() -> list[float]:
        client = AsyncRewardClient(
            "http://rm.test",
            transport=httpx.MockTransport(server.async_handler),
            max_items_per_request=2,
            max_body_bytes=1 << 20,
        )
        async with client:
            return await AsyncTRLRewardFunc(client)(prompts=prompts, completions=completions)

    assert asyncio.run(call()) == TRLRewardFunc(fake_client(server))(prompts=prompts, completions=completions)


# ------------------------------------------------------------------ a real GRPOTrainer run


class RecordingRewardFunc(TRLRewardFunc):
    """The real adapter, also keeping what TRL passed in and what it got back."""

    calls: list[tuple[list[Any], list[Any], list[float]]]

    def __call__(self, prompts: Any, completions: Any, **kwargs: Any) -> list[float]:
        rewards = super().__call__(prompts, completions, **kwargs)
        self.calls.append((list(prompts), list(completions), rewards))
        return rewards


class RecordingAsyncRewardFunc(AsyncTRLRewardFunc):
    calls: list[tuple[list[Any], list[Any], list[float]]]

    async def __call__(self, prompts: Any, completions: Any, **kwargs: Any) -> list[float]:
        rewards = await super().__call__(prompts, completions, **kwargs)
        self.calls.append((list(prompts), list(completions), rewards))
        return rewards


def tiny_policy(folder: Path) -> tuple[Any, Any]:
    """A random 2-layer Llama causal LM built from a config, with an offline chat-template tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from models.tiny import build_tiny_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    corpus = ["hello how are you today", "what is the capital of france ? paris", "write a poem about the sea"]
    build_tiny_tokenizer(folder, corpus, vocab_size=120)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config), tokenizer


@pytest.mark.slow
def test_grpo_trainer_runs_two_steps_rewarded_by_rmserve(
    request: pytest.FixtureRequest, tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    url = shared_server(request.config, tiny_encoder_dir)
    model, tokenizer = tiny_policy(tmp_path / "policy")
    questions = ["hello how are you", "what is the capital of france ?", "write a poem about the sea", "hello"]
    dataset = datasets.Dataset.from_dict({"prompt": [[{"role": "user", "content": q}] for q in questions]})

    sync_func = RecordingRewardFunc(RewardClient(url), name="rmserve")
    async_func = RecordingAsyncRewardFunc(AsyncRewardClient(url), name="rmserve_async")
    sync_func.calls, async_func.calls = [], []
    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        max_steps=2,
        use_cpu=True,
        bf16=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[sync_func, async_func],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    try:
        trainer.train()
    finally:
        sync_func.client.close()
        # the async client's connections live on TRL's event loop: close them there
        asyncio.run_coroutine_threadsafe(async_func.client.aclose(), trainer.async_loop).result(timeout=30)

    assert trainer.state.global_step == 2
    assert len(sync_func.calls) == 2 and len(async_func.calls) == 2
    with RewardClient(url) as client:
        for (prompts, completions, rewards), (_, _, async_rewards) in zip(
            sync_func.calls, async_func.calls, strict=True
        ):
            assert len(rewards) == len(completions) == 4
            assert all(isinstance(p, list) and p[0]["role"] == "user" for p in prompts)  # conversational
            assert all(c[0]["role"] == "assistant" for c in completions)
            # each reward is the server's score of that (prompt messages, completion text) pair, in order
            expected = client.score(trl_pairs(prompts, completions)).scores
            assert rewards == pytest.approx(expected, abs=1e-5)
            assert async_rewards == pytest.approx(rewards, abs=1e-5)
    logged = [row for row in trainer.state.log_history if "rewards/rmserve/mean" in row]
    assert len(logged) == 2
    assert all("rewards/rmserve_async/mean" in row and "rmserve/truncated_frac" in row for row in logged)
