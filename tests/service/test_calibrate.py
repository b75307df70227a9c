"""`rmserve calibrate` end to end on real small models (torch and ONNX): the fitted temperature, the model
card it writes, the refusals, and what a server and `rmserve eval` then report with it."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from models.calibration import fit_temperature
from models.card import ModelCard, read_card, write_card
from models.data import file_fingerprint
from service.cli.main import main
from service.model_loading import load_model
from service.settings import Settings
from tests.service.app_harness import serving

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "rain", "falls"]
WORDS += ["on", "quiet", "hills", "and", "rivers"]


@dataclass(frozen=True)
class LabelledPairs:
    """A preference file whose labels were set against the model's own scores, and its margins."""

    path: Path
    margins: np.ndarray  # chosen - rejected, as the model scores them, in file order


def write_labelled_pairs(model_dir: Path, out: Path, n: int, wrong: int) -> LabelledPairs:
    """n pairs where the model prefers `chosen` except for the `wrong` pairs it separates least, so that
    the mean margin is positive and some pairs are ordered wrongly (a temperature is then determined)."""
    model = load_model(Settings(model=model_dir, workers=1, threads_per_worker=1))
    candidates = []
    for i in range(n):
        prompt = f"question {i}: " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(3 + i % 5))
        x = " ".join(WORDS[(2 * i + k) % len(WORDS)] for k in range(1 + (i * 7) % 23))
        y = " ".join(WORDS[(3 * i + k) % len(WORDS)] for k in range(2 + (i * 5) % 17))
        sx, sy = (float(model.backend.score([model.formatter.encode(prompt, r)])[0]) for r in (x, y))
        better, worse = (x, y) if sx > sy else (y, x)
        candidates.append((prompt, better, worse, abs(sx - sy)))
    model.backend.close()
    closest = set(sorted(range(n), key=lambda i: candidates[i][3])[:wrong])
    rows, margins = [], []
    for i, (prompt, better, worse, gap) in enumerate(candidates):
        flipped = i in closest
        chosen, rejected = (worse, better) if flipped else (better, worse)
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
        margins.append(-gap if flipped else gap)
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return LabelledPairs(out, np.array(margins))


def copy_folder(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def calibrate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object] | str]:
    code = main(["calibrate", *args])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 and "--json" in args else captured.err)


