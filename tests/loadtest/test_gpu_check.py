"""The GPU check (`python -m loadtest.gpu_check`) in its CPU mode, end to end: tiny decoders built from
configs, real server processes over loopback, the in-process limit, precision and attention variants.

These check that every section runs and every figure is there and sane (no failed request, ratios and
efficiencies in range, exact variants exact); they assert nothing about speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import gpu_check

pytestmark = pytest.mark.timeout(480)


@pytest.mark.parametrize(("name", "low", "high"), [("qwen2.5-1.5b", 1.45e9, 1.6e9), ("llama-3-8b", 7.4e9, 7.6e9)])
def test_decoder_shapes_are_the_real_models_sizes(name: str, low: float, high: float) -> None:
    """On a GPU the decoders have their namesakes' sizes (counted on the meta device: no memory)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    config = gpu_check.decoder_config(name, gpu_check.Plan.for_device("cuda", quick=False), vocab_size=0)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    assert low < sum(p.numel() for p in model.parameters()) < high
    assert type(model).__name__.endswith("ForSequenceClassification")


def test_cpu_mode_measures_every_section(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    models = ["encoder", "qwen2.5-1.5b"]
    argv = ["--device", "cpu", "--quick", "--encoder", str(tiny_encoder_dir), "--models", ",".join(models)]
    code = gpu_check.main([*argv, "--out", str(out)])
    results = json.loads((out / "gpu_check.json").read_text())
    assert results["errors"] == {}
    assert code == 0  # no section failed, no request failed
    assert list(results["models"]) == models
    assert results["models"]["qwen2.5-1.5b"]["model"]["family"] == "qwen2"
    for name in models:
        record = results["models"][name]
        best = record["limit"]["best"]
        assert best["pairs_per_s"] > 0 and best["batch_size"] in (2, 4)
        assert record["limit"]["token_budget"] >= best["batch_size"]
        service = record["service"]
        # The service runs at the limit's best batch size with a token budget that does not cut it.
        assert service["settings"]["RMSERVE_MAX_BATCH_SIZE"] == str(best["batch_size"])
        assert int(service["settings"]["RMSERVE_MAX_BATCH_TOKENS"]) >= record["limit"]["token_budget"]
        points = [*service["saturation"], service["open_70"], *service["comparison"]["dynamic"]]
        points += service["comparison"]["batching_off"]
        for point in points:
            assert point["failed"] == 0 and point["requests_ok"] > 0
            assert point["latency_ms"]["p50"] <= point["latency_ms"]["p99"]
        # Batching off runs one pair per forward pass; the dynamic server may batch.
        assert all(p["mean_batch_size"] == 1.0 for p in service["comparison"]["batching_off"])
        summary = service["summary"]
        assert 0 < summary["padding_efficiency"] <= 1.0
        assert summary["saturation_vs_limit"] > 0 and summary["dynamic_vs_off"] > 0
        single = max(p["throughput_rps"] for p in service["saturation"] if p["pairs_per_request"] == 1)
        assert summary["rate_rps_at_70pct"] == pytest.approx(0.7 * single, rel=1e-2)
        assert summary["gpu"] == {"available": False, "reason": "nvidia-smi not found"} or summary["gpu"]["available"]
        variants = results["precision"][name]["variants"]
        serving = record["dtype"]
        assert set(variants) == {"fp32 sdpa", "bf16 sdpa", f"{serving} eager"}
        assert variants["fp32 sdpa"]["winner_agreement_vs_fp32"] == 1.0
        assert variants["fp32 sdpa"]["max_abs_diff_vs_fp32"] == 0.0
        assert variants[f"{serving} eager"]["attention"] == "eager"
        assert 0.0 <= variants["bf16 sdpa"]["winner_agreement_vs_fp32"] <= 1.0
        assert all(v["sequences_per_s"] > 0 for v in variants.values())
    # Eager and SDPA attention compute the same function: in fp32 the scores agree to rounding.
    assert results["precision"]["encoder"]["variants"]["fp32 eager"]["max_abs_diff_vs_sdpa_same_dtype"] < 1e-4
    shared = results["shared_prompts"]
    if gpu_check.shared_prompts_available():
        assert set(shared["pairs_per_s"]) == {"on", "off"}
        assert all(p["failed"] == 0 for runs in shared["points"].values() for p in runs)
    else:
        assert shared == {"available": False, "reason": "service.settings.Settings has no share_prompts setting"}
    names = [t["target"] for t in results["targets"]]
    assert "encoder: service at saturation / in-process limit" in names
    assert "encoder: dynamic batching / batching off, HH pairs" in names
    assert "encoder: bf16 sdpa winner agreement with fp32" in names
    assert results["onnx_cuda"].startswith("not measured")
    page = (out / "gpu_check.md").read_text()
    assert "| encoder | fp32 |" in page and "| qwen2.5-1.5b | bf16 |" in page
    assert "| qwen2.5-1.5b | bf16 eager | eager |" in page and "not measured: onnxruntime-gpu" in page


def test_payload_model_is_fp16_and_passes_its_own_self_test(default_model_dir: Path, tmp_path: Path) -> None:
    """The default model as carried to the device: fp16 weights, half the bytes, reference scores re-scored
    so that the server's start-up self-test (fp32 on the CPU) passes on the copy, and close to the original's."""
    from safetensors import safe_open

    from loadtest.gpu_payload import write_model_fp16
    from models.card import read_card
    from models.folder import build_formatter, inspect_model_folder, load_tokenizer
    from models.selftest import tolerance_for, verify_reference_scores
    from models.torch_model import load_torch_reward_model, score_encoded

    out = write_model_fp16(default_model_dir, tmp_path / "fp16")
    folder = inspect_model_folder(out)
    with safe_open(str(folder.safetensors_files[0]), "np") as weights:
        assert {str(weights.get_tensor(name).dtype) for name in weights.keys()} == {"float16"}  # noqa: SIM118
    original_bytes = sum(p.stat().st_size for p in inspect_model_folder(default_model_dir).safetensors_files)
    assert folder.safetensors_files[0].stat().st_size < 0.55 * original_bytes
    tokenizer = load_tokenizer(folder)
    model = load_torch_reward_model(folder, tokenizer.pad_token_id, device="cpu", dtype="fp32")
    copy_card, original_card = read_card(out), read_card(default_model_dir)
    assert copy_card is not None and original_card is not None
    result = verify_reference_scores(
        copy_card,
        build_formatter(folder, tokenizer),
        lambda batch: score_encoded(model, batch, tokenizer.pad_token_id),
        tolerance_for("fp32", "cpu"),
    )
    assert result.checked == len(original_card.reference_pairs) > 0
    moved = [
        abs(a.score - b.score) for a, b in zip(copy_card.reference_pairs, original_card.reference_pairs, strict=True)
    ]
    assert 0 < max(moved) < 0.05
