"""The choice of backend and precision: candidates for faked CPUs, explicit settings, the fidelity gate,
and real start-ups on the trained default model's ONNX export (OpenVINO and onnxruntime, timed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from models.card import ReferencePair, read_card, write_card
from models.cpu_features import parse_cpuinfo
from models.fidelity import all_comparisons, fidelity_report, preference_comparisons
from models.folder import ModelFolder, ModelLoadError, build_formatter, inspect_model_folder, load_tokenizer
from service.backend_choice import (
    Candidate,
    choose_backend,
    plan_candidates,
    prior_order,
    startup_fidelity,
)
from service.settings import Settings

SAPPHIRE_RAPIDS = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"  # noqa: E501
ZEN4 = "model name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni\n"
HASWELL = "model name\t: Intel(R) Xeon(R) CPU E5-2680 v3\nflags\t\t: fpu sse2 avx avx2 fma\n"
AMX, AVX512_BF16, AVX2_ONLY = parse_cpuinfo(SAPPHIRE_RAPIDS), parse_cpuinfo(ZEN4), parse_cpuinfo(HASWELL)


def test_cpu_features_come_from_the_kernels_flags() -> None:
    assert AMX.amx_bf16 and AMX.bf16_units == "amx" and AMX.model_name.startswith("Intel(R) Xeon(R) Platinum")
    assert not AVX512_BF16.amx_bf16 and AVX512_BF16.bf16_units == "avx512_bf16" and AVX512_BF16.avx_vnni
    assert AVX2_ONLY.avx2 and AVX2_ONLY.bf16_units is None and not AVX2_ONLY.avx512_vnni
    nothing = parse_cpuinfo("")
    assert nothing.bf16_units is None and not nothing.avx2 and nothing.model_name == "unknown CPU"
    assert "amx_bf16" in AMX.summary() and "avx512_bf16" not in AVX2_ONLY.summary()


def _folder(onnx: bool, export: dict[str, object] | None = None) -> ModelFolder:
    from models.card import ModelCard

    card = ModelCard(name="rm", export=export) if export is not None else None
    path = Path("/models/rm")
    return ModelFolder(
        path, {}, "encoder", () if onnx else (path / "model.safetensors",), path / "model.onnx" if onnx else None, card
    )


def _labels(candidates: list[Candidate]) -> list[str]:
    return [c.label for c in candidates]


def test_candidates_follow_the_cpus_units() -> None:
    settings = Settings(dtype="auto")
    onnx, torch_folder = _folder(onnx=True), _folder(onnx=False)
    for features in (AMX, AVX512_BF16):
        assert _labels(plan_candidates(settings, onnx, features, True).candidates) == [
            "onnx fp32",
            "openvino fp32",
            "openvino bf16",
        ]
        assert _labels(plan_candidates(settings, torch_folder, features, True).candidates) == [
            "torch fp32",
            "torch bf16",
        ]
    without = plan_candidates(settings, onnx, AVX2_ONLY, True)
    assert _labels(without.candidates) == ["onnx fp32", "openvino fp32"]
    assert any("no bf16 units" in note for note in without.notes)
    assert _labels(plan_candidates(settings, torch_folder, AVX2_ONLY, True).candidates) == ["torch fp32"]
    # Untimed, bf16 goes first only on AMX, where it is known to win.
    candidates = plan_candidates(settings, onnx, AMX, True).candidates
    assert _labels(prior_order(candidates, AMX))[0] == "openvino bf16"
    assert _labels(prior_order(candidates, AVX512_BF16))[0] == "onnx fp32"
    # An int8 export runs in its own precision on onnxruntime; without openvino only onnxruntime serves.
    int8 = _folder(onnx=True, export={"dtype": "int8"})
    assert _labels(plan_candidates(settings, int8, AMX, True).candidates) == ["onnx int8"]
    assert _labels(plan_candidates(settings, onnx, AMX, False).candidates) == ["onnx fp32"]


def test_explicit_settings_win_and_impossible_ones_are_refused() -> None:
    onnx = _folder(onnx=True)
    plan = plan_candidates(Settings(backend="openvino", dtype="bf16"), onnx, AVX2_ONLY, True)
    assert plan.explicit and _labels(plan.candidates) == ["openvino bf16"]
    plan = plan_candidates(Settings(backend="onnx", dtype="auto"), onnx, AMX, True)
    assert plan.explicit and _labels(plan.candidates) == ["onnx fp32"]
    assert _labels(plan_candidates(Settings(dtype="bf16"), onnx, AVX512_BF16, True).candidates) == ["openvino bf16"]
    with pytest.raises(ModelLoadError, match="bf16 on a CPU: --backend openvino"):
        plan_candidates(Settings(backend="onnx", dtype="bf16"), onnx, AMX, True)
    with pytest.raises(ModelLoadError, match="needs the openvino package"):
        plan_candidates(Settings(backend="openvino"), onnx, AMX, False)
    with pytest.raises(ModelLoadError, match="holds a int8 export"):
        plan_candidates(Settings(backend="openvino"), _folder(onnx=True, export={"dtype": "int8"}), AMX, True)
    with pytest.raises(ModelLoadError, match=r"needs /models/rm/model\.onnx"):
        plan_candidates(Settings(backend="openvino"), _folder(onnx=False), AMX, True)
    on_gpu = plan_candidates(Settings(device="cuda", dtype="auto"), onnx, AMX, True)
    assert _labels(on_gpu.candidates) == ["onnx fp32"]


def test_the_gate_ignores_near_ties_and_counts_decisive_flips() -> None:
    fp32 = np.array([0.0, 1.0, 2.0, 3.0, 3.01])
    near_tie_swapped = np.array([0.0, 1.0, 2.0, 3.01, 3.0])
    report = fidelity_report("bf16", fp32, near_tie_swapped, all_comparisons(5))
    assert report.decisive == 9 and report.agreement_above_margin == 1.0 and report.near_tie_flips == 1
    assert report.flipped_margins_std[0] == pytest.approx(0.01 / fp32.std())
    assert not report.passed  # five scores: one swap costs Spearman 0.1
    many = np.linspace(0.0, 10.0, 400)
    swapped = many.copy()
    swapped[[10, 11]] = swapped[[11, 10]]  # neighbours, 0.025 apart: a near-tie (std 2.9)
    assert fidelity_report("bf16", many, swapped, all_comparisons(400)).passed
    # Preference pairs, every one decisive: moving two chosen responses above their rejected ones flips
    # 1% of the winners, twice what the gate allows.
    fp32_pairs = np.arange(400.0)
    flipped = fp32_pairs.copy()
    flipped[[0, 1]] = [300.5, 301.5]
    failed = fidelity_report("int8", fp32_pairs, flipped, preference_comparisons(200))
    assert failed.decisive == 200 and failed.agreement_above_margin == 0.99 and not failed.passed
    assert failed.flipped_margins_std == pytest.approx((200 / fp32_pairs.std(),) * 2)


@pytest.fixture(scope="module")
def loaded(default_onnx_dir: Path) -> tuple[ModelFolder, object, object]:
    folder = inspect_model_folder(default_onnx_dir)
    tokenizer = load_tokenizer(folder)
    return folder, tokenizer, build_formatter(folder, tokenizer)


def _copy_with_fidelity(source: Path, target: Path, bf16_record: dict[str, object] | None) -> Path:
    shutil.copytree(source, target)
    card = read_card(target)
    assert card is not None and card.export is not None
    fidelity = {} if bf16_record is None else {"bf16": bf16_record}
    write_card(target, card.model_copy(update={"export": card.export.model_copy(update={"fidelity": fidelity})}))
    return target


def _keep_well_separated_references(folder: Path, min_gap: float = 0.5) -> None:
    """Keep only reference pairs whose fp32 scores lie at least `min_gap` apart. The default model's
    rejected references sit at its head's floor, within 0.003 std of each other: bf16 may swap them, and
    Spearman over a handful of scores counts such a swap, so whether bf16 passes the start-up check would be
    this model's near-ties' business, not the choice's that the test is about."""
    card = read_card(folder)
    assert card is not None
    kept: list[ReferencePair] = []
    for pair in sorted(card.reference_pairs, key=lambda p: p.score):
        if not kept or pair.score - kept[-1].score >= min_gap:
            kept.append(pair)
    assert len(kept) >= 3
    write_card(folder, card.model_copy(update={"reference_pairs": kept}))


