"""The step encoder (models.steps) against TRL's own row building, its truncation, and the head reader."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from models.card import ModelCard, Objectives, ProcessReward
from models.formatting import FormattingError
from models.heads import HeadError, RewardHead, read_head
from models.steps import EncodedSteps, StepFormatter, aggregate_steps, step_probabilities
from models.tokenizer import RMTokenizer
from tests.prm import stepwise_rows, trl_tokenize_row

TRL_HEAD = RewardHead("process", step_format="trl", step_separator="\n")


@pytest.fixture(scope="module")
def tokenizers(tiny_prm_dir: Path) -> tuple[RMTokenizer, object]:
    from transformers import AutoTokenizer

    return RMTokenizer.from_folder(tiny_prm_dir), AutoTokenizer.from_pretrained(str(tiny_prm_dir))


def test_trl_format_tokens_and_score_positions_equal_trl_training_rows(tokenizers: tuple[RMTokenizer, object]) -> None:
    ours, hf = tokenizers
    formatter = StepFormatter(ours, TRL_HEAD, max_length=256)
    rows = stepwise_rows(30, seed=5)
    rows.append(
        {"prompt": "Two lines?", "completions": ["a step\nwith a newline inside so yes", "so no"], "labels": [1, 0]}
    )
    for row in rows:
        expected = trl_tokenize_row(row, hf)
        encoded = formatter.encode(row["prompt"], row["completions"])
        assert list(encoded.input_ids) == expected["input_ids"]
        labelled = [i for i, label in enumerate(expected["labels"]) if label != -100]
        assert list(encoded.score_positions) == labelled
        assert not encoded.truncated and encoded.step_truncated == (False,) * len(row["completions"])
        assert encoded.num_steps == len(row["completions"]) and encoded.first_scored_step == 0


def test_truncation_keeps_the_last_steps_and_reports_the_cut_ones(tokenizers: tuple[RMTokenizer, object]) -> None:
    ours, _ = tokenizers
    steps = [f"step {i} we add the terms so {'yes' if i % 2 else 'no'}" for i in range(12)]
    prompt = "What is two plus three?"
    full = StepFormatter(ours, TRL_HEAD, max_length=256).encode(prompt, steps)
    short = StepFormatter(ours, TRL_HEAD, max_length=48).encode(prompt, steps)
    assert short.num_tokens <= 48 and short.truncated
    assert short.input_ids[0] == ours.bos_token_id  # BOS stays
    scored = len(short.score_positions)
    assert 0 < scored < len(steps)
    first = short.first_scored_step
    assert first == len(steps) - scored
    # The kept steps are the last ones, token for token, each still scored at its separator.
    offset = full.score_positions[first] - short.score_positions[0]
    assert [f - s for f, s in zip(full.score_positions[first:], short.score_positions, strict=True)] == [
        offset
    ] * scored
    assert short.input_ids[short.score_positions[0] :] == full.input_ids[full.score_positions[first] :]
    separator = ours.encode_texts(["\n"])[0].ids[-1]
    assert all(short.input_ids[p] == separator for p in short.score_positions)
    assert short.score_positions[-1] == short.num_tokens - 1
    # Every step before the first scored one is reported truncated, the first scored one may be (cut in
    # part), none after it is.
    assert all(short.step_truncated[:first])
    assert not any(short.step_truncated[first + 1 :])


@pytest.mark.parametrize(
    ("prompt", "steps", "message"),
    [
        ("q", [], "at least one step"),
        ("q", ["fine so yes", ""], "step 1 is empty"),
        ([{"role": "user", "content": "q"}], ["so yes"], "send the prompt as a string"),
        ("q", ["so yes", " ".join(["terms"] * 80)], "step 1 has"),
    ],
)
def test_bad_steps_are_refused(
    tokenizers: tuple[RMTokenizer, object], prompt: object, steps: list[str], message: str
) -> None:
    formatter = StepFormatter(tokenizers[0], TRL_HEAD, max_length=48)
    with pytest.raises(FormattingError, match=message):
        formatter.encode(prompt, steps)  # type: ignore[arg-type]


def test_read_at_end_scores_the_last_token() -> None:
    from models.formatting import EncodedPair

    steps = EncodedSteps.read_at_end(EncodedPair((5, 6, 7), None, False))
    assert steps.score_positions == (2,) and steps.num_steps == 1


def test_step_probabilities_are_the_positive_labels_softmax() -> None:
    logits = np.array([[0.3, 2.0], [5.0, -800.0], [-3.0, 900.0]], dtype=np.float32)
    probs, diffs = step_probabilities(logits)
    exps = np.exp(logits[:2].astype(np.float64) - logits[:2].max(axis=1, keepdims=True))
    assert np.allclose(probs[:2], (exps / exps.sum(axis=1, keepdims=True))[:, 1], atol=1e-12)
    assert probs[2] == 1.0 and probs[1] == 0.0 and np.all(np.isfinite(probs))
    assert np.allclose(diffs, logits[:, 1].astype(np.float64) - logits[:, 0])
    aggregates = aggregate_steps([0.9, 0.5, 0.8])
    assert aggregates == pytest.approx({"min": 0.5, "last": 0.8, "mean": 2.2 / 3, "product": 0.36})


def _config(architecture: str, labels: list[str] | None = None, **extra: object) -> dict[str, object]:
    config: dict[str, object] = {"architectures": [architecture], **extra}
    if labels is not None:
        config["id2label"] = {str(i): name for i, name in enumerate(labels)}
    return config


def test_read_head_kinds_and_refusals() -> None:
    labels = ["helpfulness", "correctness"]
    assert read_head("m", _config("BertForSequenceClassification", ["LABEL_0"]), None, False).kind == "reward"
    with pytest.raises(HeadError, match=r'"objectives": \{"weights": \{"helpfulness": 1.0, "correctness": 1.0'):
        read_head("m", _config("LlamaForSequenceClassification", labels), None, False)
    card = ModelCard(name="m", objectives=Objectives(weights={"helpfulness": 2.0, "verbosity": 1.0}))
    with pytest.raises(HeadError, match="missing correctness; unknown verbosity"):
        read_head("m", _config("LlamaForSequenceClassification", labels), card, False)
    card = ModelCard(name="m", objectives=Objectives(weights={"correctness": 0.5, "helpfulness": 2.0}))
    head = read_head("m", _config("LlamaForSequenceClassification", labels), card, False)
    assert (head.kind, head.labels, head.weights) == ("multi_objective", tuple(labels), (2.0, 0.5))
    with pytest.raises(HeadError, match="has two"):
        read_head("m", _config("Qwen2ForTokenClassification", ["a", "b", "c"]), None, False)
    trl = read_head("m", _config("Qwen2ForTokenClassification", ["wrong", "right"]), None, False)
    assert (trl.kind, trl.step_format, trl.step_separator) == ("process", "trl", "\n")
    card = ModelCard(name="m", process_reward=ProcessReward(step_separator=" ки"))
    assert (
        read_head("m", _config("LlamaForTokenClassification", None, num_labels=2), card, False).step_separator == " ки"
    )
    with pytest.raises(HeadError, match="--trust-remote-code"):
        read_head("m", _config("Qwen2ForProcessRewardModel"), None, False)
    qwen = read_head("m", _config("Qwen2ForProcessRewardModel"), None, True)
    assert (qwen.step_format, qwen.step_separator) == ("step_token", "<extra_0>")


def test_request_weights_are_checked_against_the_head() -> None:
    head = RewardHead("multi_objective", ("a", "b"), (1.0, 0.5))
    assert head.resolve_weights(None) == (1.0, 0.5)
    assert head.resolve_weights([0.0, 2.0]) == (0.0, 2.0)
    with pytest.raises(HeadError, match="weights has 3 entries; the model has 2 attributes"):
        head.resolve_weights([1.0, 1.0, 1.0])
    with pytest.raises(HeadError, match="finite"):
        head.resolve_weights([math.nan, 1.0])
    with pytest.raises(HeadError, match="one output"):
        RewardHead("reward").resolve_weights([1.0])


def test_one_output_loading_refuses_a_prm_instead_of_giving_it_a_random_head(tiny_prm_dir: Path) -> None:
    from models.folder import ModelLoadError, inspect_model_folder
    from models.torch_model import load_torch_reward_model

    for require_head in (True, False):  # serving/eval/export, and training's --base
        with pytest.raises(ModelLoadError, match="is a process reward model"):
            load_torch_reward_model(inspect_model_folder(tiny_prm_dir), 0, require_head=require_head)
