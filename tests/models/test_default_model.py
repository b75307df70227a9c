"""The embedded default model: held-out rule, cache key, build once under a lock, and the shipped model."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

import models.default_model as dm
from models.card import read_card
from models.data import DataFormatError, PreferencePair, read_preferences
from models.evaluate import score_many, wilson_interval
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
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


def test_shipped_default_model(default_model_dir: Path) -> None:
    """The real default model: trained on the shipped set, accurate on its held-out fifth, self-consistent."""
    from models.torch_model import load_torch_reward_model

    card = read_card(default_model_dir)
    assert card is not None and card.heldout_accuracy is not None and card.heldout_pairs is not None
    all_pairs = read_preferences(dm.DEFAULT_DATA_PATH)
    assert card.heldout_pairs == len(dm.split_default(all_pairs)[1])
    low, _ = wilson_interval(round(card.heldout_accuracy * card.heldout_pairs), card.heldout_pairs)
    assert low > 0.5, card.heldout_accuracy  # clearly better than chance on pairs it never saw

    folder = inspect_model_folder(default_model_dir)
    tokenizer = load_tokenizer(folder)
    model = load_torch_reward_model(folder, tokenizer.pad_token_id)
    encoded = build_formatter(folder, tokenizer).encode_many([(r.prompt, r.response) for r in card.reference_pairs])
    scores = score_many(model, encoded, tokenizer.pad_token_id)
    assert np.allclose(scores, [r.score for r in card.reference_pairs], atol=1e-4)


def test_default_model_command_reuses_the_cache(default_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["default-model", "--json", "--cache-dir", str(default_model_dir.parent.parent)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(default_model_dir) and report["built"] is False
    assert report["heldout_accuracy"] == read_card(default_model_dir).heldout_accuracy  # type: ignore[union-attr]
