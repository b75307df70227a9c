"""What `rmserve score` and `rmserve rank` share: their options, row checks and the resumable job over a client.

Each command supplies a row validator and a chunk scorer (`service.cli.jsonl_jobs.ChunkScorer`) built on a
`RewardClient`; `run_client_job` opens the client, runs the job with a progress bar and reports how it ended.
`index` in every output row is the 0-based line number of its input row.
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
from service.cli.jsonl_jobs import ChunkScorer, JobSummary, Row, RowValidator, run_job

DEFAULT_CHUNK_ROWS = 512


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every client job: server, files, chunking, concurrency, time limit, progress bar."""
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


def check_prompt(row: Row) -> None:
    """Raise ValueError unless the row's 'prompt' is a string or a list of message objects."""
    prompt = row.get("prompt")
    if isinstance(prompt, str):
        return
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        return
    raise ValueError("'prompt' must be a string or a list of {'role', 'content'} messages")


def identity(index: int, row: Row, model: str) -> Row:
    """The fields every output row starts with: `index`, the input's `id` when it has one, `model`."""
    out: Row = {"index": index}
    if row.get("id") is not None:
        out["id"] = row["id"]
    out["model"] = model
    return out


def run_client_job(
    args: argparse.Namespace, validate: RowValidator, make_scorer: Callable[[RewardClient], ChunkScorer], what: str
) -> int:
    """Run one job with the options of `add_job_arguments`: 0 when every row is written, 1 when the server
    stopped it (rows written so far are kept; rerunning resumes). Raises UserError for bad options."""
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