def test_on_amx_untimed_bf16_is_chosen_when_it_passes_and_not_when_it_fails(
    default_onnx_dir: Path, tmp_path: Path
) -> None:
    passing = _copy_with_fidelity(default_onnx_dir, tmp_path / "no-record", None)
    _keep_well_separated_references(passing)
    settings = Settings(dtype="auto", choice_budget_s=0, workers=1)
    folder = inspect_model_folder(passing)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer)
    backend, choice = choose_backend(settings, folder, tokenizer, formatter, features=AMX)
    try:
        assert (backend.name, choice.mode) == ("openvino", "auto")
        assert choice.fidelity["openvino bf16"]["passed"] is True
        assert "bf16 first on AMX" in choice.reason
    finally:
        backend.close()

    failed_at_export = _copy_with_fidelity(default_onnx_dir, tmp_path / "failed", {"passed": False, "spearman": 0.99})
    folder = inspect_model_folder(failed_at_export)
    backend, choice = choose_backend(settings, folder, tokenizer, formatter, features=AMX)
    try:
        assert (backend.name, backend.dtype) == ("onnx", "fp32")
        assert any("openvino bf16 left out: failed the fidelity gate at export" in note for note in choice.notes)
    finally:
        backend.close()

    # Reference scores in another order than the model gives: bf16 fails the start-up gate, fp32 serves.
    reordered = _copy_with_fidelity(default_onnx_dir, tmp_path / "reordered", None)
    card = read_card(reordered)
    assert card is not None
    scores = [pair.score for pair in card.reference_pairs]
    shuffled = [
        pair.model_copy(update={"score": s}) for pair, s in zip(card.reference_pairs, scores[::-1], strict=True)
    ]
    write_card(reordered, card.model_copy(update={"reference_pairs": shuffled}))
    folder = inspect_model_folder(reordered)
    backend, choice = choose_backend(settings, folder, tokenizer, formatter, features=AMX)
    try:
        assert (backend.name, backend.dtype) == ("onnx", "fp32")
        assert choice.fidelity["openvino bf16"]["passed"] is False
    finally:
        backend.close()


