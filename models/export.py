"""Export a reward-model folder to ONNX, gated on parity with torch (imports torch, onnx, onnxruntime).

The result is a complete servable folder: `model.onnx` (dynamic batch and sequence axes, one float32
output of shape (batch,): the raw reward), the tokenizer files, `config.json` and the model card, whose
`export` section records the opset, the measured parity, optimization, quantization and `--force`, and
whose reference pairs are re-scored with the exported model (the server's start-up self-test).

Gates, each measured on onnxruntime's CPU provider before anything is written:
- fp32 parity: every score within `FP32_PARITY_TOLERANCE` of torch, on a parity set of pairs of mixed
  lengths (one truncated at max_length), scored in one padded batch and one at a time. Not overridable:
  a graph that disagrees with its source is a bug.
- `--optimize` (onnxruntime transformer fusions): the same fp32 gate on the fused graph.
- `--fp16`: the fp16 tolerance (GPU serving); measured on CUDA when present, else on the CPU provider.
- `--quantize int8` (dynamic, one pair per run; see `models.quantize`): the quality gate (agreement with
  fp32 on held-out preference pairs), which `--force` overrides; and batch invariance (a pair scores the
  same alone and in a padded batch, within `BATCH_INVARIANCE_TOLERANCE`), which it does not.

Exporter: the TorchScript tracer (`torch.onnx.export(..., dynamo=False)`): deterministic, needs no
onnxscript, and traces both the encoder and the decoder architectures of transformers 5 (the parity gate
is what proves each trace right). Everything is built in a staging folder beside `out` and moved into
place only when every gate passed, so a refused export leaves nothing behind.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.batching import pad_batch
from models.card import CARD_FILENAME, ExportParity, ExportRecord, Fp16Check, ModelCard
from models.data import PreferencePair, RowRange, data_name, read_preferences
from models.errors import UserError
from models.folder import ONNX_FILENAME, ModelFolder, build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair, PairFormatter, Prompt
from models.quantize import (
    MIN_AGREEMENT,
    QualityReport,
    check_quality,
    down_projection_nodes,
    measure_quality,
    quantize_int8_dynamic,
)
from models.runtime import OnnxMetadata, ScoreFn, onnx_score_fn
from models.selftest import compute_reference_pairs, reference_pairs_to_store
from models.tokenizer import copy_tokenizer_files

OPSET = 17
FP32_PARITY_TOLERANCE = 1e-4
# fp16 keeps ~3 significant digits per activation; over a dozen layers the reward moves by about 1e-3 of
# its scale, so allow 1e-2 absolute plus 1e-2 of the largest |score|.
FP16_ABSOLUTE_TOLERANCE = 1e-2
FP16_RELATIVE_TOLERANCE = 1e-2
# int8 runs one pair per run, so alone and "in a batch" are the same computation: any difference is a bug.
BATCH_INVARIANCE_TOLERANCE = 1e-6
GATE_PAIRS = 256
OUTPUT_NAME = "scores"
# onnxruntime.transformers fusions by config model_type; other encoders and all decoders get none.
FUSION_MODEL_TYPES = {
    "bert": "bert",
    "roberta": "bert",
    "xlm-roberta": "bert",
    "distilbert": "bert",
    "camembert": "bert",
}

# Pairs of several shapes for the parity set; the long one is cut at max_length, so the widest shape the
# model serves is part of the check.
PARITY_PROMPTS: tuple[tuple[Prompt, str], ...] = (
    ("Hi", "Hello!"),
    ("What is 2 + 2?", "4"),
    ("Explain photosynthesis briefly.", "Plants turn light, water and CO2 into sugar and oxygen."),
    (
        [
            {"role": "system", "content": "You are a careful assistant."},
            {"role": "user", "content": "Can you recommend a book about the sea?"},
            {"role": "assistant", "content": "Moby-Dick, if you like long ones."},
            {"role": "user", "content": "Something shorter?"},
        ],
        "The Old Man and the Sea: about 130 pages.",
    ),
    ("Summarise the text below.\n" + "The river rose slowly through the night. " * 12, "The river flooded."),
    ("Tell me a story.", "Once upon a time, " + "a fox walked through the long grass and wondered. " * 200),
)

Log = Callable[[str], None]


class ExportError(UserError, RuntimeError):
    """The export was refused: a parity gate failed, or the options or folders do not fit together."""


@dataclass(frozen=True)
class ExportOptions:
    """What `rmserve export` was asked for."""

    optimize: bool = False
    quantize: Literal["int8"] | None = None
    precision: Literal["fp32", "bf16", "int8"] = "fp32"
    fp16: bool = False
    force: bool = False
    gate_data: Path | None = None
    gate_rows: RowRange | None = None
    max_length: int | None = None
    opset: int = OPSET
    gate_pairs: int = GATE_PAIRS
    min_agreement: float = MIN_AGREEMENT


@dataclass
class ExportResult:
    """The written folder, its card, and the figures measured on the way."""

    out_dir: Path
    card: ModelCard
    dtype: str
    parity_max_abs_diff: float
    quality: QualityReport | None = None
    notes: list[str] = field(default_factory=list)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Parity:
    """Largest |onnx - torch| over the parity set (one mixed batch and each pair alone), and the largest
    difference between a pair's ONNX score alone and inside the mixed batch."""

    max_abs_diff: float
    batch_invariance: float
    pairs: int


