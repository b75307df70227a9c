"""int8 quantization of an exported reward model, and the quality gate it must pass before it is written.

Method: onnxruntime's dynamic quantization (int8 weights per output channel for every MatMul but the
feed-forward down projections, in a 7-bit range so that AVX2 CPUs without VNNI do not saturate their
int16 sums; activations quantized at run time with a scale computed over the whole input tensor),
*executed one pair per run*. The down projection (BERT's `output.dense`, Llama's `down_proj`) stays fp32
because its input, the activation function's output, has a few outlier channels that dominate a
per-tensor scale and round everything else away. Measured on the default model against fp32 (tuning
pairs only: the project set's training rows and HH-RLHF rows :300): keeping it fp32 cut the flipped
preferences on HH from 17 to 6 of 300 and the largest score change from 1.4 to 0.59, for about 10% of
int8's speed per pair (38-40 against 41-47 pairs/s one at a time, fp32 31). Dynamic scales
over a batch make a pair's score depend on its neighbours (measured on MiniLM-L6: up to 0.0074 against a
score spread of 0.010), and a reward oracle must give a pair the same score whatever it was batched
with. Run alone, the scale is computed over that pair's own tokens only (and no padding is ever
quantized), so the score is exactly the one it gets in any batch: per-row activation scales. The model's
metadata says so (`rmserve_rows_per_run=1`) and the ONNX backend honours it. On a CPU little is lost:
length-sorted batches beat single pairs by at most ~1.4x on short pairs and not at all at HH-RLHF lengths.

Static quantization (scales fixed at export from calibration data) was measured and rejected: batch
invariant too, but per-tensor calibrated scales cannot follow BERT's per-token activation outliers;
on an HH-trained MiniLM RM it agreed with fp32 on 77-86% of held-out pairs, where per-row dynamic
agreed on 88-97% (Spearman 0.84-0.91 against 0.98).

The gate: int8 against fp32 on held-out preference pairs, reporting pairwise agreement (the two models
prefer the same response), the Spearman rank correlation of all scores, and each model's pairwise
accuracy. Export refuses an int8 model below `MIN_AGREEMENT` unless forced (dynamic quantization is known
to wreck some models: onnxruntime issue 9599).

Imports onnxruntime (and onnx through its quantization tools): used by export only, never by serving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.data import PreferencePair
from models.errors import UserError
from models.fidelity import FidelityReport, fidelity_report, preference_comparisons, spearman
from models.formatting import PairFormatter
from models.runtime import ScoreFn, score_in_length_order

MIN_AGREEMENT = 0.99


class QuantizationQualityError(UserError, RuntimeError):
    """The int8 model disagrees with fp32 too often; the message carries the figures."""


@dataclass(frozen=True)
class QualityReport:
    """int8 against fp32 on `pairs` held-out preference pairs.

    `agreement`: share of pairs on which both models prefer the same response (a tie in either counts as
    disagreement unless both tie). `spearman`: rank correlation of the 2*pairs scores. `accuracy_*`:
    share of pairs whose chosen response scores strictly higher. `max_abs_diff`: largest score change.
    `flipped_margins`: |fp32 chosen - rejected| of each pair int8 flips, ascending, against
    `median_abs_margin` over all pairs: flips of near-ties cost little, flips of clear preferences much.
    """

    pairs: int
    agreement: float
    spearman: float
    accuracy_fp32: float
    accuracy_int8: float
    max_abs_diff: float
    min_agreement: float
    flipped_margins: tuple[float, ...] = ()
    median_abs_margin: float = 0.0

    @property
    def passed(self) -> bool:
        return self.agreement >= self.min_agreement

    def summary(self) -> str:
        flipped = ""
        if self.flipped_margins:
            shown = ", ".join(f"{margin:.3g}" for margin in self.flipped_margins[:5])
            more = ", ..." if len(self.flipped_margins) > 5 else ""
            flipped = (
                f"; {len(self.flipped_margins)} flipped, their fp32 |margins| {shown}{more} "
                f"(median |margin| {self.median_abs_margin:.3g})"
            )
        return (
            f"int8 vs fp32 on {self.pairs} held-out pairs: agreement {self.agreement:.2%} (minimum "
            f"{self.min_agreement * 100:g}%), Spearman {self.spearman:.4f}, accuracy fp32 {self.accuracy_fp32:.2%} "
            f"-> int8 {self.accuracy_int8:.2%}, max |score diff| {self.max_abs_diff:.3g}{flipped}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"flipped_margins": list(self.flipped_margins), "passed": self.passed}


def quality_report(
    fp32_chosen: np.ndarray,
    fp32_rejected: np.ndarray,
    int8_chosen: np.ndarray,
    int8_rejected: np.ndarray,
    min_agreement: float = MIN_AGREEMENT,
) -> QualityReport:
    """Compare int8 with fp32 scores of the same chosen/rejected responses (arrays of shape (n,))."""
    fp32_margin = fp32_chosen.astype(np.float64) - fp32_rejected
    int8_margin = int8_chosen.astype(np.float64) - int8_rejected
    n = len(fp32_margin)
    if n == 0 or int8_margin.shape != (n,):
        raise ValueError("quality_report needs equal, non-empty score arrays")
    fp32_all = np.concatenate([fp32_chosen, fp32_rejected])
    int8_all = np.concatenate([int8_chosen, int8_rejected])
    agrees = np.sign(fp32_margin) == np.sign(int8_margin)
    return QualityReport(
        pairs=n,
        agreement=float(np.mean(agrees)),
        spearman=spearman(fp32_all, int8_all),
        accuracy_fp32=float(np.mean(fp32_margin > 0)),
        accuracy_int8=float(np.mean(int8_margin > 0)),
        max_abs_diff=float(np.max(np.abs(fp32_all.astype(np.float64) - int8_all))),
        min_agreement=min_agreement,
        flipped_margins=tuple(float(m) for m in np.sort(np.abs(fp32_margin[~agrees]))),
        median_abs_margin=float(np.median(np.abs(fp32_margin))),
    )


def check_quality(report: QualityReport, force: bool) -> None:
    """Raise QuantizationQualityError with the figures when the report fails and `force` is off."""
    if report.passed or force:
        return
    raise QuantizationQualityError(
        f"refusing to write the int8 model: {report.summary()}. Serve the fp32 export instead, or pass "
        "--force (or a lower --min-agreement) to write it anyway (recorded in the model card)"
    )


def measure_quality(
    fp32_score: ScoreFn,
    int8_score: ScoreFn,
    formatter: PairFormatter,
    pairs: Sequence[PreferencePair],
    min_agreement: float = MIN_AGREEMENT,
    precision: str = "int8",
) -> tuple[QualityReport, FidelityReport]:
    """Score the chosen and rejected responses of `pairs` with both models and compare them: this
    module's int8 quality report and the fidelity gate of every reduced precision (`models.fidelity`)."""
    encoded = [formatter.encode(p.prompt, p.chosen) for p in pairs] + [
        formatter.encode(p.prompt, p.rejected) for p in pairs
    ]
    fp32 = score_in_length_order(fp32_score, encoded, batch_size=16)
    int8 = score_in_length_order(int8_score, encoded, batch_size=16)
    n = len(pairs)
    fidelity = fidelity_report(precision, fp32, int8, preference_comparisons(n))
    return quality_report(fp32[:n], fp32[n:], int8[:n], int8[n:], min_agreement), fidelity


