"""`rmserve/openrlhf.py`, the file given to OpenRLHF as `--remote_rm_url`, loaded by its path as OpenRLHF
loads it and called as OpenRLHF calls it, against the real server process: its rewards are the server's
`/get_reward` answers for the same texts.

OpenRLHF (`openrlhf/utils/agent.py`, `SingleTurnAgentExecutor`): `spec_from_file_location("reward_func", path)`,
`exec_module`, then `reward_func([query], [prompt], [label])` once per sample through `asyncio.to_thread`;
before that (`openrlhf/utils/remote_rm_utils.py`, `RemoteRewardModel`) a micro-batch per call through
`ray.remote(reward_func)`, which pickles the function.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import pickle
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import torch

import rmserve.openrlhf
from rmserve import InvalidRequestError, RewardClient
from tests.service.server_process import shared_server

REWARD_FILE = Path(rmserve.openrlhf.__file__)
# The policy's chat template as OpenRLHF renders `prompts`, and the EOS text that decoding with
# skip_special_tokens=False leaves at the end of each query.
PROMPT_TEMPLATE = "<s><|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
EOS_TEXT = "</s>"


def load_like_openrlhf(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("reward_func", path)
    assert spec is not None and spec.loader is not None
    reward_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reward_module)
    return reward_module


def samples(n: int) -> tuple[list[str], list[str], list[str | None]]:
    """OpenRLHF's (queries, prompts, labels); the last query is far longer than the model's window."""
    prompts = [PROMPT_TEMPLATE.format(question=f"What is {i} times {i + 1}?") for i in range(n)]
    responses = [f"{i} times {i + 1} is {i * (i + 1)}." + " Let me check that again." * (i % 3) for i in range(n)]
    responses[-1] = "Let me explain every step of it in detail. " * 200
    queries = [prompt + response + EOS_TEXT for prompt, response in zip(prompts, responses, strict=True)]
    labels: list[str | None] = [str(i * (i + 1)) for i in range(n - 1)] + [None]
    return queries, prompts, labels


def get_reward(url: str, queries: list[str], prompts: list[str] | None) -> dict[str, Any]:
    """What OpenRLHF's own HTTP path gets for the same texts."""
    body: dict[str, Any] = {"query": queries, "labels": [None] * len(queries)}
    if prompts is not None:
        body["prompts"] = prompts
    answer = httpx.post(f"{url}/get_reward", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture(scope="module")
def server_url(request: pytest.FixtureRequest, tiny_encoder_dir: Path) -> str:
    return shared_server(request.config, tiny_encoder_dir)


@pytest.fixture
def reward_env(monkeypatch: pytest.MonkeyPatch, server_url: str) -> Iterator[str]:
    """The environment of a rollout actor pointed at the server, with no client made yet in this process."""
    monkeypatch.setenv("RMSERVE_URL", server_url)
    monkeypatch.delenv("RMSERVE_API_KEY", raising=False)
    monkeypatch.delenv("RMSERVE_TIMEOUT_S", raising=False)
    rmserve.openrlhf._CLIENT.close()
    yield server_url
    rmserve.openrlhf._CLIENT.close()


def check_shape(info: Any, n: int) -> None:
    """The return type OpenRLHF's examples give and its trainers read (`torch.cat` of `rewards`, `scores` and
    each `extra_logs` value in the micro-batch versions, `flatten()[0]` of them in the per-sample ones)."""
    assert isinstance(info, dict) and set(info) == {"rewards", "scores", "extra_logs"}
    for value in [info["rewards"], info["scores"], *info["extra_logs"].values()]:
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float32 and value.shape == (n,)
    assert torch.equal(info["scores"], info["rewards"])


def test_the_file_has_openrlhfs_signature_and_imports_by_path_as_the_package_function() -> None:
    first, second = load_like_openrlhf(REWARD_FILE), load_like_openrlhf(REWARD_FILE)
    assert first.reward_func is second.reward_func is rmserve.openrlhf.reward_func
    assert list(inspect.signature(first.reward_func).parameters) == ["queries", "prompts", "labels", "kwargs"]
    # Ray's ray.remote(reward_func) pickles it: by reference to the package (the path-loaded module, named
    # "reward_func", could not be imported by that name in a Ray worker)
    assert pickle.loads(pickle.dumps(first.reward_func)) is rmserve.openrlhf.reward_func


def test_one_sample_per_call_from_threads_gets_the_get_reward_answer(reward_env: str) -> None:
    reward_func = load_like_openrlhf(REWARD_FILE).reward_func
    queries, prompts, labels = samples(24)

    async def rollout() -> list[Any]:
        rows = zip(queries, prompts, labels, strict=True)
        calls = [asyncio.to_thread(reward_func, [query], [prompt], [label]) for query, prompt, label in rows]
        return await asyncio.gather(*calls)

    infos = asyncio.run(rollout())
    client = rmserve.openrlhf._CLIENT.get()
    assert client.config.base_url == reward_env  # from RMSERVE_URL
    for info in infos:
        check_shape(info, 1)
    expected = [get_reward(reward_env, [q], [p]) for q, p in zip(queries, prompts, strict=True)]
    got = [float(info["rewards"][0]) for info in infos]
    assert got == pytest.approx([answer["rewards"][0] for answer in expected], abs=1e-5)
    truncated = [float(info["extra_logs"]["rmserve_truncated"][0]) for info in infos]
    assert truncated == [float(answer["items"][0]["truncated"]) for answer in expected]
    assert truncated[-1] == 1.0 and not any(truncated[:-1])
    # one client for the process: every call (24 threads, a second load of the file) used the same one
    load_like_openrlhf(REWARD_FILE).reward_func([queries[0]], [prompts[0]], [labels[0]])
    assert rmserve.openrlhf._CLIENT.get() is client


def test_a_micro_batch_per_call_splits_each_pair_where_its_prompt_ends(reward_env: str) -> None:
    reward_func = load_like_openrlhf(REWARD_FILE).reward_func
    queries, prompts, labels = samples(10)
    info = reward_func(queries, prompts, labels, metas=None)  # newer versions may pass more keywords
    check_shape(info, 10)
    with_prompts = get_reward(reward_env, queries, prompts)["rewards"]
    as_one_segment = get_reward(reward_env, queries, None)["rewards"]
    assert info["rewards"].tolist() == pytest.approx(with_prompts, abs=1e-5)
    # the prompts matter to the encoder RM (a text pair, not one segment): passing them is what is checked above
    assert max(abs(a - b) for a, b in zip(with_prompts, as_one_segment, strict=True)) > 1e-3


def test_a_refused_request_raises_the_clients_typed_error_and_logs_it(
    reward_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    reward_func = load_like_openrlhf(REWARD_FILE).reward_func
    with caplog.at_level(logging.ERROR, logger="rmserve.openrlhf"), pytest.raises(InvalidRequestError) as refused:
        reward_func(["broken \ud800 text"], ["broken "], [None])
    assert refused.value.status_code == 422
    [record] = [r for r in caplog.records if r.name == "rmserve.openrlhf"]
    assert record.levelno == logging.ERROR and reward_env in record.getMessage()


def test_no_queries_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens there: a request would fail (within the one second) instead of answering.
    monkeypatch.setenv("RMSERVE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RMSERVE_TIMEOUT_S", "1")
    rmserve.openrlhf._CLIENT.close()
    try:
        info = load_like_openrlhf(REWARD_FILE).reward_func([], [], [])
    finally:
        rmserve.openrlhf._CLIENT.close()
    assert info["rewards"].shape == (0,) and info["scores"].shape == (0,) and info["extra_logs"] == {}


def test_the_client_follows_the_environment_and_a_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMSERVE_URL", "http://rm-a.example:8000")
    monkeypatch.setenv("RMSERVE_API_KEY", "key-a")
    monkeypatch.setenv("RMSERVE_TIMEOUT_S", "90")
    holder = rmserve.openrlhf._ProcessClient()
    client = holder.get()
    assert isinstance(client, RewardClient) and holder.get() is client
    assert (client.config.base_url, client.config.api_key, client.config.timeout_s) == (
        "http://rm-a.example:8000",
        "key-a",
        90.0,
    )
    monkeypatch.setattr(rmserve.openrlhf.os, "getpid", lambda: -1)  # as in a forked child
    assert holder.get() is not client
    holder.close()
