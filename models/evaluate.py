"""Pairwise accuracy of a reward model on preference pairs, RewardBench style (torch, onnxruntime or OpenVINO).

A pair counts as correct when the chosen response scores strictly higher than the rejected one; a tie
counts as wrong. The 95% confidence interval is Wilson's score interval, which stays inside [0, 1] and
behaves at small n where the normal approximation does not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.data import PreferencePair
from models.folder import ONNX_FILENAME, ModelLoadError, build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair, PairFormatter
from models.heads import read_head
from models.runtime import ScoreFn, choose_runtime, onnx_score_fn, score_in_length_order

Z_95 = 1.959963984540054
EvalBackend = Literal["auto", "torch", "onnx", "openvino"]


@dataclass(frozen=True)
class PairwiseResult:
    """Accuracy over `n` pairs with its 95% Wilson interval; `mean_margin` is mean(chosen - rejected)."""

    n: int
    correct: int
    ties: int
    accuracy: float
    ci95_low: float
    ci95_high: float
    mean_margin: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def pairwise_result(chosen_scores: np.ndarray, rejected_scores: np.ndarray) -> PairwiseResult:
    """Score arrays of equal shape (n,) -> accuracy (ties wrong), interval and mean margin."""
    if chosen_scores.shape != rejected_scores.shape or chosen_scores.ndim != 1:
        raise ValueError("chosen and rejected scores must be 1-D arrays of the same length")
    margins = chosen_scores.astype(np.float64) - rejected_scores.astype(np.float64)
    n = int(margins.shape[0])
    correct = int((margins > 0).sum())
    low, high = wilson_interval(correct, n)
    return PairwiseResult(
        n=n,
        correct=correct,
        ties=int((margins == 0).sum()),
        accuracy=correct / n if n else 0.0,
        ci95_low=low,
        ci95_high=high,
        mean_margin=float(margins.mean()) if n else 0.0,
    )


def encode_preferences(
    formatter: PairFormatter, pairs: Sequence[PreferencePair]
) -> tuple[list[EncodedPair], list[EncodedPair]]:
    """(chosen encodings, rejected encodings), one of each per pair, in order."""
    chosen = [formatter.encode(p.prompt, p.chosen) for p in pairs]
    rejected = [formatter.encode(p.prompt, p.rejected) for p in pairs]
    return chosen, rejected


def score_many(
    model: Any,
    encoded: Sequence[EncodedPair],
    pad_token_id: int,
    batch_size: int = 32,
    device: str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """`score_in_length_order` with a loaded torch model."""
    from models.torch_model import score_encoded

    return score_in_length_order(
        lambda batch: score_encoded(model, batch, pad_token_id, device), encoded, batch_size, progress
    )


def evaluate_pairs(
    model: Any,
    formatter: PairFormatter,
    pad_token_id: int,
    pairs: Sequence[PreferencePair],
    batch_size: int = 32,
    device: str = "cpu",
    progress: bool = False,
) -> PairwiseResult:
    """Pairwise accuracy of a loaded torch model (left in whatever train/eval mode it was given)."""
    chosen, rejected = encode_preferences(formatter, pairs)
    scores = score_many(model, chosen + rejected, pad_token_id, batch_size, device, progress)
    return pairwise_result(scores[: len(pairs)], scores[len(pairs) :])


@dataclass(frozen=True)
class FolderEvaluation:
    """An evaluation of a model folder: the result plus what was measured and how."""

    result: PairwiseResult
    model: str
    kind: str
    backend: str  # "torch", "onnx" or "openvino": what scored the pairs
    dtype: str  # the precision it computed in ("fp32", "bf16", "int8", ...)
    max_length: int
    truncated_pairs: int
    margins: np.ndarray  # float64 (n,): chosen - rejected, per pair in input order
    temperature: float | None  # of the model card's calibration, when it has one
    attributes: dict[str, PairwiseResult] | None = None  # a multi-objective head's, each attribute alone


def evaluate_folder(
    model_dir: str | Path,
    pairs: Sequence[PreferencePair],
    batch_size: int = 32,
    max_length: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    threads: int | None = None,
    backend: EvalBackend = "auto",
    trust_remote_code: bool = False,
    dtype: str = "fp32",
) -> FolderEvaluation:
    """Load a reward-model folder and measure its pairwise accuracy on `pairs`.

    `backend` "auto" scores as the server would serve the folder: onnxruntime when it holds model.onnx
    (an fp32 or int8 export; torch is then never imported), else torch. "openvino" scores model.onnx on
    OpenVINO. `dtype` (fp32 or bf16) is the torch or OpenVINO precision (onnxruntime runs the file's).
    Raises ModelLoadError for an unusable folder, including a bare backbone without a reward head.
    `threads` sets the intra-op threads (default: the CPUs available). A multi-objective head is scored
    with its card's combination, and each attribute's own pairwise accuracy is reported too (`attributes`).
    """
    folder = inspect_model_folder(model_dir)
    head = read_head(str(folder.path), folder.config, folder.card, trust_remote_code)
    if head.kind == "process":
        raise ModelLoadError(
            f"{folder.path} is a process reward model: evaluate it on step-labelled rows "
            "(TRL's stepwise format: prompt, completions, labels)"
        )
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, max_length)
    pad_token_id = tokenizer.pad_token_id
    runtime = choose_runtime(backend, has_onnx=folder.onnx_file is not None)
    if runtime != "torch" and head.kind != "reward":
        raise ModelLoadError(f"{folder.path} has a multi-objective head, which rmserve evaluates with --backend torch")
    score_batch: ScoreFn
    if runtime in ("onnx", "openvino") and folder.onnx_file is None:
        raise ModelLoadError(f"model folder {folder.path} has no {ONNX_FILENAME}; export one with rmserve export")
    if dtype not in ("fp32", "bf16") or (dtype == "bf16" and runtime == "onnx"):
        raise ModelLoadError(f"{runtime} does not evaluate in {dtype} (bf16: --backend openvino or torch)")
    computed = dtype
    if runtime == "openvino":
        from models.openvino_runtime import OpenVinoModel

        assert folder.onnx_file is not None
        openvino_model = OpenVinoModel(folder.onnx_file, pad_token_id, dtype, threads_per_stream=threads)
        score_batch, computed = openvino_model.score, openvino_model.precision
    elif runtime == "onnx":
        assert folder.onnx_file is not None
        on_gpu = device.startswith("cuda")
        providers = ("CUDAExecutionProvider", "CPUExecutionProvider") if on_gpu else ("CPUExecutionProvider",)
        score_batch = onnx_score_fn(folder.onnx_file, pad_token_id, providers, threads=threads)
        computed = folder.card.export.dtype if folder.card and folder.card.export else "fp32"
    else:
        # torch is imported only once the folder has proved usable, so a bad folder fails fast.
        from models.torch_model import configure_threads, head_outputs_encoded, load_torch_reward_model, score_encoded

        configure_threads(threads)
        model = load_torch_reward_model(folder, pad_token_id, device=device, dtype=dtype, head=head)  # type: ignore[arg-type]
        score_one = head_outputs_encoded if head.kind == "multi_objective" else score_encoded

        def score_batch(batch: Sequence[EncodedPair]) -> np.ndarray:
            return score_one(model, batch, pad_token_id, device)

    chosen, rejected = encode_preferences(formatter, pairs)
    scores = score_in_length_order(score_batch, chosen + rejected, batch_size, progress)
    attributes = None
    if head.weights is not None:
        n = len(pairs)
        attributes = {name: pairwise_result(scores[:n, k], scores[n:, k]) for k, name in enumerate(head.labels)}
        scores = (scores.astype(np.float64) @ np.asarray(head.weights, dtype=np.float64)).astype(np.float32)
    truncated = sum(1 for c, r in zip(chosen, rejected, strict=True) if c.truncated or r.truncated)
    calibration = folder.card.calibration if folder.card else None
    return FolderEvaluation(
        result=pairwise_result(scores[: len(pairs)], scores[len(pairs) :]),
        model=folder.name,
        kind=folder.kind,
        backend=runtime,
        dtype=computed,
        max_length=formatter.max_length,
        truncated_pairs=truncated,
        margins=scores[: len(pairs)].astype(np.float64) - scores[len(pairs) :].astype(np.float64),
        temperature=calibration.temperature if calibration else None,
        attributes=attributes,
    )
