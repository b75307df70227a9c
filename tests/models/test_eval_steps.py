"""`rmserve eval` on a process reward model (per-step accuracy on TRL's stepwise format) and on a
multi-objective model (each attribute's own pairwise accuracy beside the combination's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.data import DataFormatError
from models.evaluate_steps import read_stepwise
from service.cli.main import main
from tests.conftest import MULTI_OBJECTIVE_LABELS
from tests.prm import direct_step_scores, load_direct, stepwise_rows, write_stepwise_file


def test_eval_reports_per_step_accuracy_of_a_prm(
    tiny_prm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = stepwise_rows(30, seed=77)
    data = write_stepwise_file(tmp_path / "steps.jsonl", rows)
    assert main(["eval", "--model", str(tiny_prm_dir), "--data", str(data), "--json", "--batch-size", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    # The expected figures, from the model run directly with transformers on TRL's own rows.
    tokenizer, model = load_direct(tiny_prm_dir)
    hits, right_hits, n_right, solutions = 0, 0, 0, 0
    for row in rows:
        probs, _ = direct_step_scores(tokenizer, model, row)
        for p, label in zip(probs, row["labels"], strict=True):
            hits += (p > 0.5) == label
            n_right += label
            right_hits += label and p > 0.5
        solutions += (min(probs) > 0.5) == all(row["labels"])
    n_steps = sum(len(r["labels"]) for r in rows)
    assert report["unit"] == "step" and report["kind"] == "process"
    assert report["n"] == n_steps and report["correct"] == hits
    assert report["accuracy"] == pytest.approx(hits / n_steps)
    assert report["right_step_accuracy"] == pytest.approx(right_hits / n_right)
    assert report["solution_accuracy_min"] == pytest.approx(solutions / len(rows))
    assert report["unscored_steps"] == 0 and report["solutions"] == len(rows)
    assert report["accuracy"] >= 0.9  # trained, not random


def test_stepwise_rows_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "q", "completions": ["a", "b"], "labels": [True]}) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.jsonl:1: 'labels' must hold one boolean per step \(2 steps\)"):
        read_stepwise(bad)


def test_eval_of_a_multi_objective_model_reports_each_attribute(
    tiny_multi_objective_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": "what is the capital of france ?", "chosen": "paris is the capital .", "rejected": "hello"},
        {"prompt": "hello how can i help you today", "chosen": "the quick brown fox", "rejected": "i cannot help"},
        {"prompt": "please write a python function", "chosen": "here is a safer idea", "rejected": "the lazy dog"},
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["eval", "--model", str(tiny_multi_objective_dir), "--data", str(pairs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Expected: the model run directly with transformers on the formatter's tokens.
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification

    from models.folder import build_formatter, inspect_model_folder, load_tokenizer
    from tests.conftest import MULTI_OBJECTIVE_WEIGHTS

    folder = inspect_model_folder(tiny_multi_objective_dir)
    formatter = build_formatter(folder, load_tokenizer(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_multi_objective_dir)).eval()

    def outputs(prompt: str, response: str) -> np.ndarray:
        with torch.inference_mode():
            ids = torch.tensor([formatter.encode(prompt, response).input_ids])
            return model(input_ids=ids).logits[0].double().numpy()

    margins = np.array([outputs(r["prompt"], r["chosen"]) - outputs(r["prompt"], r["rejected"]) for r in rows])
    assert list(report["attributes"]) == MULTI_OBJECTIVE_LABELS
    for k, name in enumerate(MULTI_OBJECTIVE_LABELS):
        attribute = report["attributes"][name]
        assert attribute["n"] == 3 and attribute["correct"] == int((margins[:, k] > 0).sum())
        assert attribute["mean_margin"] == pytest.approx(margins[:, k].mean(), abs=1e-5)
    weights = np.array([MULTI_OBJECTIVE_WEIGHTS[name] for name in MULTI_OBJECTIVE_LABELS])
    assert report["mean_margin"] == pytest.approx(float((margins @ weights).mean()), abs=1e-5)


def test_eval_text_output_of_a_prm(tiny_prm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_stepwise_file(tmp_path / "steps.jsonl", stepwise_rows(4, seed=3))
    assert main(["eval", "--model", str(tiny_prm_dir), "--data", str(data), "--rows", ":2"]) == 0
    out = capsys.readouterr().out
    assert "per-step accuracy" in out and "steps unscored" in out


def test_eval_of_a_prm_on_preference_pairs_says_what_it_needs(
    tiny_prm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n", encoding="utf-8")
    assert main(["eval", "--model", str(tiny_prm_dir), "--data", str(pairs)]) == 2
    assert "missing key(s) 'completions', 'labels' (TRL's stepwise format)" in capsys.readouterr().err
