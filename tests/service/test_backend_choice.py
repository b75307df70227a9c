"""The choice of backend and precision: candidates for faked CPUs, explicit settings, the fidelity gate,
and real start-ups on the trained default model's ONNX export (OpenVINO and onnxruntime, timed)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from models.card import ReferencePair, read_card, write_card
from models.cpu_features import parse_cpuinfo
from models.fidelity import (
    MIN_SCORES_FOR_SPEARMAN,
    MIN_SPEARMAN,
    NEAR_TIE_FRACTION,
    all_comparisons,
    fidelity_report,
    preference_comparisons,
    reference_fidelity_report,
    spearman,
)
from models.folder import ModelFolder, ModelLoadError, build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair
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


def _reversed_within(fp32: np.ndarray, members: np.ndarray) -> np.ndarray:
    """`fp32` with the order of the scores at `members` reversed (the lowest takes the highest's score)."""
    ordered = members[np.argsort(fp32[members])]
    reduced = fp32.copy()
    reduced[ordered] = fp32[ordered[::-1]]
    return reduced


def _clustered(items: int, cluster: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """fp32 scores in clusters of `cluster` near-ties (spread over 0.1% of the unit gap between clusters,
    far under the 5%-of-std margin), and a reduced precision that reverses the order inside every cluster
    and keeps every other comparison."""
    rng = np.random.default_rng(seed)
    centers = np.repeat(np.arange(-(-items // cluster), dtype=np.float64), cluster)[:items]
    fp32 = centers + rng.uniform(0.0, 1e-3, items)
    reduced = fp32
    for center in np.unique(centers):
        reduced = _reversed_within(reduced, np.flatnonzero(centers == center))
    return fp32, reduced


def _neighbour_swap_cost(items: int) -> float:
    """What swapping two neighbouring scores of `items` distinct ones costs Spearman."""
    scores = np.arange(items, dtype=np.float64)
    swapped = scores.copy()
    swapped[[3, 4]] = swapped[[4, 3]]
    return 1.0 - spearman(scores, swapped)


def test_min_scores_for_spearman_is_where_one_near_tie_swap_stops_deciding_the_verdict() -> None:
    # From the threshold on one swap of two neighbours costs Spearman at most a tenth of what the bound
    # allows, one score fewer more than that; over eight scores it costs some 48 times the allowance.
    allowance = 1.0 - MIN_SPEARMAN
    assert (
        _neighbour_swap_cost(MIN_SCORES_FOR_SPEARMAN)
        <= allowance / 10
        < _neighbour_swap_cost(MIN_SCORES_FOR_SPEARMAN - 1)
    )
    assert _neighbour_swap_cost(8) > 40 * allowance


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_start_up_check_passes_near_ties_that_a_candidate_reorders(seed: int) -> None:
    # A card's handful of reference scores: four spread (at least 0.5 apart), four near-tied at the
    # head's floor; the candidate reverses the near-ties' order and keeps every decisive comparison.
    rng = np.random.default_rng(seed)
    spread = np.sort(rng.uniform(0.0, 1.0, 4)) + 1.5 * np.arange(4)
    floor = spread.min() - 3.0 + rng.uniform(0.0, 2e-3, 4)
    fp32 = rng.permutation(np.concatenate([spread, floor]))
    reduced = _reversed_within(fp32, np.flatnonzero(fp32 < spread.min()))
    export_rule = fidelity_report("bf16", fp32, reduced, all_comparisons(8))
    assert export_rule.agreement_above_margin == 1.0 and export_rule.spearman < MIN_SPEARMAN
    assert not export_rule.passed  # the full rule over eight scores refuses it: the defect of issue 19
    report = reference_fidelity_report("bf16", fp32, reduced)
    assert report.passed and not report.spearman_judged and report.spearman == export_rule.spearman
    assert report.near_tie_flips == 6 and report.decisive == 28 - 6
    assert report.to_dict()["spearman_judged"] is False and report.to_dict()["passed"] is True
    assert "passes" in report.summary() and "reported, not judged: 8 scores" in report.summary()


def test_the_start_up_check_fails_a_candidate_that_flips_a_decisive_comparison() -> None:
    rng = np.random.default_rng(7)
    fp32 = rng.normal(0.0, 2.0, 8)
    margin = NEAR_TIE_FRACTION * fp32.std()
    # The two closest scores that are still more than the margin apart swap places; nothing else moves.
    a, b = min(
        ((i, j) for i, j in all_comparisons(8) if abs(fp32[i] - fp32[j]) > margin),
        key=lambda ij: abs(fp32[ij[0]] - fp32[ij[1]]),
    )
    reduced = fp32.copy()
    reduced[[a, b]] = fp32[[b, a]]
    report = reference_fidelity_report("bf16", fp32, reduced)
    assert not report.passed and report.agreement_above_margin < 1.0 and not report.spearman_judged
    assert report.flipped_margins_std[-1] > NEAR_TIE_FRACTION
    assert "FAILS" in report.summary()


def test_a_big_reference_set_is_still_judged_by_spearman() -> None:
    # Near-tie reversals in clusters of four: with one score fewer than the threshold they are reported;
    # from the threshold on Spearman is judged, and what they cost it fails the candidate.
    for items, judged in ((MIN_SCORES_FOR_SPEARMAN - 1, False), (MIN_SCORES_FOR_SPEARMAN, True), (200, True)):
        fp32, reduced = _clustered(items, cluster=4, seed=items)
        report = reference_fidelity_report("bf16", fp32, reduced)
        assert report.agreement_above_margin == 1.0 and report.decisive > 0 and report.near_tie_flips > 0
        assert report.spearman < MIN_SPEARMAN
        assert report.spearman_judged is judged and report.passed is not judged, items
    # A big set whose only reordering is one swap of near-tied neighbours passes, Spearman judged.
    fp32, _ = _clustered(400, cluster=4, seed=3)
    lowest = np.argsort(fp32)[:2]
    report = reference_fidelity_report("bf16", fp32, _reversed_within(fp32, lowest))
    assert report.spearman_judged and report.near_tie_flips == 1 and report.passed


class _ByResponse:
    """A formatter stub: one token, the response's index in `responses` (startup_fidelity only encodes)."""

    max_length = 512

    def __init__(self, responses: list[str]) -> None:
        self.index = {response: i for i, response in enumerate(responses)}

    def encode(self, prompt: object, response: str) -> EncodedPair:
        return EncodedPair((self.index[response],), None, False)


def _scorer(scores: np.ndarray) -> Callable[[Sequence[EncodedPair]], np.ndarray]:
    return lambda items: scores[[item.input_ids[0] for item in items]]


def test_startup_fidelity_judges_the_cards_reference_pairs_by_the_start_up_rule() -> None:
    from models.card import ModelCard

    rng = np.random.default_rng(11)
    fp32 = np.concatenate([np.sort(rng.uniform(0.0, 1.0, 4)) + 1.5 * np.arange(4), -4.0 + rng.uniform(0, 0.01, 4)])
    responses = [f"response {i}" for i in range(len(fp32))]
    pairs = [ReferencePair(prompt="p", response=r, score=float(s)) for r, s in zip(responses, fp32, strict=True)]
    path = Path("/models/rm")
    folder = ModelFolder(path, {}, "encoder", (), path / "model.onnx", ModelCard(name="rm", reference_pairs=pairs))
    formatter = _ByResponse(responses)
    bf16 = Candidate("openvino", "bf16")

    near_ties_reversed = _reversed_within(fp32, np.arange(4, 8))
    report = startup_fidelity(folder, formatter, bf16, _scorer(near_ties_reversed), None)  # type: ignore[arg-type]
    assert not isinstance(report, str)
    assert report.passed and report.near_tie_flips == 6 and report.spearman < MIN_SPEARMAN
    top, bottom = int(np.argmax(fp32)), int(np.argmin(fp32))
    decisive_flip = fp32.copy()
    decisive_flip[[top, bottom]] = fp32[[bottom, top]]
    report = startup_fidelity(folder, formatter, bf16, _scorer(decisive_flip), None)  # type: ignore[arg-type]
    assert not isinstance(report, str) and not report.passed and report.agreement_above_margin < 1.0


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


def test_on_amx_untimed_bf16_is_chosen_when_it_passes_and_not_when_it_fails(
    default_onnx_dir: Path, tmp_path: Path
) -> None:
    # The card's own reference pairs, near-ties included: four of its eight scores sit at the head's floor
    # within the margin of one another, and bf16 may tie or reorder them; the start-up check judges eight
    # scores by agreement above the margin and reports Spearman.
    passing = _copy_with_fidelity(default_onnx_dir, tmp_path / "no-record", None)
    settings = Settings(dtype="auto", choice_budget_s=0, workers=1)
    folder = inspect_model_folder(passing)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer)
    backend, choice = choose_backend(settings, folder, tokenizer, formatter, features=AMX)
    try:
        assert (backend.name, choice.mode) == ("openvino", "auto")
        judged = choice.fidelity["openvino bf16"]
        assert judged["passed"] is True and judged["scores"] < MIN_SCORES_FOR_SPEARMAN
        assert judged["spearman_judged"] is False and judged["agreement_above_margin"] == 1.0
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