def measure_parity(reference: np.ndarray, score_fn: ScoreFn, encoded: Sequence[EncodedPair]) -> Parity:
    """Compare `score_fn` on `encoded` (batched and alone) with the `reference` scores (torch fp32)."""
    batched = np.asarray(score_fn(encoded), dtype=np.float64)
    alone = np.array([float(score_fn([item])[0]) for item in encoded])
    ref = reference.astype(np.float64)
    return Parity(
        max_abs_diff=float(max(np.abs(batched - ref).max(), np.abs(alone - ref).max())),
        batch_invariance=float(np.abs(batched - alone).max()),
        pairs=len(encoded),
    )


def batch_invariance(score_fn: ScoreFn, encoded: Sequence[EncodedPair]) -> float:
    """Largest |score alone - score inside one batch of all `encoded`| (mixed lengths, so padded)."""
    batched = np.asarray(score_fn(encoded), dtype=np.float64)
    alone = np.array([float(score_fn([item])[0]) for item in encoded])
    return float(np.abs(batched - alone).max())


def parity_set(formatter: PairFormatter, card: ModelCard | None, extra: Sequence[PreferencePair]) -> list[EncodedPair]:
    """The pairs the gates compare on: built-in shapes, the card's reference pairs, a few data pairs."""
    pairs: list[tuple[Prompt, str]] = list(PARITY_PROMPTS) + reference_pairs_to_store(card)
    pairs += [(p.prompt, response) for p in extra for response in (p.chosen, p.rejected)]
    return [formatter.encode(prompt, response) for prompt, response in pairs]


def _torch_reference(model: Any, encoded: Sequence[EncodedPair], pad_token_id: int) -> np.ndarray:
    from models.torch_model import score_encoded

    return np.concatenate([score_encoded(model, [item], pad_token_id) for item in encoded])


def export_torch_to_onnx(
    model: Any, sample: Sequence[EncodedPair], pad_token_id: int, path: Path, opset: int = OPSET
) -> list[str]:
    """Trace `model` on `sample` (pairs of different lengths, so padding is traced too) into `path`.

    Inputs: input_ids, attention_mask (and token_type_ids when the pairs carry them), int64 of shape
    (batch, sequence), both axes dynamic. Output `scores`: float32 (batch,). Returns the input names.
    """
    import torch

    arrays = pad_batch(sample, pad_token_id)
    names = list(arrays)

    class RewardHead(torch.nn.Module):
        """Positional inputs in `names` order -> the reward logit (batch,)."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, inputs, strict=True))).logits[:, 0].float()

    # A fresh Module is in training mode; export restores the mode it found, and training mode would
    # switch dropout on in the wrapped model afterwards.
    wrapper = RewardHead(model).eval()
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # Tracer and deprecation chatter about shape-dependent Python code; the parity gate is the check.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        torch.onnx.export(
            wrapper,
            tuple(torch.from_numpy(arrays[name]) for name in names),
            str(path),
            dynamo=False,
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    return names


def set_metadata(path: Path, metadata: OnnxMetadata) -> None:
    """Write the set fields of `metadata` into the ONNX model's metadata_props, keeping the others (read at
    serving time without the onnx package: `models.runtime.OnnxMetadata.from_map`)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    existing = {prop.key: prop for prop in model.metadata_props}
    for key, value in metadata.to_map().items():
        if key in existing:
            existing[key].value = value
        else:
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def optimize_graph(source: Path, target: Path, folder: ModelFolder) -> dict[str, Any]:
    """Apply onnxruntime's transformer fusions to `source` into `target` when the architecture has them.

    Returns the card's record: applied or not (with the reason), the fusion model type and the fused
    operator counts. When not applied, `target` is not written.
    """
    model_type = str(folder.config.get("model_type", ""))
    fusion_type = FUSION_MODEL_TYPES.get(model_type)
    if fusion_type is None:
        return {
            "applied": False,
            "reason": f"onnxruntime has no transformer fusions for model type {model_type!r}; "
            "the graph is exported unfused (onnxruntime still applies its generic optimizations at load)",
        }
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(source),
        model_type=fusion_type,
        num_heads=int(folder.config.get("num_attention_heads", 0)),
        hidden_size=int(folder.config.get("hidden_size", 0)),
        opt_level=0,
        use_gpu=False,
    )
    fused = {name: int(count) for name, count in optimized.get_fused_operator_statistics().items() if count}
    optimized.save_model_to_file(str(target))
    return {"applied": True, "model_type": fusion_type, "fused_operators": fused}


