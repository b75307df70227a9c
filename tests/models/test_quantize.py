"""int8: the quality gate (accept, refuse, --force) and batch invariance of the per-row int8 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from models.batching import pad_batch
from models.export import ExportError, ExportOptions, export_model, load_gate_pairs
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.quantize import (
    MIN_AGREEMENT,
    QualityReport,
    QuantizationQualityError,
    check_quality,
    down_projection_nodes,
    quality_report,
    spearman,
)
from service.backends.onnx_backend import OnnxBackend

# An untrained head fails on any number of pairs; a short gate keeps that test quick.
QUICK_REFUSAL = {"gate_pairs": 40}


# On the default model's held-out pairs a few flipped near-ties can fail the 99% gate (one earlier model:
# 3 flips of 246 pairs, agreement 98.8%; the present one: none of 256); the accept-path test runs the real
# gate at 95%, which does not hang on a near-tie.
ACCEPT_MIN_AGREEMENT = 0.95


@pytest.fixture(scope="module")
def trained_int8_dir(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained default model exported to int8 through the gate's accept path (no --force)."""
    out = tmp_path_factory.mktemp("int8") / "default-int8"
    options = ExportOptions(quantize="int8", min_agreement=ACCEPT_MIN_AGREEMENT)
    result = export_model(default_model_dir, out, options, log=lambda _: None)
    assert result.quality is not None and result.quality.passed
    return out


def test_spearman_matches_scipy_with_ties() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    b = a + rng.normal(scale=0.5, size=200)
    a[:20] = 1.0  # ties
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_quality_report_counts_flipped_preferences() -> None:
    fp32_chosen, fp32_rejected = np.array([1.0, 2.0, 0.0, 5.0]), np.array([0.0, 1.0, 1.0, 4.0])
    int8_chosen, int8_rejected = np.array([1.1, 0.9, -0.1, 5.2]), np.array([0.1, 1.0, 1.2, 4.1])
    report = quality_report(fp32_chosen, fp32_rejected, int8_chosen, int8_rejected)
    assert report.pairs == 4
    assert report.agreement == 0.75  # pair 1 flipped
    assert report.accuracy_fp32 == 0.75 and report.accuracy_int8 == 0.5
    assert report.max_abs_diff == pytest.approx(1.1)
    assert report.flipped_margins == (1.0,) and report.median_abs_margin == 1.0
    assert not report.passed
    assert "1 flipped, their fp32 |margins| 1 (median |margin| 1)" in report.summary()


def test_check_quality_refuses_with_the_figures_unless_forced() -> None:
    report = QualityReport(
        pairs=97,
        agreement=0.9485,
        spearman=0.97,
        accuracy_fp32=0.9,
        accuracy_int8=0.87,
        max_abs_diff=0.3,
        min_agreement=0.99,
    )
    with pytest.raises(QuantizationQualityError, match=r"agreement 94\.85% \(minimum 99%\).*Spearman 0\.9700"):
        check_quality(report, force=False)
    check_quality(report, force=True)


def test_untrained_head_is_refused_then_forced(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    """A random head's scores differ by less than int8's rounding, so int8 reorders them: the gate must
    refuse with the figures; --force writes the model and the card says so."""
    refused = tmp_path / "refused"
    with pytest.raises(QuantizationQualityError, match=r"refusing to write the int8 model: int8 vs fp32 on \d+"):
        export_model(tiny_encoder_dir, refused, ExportOptions(quantize="int8", **QUICK_REFUSAL), log=lambda _: None)
    assert not refused.exists()

    forced = tmp_path / "forced"
    result = export_model(
        tiny_encoder_dir, forced, ExportOptions(quantize="int8", force=True, **QUICK_REFUSAL), log=lambda _: None
    )
    assert result.quality is not None and not result.quality.passed
    record = result.card.export
    assert record is not None and record.force is True
    assert record.quantization is not None and record.quantization["forced"] is True
    assert record.quantization["gate"]["agreement"] == result.quality.agreement < 0.99
    assert OnnxBackend(inspect_model_folder(forced), 0).dtype == "int8"


def test_check_quality_accepts_a_passing_report() -> None:
    report = quality_report(
        np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.5, 1.0]), np.array([1.1, 2.0, 2.9]), np.array([0.1, 2.6, 1.0])
    )
    assert report.agreement == 1.0 and report.passed
    check_quality(report, force=False)


