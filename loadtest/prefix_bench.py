"""`python -m loadtest.prefix_bench`: scoring a group's shared prompt once, sharing on vs off, in one run.

A decoder RM large enough that compute dominates (a scaled-down Qwen2 config, random weights: hidden 512,
8 layers, about 22M non-embedding parameters, Qwen2.5's chat template) is served twice at once by real
`rmserve serve` processes, one with RMSERVE_SHARE_PROMPTS=true and one with false. GRPO-shaped traffic:
groups of 8 responses (60-200 tokens) to prompts of 300-700 tokens. Each group is sent to both servers
in turn (alternating which goes first), so both see the same background load; per group the time to
score it, and the median over groups is reported, as pairs/s and as the on/off ratio next to the ideal
token-step ratio of the same traffic (sum of whole-pair lengths over prompts-once-plus-responses):

- `/v1/rank`: one request per group;
- `/get_reward` as OpenRLHF sends it: one request per sample (`query` = templated prompt + response,
  `prompts` = the templated prompt), a group's 8 requests concurrent;
- `/get_reward` with whole texts only (no `prompts`): the group is found from the tokens alone.

Peak RSS (VmHWM, reset after warm-up) of each decoder server is reported. Then the encoder default model
(MiniLM, which cannot share) on HH-RLHF pairs (rows 0-1799, the tuning range), sharing on vs off, as a
no-regression check: the on/off throughput ratio should be about 1. Last, on a machine with CUDA, the
decoder's peak GPU memory per group (torch's max allocated above what the loaded model holds) scoring
each group in process as one batch of whole pairs and as one shared batch (`cuda_memory`; skipped, with
the reason, without CUDA).

    python -m loadtest.prefix_bench [--groups 8] [--encoder-requests 12]
        [--parts decoder,encoder,cuda_memory] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loadtest.server import RunningServer, start_server

HH_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"
GROUP_SIZE = 8
QWEN2_SIZE = {
    "hidden_size": 512,
    "intermediate_size": 1408,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}
WORDS = [
    "the",
    "model",
    "answers",
    "a",
    "question",
    "about",
    "rivers",
    "mountains",
    "history",
    "science",
    "cooking",
    "travel",
    "music",
    "code",
    "data",
    "please",
    "explain",
    "why",
    "how",
    "when",
    "where",
    "which",
    "step",
    "first",
    "then",
    "finally",
    "because",
    "however",
    "therefore",
    "example",
]
# One worker of one thread per server: on a CPU shared with other work, a 2-thread forward pass waits at
# every parallel region for its second thread to be scheduled, a fixed cost per op that hides what the
# work itself costs (measured on the 2-core machine at load 10: one 556-token pass 5.3 s on 2 threads,
# 0.8 s on 1).
SERVER_SETTINGS = {
    "RMSERVE_WORKERS": "1",
    "RMSERVE_THREADS_PER_WORKER": "1",
    "RMSERVE_MAX_LENGTH": "1024",
    "RMSERVE_PROFILE_BUDGET_S": "6",
    "RMSERVE_REQUEST_TIMEOUT_S": "120",
}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.prefix_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=8, help="groups timed per route and server")
    parser.add_argument("--encoder-requests", type=int, default=12, help="HH requests (16 pairs) per encoder server")
    parser.add_argument(
        "--parts", default="decoder,encoder,cuda_memory", help="comma-separated: decoder, encoder, cuda_memory"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def build_model(out: Path) -> Path:
    from models.tiny import QWEN2_CHAT, build_tiny_decoder_rm

    return build_tiny_decoder_rm(out, family="qwen2", corpus=[" ".join(WORDS)], chat=QWEN2_CHAT, size=QWEN2_SIZE)


def non_embedding_parameters(model_dir: Path) -> int:
    from safetensors.numpy import load_file

    weights = load_file(str(model_dir / "model.safetensors"))
    return sum(int(w.size) for name, w in weights.items() if "embed_tokens" not in name)


def make_groups(n: int, rng: random.Random) -> list[tuple[str, list[str]]]:
    """n (prompt, 8 responses) of 300-700 and 60-200 words (this tokenizer makes one token per word)."""

    def words(count: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(count))

    return [(words(rng.randint(300, 700)), [words(rng.randint(60, 200)) for _ in range(GROUP_SIZE)]) for _ in range(n)]


def ideal_ratio(model_dir: Path, groups: list[tuple[str, list[str]]]) -> tuple[float, int, int]:
    """Whole-pair token steps over prompt-once-plus-responses token steps, from the server's own encoding."""
    from models.folder import build_formatter, inspect_model_folder, load_tokenizer

    folder = inspect_model_folder(model_dir)
    formatter = build_formatter(folder, load_tokenizer(folder), 1024)
    whole = shared = 0
    for prompt, responses in groups:
        pairs = [formatter.encode(prompt, r) for r in responses]
        whole += sum(p.num_tokens for p in pairs)
        shared += pairs[0].prompt_tokens + sum(p.num_tokens - p.prompt_tokens for p in pairs)
    return whole / shared, whole, shared


