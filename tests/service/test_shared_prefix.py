"""Scoring a shared prompt once never changes a score: tiny random decoder RMs (Llama-3 style with its pad
token = EOS, Qwen2.5 style with its default system prompt, Llama with a ChatML template and BOS), each pair
scored alone, in a shared group, in a mixed batch of groups of different prompt lengths, through the
batcher within and across requests, and over HTTP with sharing on and off: max |diff| <= 1e-4 in fp32."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair, PairFormatter, Prompt
from models.shared_prefix import SharedGroup, plan_groups
from models.tiny import LLAMA3_CHAT, QWEN2_CHAT, TinyChat, build_tiny_decoder_rm
from service.backends.base import BackendError
from service.backends.torch_backend import TorchBackend
from service.batcher import BatcherConfig, DynamicBatcher, ItemResult
from service.cost_model import CostModel
from service.settings import Settings
from tests.service.app_harness import serving

TOLERANCE = 1e-4
MIN_SHARED = 8
CORPUS = [
    "you are a careful assistant . answer briefly and politely",
    "what is the capital of france ? paris is the capital of france",
    "please write a python function that adds two numbers and returns the sum",
    "i cannot help with that , but here is a safer idea instead",
    "hello how can i help you today ? tell me about the weather in spring",
]
# Larger initial weights than a trained model's defaults, so that random scores differ visibly between pairs.
SIZE = {"initializer_range": 0.3, "hidden_size": 32, "num_hidden_layers": 3}
FAMILIES: dict[str, tuple[str, TinyChat]] = {
    "llama3-pad-is-eos": ("llama", LLAMA3_CHAT),
    "qwen2": ("qwen2", QWEN2_CHAT),
    "llama-chatml-bos": ("llama", TinyChat()),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def decoder_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    family, chat = FAMILIES[request.param]
    return build_tiny_decoder_rm(
        tmp_path_factory.mktemp(request.param), family=family, seed=3, corpus=CORPUS, chat=chat, size=SIZE
    )  # type: ignore[arg-type]


def formatter_for(model_dir: Path, max_length: int = 96) -> tuple[PairFormatter, int]:
    folder = inspect_model_folder(model_dir)
    tokenizer = load_tokenizer(folder)
    return build_formatter(folder, tokenizer, max_length), tokenizer.pad_token_id


def backend_for(model_dir: Path, device: str = "cpu") -> TorchBackend:
    folder = inspect_model_folder(model_dir)
    return TorchBackend(folder, load_tokenizer(folder).pad_token_id, device=device)


LONG_PROMPT = "hello how can i help you today ? tell me about the weather in spring " * 6
PROMPTS: list[Prompt] = [
    [
        {"role": "system", "content": "you are a careful assistant ."},
        {"role": "user", "content": "what is the capital ?"},
    ],
    "please write a python function that adds two numbers",
    [
        {"role": "user", "content": "what is the capital of france ?"},
        {"role": "assistant", "content": "paris is the capital ."},
        {"role": "user", "content": "and the weather in spring ?"},
    ],
    LONG_PROMPT,  # with max_length 96, truncated: pairs of longer responses keep fewer prompt tokens
]
RESPONSES = [
    "paris .",
    "hello .",  # as long as the first: truncated alike, the two keep the same prompt tokens and share them
    "",
    "the sum of two numbers",
    "i cannot help with that , but here is a safer idea instead " * 2,
]


def group_pairs(formatter: PairFormatter) -> list[EncodedPair]:
    """Groups of 1, 2, 5 and 5 responses to prompts of different lengths, some truncated."""
    sizes = [1, 2, 5, 5]
    return [
        formatter.encode(prompt, response)
        for prompt, n in zip(PROMPTS, sizes, strict=True)
        for response in RESPONSES[:n]
    ]


def test_shared_groups_score_as_whole_sequences(decoder_dir: Path) -> None:
    formatter, _ = formatter_for(decoder_dir)
    pairs = group_pairs(formatter)
    assert any(p.truncated for p in pairs) and any(not p.truncated for p in pairs)
    backend = backend_for(decoder_dir)
    assert backend.shares_prefixes, backend.prefix_sharing_note
    alone = np.array([backend.score([p])[0] for p in pairs])
    assert np.std(alone) > 1e-2  # scores that differ, so that equality below means something
    groups = plan_groups(pairs, MIN_SHARED)
    prefix_lengths = {g.prefix_tokens for g in groups}
    assert len(groups) >= 3 and len(prefix_lengths) >= 3  # a mixed batch of groups of different prompt lengths
    assert 0 not in [r for g in groups for r in g.rows]  # the group of one response is scored whole
    # Truncated pairs of one prompt share only the prompt tokens they kept alike.
    truncated_rows = {i for i, p in enumerate(pairs) if p.truncated}
    assert any(set(g.rows) & truncated_rows for g in groups)

    mixed = backend.score_shared(pairs, groups)
    plain = backend.score(pairs)
    assert mixed.dtype == np.float32 and mixed.shape == (len(pairs),)
    assert np.max(np.abs(mixed - alone)) <= TOLERANCE
    assert np.max(np.abs(plain - alone)) <= TOLERANCE
    for group in groups:
        members = [pairs[r] for r in group.rows]
        one = backend.score_shared(members, plan_groups(members, MIN_SHARED))
        assert np.max(np.abs(one - alone[list(group.rows)])) <= TOLERANCE
    # The grouped rows' remainders in several passes over one prefix cache: one row per pass, and passes
    # that mix the groups' rows.
    grouped = [r for g in groups for r in g.rows]
    for row_passes in ([[r] for r in grouped], [grouped[0::2], grouped[1::2]]):
        split = backend.score_shared(pairs, groups, row_passes)
        assert np.max(np.abs(split - alone)) <= TOLERANCE
    with pytest.raises(BackendError):
        backend.score_shared(pairs, groups, [grouped[1:]])  # a grouped row in no pass
    backend.close()


def test_pad_token_equal_to_eos_reads_the_reward_where_the_model_does(tmp_path: Path) -> None:
    """Llama-3 style: every turn ends with <|eot_id|>, which is also the pad token, so the head reads the
    last content token; an empty response leaves only pad tokens after the prompt, and its reward is read
    inside the shared prefix."""
    model_dir = build_tiny_decoder_rm(tmp_path, family="llama", seed=5, corpus=CORPUS, chat=LLAMA3_CHAT, size=SIZE)
    formatter, pad_id = formatter_for(model_dir)
    prompt = "what is the capital of france ? tell me about the weather in spring"
    pairs = [formatter.encode(prompt, r) for r in ["", "paris .", "paris is the capital of france ."]]
    assert pairs[0].input_ids[-1] == pad_id and all(
        p.input_ids[: pairs[0].prompt_tokens] == pairs[0].input_ids[:-1] for p in pairs
    )
    backend = backend_for(model_dir)
    groups = plan_groups(pairs, MIN_SHARED)
    assert len(groups) == 1 and groups[0].prefix_tokens == pairs[0].prompt_tokens
    alone = np.array([backend.score([p])[0] for p in pairs])
    assert np.max(np.abs(backend.score_shared(pairs, groups) - alone)) <= TOLERANCE


def batcher_config(max_batch_size: int, share_prompts: bool = True) -> BatcherConfig:
    """The server's defaults (Settings) with one worker, no waiting, and sharing from MIN_SHARED tokens."""
    settings = Settings(
        max_batch_size=max_batch_size,
        max_wait_ms=0,
        workers=1,
        backend_worker_nice=0,
        share_prompts=share_prompts,
        min_shared_tokens=MIN_SHARED,
    )
    return settings.batcher_config()


