"""Bradley-Terry training: batching, loss, reproducibility, the output folder, and a small HH-RLHF run."""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from models.batching import padding_efficiency
from models.card import read_card
from models.data import PreferencePair, RowRange, read_preferences
from models.evaluate import evaluate_folder, score_many
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.train import (
    TrainConfig,
    bradley_terry_loss,
    disable_dropout,
    length_grouped_batches,
    split_heldout,
    train_reward_model,
)
from service.cli.train import _DEFAULTS, add_arguments

# Words the tiny decoder's tokenizer knows, so the signal survives tokenization.
GOOD = ["paris is the capital .", "here is a safer idea", "a python function that adds two numbers"]
BAD = ["the lazy dog", "i cannot help with that", "the quick brown fox jumps"]
PROMPTS = ["what is the capital of france ?", "please write a python function", "hello how can i help you today"]


def synthetic_pairs(count: int) -> list[PreferencePair]:
    rng = random.Random(1)
    return [PreferencePair(rng.choice(PROMPTS), rng.choice(GOOD), rng.choice(BAD)) for _ in range(count)]


def tiny_config(**overrides: object) -> TrainConfig:
    values: dict[str, object] = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 8, "max_length": 64}
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def test_length_grouped_batches_cover_every_index_once_with_little_padding() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(10, 300) for _ in range(1000)]
    batches = length_grouped_batches(lengths, 16, 64, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert all(len(b) <= 16 for b in batches)
    grouped = sum(padding_efficiency([lengths[i] for i in b]) for b in batches) / len(batches)
    plain = [list(range(s, min(s + 16, 1000))) for s in range(0, 1000, 16)]
    ungrouped = sum(padding_efficiency([lengths[i] for i in b]) for b in plain) / len(plain)
    assert grouped > 0.9 > ungrouped
    # The order is random, not sorted by length: the first batches are not the longest ones.
    assert length_grouped_batches(lengths, 16, 64, random.Random(1)) != batches


def test_bradley_terry_loss_matches_the_formula() -> None:
    import torch

    chosen, rejected = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.5])
    margin = torch.tensor([0.5, 0.0, 1.0])
    triples = [(2.0, 1.0, 0.5), (-1.0, 0.0, 0.0), (0.5, 0.5, 1.0)]
    expected = np.mean([math.log1p(math.exp(-(c - r - m))) for c, r, m in triples])
    assert float(bradley_terry_loss(chosen, rejected, margin)) == pytest.approx(expected, rel=1e-6)
    assert float(bradley_terry_loss(chosen, rejected, None)) == pytest.approx(
        np.mean([math.log1p(math.exp(-(c - r))) for c, r, _ in triples]), rel=1e-6
    )


def test_split_heldout_is_seeded_and_disjoint() -> None:
    pairs = synthetic_pairs(40)
    train, held = split_heldout(pairs, 0.25, seed=3)
    assert (len(train), len(held)) == (30, 10)
    assert split_heldout(pairs, 0.25, seed=3) == (train, held)
    assert split_heldout(pairs, 0.25, seed=4)[1] != held
    assert split_heldout(pairs, 0.0, seed=3) == (pairs, [])


def test_cli_defaults_match_train_config() -> None:
    config = TrainConfig()
    assert {name: getattr(config, name) for name in _DEFAULTS} == _DEFAULTS
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    required = ["--data", "d.jsonl", "--out", "o"]
    assert not parser.parse_args(required).dropout and config.disable_dropout
    assert parser.parse_args([*required, "--dropout"]).dropout


@pytest.mark.parametrize("model_fixture", ["tiny_encoder_dir", "tiny_decoder_dir"])
def test_disable_dropout_makes_a_training_pass_equal_an_eval_pass(
    model_fixture: str, request: pytest.FixtureRequest
) -> None:
    import torch

    from models.torch_model import load_torch_reward_model

    folder = inspect_model_folder(request.getfixturevalue(model_fixture))
    tokenizer = load_tokenizer(folder)
    model = load_torch_reward_model(folder, tokenizer.pad_token_id)
    for module in model.modules():
        # Llama-style attention keeps its dropout as a float (0 in the tiny config): make it bite.
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.5
    generator = torch.Generator().manual_seed(0)
    inputs = {
        "input_ids": torch.randint(5, folder.config["vocab_size"], (4, 48), generator=generator),
        "attention_mask": torch.ones(4, 48, dtype=torch.long),
    }
    inputs["attention_mask"][2:, 30:] = 0
    with torch.no_grad():
        evaluated = model(**inputs).logits
        model.train()
        assert not torch.equal(model(**inputs).logits, model(**inputs).logits)  # the base model's dropout is on
        assert disable_dropout(model) > 0
        first, second = model(**inputs).logits, model(**inputs).logits
    assert torch.equal(first, second)
    assert torch.allclose(first, evaluated, atol=1e-6)


def weights(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(model_dir / "model.safetensors"))


@pytest.fixture(scope="module")
def trained_twice(
    tiny_decoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, Path, list[float]]:
    """The same tiny run twice with seed 0, and once with seed 1; also the first run's losses."""
    out = tmp_path_factory.mktemp("train")
    pairs = synthetic_pairs(48)
    train, held = split_heldout(pairs, 0.25, seed=0)
    runs = []
    losses: list[float] = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        result = train_reward_model(
            train, out / name, tiny_config(epochs=6, seed=seed), tiny_decoder_dir, held, threads=1, progress=False
        )
        runs.append(out / name)
        losses = losses or result.losses
    return runs[0], runs[1], runs[2], losses


