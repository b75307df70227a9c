"""`python -m loadtest.onnx_bench`: torch fp32 vs onnx fp32 vs onnx optimized vs onnx int8, in one run.

The backends alone, in-process (no HTTP): the same HH-RLHF holdout responses, sorted by length, scored in
batches of several sizes; each variant and batch size runs `--repeats` times, interleaved round-robin so
that every variant sees the same background load, and the median pairs/s is reported. Then the int8
model's quality against fp32 on the whole HH-RLHF holdout (its last 512 pairs): agreement on the
preferred response, Spearman correlation, and the pairwise accuracy of both.

The ONNX variants are made by `models.export.export_model` from `--model` (default: the embedded default
model, trained on rmserve's own preference set, so accuracy means something). int8 is exported with
--force so that a model that fails the gate is still measured; the gate's figures are printed. The int8
model runs one pair per run whatever the batch size (that is what makes it batch invariant).

    python -m loadtest.onnx_bench [--model DIR] [--pairs 256] [--batch-sizes 1,8,32] [--repeats 3]
        [--threads 2] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from models.data import RowRange, read_preferences
from models.formatting import EncodedPair
from models.runtime import ScoreFn

HH_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"
HOLDOUT = RowRange(-512, None)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.onnx_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="safetensors RM folder (default: default model)")
    parser.add_argument("--data", type=Path, default=HH_PATH, help="HH-RLHF file; the holdout is its last 512 rows")
    parser.add_argument("--pairs", type=int, default=256, help="responses timed per pass")
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (torch, onnx)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def _onnx_score_fn(path: Path, pad_id: int, threads: int) -> ScoreFn:
    from models.folder import inspect_model_folder
    from service.backends.onnx_backend import OnnxBackend

    backend = OnnxBackend(inspect_model_folder(path), pad_id, threads_per_worker=threads)
    return backend.score


def _torch_score_fn(model_dir: Path, pad_id: int, threads: int) -> ScoreFn:
    from models.folder import inspect_model_folder
    from models.torch_model import configure_threads, load_torch_reward_model, score_encoded

    configure_threads(threads)
    model = load_torch_reward_model(inspect_model_folder(model_dir), pad_id, attn_implementation="sdpa")
    return lambda batch: score_encoded(model, batch, pad_id)


def _one_pass(score: ScoreFn, ordered: Sequence[EncodedPair], batch_size: int) -> float:
    """Seconds to score `ordered` (already length-sorted) in consecutive batches of `batch_size`."""
    started = time.perf_counter()
    for start in range(0, len(ordered), batch_size):
        score(ordered[start : start + batch_size])
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    from models.export import ExportOptions, export_model
    from models.folder import build_formatter, inspect_model_folder, load_tokenizer
    from models.quantize import quality_report
    from models.runtime import score_in_length_order

    args = _parse_args(argv)
    if args.model is None:
        from models.default_model import ensure_default_model

        args.model = Path(ensure_default_model())
    folder = inspect_model_folder(args.model)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, args.max_length)
    pad_id = tokenizer.pad_token_id
    holdout = read_preferences(args.data, HOLDOUT)

    work = Path(tempfile.mkdtemp(prefix="onnx-bench-"))
    quiet: Callable[[str], None] = lambda _message: None  # noqa: E731
    print(f"exporting {folder.name} three ways into {work} ...", flush=True)
    exports = {
        "onnx fp32": export_model(args.model, work / "fp32", ExportOptions(max_length=args.max_length), quiet),
        "onnx optimized": export_model(
            args.model, work / "opt", ExportOptions(optimize=True, max_length=args.max_length), quiet
        ),
        "onnx int8": export_model(
            args.model, work / "int8", ExportOptions(quantize="int8", force=True, max_length=args.max_length), quiet
        ),
    }
    variants: dict[str, ScoreFn] = {"torch fp32": _torch_score_fn(args.model, pad_id, args.threads)}
    for name, result in exports.items():
        variants[name] = _onnx_score_fn(result.out_dir, pad_id, args.threads)

    responses = [formatter.encode(p.prompt, p.chosen) for p in holdout][: args.pairs]
    ordered = sorted(responses, key=lambda item: item.num_tokens)
    tokens = [item.num_tokens for item in ordered]
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    for score in variants.values():  # warm-up: first-run allocations and kernel selection
        score(ordered[:8])
    timings: dict[tuple[str, int], list[float]] = {(v, b): [] for v in variants for b in batch_sizes}
    for repeat in range(args.repeats):
        for batch_size in batch_sizes:
            for name, score in variants.items():
                timings[(name, batch_size)].append(len(ordered) / _one_pass(score, ordered, batch_size))
        print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)
    throughput = {f"{v} @ {b}": statistics.median(values) for (v, b), values in timings.items()}

    encoded = [formatter.encode(p.prompt, p.chosen) for p in holdout] + [
        formatter.encode(p.prompt, p.rejected) for p in holdout
    ]
    fp32 = score_in_length_order(variants["onnx fp32"], encoded, batch_size=16)
    int8 = score_in_length_order(variants["onnx int8"], encoded, batch_size=16)
    n = len(holdout)
    quality = quality_report(fp32[:n], fp32[n:], int8[:n], int8[n:])
    int8_record = exports["onnx int8"].card.export
    int8_gate = (int8_record.quantization or {}).get("gate") if int8_record else None

    lines = [
        f"model: {folder.name} ({folder.path}); {len(ordered)} HH-RLHF holdout responses, tokens median "
        f"{statistics.median(tokens):g}, max {max(tokens)} (max_length {args.max_length}); threads {args.threads}; "
        f"median of {args.repeats} interleaved passes",
        "",
        "| variant | " + " | ".join(f"batch {b} pairs/s" for b in batch_sizes) + " |",
        "|---|" + "---|" * len(batch_sizes),
    ]
    for name in variants:
        cells = " | ".join(f"{throughput[f'{name} @ {b}']:.1f}" for b in batch_sizes)
        lines.append(f"| {name} | {cells} |")
    lines += [
        "",
        f"int8 on the HH-RLHF holdout: {quality.summary()}",
        f"int8 export gate (default set, held-out rows): {int8_gate}",
    ]
    print("\n".join(lines), flush=True)
    if args.out:
        payload: dict[str, Any] = {
            "model": str(folder.path),
            "pairs": len(ordered),
            "tokens_median": statistics.median(tokens),
            "threads": args.threads,
            "repeats": args.repeats,
            "throughput_pairs_per_s": throughput,
            "int8_holdout": quality.to_dict(),
            "int8_export_gate": int8_gate,
        }
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