def down_projection_nodes(model_path: Path, hidden_size: int, intermediate_size: int) -> list[str]:
    """Names of the MatMul nodes of `model_path` whose weight maps `intermediate_size` features back to
    `hidden_size` (an ONNX MatMul weight is stored [in, out]): the feed-forward down projections."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    down_shaped = {tensor.name for tensor in graph.initializer if list(tensor.dims) == [intermediate_size, hidden_size]}
    return [node.name for node in graph.node if node.op_type == "MatMul" and node.input[1] in down_shaped]


def quantize_int8_dynamic(fp32_path: Path, out_path: Path, keep_fp32: Sequence[str] = ()) -> dict[str, Any]:
    """Write a dynamically quantized int8 copy of `fp32_path` to `out_path`: MatMul weights int8 except
    the nodes named in `keep_fp32` (see `down_projection_nodes`).

    Returns what the model card records about the method. The caller marks the model to run one pair
    per run (`models.runtime.OnnxMetadata.rows_per_run`), which is what makes it batch invariant.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32_path),
        str(out_path),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        reduce_range=True,
        nodes_to_exclude=list(keep_fp32),
    )
    return {
        "method": "dynamic, one pair per run",
        "op_types": ["MatMul"],
        "kept_fp32": f"{len(keep_fp32)} feed-forward down projections",
        "weights": "int8, per output channel, 7-bit range (no int16 saturation on CPUs without VNNI)",
        "activations": "uint8, scale per pair at run time (each pair runs alone: batch invariant)",
    }