class FixedCost(CostModel):
    """A cost model that does not learn from the batches it sees: the GPU-like assumed costs (full batches
    pay) stay what the planner works with, so that which pairs share a batch depends on grouping alone."""

    def observe(self, rows: int, length: int, seconds: float) -> None:
        pass

    def observe_shared(
        self, prefix_rows: int, prefix_length: int, row_passes: Sequence[tuple[int, int]], seconds: float
    ) -> None:
        pass


class PassRecorder(TorchBackend):
    """The torch backend, recording the rows' passes the batcher asks of each shared batch."""

    passes: list[list[list[int]] | None]

    def score_shared(
        self,
        batch: Sequence[EncodedPair],
        groups: Sequence[SharedGroup],
        row_passes: Sequence[Sequence[int]] | None = None,
    ) -> np.ndarray:
        self.passes.append(None if row_passes is None else [list(rows) for rows in row_passes])
        return super().score_shared(batch, groups, row_passes)


def recorder_for(model_dir: Path) -> PassRecorder:
    folder = inspect_model_folder(model_dir)
    backend = PassRecorder(folder, load_tokenizer(folder).pad_token_id, device="cpu")
    backend.passes = []
    return backend


def test_the_batcher_keeps_a_group_together_within_and_across_requests(tiny_decoder_dir: Path) -> None:
    formatter, _ = formatter_for(tiny_decoder_dir, max_length=128)  # long enough that no pair is truncated
    backend = recorder_for(tiny_decoder_dir)
    prompt = [{"role": "user", "content": LONG_PROMPT[:120]}]
    responses = [("paris is the capital . " * (1 + i)) for i in range(6)]
    group = [formatter.encode(prompt, r) for r in responses]
    # The same group again as whole texts, one request per sample (as OpenRLHF sends): no prompt length.
    texts = [dataclasses.replace(p, prompt_tokens=0) for p in group]
    other = [formatter.encode("hello how can i help you today", r) for r in responses[:3]]
    alone = {p.input_ids: float(backend.score([p])[0]) for p in group + other}

    def run(share: bool) -> tuple[list[EncodedPair], list[ItemResult]]:
        config = batcher_config(max_batch_size=6, share_prompts=share)
        batcher = DynamicBatcher(backend, config, FixedCost(CostModel.assumed().table))
        deadline = time.monotonic() + 60
        # Queued before the worker starts, so that batch formation sees them all: the group's pairs come in two
        # requests with the whole texts and another prompt's pairs between them.
        requests = [group[:3], *[[t] for t in texts], other, group[3:]]
        tickets = [batcher.submit(pairs, deadline) for pairs in requests]
        batcher.start()
        results = [f.result(timeout=60) for ticket in tickets for f in ticket.futures]
        batcher.close()
        return [p for pairs in requests for p in pairs], results

    for share in (True, False):
        submitted, results = run(share)
        for pair, result in zip(submitted, results, strict=True):
            assert abs(result.score - alone[pair.input_ids]) <= TOLERANCE
        by_pair = {id(p): r for p, r in zip(submitted, results, strict=True)}
        if not share:
            assert [r.shared_prefix_tokens for r in results] == [0] * len(results)
            continue
        assert all(by_pair[id(p)].shared_prefix_tokens >= group[0].prompt_tokens for p in group + texts)
        assert len({by_pair[id(p)].batch_id for p in group}) == 1  # one batch for the group's two requests
        assert len({by_pair[id(p)].batch_id for p in texts}) == 1  # and one for its six whole texts
    # Where full batches pay (a GPU's cost), a shared batch's rows run in one pass over the prefix cache.
    assert backend.passes and all(passes is not None and len(passes) == 1 for passes in backend.passes)
    backend.close()