def test_without_bf16_units_bf16_is_never_tried(loaded: tuple[ModelFolder, object, object]) -> None:
    folder, tokenizer, formatter = loaded
    settings = Settings(dtype="auto", choice_budget_s=0.2, workers=1, threads_per_worker=1)
    backend, choice = choose_backend(settings, folder, tokenizer, formatter, features=AVX2_ONLY)  # type: ignore[arg-type]
    try:
        assert backend.dtype == "fp32" and set(choice.pairs_per_s) == {"onnx fp32", "openvino fp32"}
        assert choice.fidelity == {} and any("no bf16 units" in note for note in choice.notes)
        assert choice.cpu["model_name"] == "Intel(R) Xeon(R) CPU E5-2680 v3"
    finally:
        backend.close()


def test_a_timed_start_up_picks_the_fastest_faithful_candidate(loaded: tuple[ModelFolder, object, object]) -> None:
    folder, tokenizer, formatter = loaded
    settings = Settings(dtype="auto", choice_budget_s=0.5, workers=1, threads_per_worker=1)
    backend, choice = choose_backend(settings, folder, tokenizer, formatter)  # type: ignore[arg-type]
    try:
        rates = choice.pairs_per_s
        assert set(rates) >= {"onnx fp32", "openvino fp32"} and all(rate > 0 for rate in rates.values())
        fp32_best = max(rate for label, rate in rates.items() if label.endswith("fp32"))
        chosen = f"{backend.name} {backend.dtype}"
        if chosen.endswith("fp32"):
            assert rates[chosen] == fp32_best
        else:
            assert rates[chosen] >= 1.05 * fp32_best and choice.fidelity[chosen]["passed"]
        assert choice.mode == "auto" and chosen.split()[0] in choice.reason
        # Whatever was chosen scores the card's reference pairs within its precision's tolerance.
        report = startup_fidelity(folder, formatter, Candidate(backend.name, backend.dtype), backend.score, None)  # type: ignore[arg-type]
        assert not isinstance(report, str) and report.max_abs_diff < (5e-2 if backend.dtype == "bf16" else 1e-4)
    finally:
        backend.close()
