"""The OpenVINO backend on the trained default model's ONNX export: parity with onnxruntime fp32 and
batch invariance (a pair's score alone and inside a padded batch of mixed lengths), per precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.folder import ModelLoadError, build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair
from service.backends.onnx_backend import OnnxBackend
from service.backends.openvino_backend import OpenVinoBackend

# fp32: OpenVINO's kernels differ from onnxruntime's by reduction order only. bf16 keeps 8 mantissa bits:
# against fp32 a score moves by up to ~0.08 on this model (scores of std ~1; measured on HH pairs), and
# alone against inside a batch by less, since the kernels block the padded batch differently.
FP32_TOLERANCE = 1e-4
BF16_VS_FP32_TOLERANCE = 0.15
BF16_BATCH_INVARIANCE_TOLERANCE = 0.05

PAIRS = [
    ("What is the capital of France?", "Paris."),
    ("How do I bake bread?", "Mix flour, water, salt and yeast, knead, let it rise, then bake at 230 C. " * 3),
    ("Hi", "Hello! How can I help you today?"),
    ("Tell me about rivers.", "Rivers carry water from high ground to the sea. " * 12),
]


def _encoded(folder_dir: Path) -> tuple[list[EncodedPair], int]:
    folder = inspect_model_folder(folder_dir)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer)
    return [formatter.encode(prompt, response) for prompt, response in PAIRS], tokenizer.pad_token_id


@pytest.mark.parametrize(
    ("dtype", "vs_fp32", "invariance"),
    [
        ("fp32", FP32_TOLERANCE, FP32_TOLERANCE),
        ("bf16", BF16_VS_FP32_TOLERANCE, BF16_BATCH_INVARIANCE_TOLERANCE),
    ],
)
def test_openvino_matches_onnxruntime_and_is_batch_invariant(
    default_onnx_dir: Path, dtype: str, vs_fp32: float, invariance: float
) -> None:
    encoded, pad_id = _encoded(default_onnx_dir)
    folder = inspect_model_folder(default_onnx_dir)
    reference = OnnxBackend(folder, pad_id, threads_per_worker=1).score(encoded)
    backend = OpenVinoBackend(folder, pad_id, dtype=dtype, threads_per_worker=1)
    batched = backend.score(encoded)
    alone = np.concatenate([backend.score([item]) for item in encoded])
    assert batched.dtype == np.float32 and batched.shape == (len(encoded),)
    assert np.abs(batched - reference).max() <= vs_fp32
    assert np.abs(alone - batched).max() <= invariance
    assert np.abs(backend.score(encoded[::-1])[::-1] - batched).max() <= invariance
    backend.close()


def test_openvino_refuses_what_it_cannot_serve(default_onnx_dir: Path, tiny_encoder_dir: Path) -> None:
    folder = inspect_model_folder(default_onnx_dir)
    with pytest.raises(ModelLoadError, match="runs on the CPU"):
        OpenVinoBackend(folder, 0, device="cuda")
    with pytest.raises(ModelLoadError, match=r"has no model\.onnx"):
        OpenVinoBackend(inspect_model_folder(tiny_encoder_dir), 0)


def test_the_export_records_bf16s_gate_where_the_cpu_can_measure_it(default_onnx_dir: Path) -> None:
    from models.cpu_features import detect_cpu_features

    card = inspect_model_folder(default_onnx_dir).card
    assert card is not None and card.export is not None and card.export.dtype == "fp32"
    if detect_cpu_features().bf16_units is None:
        assert card.export.precision == "fp32" and card.export.fidelity == {}
        return
    record = card.export.fidelity["bf16"]
    assert card.export.precision == "bf16" and record["runtime"].startswith("openvino ")
    assert record["comparisons"] == 64 and record["gate_data"] == "preferences.jsonl"
    assert record["passed"] == (record["agreement_above_margin"] >= 0.995 and record["spearman"] >= 0.9995)
    assert record["forced"] == (not record["passed"]) and 0 < record["max_abs_diff"] < BF16_VS_FP32_TOLERANCE


def test_eval_scores_an_export_on_openvino(default_onnx_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from models.default_model import DEFAULT_DATA_PATH
    from service.cli.main import main

    reports = {}
    for backend, dtype in (("onnx", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")):
        args = ["eval", "--model", str(default_onnx_dir), "--data", str(DEFAULT_DATA_PATH), "--rows", "0:40"]
        assert main([*args, "--backend", backend, "--dtype", dtype, "--threads", "1", "--json"]) == 0
        reports[(backend, dtype)] = json.loads(capsys.readouterr().out)
    assert reports[("openvino", "fp32")]["backend"] == "openvino" and reports[("openvino", "fp32")]["n"] == 40
    assert reports[("openvino", "fp32")]["accuracy"] == reports[("onnx", "fp32")]["accuracy"]
    margin = reports[("onnx", "fp32")]["mean_margin"]
    assert reports[("openvino", "fp32")]["mean_margin"] == pytest.approx(margin, abs=1e-5)
    assert reports[("openvino", "bf16")]["dtype"] in ("bf16", "fp32")  # fp32 where the CPU has no bf16 units
    assert reports[("openvino", "bf16")]["mean_margin"] == pytest.approx(margin, abs=BF16_VS_FP32_TOLERANCE)