def post(server: RunningServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        server.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def templated(model_dir: Path, prompt: str, response: str) -> tuple[str, str]:
    from models.tokenizer import RMTokenizer

    tokenizer = RMTokenizer.from_folder(model_dir)
    messages = [{"role": "user", "content": prompt}]
    prompt_text = tokenizer.render_chat(messages, add_generation_prompt=True)
    full = tokenizer.render_chat([*messages, {"role": "assistant", "content": response}], add_generation_prompt=False)
    return prompt_text, full


def send_group(
    server: RunningServer, route: str, model_dir: Path, group: tuple[str, list[str]], pool: ThreadPoolExecutor
) -> float:
    """Seconds to score one group by `route`; the per-sample routes send the group's requests concurrently."""
    prompt, responses = group
    started = time.perf_counter()
    if route == "rank":
        post(server, "/v1/rank", {"prompt": prompt, "responses": responses})
    else:
        texts = [templated(model_dir, prompt, r) for r in responses]
        bodies = [
            {"query": [full], "prompts": [prompt_text]} if route == "get_reward" else {"query": [full]}
            for prompt_text, full in texts
        ]
        list(pool.map(lambda body: post(server, "/get_reward", body), bodies))
    return time.perf_counter() - started


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux: writing 5 to clear_refs), so warm-up does not count."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def metric(server: RunningServer, name: str) -> float:
    from loadtest.server import http_get, parse_metrics

    return parse_metrics(http_get(server.url + "/metrics").decode()).get(name, 0.0)


def decoder_runs(args: argparse.Namespace, model_dir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    groups = make_groups(args.groups, rng)
    warm = make_groups(1, rng)[0]
    ratio, whole, shared = ideal_ratio(model_dir, groups)
    results: dict[str, Any] = {"ideal_ratio": ratio, "whole_token_steps": whole, "shared_token_steps": shared}
    with (
        start_server(model_dir, {**SERVER_SETTINGS, "RMSERVE_SHARE_PROMPTS": "true"}) as on,
        start_server(model_dir, {**SERVER_SETTINGS, "RMSERVE_SHARE_PROMPTS": "false"}) as off,
        ThreadPoolExecutor(GROUP_SIZE) as pool,
    ):
        servers = {"on": on, "off": off}
        for server in servers.values():
            send_group(server, "rank", model_dir, warm, pool)
            reset_peak_rss(server.pid)
        for route in ("rank", "get_reward", "get_reward_whole_text"):
            times: dict[str, list[float]] = {"on": [], "off": []}
            for index, group in enumerate(groups):
                order = ("on", "off") if index % 2 == 0 else ("off", "on")
                for name in order:
                    times[name].append(send_group(servers[name], route, model_dir, group, pool))
            median = {name: statistics.median(t) for name, t in times.items()}
            measured = median["off"] / median["on"]
            results[route] = {
                "pairs_per_s_on": GROUP_SIZE / median["on"],
                "pairs_per_s_off": GROUP_SIZE / median["off"],
                "ratio": measured,
                "share_of_ideal": measured / ratio,
            }
            print(
                f"{route:>22}: on {GROUP_SIZE / median['on']:6.1f} pairs/s, off {GROUP_SIZE / median['off']:6.1f} "
                f"pairs/s, ratio {measured:.2f} = {measured / ratio:.2f} of ideal {ratio:.2f}",
                flush=True,
            )
        results["peak_rss_mib"] = {name: peak_rss_mib(server.pid) for name, server in servers.items()}
        results["prompt_tokens_saved_on"] = metric(on, "rmserve_prompt_tokens_saved_total")
        results["prompt_tokens_computed_on"] = metric(on, "rmserve_prompt_tokens_computed_total")
        results["prompt_tokens_computed_off"] = metric(off, "rmserve_prompt_tokens_computed_total")
    return results


def encoder_runs(args: argparse.Namespace) -> dict[str, Any]:
    from models.data import RowRange, read_preferences

    if not HH_PATH.is_file():
        return {"skipped": f"HH-RLHF data not found at {HH_PATH}"}
    rows = read_preferences(HH_PATH, RowRange(0, 16 * args.encoder_requests))
    batches = [[{"prompt": p.prompt, "response": p.chosen} for p in rows[i : i + 16]] for i in range(0, len(rows), 16)]
    settings = {**SERVER_SETTINGS, "RMSERVE_MAX_LENGTH": "256"}
    with (
        start_server(None, {**settings, "RMSERVE_SHARE_PROMPTS": "true"}) as on,
        start_server(None, {**settings, "RMSERVE_SHARE_PROMPTS": "false"}) as off,
    ):
        servers = {"on": on, "off": off}
        for server in servers.values():
            post(server, "/v1/score", {"items": batches[0]})
        times: dict[str, list[float]] = {"on": [], "off": []}
        for index, batch in enumerate(batches):
            for name in ("on", "off") if index % 2 == 0 else ("off", "on"):
                started = time.perf_counter()
                post(servers[name], "/v1/score", {"items": batch})
                times[name].append(time.perf_counter() - started)
    median = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "pairs_per_s_on": 16 / median["on"],
        "pairs_per_s_off": 16 / median["off"],
        "ratio": median["off"] / median["on"],
    }
    print(
        f"encoder /v1/score HH: on {result['pairs_per_s_on']:.1f} pairs/s, off {result['pairs_per_s_off']:.1f}, "
        f"ratio {result['ratio']:.3f}"
    )
    return result


