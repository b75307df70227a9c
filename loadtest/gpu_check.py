"""`python -m loadtest.gpu_check --out DIR [--device cuda|cpu] [--quick]`: rmserve's GPU path in one run.

The device check of issue #22, sized to run in under 6 minutes on one NVIDIA H200 (`--device cuda`, the
default where torch sees a GPU) and in seconds on the CPU (`--device cpu`: tiny models and short points, so
that the test suite runs it end to end). It measures, each side by side in the one run:

- per model (the encoder RM, by default the embedded default model; decoder RMs built from Qwen2.5-1.5B-
  and Llama-3-8B-shaped configs with random bf16 weights, tiny ones on the CPU; nothing is downloaded):
  the in-process limit (`loadtest.limit`: best batch size and workers on length-sorted batches, and the
  token budget those batches need), the service at saturation over loopback HTTP (the real `rmserve
  serve` process, `loadtest.server`, loaded by `loadtest.loadgen` in its own process) against that limit,
  dynamic batching against batching off (`RMSERVE_MAX_BATCH_SIZE=1`, both servers up, points alternated),
  the p99 of Poisson arrivals at 70% of the single-pair saturation rate, padding efficiency (/metrics),
  and GPU utilisation and memory at saturation (`nvidia-smi` sampled every 200 ms, `torch.cuda`'s peak in
  the limit's process);
- precision and attention, in-process, on the held-out preference pairs (HH-RLHF's last 512 rows, else the
  preference set's held-out rows): fp16 and bf16 against fp32 (winner agreement, largest score
  difference, speed), and eager attention against SDPA, for the encoder and the 1.5B decoder;
- shared-prompt group scoring on against off (GRPO-shaped requests: one prompt, n responses), where the
  service has the `share_prompts` setting; otherwise the result says it is not available.

The ONNX CUDA path is not measured: onnxruntime-gpu is far larger than the 64 MiB a device call can carry.

Writes `DIR/gpu_check.json` (everything, saved after each section so that a run stopped at its time limit
keeps what it measured) and `DIR/gpu_check.md` (the tables). A section that fails is recorded under
`errors` and the run goes on. Exit status 1 when a section failed or a request failed. On the device
machine the web stack travels as wheels: `loadtest/gpu_wheels.sh` prepares them and prints the command.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from loadtest import bench, limit
from loadtest.report import cell
from loadtest.server import RunningServer, start_server
from loadtest.workload import HH_TUNING_ROWS, PairSet, hh_data_path, hh_pairs, write_request_lines
from models.data import PreferencePair, RowRange, read_preferences
from models.default_model import DEFAULT_DATA_PATH, split_default
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair, prompt_as_text
from service.settings import Settings

if TYPE_CHECKING:
    from models.torch_model import DType

ENCODER = "encoder"
HH_HELDOUT_ROWS = "-512:"
ONNX_CUDA_NOTE = (
    "not measured: onnxruntime-gpu is far larger than the 64 MiB a device call can carry, so the ONNX "
    "backend's CUDA provider stays unmeasured here"
)
# Real architectures' shapes (config.json of Qwen/Qwen2.5-1.5B and meta-llama/Meta-Llama-3-8B), random weights.
DECODER_SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-1.5b": {
        "family": "qwen2",
        "vocab_size": 151936,
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
    },
    "llama-3-8b": {
        "family": "llama",
        "vocab_size": 128256,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 8192,
        "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5,
    },
}
# On the CPU each decoder keeps its family and attention layout, shrunk to a few layers of width 64.
TINY_SHAPE: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
}
PRECISION_MODELS = (ENCODER, "qwen2.5-1.5b")
SHARED_PROMPT_MODEL = "qwen2.5-1.5b"

# The issue's targets.
SATURATION_VS_LIMIT_MIN = 0.85
SATURATION_TARGET_MODELS = (ENCODER, "llama-3-8b")
BATCHING_VS_OFF_MIN = 5.0
PADDING_EFFICIENCY_MIN = 0.85
WINNER_AGREEMENT_MIN = 0.995


@dataclass
class Plan:
    """What one run measures and for how long. `for_device` gives the H200 plan or the CPU's tiny one."""

    device: str
    models: list[str] = field(default_factory=lambda: [ENCODER, *DECODER_SHAPES])
    limit_batch_sizes: dict[str, list[int]] = field(default_factory=dict)  # per model; "default" for the rest
    limit_pairs: dict[str, int] = field(default_factory=lambda: {"llama-3-8b": 256, "default": 512})
    limit_min_time_s: float = 1.0
    limit_confirm_rounds: int = 1
    service_pairs: int = 2048
    saturation_points: list[tuple[int, int]] = field(default_factory=lambda: [(256, 1), (32, 16)])
    comparison_clients: int = 64
    comparison_repeats: int = 2
    warmup_s: float = 1.0
    duration_s: float = 3.0
    min_requests: int = 20
    profile_budget_s: float = 3.0
    fidelity_pairs: dict[str, int] = field(default_factory=lambda: {ENCODER: 512, "default": 128})
    group_size: int = 8
    group_clients: int = 32
    decoder_max_length: int = 1024
    encoder_max_length: int | None = None  # None: the model's own (256 for the default model)
    tokenizer_vocab: int = 16000
    serving_dtype: dict[str, str] = field(default_factory=lambda: {ENCODER: "fp16", "default": "bf16"})

    @classmethod
    def for_device(cls, device: str, quick: bool) -> Plan:
        if device.startswith("cuda"):
            plan = cls(
                device=device,
                limit_batch_sizes={ENCODER: [32, 128, 256], "llama-3-8b": [16, 64], "default": [16, 64, 128]},
            )
            if quick:
                plan = replace(plan, models=[ENCODER, "qwen2.5-1.5b"], comparison_repeats=1, duration_s=2.0)
            return plan
        plan = cls(
            device=device,
            limit_batch_sizes={"default": [2, 4]},
            limit_pairs={"default": 16},
            limit_min_time_s=0.05,
            service_pairs=64,
            saturation_points=[(8, 1), (2, 4)],
            comparison_clients=8,
            comparison_repeats=1,
            warmup_s=0.3,
            duration_s=1.0,
            min_requests=3,
            profile_budget_s=0.3,
            fidelity_pairs={"default": 16},
            group_size=4,
            group_clients=2,
            decoder_max_length=64,
            encoder_max_length=64,
            tokenizer_vocab=2000,
            serving_dtype={"default": "bf16", ENCODER: "fp32"},
        )
        return replace(plan, duration_s=0.6, warmup_s=0.2) if quick else plan

    def per_model(self, table: Mapping[str, Any], model: str) -> Any:
        return table.get(model, table["default"])

    def max_length(self, model: str) -> int | None:
        return self.encoder_max_length if model == ENCODER else self.decoder_max_length

    def precision_dtypes(self) -> list[str]:
        # torch's fp16 on the CPU is slow and inexact; the service refuses it there.
        return ["fp32", "fp16", "bf16"] if self.device.startswith("cuda") else ["fp32", "bf16"]


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    service: PairSet  # HH tuning rows (or HH-like), what the service and the limit are loaded with
    fidelity: list[PreferencePair]  # held-out preference pairs
    fidelity_source: str


