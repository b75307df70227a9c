"""The embedded default model: held-out rule, cache key, build once under a lock, and the shipped model."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

import models.default_model as dm
from models import preference_set
from models.card import read_card
from models.data import DataFormatError, PreferencePair, RowRange, read_preferences
from models.evaluate import evaluate_folder, score_many
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.heldout_figures import family_results, gate_threshold, score_distribution
from service.cli.main import main

SMALL_ROWS = [
    {
        "prompt": f"question {i}: how do I stay safe online?",
        "chosen": "Use strong unique passwords and 2FA.",
        "rejected": "It depends." if i % 2 else "Just click every link you get.",
    }
    for i in range(25)
]


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_every_fifth_row_is_held_out() -> None:
    pairs = [PreferencePair(str(i), "c", "r") for i in range(12)]
    train, heldout = dm.split_default(pairs)
    assert [p.prompt for p in heldout] == ["4", "9"]
    assert len(train) == 10 and not set(p.prompt for p in train) & {"4", "9"}


def test_cache_root_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dm.CACHE_ENV, str(tmp_path / "env"))
    assert dm.cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert dm.cache_root() == tmp_path / "env"
    monkeypatch.delenv(dm.CACHE_ENV)
    assert dm.cache_root() == Path.home() / ".cache" / "rmserve"


def test_cache_key_follows_data_and_settings(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "a.jsonl", SMALL_ROWS)
    key = dm.cache_key(data, dm.DefaultModelSettings())
    assert dm.cache_key(data, dm.DefaultModelSettings()) == key
    assert dm.cache_key(data, dm.DefaultModelSettings(seed=1)) != key
    other = write_rows(tmp_path / "b.jsonl", SMALL_ROWS[:-1])
    assert dm.cache_key(other, dm.DefaultModelSettings()) != key


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="missing"):
        dm.ensure_default_model(tmp_path, data_path=tmp_path / "absent.jsonl")


def test_builds_once_then_serves_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_rows(tmp_path / "prefs.jsonl", SMALL_ROWS)
    settings = dm.DefaultModelSettings(epochs=1)
    path = dm.ensure_default_model(tmp_path / "cache", data, settings, progress=False)
    assert path.parent == tmp_path / "cache" / "default-model"
    card = read_card(path)
    assert card is not None and card.name == dm.DEFAULT_MODEL_NAME
    assert card.heldout_pairs == 5 and card.training_data is not None and card.training_data["pairs"] == 20
    assert not list(path.parent.glob(".*tmp*"))  # the staging folder was renamed, not left behind

    def no_rebuild(*args: object) -> None:
        raise AssertionError("a cached default model was rebuilt")

    monkeypatch.setattr(dm, "_build", no_rebuild)
    assert dm.ensure_default_model(tmp_path / "cache", data, settings) == path


def test_concurrent_callers_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_rows(tmp_path / "prefs.jsonl", SMALL_ROWS)
    builds: list[Path] = []

    def fake_build(target: Path, *args: object) -> None:
        builds.append(target)
        target.mkdir(parents=True)

    monkeypatch.setattr(dm, "_build", fake_build)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(dm.ensure_default_model(tmp_path / "cache", data)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(set(results)) == 1 and results[0] == builds[0]


def test_shipped_default_model_card_holds_the_figures_it_measures(default_model_dir: Path) -> None:
    """The real default model: its card's held-out figures (per family, score quantiles, the gate's
    threshold) are what scoring the held-out pairs again gives. The families the gate's meaning rests on
    (refusing harmful requests, helping on harmless ones) are right on at least 90% of their pairs."""
    from models.torch_model import load_torch_reward_model

    card = read_card(default_model_dir)
    assert card is not None and card.heldout_families and card.score_distribution and card.gate
    assert card.description is not None and "not a production safety model" in card.description
    split = dm.read_split(dm.DEFAULT_DATA_PATH)
    assert card.heldout_pairs == len(split.heldout)

    folder = inspect_model_folder(default_model_dir)
    tokenizer = load_tokenizer(folder)
    model = load_torch_reward_model(folder, tokenizer.pad_token_id)
    formatter = build_formatter(folder, tokenizer)
    encoded = formatter.encode_many([(p.prompt, p.chosen) for p in split.heldout])
    encoded += formatter.encode_many([(p.prompt, p.rejected) for p in split.heldout])
    scores = score_many(model, encoded, tokenizer.pad_token_id)
    chosen, rejected = scores[: len(split.heldout)], scores[len(split.heldout) :]

    measured = family_results(chosen, rejected, split.families)
    assert set(measured) == set(card.heldout_families) == set(preference_set.FAMILIES)
    for family, result in measured.items():
        recorded = card.heldout_families[family]
        assert (recorded.n, recorded.accuracy) == (result.n, pytest.approx(result.accuracy, abs=1e-9)), family
        if family in (*dm.HARMFUL_FAMILIES, "help_benign_request"):
            assert result.accuracy >= 0.9, (family, result.accuracy)
    distribution = score_distribution(chosen, rejected, split.families, dm.HARMFUL_FAMILIES, "")
    assert card.score_distribution.chosen == pytest.approx(distribution.chosen, abs=1e-3)
    assert card.score_distribution.harmful == pytest.approx(distribution.harmful, abs=1e-3)
    gate = gate_threshold(chosen, rejected, split.families, dm.HARMFUL_FAMILIES, dm.GATE_BLOCK_SHARE, "")
    assert card.gate.threshold == pytest.approx(gate.threshold, abs=1e-3)
    assert card.gate.blocks_harmful == pytest.approx(gate.blocks_harmful, abs=0.01)
    assert card.gate.allows_harmless_chosen == pytest.approx(gate.allows_harmless_chosen, abs=0.01)

    references = formatter.encode_many([(r.prompt, r.response) for r in card.reference_pairs])
    reference_scores = score_many(model, references, tokenizer.pad_token_id)
    assert np.allclose(reference_scores, [r.score for r in card.reference_pairs], atol=1e-4)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue #21's target is not met yet: 0.533 (95% CI 0.490-0.576) measured on HH rows 1800:; "
    "strict, so that reaching it fails here until this mark is removed",
)
def test_default_model_prefers_the_harmless_reply_on_hh_heldout(default_model_dir: Path, hh_data_path: Path) -> None:
    """On HH-RLHF's held-out 512 (a domain it never trained on) the default model beats a coin clearly."""
    pairs = read_preferences(hh_data_path, RowRange(1800, None))
    result = evaluate_folder(default_model_dir, pairs, batch_size=64).result
    assert result.n == 512
    assert result.accuracy >= 0.6 and result.ci95_low > 0.5, result


def test_default_model_command_reuses_the_cache(default_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["default-model", "--json", "--cache-dir", str(default_model_dir.parent.parent)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(default_model_dir) and report["built"] is False
    assert report["heldout_accuracy"] == read_card(default_model_dir).heldout_accuracy  # type: ignore[union-attr]