def test_where_batching_does_not_pay_a_group_still_runs_in_one_batch(tiny_decoder_dir: Path) -> None:
    """A CPU-like cost (linear in padded tokens: a larger batch of equal pairs is no faster per pair) runs
    equal unrelated pairs one per batch, but a group's pairs together: each adds only its own tokens."""
    formatter, _ = formatter_for(tiny_decoder_dir, max_length=128)
    prompt = [{"role": "user", "content": LONG_PROMPT[:120]}]
    group = [formatter.encode(prompt, "paris is the capital . " * (1 + i)) for i in range(6)]
    short = [EncodedPair((5, 6, 7 + i), None, False) for i in range(3)]  # too short to share
    linear = FixedCost({(rows, length): 1e-4 * rows * length for rows in (1, 64) for length in (8, 1024)})
    config = batcher_config(max_batch_size=16)
    backend = recorder_for(tiny_decoder_dir)
    alone = [float(backend.score([p])[0]) for p in group]
    batcher = DynamicBatcher(backend, config, linear)
    deadline = time.monotonic() + 60
    tickets = [
        batcher.submit(short[:1], deadline),
        batcher.submit(group, deadline),
        batcher.submit(short[1:], deadline),
    ]
    batcher.start()
    results = [[f.result(timeout=60) for f in ticket.futures] for ticket in tickets]
    batcher.close()
    backend.close()
    assert results[0][0].batch_size == 1  # the first short pair: batching it with the other two does not pay
    assert len({r.batch_id for r in results[1]}) == 1 and results[1][0].batch_size >= len(group)
    # Padding a short response to the longest costs as much as real tokens here: the group's six responses
    # of six lengths run in passes of their own over the one prefix, and score as whole sequences.
    (row_passes,) = [passes for passes in backend.passes if passes is not None]
    assert len(row_passes) > 1 and sorted(r for rows in row_passes for r in rows) == list(range(len(group)))
    assert max(abs(r.score - a) for r, a in zip(results[1], alone, strict=True)) <= TOLERANCE


