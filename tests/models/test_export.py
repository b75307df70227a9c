"""ONNX export: parity with torch for encoder and decoder RMs, a complete folder, and the refusing gates.

The exports themselves are the session fixtures `encoder_onnx_dir` and `decoder_onnx_dir` (tests/conftest.py),
built once and shared with the self-test and backend tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.export import FP32_PARITY_TOLERANCE, ExportError, ExportOptions, export_model
from models.folder import ModelFolder, build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair
from service.backends.onnx_backend import OnnxBackend

PAIRS = [
    ("Is the sea salty?", "Yes: about 3.5% salt by weight."),
    ("Is the sea salty?", "no"),
    ("Give me a haiku about rain.", "Soft rain on the roof / the kettle starts to whisper / the day slows its pace"),
    (
        [
            {"role": "user", "content": "Hi!"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Bye"},
        ],
        "Goodbye, take care.",
    ),
    ("Repeat after me.", "la " * 600),
]


def _encode(folder: ModelFolder) -> tuple[list[EncodedPair], int]:
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer)
    return [formatter.encode(prompt, response) for prompt, response in PAIRS], tokenizer.pad_token_id


def _torch_scores(source: Path, encoded: list[EncodedPair], pad_id: int) -> np.ndarray:
    from models.torch_model import load_torch_reward_model, score_encoded

    model = load_torch_reward_model(inspect_model_folder(source), pad_id)
    return np.concatenate([score_encoded(model, [item], pad_id) for item in encoded])


@pytest.mark.parametrize("which", ["encoder", "decoder"])
def test_onnx_scores_match_torch_alone_and_batched(which: str, request: pytest.FixtureRequest) -> None:
    source = request.getfixturevalue(f"tiny_{which}_dir")
    exported = inspect_model_folder(request.getfixturevalue(f"{which}_onnx_dir"))
    encoded, pad_id = _encode(exported)
    assert encoded[-1].truncated, "the long pair must hit max_length so the widest shape is compared"
    expected = _torch_scores(source, encoded, pad_id)
    backend = OnnxBackend(exported, pad_id)
    batched = backend.score(encoded)
    alone = np.concatenate([backend.score([item]) for item in encoded])
    assert batched.dtype == np.float32 and batched.shape == (len(encoded),)
    assert np.abs(batched - expected).max() <= FP32_PARITY_TOLERANCE
    assert np.abs(alone - expected).max() <= FP32_PARITY_TOLERANCE
    # Scores that all coincide would make the comparison above meaningless.
    assert np.ptp(expected) > 10 * FP32_PARITY_TOLERANCE


def test_export_writes_a_complete_servable_folder(encoder_onnx_dir: Path, tiny_encoder_dir: Path) -> None:
    folder = inspect_model_folder(encoder_onnx_dir)
    assert folder.onnx_file == encoder_onnx_dir / "model.onnx"
    assert not folder.safetensors_files
    assert folder.kind == "encoder"
    assert folder.config == json.loads((tiny_encoder_dir / "config.json").read_text())
    assert load_tokenizer(folder).pad_token_id == load_tokenizer(inspect_model_folder(tiny_encoder_dir)).pad_token_id
    assert folder.card is not None and folder.card.export is not None
    record = folder.card.export
    assert record.opset == 17 and record.dtype == "fp32" and record.force is False
    assert record.parity is not None and record.parity.pairs >= 10
    assert record.parity.max_abs_diff <= record.parity.tolerance == FP32_PARITY_TOLERANCE
    assert record.optimization is not None and record.optimization["applied"] is True
    assert record.optimization["fused_operators"].get("Attention", 0) >= 1
    assert record.optimization["parity_max_abs_diff"] <= FP32_PARITY_TOLERANCE
    assert record.quantization is None and record.fp16 is None
    assert len(folder.card.reference_pairs) >= 3


def test_decoder_optimize_is_skipped_with_the_reason(decoder_onnx_dir: Path) -> None:
    card = inspect_model_folder(decoder_onnx_dir).card
    assert card is not None and card.export is not None
    assert card.export.optimization is not None and card.export.optimization["applied"] is False
    assert "llama" in card.export.optimization["reason"]
    assert card.export.inputs == ["input_ids", "attention_mask"]


def test_parity_gate_refuses_a_graph_that_disagrees_and_writes_nothing(
    tiny_decoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken trace (here: the graph of a model whose head weights differ) must never be written."""
    import torch

    import models.export as export

    real_export = export.export_torch_to_onnx

    def export_perturbed(model: torch.nn.Module, *args: object, **kwargs: object) -> list[str]:
        with torch.no_grad():
            head = model.score.weight
            saved = head.clone()
            head.add_(0.05)
            try:
                return real_export(model, *args, **kwargs)
            finally:
                head.copy_(saved)

    monkeypatch.setattr(export, "export_torch_to_onnx", export_perturbed)
    out = tmp_path / "refused"
    messages: list[str] = []
    with pytest.raises(ExportError, match=r"fp32 scores differ from torch by \d") as caught:
        export_model(tiny_decoder_dir, out, ExportOptions(), log=messages.append)
    assert "tolerance 0.0001" in str(caught.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "the staging folder must be removed"
    assert any(m.startswith("fp32: max |onnx - torch|") for m in messages)


def test_export_refuses_a_non_empty_out_folder(tiny_decoder_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_model(tiny_decoder_dir, tmp_path, ExportOptions())
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_cli_export_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli.main import main

    status = main(["export", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("rmserve: error: ") and err.count("\n") == 1
    assert "does not exist" in err


def test_cli_rejects_int8_with_fp16(tiny_decoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli.main import main

    args = ["export", "--model", str(tiny_decoder_dir), "--out", str(tmp_path / "o"), "--quantize", "int8", "--fp16"]
    assert main(args) == 2
    assert "exclude each other" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--precision", "bf16", "--fp16"], ["--quantize", "int8", "--precision", "bf16"]])
def test_cli_rejects_precisions_that_exclude_each_other(
    extra: list[str], tiny_decoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli.main import main

    assert main(["export", "--model", str(tiny_decoder_dir), "--out", str(tmp_path / "o"), *extra]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_cli_rejects_int8_with_optimize(
    tiny_decoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli.main import main

    out = tmp_path / "o"
    args = ["export", "--model", str(tiny_decoder_dir), "--out", str(out), "--quantize", "int8", "--optimize"]
    assert main(args) == 2
    assert "cannot be combined" in capsys.readouterr().err
    assert not out.exists()


def test_fp16_export_is_gated_and_marked(tiny_decoder_dir: Path, tmp_path: Path) -> None:
    """fp16 is for GPU serving; its gate runs on CUDA when present, else on the CPU provider."""
    out = tmp_path / "fp16"
    export_model(tiny_decoder_dir, out, ExportOptions(fp16=True), log=lambda _: None)
    folder = inspect_model_folder(out)
    assert folder.card is not None and folder.card.export is not None
    fp16 = folder.card.export.fp16
    assert folder.card.export.dtype == "fp16"
    assert fp16 is not None and 0 < fp16.max_abs_diff <= fp16.tolerance
    encoded, pad_id = _encode(folder)
    backend = OnnxBackend(folder, pad_id)
    assert backend.dtype == "fp16"
    expected = _torch_scores(tiny_decoder_dir, encoded, pad_id)
    assert np.abs(backend.score(encoded) - expected).max() <= fp16.tolerance
