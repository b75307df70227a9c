"""`rmserve rank`: rank the best-of-n rows of a JSONL file against a running server, resumably.

    rmserve rank --url http://127.0.0.1:8000 --input groups.jsonl --output ranked.jsonl

input rows:  {"prompt": str | [{"role", "content"}, ...], "responses": [str, ...], "id"?: any}
output rows: {"index", "id"?, "scores", "ranking" (best first), "best_index", "best_response", "model"}

Resumed like `rmserve score`: rerun the same command and only the rows missing from the output are ranked.
"""

from __future__ import annotations

import argparse

from models.errors import UserError
from rmserve import RewardClient
from rmserve.types import ScoreResult, rank_locally
from service.cli.client_job import add_job_arguments, check_prompt, identity, run_client_job
from service.cli.jsonl_jobs import ChunkScorer, Row


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_job_arguments(parser)
    parser.add_argument("--top-k", type=int, default=None, help="keep only the best k indices in 'ranking'")


def validate_rank_row(row: Row) -> None:
    check_prompt(row)
    responses = row.get("responses")
    if not isinstance(responses, list) or not responses or not all(isinstance(r, str) for r in responses):
        raise ValueError("'responses' must be a non-empty list of strings")


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
            out = identity(index, row, result.model)
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


def run(args: argparse.Namespace) -> int:
    if args.top_k is not None and args.top_k < 1:
        raise UserError("--top-k must be at least 1")
    return run_client_job(args, validate_rank_row, lambda client: rank_chunk_with(client, args.top_k), "rank")
