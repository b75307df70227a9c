"""Pairwise accuracy (ties wrong), the Wilson interval, and `rmserve eval --json` on encoder and decoder RMs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.data import read_preferences
from models.evaluate import encode_preferences, pairwise_result, score_many, wilson_interval
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from service.cli.main import main

ROWS = [
    {"prompt": "what is the capital of france ?", "chosen": "paris is the capital .", "rejected": "the lazy dog"},
    {"prompt": "hello how can i help you today", "chosen": "here is a safer idea", "rejected": "i cannot help"},
    {
        "prompt": [{"role": "user", "content": "please write a python function that adds two numbers"}],
        "chosen": "def add(a, b): return a + b",
        "rejected": "no",
    },
    {"prompt": "the quick brown fox", "chosen": "jumps over the lazy dog", "rejected": "the fox", "margin": 1.0},
    {"prompt": "hi", "chosen": "hello , how can i help ?", "rejected": "what"},
]


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (7, 10), (10, 10), (336, 512), (1, 3)])
def test_wilson_interval_matches_scipy(successes: int, n: int) -> None:
    from scipy.stats import binomtest

    expected = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(successes, n)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)


def test_ties_count_as_wrong() -> None:
    result = pairwise_result(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 4.0]))
    assert (result.n, result.correct, result.ties) == (3, 1, 1)
    assert result.accuracy == pytest.approx(1 / 3)
    assert result.mean_margin == pytest.approx(0.0)
    assert result.ci95_low < 1 / 3 < result.ci95_high


def expected_accuracy(model_dir: Path, data: Path) -> float:
    from models.torch_model import load_torch_reward_model

    folder = inspect_model_folder(model_dir)
    tokenizer = load_tokenizer(folder)
    model = load_torch_reward_model(folder, tokenizer.pad_token_id)
    pairs = read_preferences(data)
    chosen, rejected = encode_preferences(build_formatter(folder, tokenizer), pairs)
    # One pair at a time: the CLI's batching must not change any comparison.
    c = np.array([score_many(model, [e], tokenizer.pad_token_id)[0] for e in chosen])
    r = np.array([score_many(model, [e], tokenizer.pad_token_id)[0] for e in rejected])
    return float(np.mean(c > r))


@pytest.mark.parametrize("fixture", ["tiny_encoder_dir", "tiny_decoder_dir"])
def test_eval_json_prints_one_object(
    fixture: str, pairs_file: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    assert main(["eval", "--model", str(model_dir), "--data", str(pairs_file), "--json", "--batch-size", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    report = json.loads(out)
    assert report["n"] == len(ROWS)
    assert report["accuracy"] == pytest.approx(expected_accuracy(model_dir, pairs_file))
    assert report["correct"] == round(report["accuracy"] * report["n"])
    low, high = report["ci95"]
    assert 0 <= low <= report["accuracy"] <= high <= 1
    assert report["kind"] == ("encoder" if fixture == "tiny_encoder_dir" else "decoder")


def test_eval_rows_selects_pairs(tiny_encoder_dir: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", str(tiny_encoder_dir), "--data", str(pairs_file), "--rows=-2:", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2 and report["data"] == "pairs.jsonl[-2:]"


def test_eval_text_output(tiny_encoder_dir: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", str(tiny_encoder_dir), "--data", str(pairs_file)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_eval_of_an_onnx_export_scores_with_onnxruntime_like_the_server(
    tiny_encoder_dir: Path, encoder_onnx_dir: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = {}
    for model_dir in (tiny_encoder_dir, encoder_onnx_dir):
        assert main(["eval", "--model", str(model_dir), "--data", str(pairs_file), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        reports[report["backend"]] = report
    assert set(reports) == {"torch", "onnx"}  # auto picks onnxruntime for the export, as `serve` does
    # The export passed a 1e-4 parity gate against torch: the same pairs give the same margins.
    assert reports["onnx"]["mean_margin"] == pytest.approx(reports["torch"]["mean_margin"], abs=1e-4)
    assert reports["onnx"]["calibration"]["nll"] == pytest.approx(reports["torch"]["calibration"]["nll"], abs=1e-4)

    assert main(["eval", "--model", str(encoder_onnx_dir), "--data", str(pairs_file), "--backend", "torch"]) == 2
    assert "no safetensors weights" in capsys.readouterr().err
    assert main(["eval", "--model", str(tiny_encoder_dir), "--data", str(pairs_file), "--backend", "onnx"]) == 2
    assert "has no model.onnx" in capsys.readouterr().err
