"""`rmserve eval`: RewardBench-style pairwise accuracy of a reward-model folder on a preference file.

    rmserve eval --model runs/hh-rm --data harmless-base-test.jsonl.gz --rows 1800: --json

A process reward model is evaluated on step-labelled rows instead (TRL's stepwise format: `prompt`,
`completions` as a list of steps, `labels` one boolean per step): `accuracy` and `n` are then per step
(see models.evaluate_steps). A multi-objective model's pairs are judged by its card's combination, and
`attributes` gives each attribute's own pairwise accuracy.

A pair is correct when chosen scores strictly above rejected (a tie is wrong). `--json` prints exactly one
JSON object on stdout: accuracy, n, correct, ties, ci95 (Wilson), mean_margin, what was measured, and how
well the Bradley-Terry probabilities are calibrated (`calibration`: NLL, Brier, ECE of
sigmoid(chosen - rejected); `calibrated`: the same at the model card's temperature, null without one).
"""

from __future__ import annotations

import argparse
import json
import time

from models.data import row_range_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="reward-model folder (safetensors, with a reward head)")
    parser.add_argument("--data", required=True, help="preference pairs: JSONL or JSONL.gz, TRL or HH-RLHF format")
    parser.add_argument("--rows", type=row_range_argument, help="rows of --data to evaluate, as A:B (e.g. 1800:)")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass")
    parser.add_argument("--max-length", type=int, help="tokens per sequence (default: the model card's)")
    parser.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx", "openvino"],
        default="auto",
        help="auto (default): onnx when the folder holds model.onnx, else torch; openvino: model.onnx on OpenVINO",
    )
    parser.add_argument(
        "--dtype",
        choices=["fp32", "bf16"],
        default="fp32",
        help="precision of the torch or openvino backend (bf16: on CPUs with AMX or AVX512-BF16)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: the CPUs available)")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run the model folder's own code (needed by Qwen2.5-Math-PRM-style process reward models)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--progress", action="store_true", help="show a progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    from models.calibration import calibration_metrics
    from models.data import data_name, read_preferences
    from models.errors import UserError
    from models.evaluate import evaluate_folder

    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    started = time.perf_counter()
    if _is_process_model(args.model, args.trust_remote_code):
        return _run_steps(args, started)
    pairs = read_preferences(args.data, args.rows)
    evaluation = evaluate_folder(
        args.model,
        pairs,
        args.batch_size,
        args.max_length,
        device=args.device,
        progress=args.progress,
        threads=args.threads,
        backend=args.backend,
        trust_remote_code=args.trust_remote_code,
        dtype=args.dtype,
    )
    result = evaluation.result
    raw = calibration_metrics(evaluation.margins)
    temperature = evaluation.temperature
    calibrated = calibration_metrics(evaluation.margins, temperature) if temperature is not None else None
    if args.json:
        report = {
            "accuracy": result.accuracy,
            "n": result.n,
            "correct": result.correct,
            "ties": result.ties,
            "ci95": [result.ci95_low, result.ci95_high],
            "mean_margin": result.mean_margin,
            "model": evaluation.model,
            "kind": evaluation.kind,
            "backend": evaluation.backend,
            "dtype": evaluation.dtype,
            "data": data_name(args.data, args.rows),
            "max_length": evaluation.max_length,
            "truncated_pairs": evaluation.truncated_pairs,
            "calibration": raw.summary(),
            "calibrated": {"temperature": calibrated.temperature, **calibrated.summary()} if calibrated else None,
            "attributes": {name: r.to_dict() for name, r in evaluation.attributes.items()}
            if evaluation.attributes
            else None,
            "seconds": round(time.perf_counter() - started, 2),
        }
        print(json.dumps(report))
    else:
        at_temperature = ""
        if calibrated is not None:
            c = calibrated
            at_temperature = f" (calibrated, T {c.temperature:.4g}: NLL {c.nll:.4f}, ECE {c.ece:.4f})"
        print(
            f"{evaluation.model} on {data_name(args.data, args.rows)}: accuracy {result.accuracy:.4f} "
            f"({result.correct}/{result.n}, ties {result.ties}), 95% CI [{result.ci95_low:.4f}, "
            f"{result.ci95_high:.4f}], mean margin {result.mean_margin:+.4f}, "
            f"{evaluation.truncated_pairs} pairs truncated at {evaluation.max_length} tokens; "
            f"NLL {raw.nll:.4f}, ECE {raw.ece:.4f}{at_temperature}"
        )
        for name, r in (evaluation.attributes or {}).items():
            print(f"  {name} alone: accuracy {r.accuracy:.4f} ({r.correct}/{r.n}), mean margin {r.mean_margin:+.4f}")
    return 0


def _is_process_model(model_dir: str, trust_remote_code: bool) -> bool:
    from models.folder import inspect_model_folder
    from models.heads import read_head

    folder = inspect_model_folder(model_dir)
    return read_head(str(folder.path), folder.config, folder.card, trust_remote_code).kind == "process"


def _run_steps(args: argparse.Namespace, started: float) -> int:
    from models.data import data_name
    from models.evaluate_steps import evaluate_prm_folder, read_stepwise

    rows = read_stepwise(args.data, args.rows)
    evaluation = evaluate_prm_folder(
        args.model,
        rows,
        args.batch_size,
        args.max_length,
        device=args.device,
        threads=args.threads,
        trust_remote_code=args.trust_remote_code,
    )
    r = evaluation.result
    if args.json:
        report = {
            **r.to_dict(),
            "unit": "step",
            "model": evaluation.model,
            "kind": "process",
            "backend": "torch",
            "data": data_name(args.data, args.rows),
            "max_length": evaluation.max_length,
            "seconds": round(time.perf_counter() - started, 2),
        }
        print(json.dumps(report))
    else:
        print(
            f"{evaluation.model} on {data_name(args.data, args.rows)}: per-step accuracy {r.accuracy:.4f} "
            f"({r.correct}/{r.n_steps} steps), 95% CI [{r.ci95_low:.4f}, {r.ci95_high:.4f}]; right steps "
            f"{_pct(r.right_step_accuracy)}, wrong steps {_pct(r.wrong_step_accuracy)}; solutions judged by the "
            f"min aggregate {r.solution_accuracy:.4f} of {r.n_solutions}; {r.unscored_steps} steps unscored "
            f"(truncated at {evaluation.max_length} tokens)"
        )
    return 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