def load_data(plan: Plan, hh: Path | None) -> Data:
    service = hh_pairs(plan.service_pairs, path=hh)
    if hh is not None:
        heldout = read_preferences(hh, RowRange.parse(HH_HELDOUT_ROWS))
        source = f"HH-RLHF {hh.name} rows {HH_HELDOUT_ROWS} (held out)"
    else:
        heldout = split_default(read_preferences(DEFAULT_DATA_PATH))[1]
        source = "rmserve preference set, held-out rows (HH-RLHF not found)"
    return Data(service, heldout, source)


def tokenizer_corpus(hh: Path | None) -> list[str]:
    """Text to train the decoders' word-piece tokenizer on: the preference set and HH's tuning rows (never
    the held-out rows), so that HH pairs split into about as many tokens as a real tokenizer gives."""
    rows = read_preferences(DEFAULT_DATA_PATH)
    if hh is not None:
        rows += read_preferences(hh, RowRange.parse(HH_TUNING_ROWS))
    return [text for row in rows for text in (prompt_as_text(row.prompt), row.chosen, row.rejected)]


# ---------------------------------------------------------------- models


def decoder_config(name: str, plan: Plan, vocab_size: int) -> Any:
    """The transformers config of decoder `name`: its real shape on a GPU; on the CPU its family and attention
    layout at width 64 and 2 layers, with the tokenizer's `vocab_size`."""
    from transformers import LlamaConfig, Qwen2Config

    shape = dict(DECODER_SHAPES[name])
    family = shape.pop("family")
    if not plan.device.startswith("cuda"):
        shape = {**shape, **TINY_SHAPE, "vocab_size": vocab_size}
    config_class = LlamaConfig if family == "llama" else Qwen2Config
    labels_and_specials: dict[str, Any] = {"num_labels": 1, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    return config_class(**shape, **labels_and_specials)


def build_decoder(out: Path, name: str, plan: Plan, corpus: list[str], seed: int = 0) -> dict[str, Any]:
    """Write a random-weight decoder RM folder of `name`'s shape (`decoder_config`) with a word-piece tokenizer
    carrying a ChatML template; returns its family, shape and parameter count. Weights are created on the
    device in the serving dtype (an 8B model never passes through host memory in fp32)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from models.tiny import build_tiny_tokenizer
    from models.torch_model import TORCH_DTYPES

    out.mkdir(parents=True, exist_ok=True)
    build_tiny_tokenizer(out, corpus, vocab_size=plan.tokenizer_vocab)
    tokenizer_config_path = out / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_path.read_text())
    tokenizer_config["model_max_length"] = plan.decoder_max_length
    tokenizer_config_path.write_text(json.dumps(tokenizer_config, indent=2))
    vocab = len(json.loads((out / "tokenizer.json").read_text())["model"]["vocab"])
    config = decoder_config(name, plan, vocab)
    dtype = plan.per_model(plan.serving_dtype, name)
    torch.manual_seed(seed)
    with torch.device(plan.device):
        model = AutoModelForSequenceClassification.from_config(config, dtype=TORCH_DTYPES[dtype])
    model.save_pretrained(str(out), safe_serialization=True)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    _empty_cuda_cache()
    shape = {key: getattr(config, key) for key in TINY_SHAPE | {"vocab_size": 0}}
    return {"family": config.model_type, "shape": shape, "parameters": parameters, "weights_dtype": dtype}


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _cuda_peak_reset() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _cuda_peak_gib() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


# ---------------------------------------------------------------- GPU sampling


class GpuSampler:
    """`nvidia-smi` sampled every `interval_ms` while the `with` block runs: the GPU's utilisation and memory
    in use, and at the end each compute process's memory. Records why not where nvidia-smi is absent."""

    def __init__(self, interval_ms: int = 200) -> None:
        self.interval_ms = interval_ms
        self.binary = shutil.which("nvidia-smi")
        self.process: subprocess.Popen[str] | None = None
        self.summary: dict[str, Any] = {}

    def __enter__(self) -> GpuSampler:
        if self.binary is not None:
            query = ["--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
            command = [self.binary, *query, f"--loop-ms={self.interval_ms}"]
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.process is None:
            self.summary = {"available": False, "reason": "nvidia-smi not found"}
            return
        self.process.terminate()
        output, _ = self.process.communicate(timeout=10)
        samples = [_numbers(line) for line in output.splitlines()]
        rows = [row for row in samples if len(row) == 2]
        self.summary = {"available": True, "samples": len(rows), "interval_ms": self.interval_ms}
        if rows:
            self.summary.update(
                utilization_pct_mean=statistics.fmean(r[0] for r in rows),
                utilization_pct_max=max(r[0] for r in rows),
                memory_used_mib_max=max(r[1] for r in rows),
            )
        self.summary["process_memory_mib"] = _process_memory_mib(self.binary or "nvidia-smi")


def _numbers(line: str) -> list[float]:
    try:
        return [float(part) for part in line.split(",")]
    except ValueError:
        return []


def _process_memory_mib(binary: str) -> dict[str, float]:
    query = [binary, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
    done = subprocess.run(query, capture_output=True, text=True, check=False, timeout=10)
    rows = [_numbers(line) for line in done.stdout.splitlines()]
    return {str(int(row[0])): row[1] for row in rows if len(row) == 2}


def nvidia_smi_inventory() -> str | None:
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    done = subprocess.run([binary, "-L"], capture_output=True, text=True, check=False, timeout=10)
    return done.stdout.strip() or done.stderr.strip()


# ---------------------------------------------------------------- measurements


@dataclass
class Context:
    plan: Plan
    out: Path
    results: dict[str, Any]
    data: Data
    work: Path  # scratch: model folders, request files
    bench_run: bench.Run  # `bench.run_point` settles every server up before each point

    def log(self, message: str) -> None:
        print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def save(self) -> None:
        """Both files, as far as the run has got (a run stopped at the device's time limit keeps them)."""
        self.results["targets"] = targets(self.results)
        (self.out / "gpu_check.json").write_text(json.dumps(self.results, indent=1))
        (self.out / "gpu_check.md").write_text(markdown(self.results))

    def section(self, name: str, measure: Callable[[], Any], into: dict[str, Any], key: str) -> None:
        """Run one section; its result goes to `into[key]`, its failure to `errors[name]`; saved either way."""
        started = time.monotonic()
        self.log(f"{name} ...")
        try:
            into[key] = measure()
        except Exception as exc:  # one failed section must not lose the device run's other figures
            self.results["errors"][name] = f"{type(exc).__name__}: {exc}"[:2000]
            self.log(f"{name} failed: {exc}")
        self.results["section_seconds"][name] = round(time.monotonic() - started, 1)
        self.save()


def measure_limit(ctx: Context, folder: Path, model: str, dtype: str) -> dict[str, Any]:
    """The in-process limit, and the token budget its best batches need (rows x longest, length-sorted)."""
    plan = ctx.plan
    rows = ctx.data.service.pairs[: plan.per_model(plan.limit_pairs, model)]
    max_length = plan.max_length(model)
    _cuda_peak_reset()
    cpus = 2 if plan.device.startswith("cuda") else None
    result: dict[str, Any] = limit.search(
        folder,
        "torch",
        rows,
        plan.per_model(plan.limit_batch_sizes, model),
        plan.limit_min_time_s,
        max_length,
        cpus=cpus,
        confirm_rounds=plan.limit_confirm_rounds,
        device=plan.device,
        dtype=dtype,
    )
    result["torch_cuda_max_allocated_gib"] = _cuda_peak_gib()
    encoded = _encode_rows(folder, rows, max_length)
    batches = limit.sorted_batches(encoded, int(result["best"]["batch_size"]))
    result["token_budget"] = max(len(b) * max(p.num_tokens for p in b) for b in batches)
    _empty_cuda_cache()
    return result


def _encode_rows(folder: Path, rows: Sequence[tuple[Any, str]], max_length: int | None) -> list[EncodedPair]:
    model_folder = inspect_model_folder(folder)
    formatter = build_formatter(model_folder, load_tokenizer(model_folder), max_length)
    return [formatter.encode(prompt, response) for prompt, response in rows]


def server_env(plan: Plan, model: str, dtype: str, limit_result: dict[str, Any]) -> dict[str, str]:
    """The service at the limit's best batch size, with a token budget that does not cut those batches."""
    env = {
        "RMSERVE_BACKEND": "torch",
        "RMSERVE_DEVICE": plan.device,
        "RMSERVE_DTYPE": dtype,
        "RMSERVE_MAX_BATCH_SIZE": str(limit_result["best"]["batch_size"]),
        "RMSERVE_MAX_BATCH_TOKENS": str(
            max(int(Settings.model_fields["max_batch_tokens"].default), int(limit_result["token_budget"]))
        ),
        "RMSERVE_PROFILE_BUDGET_S": str(plan.profile_budget_s),
    }
    max_length = plan.max_length(model)
    if max_length is not None:
        env["RMSERVE_MAX_LENGTH"] = str(max_length)
    return env


@contextmanager
def servers_up(specs: Mapping[str, tuple[Path, dict[str, str]]], ctx: Context) -> Iterator[dict[str, RunningServer]]:
    """Start the servers together (their model loads overlap), yield {name: server}, stop them all."""
    with ExitStack() as stack:
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            futures = {
                name: pool.submit(stack.enter_context, start_server(folder, env))
                for name, (folder, env) in specs.items()
            }
        servers = {name: future.result() for name, future in futures.items()}  # the first failure raises
        ctx.bench_run.servers[:] = list(servers.values())
        try:
            yield servers
        finally:
            ctx.bench_run.servers.clear()


def request_file(ctx: Context, name: str, pairs_per_request: int) -> Path:
    path = ctx.work / f"{name}-{pairs_per_request}.jsonl"
    if not path.is_file():
        from loadtest.workload import request_lines

        lines = request_lines(ctx.data.service.pairs, pairs_per_request, timeout_s=bench.BATCH_TIMEOUT_S)
        write_request_lines(path, lines)
    return path


def measure_service(ctx: Context, folder: Path, model: str, dtype: str, limit_result: dict[str, Any]) -> dict[str, Any]:
    """Saturation (closed loops, GPU sampled), p99 at 70% of the single-pair saturation rate, then dynamic
    batching against batching off at `comparison_clients` single-pair clients, alternated."""
    plan = ctx.plan
    env = server_env(plan, model, dtype, limit_result)
    off = {**env, "RMSERVE_MAX_BATCH_SIZE": "1"}
    section: dict[str, Any] = {"settings": env, "saturation": [], "comparison": {"dynamic": [], "batching_off": []}}
    with servers_up({"dynamic": (folder, env), "batching_off": (folder, off)}, ctx) as servers:
        dynamic = servers["dynamic"]
        section["server_pid"] = dynamic.pid
        for clients, size in plan.saturation_points:
            ctx.log(f"{model}: closed loop, {clients} clients x {size} pairs")
            with GpuSampler() as sampler:
                point = bench.run_point(
                    ctx.bench_run, dynamic, request_file(ctx, "hh", size), mode="closed", concurrency=clients
                )
            point.update(pairs_per_request=size, gpu=sampler.summary)
            section["saturation"].append(point)
            ctx.save()
        single = [p for p in section["saturation"] if p["pairs_per_request"] == 1]
        rate = 0.7 * max(p["throughput_rps"] for p in single)
        ctx.log(f"{model}: open loop at {rate:.1f} req/s (70% of single-pair saturation)")
        section["open_70"] = bench.run_point(
            ctx.bench_run, dynamic, request_file(ctx, "hh", 1), mode="open", rate_rps=round(rate, 3)
        )
        for _ in range(plan.comparison_repeats):
            for name, server in servers.items():
                ctx.log(f"{model}: {name}, {plan.comparison_clients} clients x 1 pair")
                point = bench.run_point(
                    ctx.bench_run,
                    server,
                    request_file(ctx, "hh", 1),
                    mode="closed",
                    concurrency=plan.comparison_clients,
                )
                section["comparison"][name].append(point)
                ctx.save()
    best = max(section["saturation"], key=lambda p: p["throughput_pairs_per_s"])
    medians = {
        name: statistics.median(p["throughput_pairs_per_s"] for p in points)
        for name, points in section["comparison"].items()
    }
    section["summary"] = {
        "saturation_pairs_per_s": best["throughput_pairs_per_s"],
        "saturation_point": f"{best['concurrency']} clients x {best['pairs_per_request']}",
        "saturation_vs_limit": best["throughput_pairs_per_s"] / limit_result["best"]["pairs_per_s"],
        "padding_efficiency": best["padding_efficiency"],
        "mean_batch_size": best["mean_batch_size"],
        "gpu": best["gpu"],
        "p99_ms_at_70pct": section["open_70"]["latency_ms"].get("p99"),
        "rate_rps_at_70pct": section["open_70"]["offered_rps"],
        "dynamic_pairs_per_s": medians["dynamic"],
        "batching_off_pairs_per_s": medians["batching_off"],
        "dynamic_vs_off": medians["dynamic"] / medians["batching_off"] if medians["batching_off"] else None,
    }
    return section


def measure_precision(ctx: Context, folder: Path, model: str) -> dict[str, Any]:
    """fp16/bf16 against fp32 and eager against SDPA, in-process on the held-out preference pairs: winner
    agreement (chosen above rejected, as fp32 SDPA says), the largest score difference, sequences/s."""
    from models.torch_model import load_torch_reward_model

    plan = ctx.plan
    pairs = ctx.data.fidelity[: plan.per_model(plan.fidelity_pairs, model)]
    model_folder = inspect_model_folder(folder)
    tokenizer = load_tokenizer(model_folder)
    max_length = plan.max_length(model)
    formatter = build_formatter(model_folder, tokenizer, max_length)
    sequences = formatter.encode_many([(p.prompt, p.chosen) for p in pairs] + [(p.prompt, p.rejected) for p in pairs])
    batch_size = max(plan.per_model(plan.limit_batch_sizes, model))
    serving = plan.per_model(plan.serving_dtype, model)
    variants = [(dtype, "sdpa") for dtype in plan.precision_dtypes()] + [(serving, "eager")]
    scores: dict[str, list[float]] = {}
    section: dict[str, Any] = {"pairs": len(pairs), "source": ctx.data.fidelity_source, "variants": {}}
    for dtype, attention in variants:
        loaded = load_torch_reward_model(
            model_folder,
            tokenizer.pad_token_id,
            device=plan.device,
            dtype=cast("DType", dtype),
            attn_implementation=attention,
        )
        got, seconds = _score_timed(loaded, sequences, tokenizer.pad_token_id, plan.device, batch_size)
        name = f"{dtype} {attention}"
        scores[name] = got
        section["variants"][name] = {
            "dtype": dtype,
            "attention": str(getattr(loaded.config, "_attn_implementation", attention)),
            "sequences_per_s": len(sequences) / seconds,
        }
        del loaded
        _empty_cuda_cache()
    reference = scores["fp32 sdpa"]
    n = len(pairs)
    reference_wins = [reference[i] > reference[n + i] for i in range(n)]
    for name, got in scores.items():
        record = section["variants"][name]
        wins = [got[i] > got[n + i] for i in range(n)]
        record["winner_agreement_vs_fp32"] = sum(a == b for a, b in zip(wins, reference_wins, strict=True)) / n
        record["max_abs_diff_vs_fp32"] = max(abs(a - b) for a, b in zip(got, reference, strict=True))
        # The eager variant against SDPA at its own dtype (None for the SDPA variants themselves).
        sdpa = scores[f"{record['dtype']} sdpa"]
        record["max_abs_diff_vs_sdpa_same_dtype"] = (
            max(abs(a - b) for a, b in zip(got, sdpa, strict=True)) if name.endswith(" eager") else None
        )
        record["accuracy"] = sum(wins) / n
    return section


def _score_timed(
    model: Any, sequences: Sequence[EncodedPair], pad_token_id: int, device: str, batch_size: int
) -> tuple[list[float], float]:
    """Scores in `sequences` order and the seconds of one timed pass in length-sorted batches (after an
    untimed pass that warms the kernels for these shapes)."""
    import torch

    from models.torch_model import score_encoded

    order = sorted(range(len(sequences)), key=lambda i: sequences[i].num_tokens)
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    scores = [0.0] * len(sequences)
    seconds = 0.0
    for timed in (False, True):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        for chunk in chunks:
            got = score_encoded(model, [sequences[i] for i in chunk], pad_token_id, device)  # copies to host
            for index, score in zip(chunk, got, strict=True):
                scores[index] = float(score)
        if timed:
            seconds = time.perf_counter() - started
    return scores, seconds


def shared_prompts_available() -> bool:
    return "share_prompts" in Settings.model_fields


def measure_shared_prompts(ctx: Context, folder: Path, model: str, env: dict[str, str]) -> dict[str, Any]:
    """GRPO-shaped requests (one prompt, `group_size` responses) on two servers, share_prompts on and off,
    alternated; pairs/s medians."""
    plan = ctx.plan
    if not shared_prompts_available():
        return {"available": False, "reason": "service.settings.Settings has no share_prompts setting"}
    path = ctx.work / f"groups-{plan.group_size}.jsonl"
    pairs = ctx.data.service.pairs
    responses = [response for _, response in pairs]
    lines = (
        {
            "path": "/v1/score",
            "body": {
                "items": [
                    {"prompt": pairs[g][0], "response": responses[(g * plan.group_size + k) % len(responses)]}
                    for k in range(plan.group_size)
                ],
                "timeout_s": bench.BATCH_TIMEOUT_S,
            },
            "pairs": plan.group_size,
        }
        for g in range(len(pairs) // plan.group_size)
    )
    write_request_lines(path, lines)
    specs = {
        "on": (folder, {**env, "RMSERVE_SHARE_PROMPTS": "true"}),
        "off": (folder, {**env, "RMSERVE_SHARE_PROMPTS": "false"}),
    }
    section: dict[str, Any] = {"available": True, "model": model, "group_size": plan.group_size, "points": {}}
    with servers_up(specs, ctx) as servers:
        for _ in range(plan.comparison_repeats):
            for name, server in servers.items():
                ctx.log(f"shared prompts {name}: {plan.group_clients} clients x 1 group of {plan.group_size}")
                point = bench.run_point(ctx.bench_run, server, path, mode="closed", concurrency=plan.group_clients)
                section["points"].setdefault(name, []).append(point)
    medians = {
        name: statistics.median(p["throughput_pairs_per_s"] for p in pts) for name, pts in section["points"].items()
    }
    section["pairs_per_s"] = medians
    section["on_vs_off"] = medians["on"] / medians["off"] if medians["off"] else None
    return section


# ---------------------------------------------------------------- targets and report


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against this run's figures (None where a figure is missing)."""
    rows: list[dict[str, Any]] = []
    models = results["models"]

    def add(name: str, measured: float | None, bound: float, detail: str = "") -> None:
        passed = None if measured is None else measured >= bound
        rows.append({"target": name, "measured": measured, "bound": bound, "passed": passed, "detail": detail})

    for model in SATURATION_TARGET_MODELS:
        summary = (models.get(model, {}).get("service") or {}).get("summary") or {}
        add(
            f"{model}: service at saturation / in-process limit",
            summary.get("saturation_vs_limit"),
            SATURATION_VS_LIMIT_MIN,
        )
    encoder = (models.get(ENCODER, {}).get("service") or {}).get("summary") or {}
    add(f"{ENCODER}: dynamic batching / batching off, HH pairs", encoder.get("dynamic_vs_off"), BATCHING_VS_OFF_MIN)
    for model, record in models.items():
        summary = (record.get("service") or {}).get("summary") or {}
        add(f"{model}: padding efficiency at saturation", summary.get("padding_efficiency"), PADDING_EFFICIENCY_MIN)
    for name, variant in ((results["precision"].get(ENCODER) or {}).get("variants") or {}).items():
        if variant["dtype"] != "fp32" and variant["attention"] == "sdpa":
            add(
                f"{ENCODER}: {name} winner agreement with fp32",
                variant["winner_agreement_vs_fp32"],
                WINNER_AGREEMENT_MIN,
                f"largest score difference {variant['max_abs_diff_vs_fp32']:.4g}",
            )
    return rows


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"# rmserve on {env.get('gpu') or results['device']}",
        "",
        f"`{results['command']}`, {results['started_utc']} to {results.get('finished_utc', '(stopped)')}; "
        f"torch {env['torch']}, transformers {env['transformers']}, Python {env['python']}, "
        f"{env['cpus']} CPUs. Service pairs: {results['data']['service']}; fidelity pairs: "
        f"{results['data']['fidelity']}. ONNX on CUDA: {results['onnx_cuda']}.",
        "",
        "| model | dtype | limit pairs/s | batch x workers | token budget | service pairs/s (point) | service / limit "
        "| dynamic / off (pairs/s) | p99 ms at 70% | padding eff. | mean batch | GPU util % mean / max | GPU MiB "
        "(server) | limit peak GiB |",
        "| --- | --- | ---: | --- | ---: | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, record in results["models"].items():
        lim = record.get("limit") or {}
        best = lim.get("best") or {}
        service = record.get("service") or {}
        summary = service.get("summary") or {}
        gpu = summary.get("gpu") or {}
        server_mib = (gpu.get("process_memory_mib") or {}).get(str(service.get("server_pid")))
        lines.append(
            f"| {name} | {record.get('dtype', '-')} | {cell(best.get('pairs_per_s'))} | "
            f"{best.get('batch_size', '-')} x {best.get('workers', '-')} | {cell(lim.get('token_budget'))} | "
            f"{cell(summary.get('saturation_pairs_per_s'))} ({summary.get('saturation_point', '-')}) | "
            f"{cell(summary.get('saturation_vs_limit'), 2)} | {cell(summary.get('dynamic_vs_off'), 2)} "
            f"({cell(summary.get('dynamic_pairs_per_s'))} / {cell(summary.get('batching_off_pairs_per_s'))}) | "
            f"{cell(summary.get('p99_ms_at_70pct'))} | {cell(summary.get('padding_efficiency'), 2)} | "
            f"{cell(summary.get('mean_batch_size'))} | {cell(gpu.get('utilization_pct_mean'))} / "
            f"{cell(gpu.get('utilization_pct_max'))} | {cell(server_mib, 0)} | "
            f"{cell(lim.get('torch_cuda_max_allocated_gib'), 2)} |"
        )
    lines += [
        "",
        "| model | variant | attention | sequences/s | winner agreement with fp32 | max abs diff vs fp32 | "
        "max abs diff vs SDPA, same dtype |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for model, section in results["precision"].items():
        for name, variant in (section.get("variants") or {}).items():
            lines.append(
                f"| {model} | {name} | {variant['attention']} | {cell(variant['sequences_per_s'])} | "
                f"{cell(variant['winner_agreement_vs_fp32'], 4)} | {cell(variant['max_abs_diff_vs_fp32'], 5)} | "
                f"{cell(variant['max_abs_diff_vs_sdpa_same_dtype'], 5)} |"
            )
    shared = results.get("shared_prompts") or {}
    lines.append("")
    if shared.get("available"):
        rates = shared.get("pairs_per_s") or {}
        lines.append(
            f"Shared-prompt groups ({shared['model']}, groups of {shared['group_size']}): on "
            f"{cell(rates.get('on'))} pairs/s, off {cell(rates.get('off'))} pairs/s, on / off "
            f"{cell(shared.get('on_vs_off'), 2)}."
        )
    else:
        lines.append(f"Shared-prompt groups: not available ({shared.get('reason', 'not measured')}).")
    lines += ["", "| target | measured | bound | verdict | detail |", "| --- | ---: | ---: | --- | --- |"]
    for row in results.get("targets", []):
        verdict = "n/a" if row["passed"] is None else ("pass" if row["passed"] else "**MISS**")
        lines.append(
            f"| {row['target']} | {cell(row['measured'], 3)} | >= {row['bound']} | {verdict} | {row['detail']} |"
        )
    if results["errors"]:
        lines += ["", "Sections that failed:", ""]
        lines += [f"- {name}: {message.splitlines()[0]}" for name, message in results["errors"].items()]
    return "\n".join(lines) + "\n"


def environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "gpu": gpu,
        "capability": list(torch.cuda.get_device_capability(0)) if gpu else None,
        "nvidia_smi": nvidia_smi_inventory(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------- the run


def _encoder_folder(encoder: Path | None) -> Path:
    if encoder is not None:
        return encoder
    from models.default_model import ensure_default_model

    return Path(ensure_default_model(progress=False))


def run_check(plan: Plan, out: Path, encoder: Path | None, hh: Path | None, command: str) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": command,
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": plan.device,
        "environment": environment(plan.device),
        "plan": asdict(plan),
        "models": {},
        "precision": {},
        "shared_prompts": None,
        "onnx_cuda": ONNX_CUDA_NOTE,
        "errors": {},
        "section_seconds": {},
    }
    started = time.monotonic()
    data = load_data(plan, hh)
    results["data"] = {"service": data.service.source, "fidelity": data.fidelity_source}
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(_scratch(out)))
        bench_plan = bench.Plan(warmup_s=plan.warmup_s, duration_s=plan.duration_s, min_requests=plan.min_requests)
        ctx = Context(plan, out, results, data, work, bench.Run(work, bench_plan, {}))
        corpus = tokenizer_corpus(hh) if any(m != ENCODER for m in plan.models) else []
        for model in plan.models:
            run_model(ctx, model, encoder, corpus)
    if results["shared_prompts"] is None:
        results["shared_prompts"] = {"available": False, "reason": f"{SHARED_PROMPT_MODEL} not in this run's models"}
    results["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results["total_seconds"] = round(time.monotonic() - started, 1)
    ctx.save()
    return results


def run_model(ctx: Context, model: str, encoder: Path | None, corpus: list[str]) -> None:
    """Every section of one model, in order: build (decoders), limit, precision, service, shared prompts."""
    plan, results = ctx.plan, ctx.results
    record: dict[str, Any] = {"dtype": plan.per_model(plan.serving_dtype, model)}
    results["models"][model] = record
    dtype = str(record["dtype"])
    if model == ENCODER:
        folder = _encoder_folder(encoder)
        record["folder"] = str(folder)
    else:
        folder = ctx.work / model
        ctx.section(f"{model}: build", partial(build_decoder, folder, model, plan, corpus), record, "model")
        if "model" not in record:
            return
    ctx.section(f"{model}: limit", partial(measure_limit, ctx, folder, model, dtype), record, "limit")
    if model in PRECISION_MODELS:
        ctx.section(f"{model}: precision", partial(measure_precision, ctx, folder, model), results["precision"], model)
    if "limit" in record:
        lim = record["limit"]
        ctx.section(f"{model}: service", partial(measure_service, ctx, folder, model, dtype, lim), record, "service")
        if model == SHARED_PROMPT_MODEL:
            env = server_env(plan, model, dtype, lim)
            shared = partial(measure_shared_prompts, ctx, folder, model, env)
            ctx.section("shared prompts", shared, results, "shared_prompts")
    if model != ENCODER:
        shutil.rmtree(folder, ignore_errors=True)  # an 8B model's 16 GB


@contextmanager
def _scratch(out: Path) -> Iterator[Path]:
    """A scratch folder for model folders and request files: under $TMPDIR, never under `out` (the device
    returns only a few files from there)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as path:
        yield Path(path)


def failed_requests(results: dict[str, Any]) -> int:
    count = 0
    for record in results["models"].values():
        service = record.get("service") or {}
        points = [*service.get("saturation", []), *([service["open_70"]] if "open_70" in service else [])]
        points += [p for runs in (service.get("comparison") or {}).values() for p in runs]
        count += sum(int(p["failed"]) for p in points)
    shared = results.get("shared_prompts") or {}
    count += sum(int(p["failed"]) for runs in (shared.get("points") or {}).values() for p in runs)
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--device", default=None, help="cuda | cuda:N | cpu (default: cuda when torch sees one)")
    parser.add_argument("--quick", action="store_true", help="fewer models and shorter points")
    parser.add_argument("--encoder", type=Path, default=None, help="encoder RM folder (default: the default model)")
    parser.add_argument("--hh", type=Path, default=None, help="HH-RLHF file (default: ../shared's, when present)")
    parser.add_argument("--models", default=None, help=f"comma list of {ENCODER}, {', '.join(DECODER_SHAPES)}")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    device = args.device or _default_device()
    plan = Plan.for_device(device, args.quick)
    if args.models:
        chosen = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = set(chosen) - {ENCODER, *DECODER_SHAPES}
        if unknown:
            parser.error(f"unknown models: {', '.join(sorted(unknown))}")
        plan.models = chosen
    hh = args.hh or hh_data_path()
    command = "python -m loadtest.gpu_check " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    results = run_check(plan, args.out, args.encoder, hh, command.strip())
    print(markdown(results))
    failed = failed_requests(results)
    if failed:
        print(f"{failed} requests failed", file=sys.stderr)
    return 1 if failed or results["errors"] else 0


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


if __name__ == "__main__":
    sys.exit(main())