def test_trained_model_passes_the_gate_and_keeps_its_ranking_in_int8(trained_int8_dir: Path) -> None:
    folder = inspect_model_folder(trained_int8_dir)
    card = folder.card
    assert card is not None and card.export is not None
    quantization = card.export.quantization
    assert card.export.dtype == "int8" and card.export.force is False
    assert quantization is not None
    assert quantization["forced"] is False
    assert quantization["method"] == "dynamic, one pair per run" and quantization["gate_data"] == "preferences.jsonl"
    assert quantization["kept_fp32"] == "6 feed-forward down projections"
    gate = quantization["gate"]
    assert gate["passed"] is True and gate["min_agreement"] == ACCEPT_MIN_AGREEMENT
    assert gate["agreement"] >= ACCEPT_MIN_AGREEMENT and gate["pairs"] == len(load_gate_pairs(None, None)[1])
    assert gate["spearman"] > 0.99
    assert abs(gate["accuracy_int8"] - gate["accuracy_fp32"]) <= 0.02
    # Any flip is of a near-tie, not of a preference the fp32 model holds clearly.
    assert all(margin < 0.05 * gate["median_abs_margin"] for margin in gate["flipped_margins"])
    # The fidelity gate of every reduced precision is recorded beside it, on the same scores.
    fidelity = card.export.fidelity["int8"]
    assert card.export.precision == "int8" and fidelity["runtime"] == "onnxruntime"
    assert fidelity["comparisons"] == gate["pairs"] and fidelity["spearman"] == pytest.approx(gate["spearman"])
    assert fidelity["accuracy_reduced"] == pytest.approx(gate["accuracy_int8"])
    assert fidelity["near_tie_flips"] + fidelity["decisive"] * (1 - fidelity["agreement_above_margin"]) == (
        pytest.approx(len(gate["flipped_margins"]))
    )
    # The accepted folder serves as int8 and reproduces its card's reference scores.
    backend = OnnxBackend(folder, 0)
    assert backend.dtype == "int8"
    formatter = build_formatter(folder, load_tokenizer(folder))
    for pair in card.reference_pairs:
        (score,) = backend.score([formatter.encode(pair.prompt, pair.response)])
        assert score == pytest.approx(pair.score, abs=1e-5)
    # The server's auto choice serves it as int8 whatever its fidelity verdict: it is the folder's only option.
    from service.backend_choice import choose_backend
    from service.settings import Settings

    chosen, choice = choose_backend(Settings(dtype="auto", workers=1), folder, load_tokenizer(folder), formatter)
    assert (chosen.name, chosen.dtype, choice.mode) == ("onnx", "int8", "auto")
    assert choice.reason == "the only candidate for this folder and device"
    chosen.close()


@pytest.mark.parametrize("fixture", ["tiny_encoder_dir", "tiny_decoder_dir"])
def test_down_projections_are_found_in_encoder_and_decoder_graphs(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The nodes kept fp32 are exactly one feed-forward down projection per layer, found by weight shape."""
    import json

    model_dir: Path = request.getfixturevalue(fixture)
    out = tmp_path / "fp32"
    export_model(model_dir, out, ExportOptions(), log=lambda _: None)
    config = json.loads((model_dir / "config.json").read_text())
    nodes = down_projection_nodes(out / "model.onnx", config["hidden_size"], config["intermediate_size"])
    assert len(nodes) == config["num_hidden_layers"]
    assert all(("output/dense" in name) or ("down_proj" in name) for name in nodes), nodes


def test_min_agreement_is_validated(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="--min-agreement must be in"):
        export_model(tiny_encoder_dir, tmp_path / "o", ExportOptions(quantize="int8", min_agreement=1.5))
    assert MIN_AGREEMENT == 0.99


def test_gate_rows_take_every_selected_row(tmp_path: Path) -> None:
    from models.data import row_range_argument
    from models.default_model import DEFAULT_DATA_PATH, read_split
    from models.export import GATE_PAIRS

    name, heldout = load_gate_pairs(None, None)
    assert name == "preferences.jsonl" and heldout == read_split(DEFAULT_DATA_PATH).heldout[:GATE_PAIRS]
    name, rows = load_gate_pairs(DEFAULT_DATA_PATH, row_range_argument("10:40"))
    assert name == "preferences.jsonl[10:40]" and len(rows) == 30


def test_int8_score_does_not_depend_on_batch_neighbours(trained_int8_dir: Path) -> None:
    """The int8 graph computes activation scales over its whole input, so it runs one pair per run: alone
    or inside a batch of longer and shorter pairs, a pair's score is the same computation, bit for bit.
    Run as one padded batch instead (what the backend must not do), the same graph moves the scores."""
    folder = inspect_model_folder(trained_int8_dir)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer)
    backend = OnnxBackend(folder, tokenizer.pad_token_id, threads_per_worker=1)
    texts = [
        ("How do I boil an egg?", "Simmer it for 9 minutes, then cool it in cold water."),
        ("How do I boil an egg?", "Eggs are a food."),
        ("Write a limerick.", "There once was a coder from Kent / whose tests were all quietly bent " * 4),
        ("Hi", "Hello! How can I help?"),
        ("What is 7 * 8?", "56"),
        ("Summarise: " + "The committee met and agreed on a budget. " * 20, "They agreed a budget."),
    ]
    encoded = [formatter.encode(prompt, response) for prompt, response in texts]
    assert len({item.num_tokens for item in encoded}) == len(encoded)
    alone = np.concatenate([backend.score([item]) for item in encoded])
    mixed = backend.score(encoded)
    reversed_mixed = backend.score(encoded[::-1])[::-1]
    assert backend.rows_per_run == 1
    assert np.ptp(alone) > 0.1
    np.testing.assert_array_equal(mixed, alone)
    np.testing.assert_array_equal(reversed_mixed, alone)

    session = ort.InferenceSession(str(folder.onnx_file), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    padded = pad_batch(encoded, tokenizer.pad_token_id)
    one_run = session.run(None, {name: padded[name] for name in names})[0].reshape(-1)
    assert np.abs(one_run - alone).max() > 1e-6, "a whole-batch int8 run should depend on the batch"