def convert_to_fp16(source: Path, target: Path) -> None:
    """fp16 weights and activations, fp32 inputs and output (so callers feed and read the same types)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    onnx.save(convert_float_to_float16(model, keep_io_types=True), str(target))


def _check_out_dir(out_dir: Path, model_dir: Path) -> None:
    if out_dir.resolve() == model_dir.resolve():
        raise ExportError("--out must be a new folder, not the source model folder")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"--out {out_dir} exists and is not an empty folder; choose a new one")


def load_gate_pairs(
    path: Path | None, rows: RowRange | None, limit: int = GATE_PAIRS
) -> tuple[str, list[PreferencePair]]:
    """The int8 gate's name and pairs, at most `limit`: `rows` of `path` when given (the caller says they
    are held out), else the held-out rows of `path` as the default model splits it (`read_split`: the rows
    it is not trained on); `path` defaults to the project's own preference set."""
    from models.default_model import DEFAULT_DATA_PATH, read_split

    data_path = path or DEFAULT_DATA_PATH
    if path is None and not DEFAULT_DATA_PATH.is_file():
        raise ExportError(
            f"the int8 gate needs preference pairs and the default set {DEFAULT_DATA_PATH} is missing; "
            "pass --gate-data FILE (preference pairs, JSONL)"
        )
    gate = read_preferences(data_path, rows) if rows is not None else read_split(data_path).heldout
    if not gate:
        raise ExportError(f"the int8 gate has no pairs in {data_name(data_path, rows)}: choose more rows")
    return data_name(data_path, rows), gate[:limit]


def _gate_parity(what: str, parity: Parity, tolerance: float, log: Log) -> None:
    log(f"{what}: max |onnx - torch| {parity.max_abs_diff:.3g} on {parity.pairs} pairs (tolerance {tolerance:g})")
    if not parity.max_abs_diff <= tolerance:
        raise ExportError(
            f"refusing to write the model: {what} scores differ from torch by {parity.max_abs_diff:.3g} "
            f"(tolerance {tolerance:g}) on {parity.pairs} parity pairs"
        )


def _fp16_check(path: Path, reference: np.ndarray, encoded: Sequence[EncodedPair], pad_id: int, log: Log) -> Fp16Check:
    import onnxruntime as ort

    provider = "CUDAExecutionProvider" if "CUDAExecutionProvider" in ort.get_available_providers() else None
    providers = [provider, "CPUExecutionProvider"] if provider else ["CPUExecutionProvider"]
    tolerance = FP16_ABSOLUTE_TOLERANCE + FP16_RELATIVE_TOLERANCE * float(np.abs(reference).max())
    parity = measure_parity(reference, onnx_score_fn(path, pad_id, providers), encoded)
    _gate_parity(f"fp16 ({providers[0]})", parity, tolerance, log)
    return Fp16Check(provider=providers[0], max_abs_diff=parity.max_abs_diff, tolerance=tolerance)


def _bf16_gate(
    fp32_path: Path,
    pad_id: int,
    formatter: PairFormatter,
    preference: tuple[str, list[PreferencePair]],
    force: bool,
    log: Log,
) -> dict[str, Any]:
    """The fidelity gate of bf16 on OpenVINO (the runtime that serves bf16 from this file) against fp32
    on onnxruntime, on held-out preference pairs; refuses unless it passes or `force`. Needs a CPU with
    bf16 units: elsewhere OpenVINO computes fp32 and there would be nothing to measure."""
    from models.cpu_features import detect_cpu_features
    from models.openvino_runtime import OpenVinoModel, openvino_version

    features = detect_cpu_features()
    bf16 = OpenVinoModel(fp32_path, pad_id, "bf16")
    if bf16.precision != "bf16":
        raise ExportError(
            f"--precision bf16 is measured on OpenVINO's bf16 kernels, and this CPU ({features.summary()}) has no bf16 "
            "units (AMX or AVX512-BF16): export fp32 here, or run the export on such a CPU"
        )
    gate_name, gate = preference
    _, fidelity = measure_quality(onnx_score_fn(fp32_path, pad_id), bf16.score, formatter, gate, precision="bf16")
    log(fidelity.summary())
    if not fidelity.passed and not force:
        raise ExportError(f"refusing to write the bf16 model: {fidelity.summary()}; export fp32, or pass --force")
    if not fidelity.passed:
        log("--force: writing the model although bf16 failed the fidelity gate (recorded in the card)")
    return fidelity.to_dict() | {
        "runtime": f"openvino {openvino_version()}",
        "cpu": features.summary(),
        "gate_data": gate_name,
        "forced": force and not fidelity.passed,
    }