def test_encoders_do_not_share_and_say_why(tiny_encoder_dir: Path) -> None:
    backend = backend_for(tiny_encoder_dir)
    assert not backend.shares_prefixes and "bidirectional" in backend.prefix_sharing_note
    batcher = DynamicBatcher(backend, batcher_config(max_batch_size=8))
    assert not batcher.sharing
    backend.close()


@pytest.fixture(scope="module")
def clients(tiny_decoder_dir: Path) -> Iterator[tuple[TestClient, TestClient]]:
    common = {
        "model": tiny_decoder_dir,
        "max_length": 128,
        "profile_budget_s": 0,
        "workers": 1,
        "threads_per_worker": 1,
    }
    with (
        serving(Settings(**common, min_shared_tokens=MIN_SHARED)) as on,
        serving(Settings(**common, share_prompts=False)) as off,
    ):  # type: ignore[arg-type]
        yield on, off


def metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_http_rank_shares_a_prompt_and_says_so(clients: tuple[TestClient, TestClient]) -> None:
    on, off = clients
    body = {
        "prompt": [{"role": "user", "content": "please write a python function that adds two numbers"}],
        "responses": RESPONSES,
    }
    saved_before = metric(on, "rmserve_prompt_tokens_saved_total")
    shared, plain = on.post("/v1/rank", json=body), off.post("/v1/rank", json=body)
    assert shared.status_code == plain.status_code == 200
    assert np.max(np.abs(np.array(shared.json()["scores"]) - plain.json()["scores"])) <= TOLERANCE
    items_on, items_off = shared.json()["items"], plain.json()["items"]
    # The cost model may split the request's pairs over batches; those batched together share.
    grouped = [item["shared_prefix_tokens"] for item in items_on if item["shared_prefix_tokens"]]
    assert len(grouped) >= 2 and min(grouped) >= MIN_SHARED
    assert shared.headers["x-shared-prefix-items"] == str(len(grouped))
    assert plain.headers["x-shared-prefix-items"] == "0"
    assert all(item["shared_prefix_tokens"] == 0 for item in items_off)
    assert metric(on, "rmserve_prompt_tokens_saved_total") - saved_before >= MIN_SHARED
    assert metric(off, "rmserve_prompt_tokens_saved_total") == 0
    assert metric(off, "rmserve_prompt_tokens_computed_total") > 0
    assert on.get("/v1/models").json()["batching"]["share_prompts"] is True
    assert off.get("/v1/models").json()["batching"]["share_prompts"] is False


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.gpu
def test_shared_groups_on_cuda_score_as_whole_sequences(decoder_dir: Path) -> None:
    if not _cuda_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    formatter, _ = formatter_for(decoder_dir)
    pairs = group_pairs(formatter)
    backend = backend_for(decoder_dir, device="cuda")
    alone = np.array([backend.score([p])[0] for p in pairs])
    groups = plan_groups(pairs, MIN_SHARED)
    assert np.max(np.abs(backend.score_shared(pairs, groups) - alone)) <= TOLERANCE
    assert np.max(np.abs(backend.score(pairs) - alone)) <= TOLERANCE
    backend.close()