@pytest.fixture(scope="module")
def torch_pairs(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> LabelledPairs:
    return write_labelled_pairs(tiny_encoder_dir, tmp_path_factory.mktemp("cal") / "pairs.jsonl", n=48, wrong=12)


def test_calibrate_fits_the_temperature_and_the_server_and_eval_use_it(
    tiny_encoder_dir: Path, torch_pairs: LabelledPairs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = copy_folder(tiny_encoder_dir, tmp_path / "rm")
    code, report = calibrate(capsys, "--model", str(model_dir), "--data", str(torch_pairs.path), "--json")
    assert code == 0 and isinstance(report, dict), report
    expected = fit_temperature(torch_pairs.margins)
    assert report["temperature"] == pytest.approx(expected, rel=1e-4)
    assert report["n"] == 48 and report["accuracy"] == pytest.approx(36 / 48)
    assert report["backend"] == "torch" and report["training_rows_overlap"] == 0
    before, after = report["before"], report["after"]
    assert isinstance(before, dict) and isinstance(after, dict) and after["nll"] <= before["nll"]
    interval = report["temperature_ci95"]
    assert isinstance(interval, list)
    low, high = interval
    assert low < expected and (high is None or expected < high)

    card = read_card(model_dir)
    assert card is not None and card.calibration is not None
    assert card.calibration.temperature == report["temperature"]
    assert card.calibration.pairs == 48 and card.calibration.data == "pairs.jsonl"
    temperature = card.calibration.temperature

    assert main(["eval", "--model", str(model_dir), "--data", str(torch_pairs.path), "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["calibrated"]["temperature"] == temperature
    assert evaluation["calibrated"]["nll"] == pytest.approx(after["nll"], rel=1e-4)
    assert evaluation["calibration"]["nll"] == pytest.approx(before["nll"], rel=1e-4)

    settings = Settings(model=model_dir, profile_budget_s=0, workers=1, threads_per_worker=1)
    with serving(settings) as client:
        body = client.post("/v1/compare", json={"prompt": "hi", "response_a": "hello there", "response_b": "go"}).json()
        margin = body["score_a"] - body["score_b"]
        assert body["prob_a_preferred"] == pytest.approx(1 / (1 + math.exp(-margin)))
        assert body["calibrated_prob_a_preferred"] == pytest.approx(1 / (1 + math.exp(-margin / temperature)))
        pairs = [
            {"prompt": "x", "response_a": "a b c", "response_b": "d"},
            {"prompt": "y", "response_a": "e", "response_b": "f g"},
        ]
        for result in client.post("/v1/compare", json={"pairs": pairs}).json()["results"]:
            swapped = (result["score_b"] - result["score_a"]) / temperature
            assert result["calibrated_prob_a_preferred"] == pytest.approx(1 / (1 + math.exp(swapped)))
        info = client.get("/v1/models").json()
        assert info["card"]["calibration"]["temperature"] == temperature


def test_an_onnx_model_is_calibrated_on_its_own_scores(
    encoder_onnx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = write_labelled_pairs(encoder_onnx_dir, tmp_path / "pairs.jsonl", n=40, wrong=10)
    model_dir = copy_folder(encoder_onnx_dir, tmp_path / "rm-onnx")
    code, report = calibrate(capsys, "--model", str(model_dir), "--data", str(pairs.path), "--json")
    assert code == 0 and isinstance(report, dict), report
    assert report["backend"] == "onnx"
    assert report["temperature"] == pytest.approx(fit_temperature(pairs.margins), rel=1e-4)
    card = read_card(model_dir)
    assert card is not None and card.calibration is not None and card.calibration.backend == "onnx"


def test_rows_the_model_was_trained_on_are_refused_unless_allowed(
    tiny_encoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = write_labelled_pairs(tiny_encoder_dir, tmp_path / "pairs.jsonl", n=60, wrong=15)
    model_dir = copy_folder(tiny_encoder_dir, tmp_path / "rm")
    trained = {"name": "pairs.jsonl[:20]", "sha256": file_fingerprint(pairs.path), "rows": ":20"}
    write_card(model_dir, ModelCard(name="rm", training_data=trained))
    base = ["--model", str(model_dir), "--data", str(pairs.path)]

    code, message = calibrate(capsys, *base, "--rows", "10:")
    assert code == 2 and "10 of the selected rows" in str(message) and "--allow-training-rows" in str(message)
    code, _ = calibrate(capsys, *base, "--rows", "10:", "--allow-training-rows", "--dry-run")
    assert code == 0
    card = read_card(model_dir)
    assert card is not None and card.calibration is None  # refused, then a dry run: nothing written

    code, report = calibrate(capsys, *base, "--rows", "20:", "--json")
    assert code == 0 and isinstance(report, dict) and report["n"] == 40 and report["training_rows_overlap"] == 0
    card = read_card(model_dir)
    assert card is not None and card.calibration is not None and card.training_data == trained


def test_pairs_that_determine_no_temperature_are_refused_and_the_card_is_left_alone(
    tiny_encoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = write_labelled_pairs(tiny_encoder_dir, tmp_path / "pairs.jsonl", n=32, wrong=0)
    model_dir = copy_folder(tiny_encoder_dir, tmp_path / "rm")
    code, message = calibrate(capsys, "--model", str(model_dir), "--data", str(pairs.path))
    assert code == 2 and "all 32 pairs correctly" in str(message)
    assert read_card(model_dir) is None


def test_a_hand_written_temperature_is_a_valid_calibration(tmp_path: Path) -> None:
    (tmp_path / "rmserve_card.json").write_text('{"name": "rm", "calibration": {"temperature": 1.7}}')
    card = read_card(tmp_path)
    assert card is not None and card.calibration is not None and card.calibration.temperature == 1.7
    (tmp_path / "rmserve_card.json").write_text('{"name": "rm", "calibration": {"temperature": 0}}')
    with pytest.raises(ValueError, match=r"calibration\.temperature: Input should be greater than 0"):
        read_card(tmp_path)