def export_model(
    model_dir: str | Path, out_dir: str | Path, options: ExportOptions = ExportOptions(), log: Log = _stderr
) -> ExportResult:
    """Export `model_dir` (a safetensors reward-model folder) to a servable ONNX folder `out_dir`.

    Raises ExportError (a UserError) when a gate refuses or the options conflict, ModelLoadError for an
    unusable source folder, DataFormatError for bad gate data. `out_dir` must not exist or be empty.
    """
    import onnx
    import onnxruntime
    import torch

    from models.torch_model import load_torch_reward_model

    source, out = Path(model_dir), Path(out_dir)
    if options.quantize and options.precision not in ("fp32", options.quantize):
        raise ExportError(f"--quantize {options.quantize} and --precision {options.precision} exclude each other")
    if options.quantize:
        options = replace(options, precision=options.quantize)
    if options.precision == "bf16" and options.fp16:
        raise ExportError("--precision bf16 and --fp16 exclude each other (bf16 is for CPUs, fp16 for GPUs)")
    if options.precision == "int8":
        options = replace(options, quantize="int8")
    if options.quantize and options.fp16:
        raise ExportError("--quantize int8 and --fp16 exclude each other (int8 is for CPUs, fp16 for GPUs)")
    if options.quantize and options.optimize:
        # onnxruntime's dynamic quantizer fails on the fused graph (the pooler's fused nodes); int8 is
        # applied to the plain graph, which already gains the most on a CPU.
        raise ExportError("--quantize int8 and --optimize cannot be combined: drop --optimize for an int8 export")
    _check_out_dir(out, source)
    folder = inspect_model_folder(source)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, options.max_length)
    pad_id = tokenizer.pad_token_id
    if not 0 < options.min_agreement <= 1:
        raise ExportError(f"--min-agreement must be in (0, 1], got {options.min_agreement}")
    preference: tuple[str, list[PreferencePair]] | None = None
    if options.precision != "fp32":
        preference = load_gate_pairs(options.gate_data, options.gate_rows, options.gate_pairs)
    # Eager attention traces to the MatMul/Softmax pattern that onnxruntime's Attention fusion recognises
    # (the SDPA trace is fused only partly); unfused, both run alike.
    model = load_torch_reward_model(folder, pad_id, device="cpu", dtype="fp32", attn_implementation="eager")
    encoded = parity_set(formatter, folder.card, preference[1][:4] if preference else [])
    log(f"exporting {folder.name} ({folder.architecture}, {folder.kind}) with max_length {formatter.max_length}")
    reference = _torch_reference(model, encoded, pad_id)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        fp32_path = staging / "fp32" / ONNX_FILENAME
        fp32_path.parent.mkdir()
        sample = sorted(encoded, key=lambda e: e.num_tokens)[:3]
        input_names = export_torch_to_onnx(model, sample, pad_id, fp32_path, options.opset)
        parity = measure_parity(reference, onnx_score_fn(fp32_path, pad_id), encoded)
        _gate_parity("fp32", parity, FP32_PARITY_TOLERANCE, log)
        final_path, dtype = fp32_path, "fp32"
        record = ExportRecord(
            format="onnx",
            file=ONNX_FILENAME,
            opset=options.opset,
            exporter="torch.onnx.export (TorchScript tracer, dynamo=False)",
            inputs=input_names,
            output=f"{OUTPUT_NAME}: float32 (batch,), raw reward",
            versions={"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
            source={"path": str(source.resolve()), "weights_digest": folder.weights_digest(prefer_onnx=False)},
            max_length=formatter.max_length,
            parity=ExportParity(
                pairs=parity.pairs,
                max_abs_diff=parity.max_abs_diff,
                tolerance=FP32_PARITY_TOLERANCE,
                batch_invariance_max_abs_diff=parity.batch_invariance,
            ),
            precision=options.precision,
            force=options.force,
        )

        if options.optimize:
            optimized_path = staging / "optimized" / ONNX_FILENAME
            optimized_path.parent.mkdir()
            outcome = optimize_graph(final_path, optimized_path, folder)
            if outcome["applied"]:
                opt_parity = measure_parity(reference, onnx_score_fn(optimized_path, pad_id), encoded)
                _gate_parity("optimized fp32", opt_parity, FP32_PARITY_TOLERANCE, log)
                outcome["parity_max_abs_diff"] = opt_parity.max_abs_diff
                log(f"--optimize: fused {outcome['fused_operators'] or 'nothing'}")
                final_path = optimized_path
            else:
                log(f"--optimize: {outcome['reason']}")
            record.optimization = outcome

        if options.fp16:
            fp16_path = staging / "fp16" / ONNX_FILENAME
            fp16_path.parent.mkdir()
            convert_to_fp16(final_path, fp16_path)
            record.fp16 = _fp16_check(fp16_path, reference, encoded, pad_id, log)
            final_path, dtype = fp16_path, "fp16"

        quality: QualityReport | None = None
        if options.quantize and preference is not None:
            gate_name, gate = preference
            int8_path = staging / "int8" / ONNX_FILENAME
            int8_path.parent.mkdir()
            keep_fp32 = down_projection_nodes(
                final_path, int(folder.config.get("hidden_size", 0)), int(folder.config.get("intermediate_size", 0))
            )
            log(f"quantizing to int8 (dynamic, one pair per run; {len(keep_fp32)} down projections kept fp32)")
            method = quantize_int8_dynamic(final_path, int8_path, keep_fp32)
            set_metadata(int8_path, OnnxMetadata(dtype="int8", rows_per_run=1))
            int8_score = onnx_score_fn(int8_path, pad_id)
            fp32_score = onnx_score_fn(final_path, pad_id)
            quality, fidelity = measure_quality(fp32_score, int8_score, formatter, gate, options.min_agreement)
            log(quality.summary())
            log(fidelity.summary())
            record.fidelity["int8"] = fidelity.to_dict() | {"runtime": "onnxruntime", "gate_data": gate_name}
            check_quality(quality, options.force)
            if not quality.passed:
                log("--force: writing the int8 model although it failed the quality gate (recorded in the card)")
            invariance = batch_invariance(int8_score, encoded)
            log(f"int8 batch invariance: max |alone - in batch| {invariance:.3g}")
            if invariance > BATCH_INVARIANCE_TOLERANCE:
                raise ExportError(
                    f"refusing to write the int8 model: a pair's score changes by {invariance:.3g} with its batch "
                    f"neighbours (tolerance {BATCH_INVARIANCE_TOLERANCE:g})"
                )
            record.quantization = method | {
                "gate_data": gate_name,
                "gate": quality.to_dict(),
                "forced": options.force and not quality.passed,
                "batch_invariance_max_abs_diff": invariance,
            }
            final_path, dtype = int8_path, "int8"

        if options.precision == "bf16" and preference is not None:
            record.fidelity["bf16"] = _bf16_gate(final_path, pad_id, formatter, preference, options.force, log)

        record.dtype = dtype
        set_metadata(final_path, OnnxMetadata(dtype=dtype))
        references = compute_reference_pairs(
            reference_pairs_to_store(folder.card), formatter, onnx_score_fn(final_path, pad_id)
        )
        record.reference_scores = {"computed_with": "onnxruntime CPUExecutionProvider", "dtype": dtype}
        record.exported_at = datetime.now(UTC).isoformat(timespec="seconds")
        card = (folder.card or ModelCard(name=folder.name, kind=folder.kind)).model_copy(
            update={"reference_pairs": references, "export": record, "max_length": formatter.max_length}
        )
        result_dir = staging / "result"
        result_dir.mkdir()
        shutil.move(str(final_path), result_dir / ONNX_FILENAME)
        external = final_path.with_name(final_path.name + ".data")
        if external.is_file():
            shutil.move(str(external), result_dir / external.name)
        _write_folder(folder, result_dir, card)
        if out.exists():
            out.rmdir()
        result_dir.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"wrote {out / ONNX_FILENAME} ({dtype})")
    return ExportResult(out, card, dtype, parity.max_abs_diff, quality)


def _write_folder(folder: ModelFolder, target: Path, card: ModelCard) -> None:
    from models.card import write_card

    copy_tokenizer_files(folder.path, target)
    shutil.copy2(folder.path / "config.json", target / "config.json")
    write_card(target, card)
    assert (target / CARD_FILENAME).is_file()