def cuda_memory_runs(args: argparse.Namespace, model_dir: Path) -> dict[str, Any]:
    """Per group, the most GPU memory one forward takes beyond the loaded model: whole pairs in one batch
    (how the group runs without sharing where batches pay) against one shared batch; maxima over groups."""
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device: torch.cuda.is_available() is False"}
    from models.folder import build_formatter, inspect_model_folder, load_tokenizer
    from models.shared_prefix import plan_groups
    from service.backends.torch_backend import TorchBackend
    from service.settings import Settings

    folder = inspect_model_folder(model_dir)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, 1024)
    backend = TorchBackend(folder, tokenizer.pad_token_id, device="cuda")
    peaks_mib: dict[str, list[float]] = {"on": [], "off": []}
    for prompt, responses in make_groups(args.groups, random.Random(args.seed)):
        pairs = [formatter.encode(prompt, response) for response in responses]
        groups = plan_groups(pairs, Settings.model_fields["min_shared_tokens"].default)
        for name in ("off", "on"):
            torch.cuda.synchronize()
            held = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            if name == "on":
                backend.score_shared(pairs, groups)
            else:
                backend.score(pairs)
            torch.cuda.synchronize()
            peaks_mib[name].append((torch.cuda.max_memory_allocated() - held) / 2**20)
    backend.close()
    result = {
        "device": torch.cuda.get_device_name(),
        "peak_mib_above_model": {name: max(values) for name, values in peaks_mib.items()},
    }
    print(f"CUDA peak MiB above the model, per group (max over groups): {result['peak_mib_above_model']}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {"groups": args.groups}
    if parts & {"decoder", "cuda_memory"}:
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = build_model(Path(tmp) / "qwen2-rm")
            params = non_embedding_parameters(model_dir)
            print(f"decoder RM: scaled-down Qwen2, {params / 1e6:.1f}M non-embedding parameters (random weights)")
            results["non_embedding_parameters"] = params
            if "decoder" in parts:
                results["decoder"] = decoder_runs(args, model_dir)
                print(f"peak RSS MiB (after warm-up): {results['decoder']['peak_rss_mib']}")
            if "cuda_memory" in parts:
                results["cuda_memory"] = cuda_memory_runs(args, model_dir)
    if "encoder" in parts:
        results["encoder"] = encoder_runs(args)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