def test_same_seed_gives_same_weights_and_other_seed_does_not(
    trained_twice: tuple[Path, Path, Path, list[float]],
) -> None:
    first, again, other, _ = trained_twice
    a, b, c = weights(first), weights(again), weights(other)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_bradley_terry_loss_decreases(trained_twice: tuple[Path, Path, Path, list[float]]) -> None:
    losses = trained_twice[3]
    steps_per_epoch = len(losses) // 6
    assert np.mean(losses[-steps_per_epoch:]) < 0.5 * np.mean(losses[:steps_per_epoch])
    card = read_card(trained_twice[0])
    assert card is not None and card.heldout_accuracy == 1.0 and card.heldout_pairs == 12


def test_trained_folder_loads_in_transformers_and_reproduces_its_card(
    trained_twice: tuple[Path, Path, Path, list[float]],
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    from models.torch_model import load_torch_reward_model

    model_dir = trained_twice[0]
    config = json.loads((model_dir / "config.json").read_text())
    assert len(config["id2label"]) == 1  # transformers' spelling of num_labels=1
    assert config["architectures"][0].endswith("ForSequenceClassification")
    card = read_card(model_dir)
    assert card is not None and card.kind == "decoder" and card.max_length == 64 and card.score_stats is not None
    assert card.training_data == {"pairs": 36, "heldout_pairs": 12}
    assert card.hyperparameters is not None and card.hyperparameters["seed"] == 0
    assert card.hyperparameters["disable_dropout"] is True
    assert len(card.reference_pairs) == 8

    folder = inspect_model_folder(model_dir)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer)
    ours = load_torch_reward_model(folder, tokenizer.pad_token_id)
    encoded = formatter.encode_many([(r.prompt, r.response) for r in card.reference_pairs])
    scores = score_many(ours, encoded, tokenizer.pad_token_id)
    assert np.allclose(scores, [r.score for r in card.reference_pairs], atol=1e-5)

    theirs = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    theirs.eval()
    with torch.inference_mode():
        single = theirs(input_ids=torch.tensor([encoded[0].input_ids])).logits[0, 0].item()
    assert single == pytest.approx(float(scores[0]), abs=1e-5)


def test_train_refuses_a_non_empty_output_folder(tiny_decoder_dir: Path, tmp_path: Path) -> None:
    from models.errors import UserError

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        train_reward_model(synthetic_pairs(4), tmp_path / "out", tiny_config(), tiny_decoder_dir, progress=False)
    assert (tmp_path / "out" / "keep.txt").is_file()


def test_train_command_with_row_selection(
    tiny_decoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli.main import main

    data = tmp_path / "prefs.jsonl"
    rows = [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in synthetic_pairs(30)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "rm"
    argv = ["train", "--data", str(data), "--rows", ":20", "--out", str(out), "--base", str(tiny_decoder_dir)]
    argv += [
        "--batch-size",
        "4",
        "--max-length",
        "64",
        "--eval-fraction",
        "0.25",
        "--threads",
        "1",
        "--quiet",
        "--json",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["train_pairs"], summary["heldout_pairs"], summary["steps"]) == (15, 5, 4)
    card = read_card(out)
    assert card is not None and card.training_data is not None
    assert card.training_data["name"] == "prefs.jsonl[:20]" and card.training_data["rows"] == ":20"
    assert card.heldout_pairs == 5 and card.hyperparameters is not None and card.hyperparameters["batch_size"] == 4


def untrained_accuracy(pairs: list[PreferencePair], max_length: int, seed: int) -> float:
    """Accuracy of the model training starts from: MiniLM with the head that `seed` initialises."""
    import torch

    from models.evaluate import evaluate_pairs
    from models.torch_model import load_torch_reward_model
    from models.train import default_base_dir

    folder = inspect_model_folder(default_base_dir())
    tokenizer = load_tokenizer(folder)
    torch.manual_seed(seed)
    model = load_torch_reward_model(folder, tokenizer.pad_token_id, require_head=False)
    formatter = build_formatter(folder, tokenizer, max_length)
    return evaluate_pairs(model, formatter, tokenizer.pad_token_id, pairs).accuracy


@pytest.mark.slow
def test_small_hh_run_beats_the_untrained_model_on_the_holdout(hh_data_path: Path, tmp_path: Path) -> None:
    """A scaled-down version of the issue's target: 400 HH rows, one epoch, MiniLM base, 256 holdout rows."""
    train = read_preferences(hh_data_path, RowRange.parse(":400"))
    holdout = read_preferences(hh_data_path, RowRange.parse("1800:2056"))
    config = TrainConfig(epochs=1, learning_rate=1e-4, max_length=128, eval_every_steps=0)
    train_reward_model(train, tmp_path / "hh", config, progress=False)
    trained = evaluate_folder(tmp_path / "hh", holdout).result
    assert trained.n == 256
    assert trained.accuracy > max(0.5, untrained_accuracy(holdout, 128, config.seed)), trained
