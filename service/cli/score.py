"""`rmserve score` and `rmserve rank`: score JSONL files against a running server, resumably.

    rmserve score --url http://127.0.0.1:8000 --input pairs.jsonl --output scores.jsonl
    rmserve rank  --url http://127.0.0.1:8000 --input groups.jsonl --output ranked.jsonl

score input rows:  {"prompt": str | [{"role", "content"}, ...], "response": str, "id"?: any}
score output rows: {"index", "id"?, "score", "tokens", "truncated", "normalized"?, "model"}
rank input rows:   {"prompt": ..., "responses": [str, ...], "id"?: any}
rank output rows:  {"index", "id"?, "scores", "ranking" (best first), "best_index", "best_response", "model"}

`index` is the 0-based line number of the input row. An interrupted run (Ctrl-C, a crash, the server going
away) is resumed by running the same command again: rows already in the output are not scored again, and
every row ends up in the output exactly once (see `service.cli.jsonl_jobs`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.errors import UserError
from rmserve import RewardClient, RewardServiceError
from rmserve.types import ScoreResult, rank_locally
from service.cli.jsonl_jobs import ChunkScorer, JobSummary, Row, RowValidator, run_job

DEFAULT_CHUNK_ROWS = 512


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="base URL of the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--input", required=True, type=Path, help="JSONL file of rows to score")
    parser.add_argument("--output", required=True, type=Path, help="JSONL file to write; appended to on resume")
    parser.add_argument(
        "--api-key", default=None, help="bearer key (default: the RMSERVE_API_KEY environment variable)"
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help="rows scored and written together; the most work an interruption loses",
    )
    parser.add_argument("--max-concurrency", type=int, default=4, help="requests in flight at once")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="total time allowed per chunk")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)


def add_rank_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument("--top-k", type=int, default=None, help="keep only the best k indices in 'ranking'")


def _check_prompt(row: Row) -> None:
    prompt = row.get("prompt")
    if isinstance(prompt, str):
        return
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        return
    raise ValueError("'prompt' must be a string or a list of {'role', 'content'} messages")


def validate_score_row(row: Row) -> None:
    _check_prompt(row)
    if not isinstance(row.get("response"), str):
        raise ValueError("'response' must be a string")


def validate_rank_row(row: Row) -> None:
    _check_prompt(row)
    responses = row.get("responses")
    if not isinstance(responses, list) or not responses or not all(isinstance(r, str) for r in responses):
        raise ValueError("'responses' must be a non-empty list of strings")


def _identity(index: int, row: Row, model: str) -> Row:
    out: Row = {"index": index}
    if row.get("id") is not None:
        out["id"] = row["id"]
    out["model"] = model
    return out


def score_chunk_with(client: RewardClient, timeout_s: float | None = None) -> ChunkScorer:
    """A chunk scorer for `rmserve score` over a `RewardClient`."""

    def score_chunk(chunk: list[tuple[int, Row]]) -> list[Row]:
        result = client.score([(row["prompt"], row["response"]) for _, row in chunk], timeout_s=timeout_s)
        rows = []
        for (index, row), item in zip(chunk, result.items, strict=True):
            out = _identity(index, row, result.model)
            out.update(score=item.score, tokens=item.tokens, truncated=item.truncated)
            if item.normalized is not None:
                out["normalized"] = item.normalized
            rows.append(out)
        return rows

    return score_chunk


def rank_chunk_with(client: RewardClient, top_k: int | None, timeout_s: float | None = None) -> ChunkScorer:
    """A chunk scorer for `rmserve rank`: every response of every row in the chunk goes out through one
    chunked, concurrent `score` call; each group is then ranked best first (ties: lower index first)."""

    def rank_chunk(chunk: list[tuple[int, Row]]) -> list[Row]:
        pairs = [(row["prompt"], response) for _, row in chunk for response in row["responses"]]
        result = client.score(pairs, timeout_s=timeout_s)
        rows, start = [], 0
        for index, row in chunk:
            end = start + len(row["responses"])
            group = ScoreResult(result.model, result.weights_digest, result.items[start:end])
            ranked = rank_locally(group, top_k)
            out = _identity(index, row, result.model)
            out.update(
                scores=ranked.scores,
                ranking=ranked.ranking,
                best_index=ranked.best_index,
                best_response=row["responses"][ranked.best_index],
            )
            rows.append(out)
            start = end
        return rows

    return rank_chunk


def _run(
    args: argparse.Namespace, validate: RowValidator, make_scorer: Callable[[RewardClient], ChunkScorer], what: str
) -> int:
    from tqdm import tqdm

    if args.chunk_rows < 1 or args.max_concurrency < 1 or args.timeout_s <= 0:
        raise UserError("--chunk-rows and --max-concurrency must be at least 1, --timeout-s positive")
    if args.input.resolve() == args.output.resolve():
        raise UserError("--output must differ from --input")
    api_key = args.api_key or os.environ.get("RMSERVE_API_KEY") or None
    bar: Any = None

    def on_start(total: int, already_done: int) -> None:
        nonlocal bar
        bar = tqdm(total=total, initial=already_done, unit="row", desc=what, disable=True if args.no_progress else None)

    def on_progress(n: int) -> None:
        bar.update(n)

    with RewardClient(args.url, api_key=api_key, timeout_s=args.timeout_s, max_concurrency=args.max_concurrency) as c:
        try:
            summary: JobSummary = run_job(
                args.input, args.output, validate, make_scorer(c), args.chunk_rows, on_progress, on_start
            )
        except RewardServiceError as exc:
            print(
                f"rmserve: error: {what} stopped: {exc}; rows written so far are kept, "
                "rerun the same command to resume",
                file=sys.stderr,
            )
            return 1
        finally:
            if bar is not None:
                bar.close()
    print(
        f"{what}: {summary.written} rows written, {summary.already_done} already done, "
        f"{summary.total_rows} in the input -> {args.output}",
        file=sys.stderr,
    )
    return 0


def run(args: argparse.Namespace) -> int:
    return _run(args, validate_score_row, lambda client: score_chunk_with(client), "score")


def run_rank(args: argparse.Namespace) -> int:
    if args.top_k is not None and args.top_k < 1:
        raise UserError("--top-k must be at least 1")
    return _run(args, validate_rank_row, lambda client: rank_chunk_with(client, args.top_k), "rank")
