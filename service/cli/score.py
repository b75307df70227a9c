"""`rmserve score`: score a JSONL file of prompt/response rows against a running server, resumably.

    rmserve score --url http://127.0.0.1:8000 --input pairs.jsonl --output scores.jsonl

input rows:  {"prompt": str | [{"role", "content"}, ...], "response": str, "id"?: any}
output rows: {"index", "id"?, "score", "tokens", "truncated", "normalized"?, "model"}

An interrupted run (Ctrl-C, a crash, the server going away) is resumed by running the same command again:
rows already in the output are not scored again, and every row ends up in the output exactly once (see
`service.cli.jsonl_jobs`).
"""

from __future__ import annotations

import argparse

from rmserve import RewardClient
from service.cli.client_job import add_job_arguments, check_prompt, identity, run_client_job
from service.cli.jsonl_jobs import ChunkScorer, Row


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_job_arguments(parser)


def validate_score_row(row: Row) -> None:
    check_prompt(row)
    if not isinstance(row.get("response"), str):
        raise ValueError("'response' must be a string")


def score_chunk_with(client: RewardClient, timeout_s: float | None = None) -> ChunkScorer:
    """A chunk scorer for `rmserve score` over a `RewardClient`."""

    def score_chunk(chunk: list[tuple[int, Row]]) -> list[Row]:
        result = client.score([(row["prompt"], row["response"]) for _, row in chunk], timeout_s=timeout_s)
        rows = []
        for (index, row), item in zip(chunk, result.items, strict=True):
            out = identity(index, row, result.model)
            out.update(score=item.score, tokens=item.tokens, truncated=item.truncated)
            if item.normalized is not None:
                out["normalized"] = item.normalized
            rows.append(out)
        return rows

    return score_chunk


def run(args: argparse.Namespace) -> int:
    return run_client_job(args, validate_score_row, lambda client: score_chunk_with(client), "score")
