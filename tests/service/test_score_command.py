"""`rmserve score` and `rmserve rank`: resumable JSONL scoring. Interrupted runs (a server failure, a torn
last line) are resumed without rescoring what was written, and every row ends up in the output exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from rmserve import RewardClient, ServerError
from service.cli.jsonl_jobs import JobFileError, run_job
from service.cli.main import main
from service.cli.score import score_chunk_with, validate_score_row
from tests.rmserve.fake_server import FakeRewardServer, fake_score
from tests.service.server_process import shared_server


def write_jsonl(path: Path, rows: list[dict[str, Any] | None]) -> None:
    """Rows as JSON lines; None writes a blank line."""
    path.write_text("".join("\n" if r is None else json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score_rows(n: int) -> list[dict[str, Any] | None]:
    rows: list[dict[str, Any] | None] = []
    for i in range(n):
        prompt: Any = f"question {i}" if i % 3 else [{"role": "user", "content": f"question {i}"}]
        row: dict[str, Any] = {"prompt": prompt, "response": f"answer {i} " + "z" * (i % 9)}
        if i % 2:
            row["id"] = f"row-{i}"
        rows.append(row)
    rows.insert(10, None)  # a blank line: skipped, its line number absent from the output
    return rows


def test_a_failed_run_resumes_without_rescoring_and_writes_each_row_once(tmp_path: Path) -> None:
    source, output = tmp_path / "pairs.jsonl", tmp_path / "scores.jsonl"
    rows = score_rows(50)
    write_jsonl(source, rows)
    server = FakeRewardServer()
    server.script.extend([None, None, None, (500, {}, {"error": {"type": "backend_error", "message": "boom"}})])
    client = RewardClient(
        "http://rm.test",
        transport=httpx.MockTransport(server.handler),
        max_items_per_request=64,
        max_body_bytes=1 << 20,
        max_concurrency=1,
    )

    with client, pytest.raises(ServerError):
        run_job(source, output, validate_score_row, score_chunk_with(client), chunk_rows=8)
    first = read_jsonl(output)
    assert len(first) == 24  # three chunks of 8 were on disk before the failure
    with output.open("ab") as stream:
        stream.write(b'{"index": 30, "score": 1.')  # a torn last line: the process died mid-write
    sent_before = sum(len(b["items"]) for b in server.bodies("/v1/score"))

    client = RewardClient(
        "http://rm.test",
        transport=httpx.MockTransport(server.handler),
        max_items_per_request=64,
        max_body_bytes=1 << 20,
    )
    with client:
        summary = run_job(source, output, validate_score_row, score_chunk_with(client), chunk_rows=8)

    assert (summary.total_rows, summary.already_done, summary.written) == (50, 24, 26)
    assert sum(len(b["items"]) for b in server.bodies("/v1/score")) - sent_before == 26
    final = read_jsonl(output)
    line_indices = [i for i, r in enumerate(rows) if r is not None]
    assert sorted(r["index"] for r in final) == line_indices  # every row exactly once
    assert final[:24] == first  # what was written stays as it was
    by_index = {r["index"]: r for r in final}
    for index in line_indices:
        row = rows[index]
        assert row is not None
        assert by_index[index]["score"] == fake_score(row["prompt"], row["response"])
        assert by_index[index].get("id") == row.get("id")


def test_an_output_of_another_input_is_refused(tmp_path: Path) -> None:
    source, output = tmp_path / "pairs.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(source, [{"prompt": "p", "response": "r", "id": "a"}])
    write_jsonl(output, [{"index": 0, "id": "b", "score": 1.0}])
    with pytest.raises(JobFileError, match="id"):
        run_job(source, output, validate_score_row, lambda chunk: [], chunk_rows=4)
    write_jsonl(output, [{"index": 7, "score": 1.0}])
    with pytest.raises(JobFileError, match="another input"):
        run_job(source, output, validate_score_row, lambda chunk: [], chunk_rows=4)


def test_a_second_job_on_the_same_output_is_refused(tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    source, output = tmp_path / "pairs.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(source, [{"prompt": "p", "response": "r"}])
    with output.open("a+b") as running_job:
        fcntl.flock(running_job.fileno(), fcntl.LOCK_EX)
        with pytest.raises(JobFileError, match="another job"):
            run_job(source, output, validate_score_row, lambda chunk: [], chunk_rows=4)
    assert output.read_bytes() == b""


def test_bad_input_rows_fail_before_anything_is_scored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, output = tmp_path / "pairs.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(source, [{"prompt": "p", "response": "r"}, {"prompt": "p", "response": 3}])
    code = main(["score", "--url", "http://127.0.0.1:9", "--input", str(source), "--output", str(output)])
    assert code == 2
    assert f"{source}:2: 'response' must be a string" in capsys.readouterr().err
    assert not output.exists()


def test_a_server_that_is_down_stops_the_run_with_a_resume_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, output = tmp_path / "pairs.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(source, [{"prompt": "p", "response": "r"}])
    code = main(
        [
            "score",
            "--url",
            "http://127.0.0.1:9",
            "--input",
            str(source),
            "--output",
            str(output),
            "--timeout-s",
            "2",
            "--no-progress",
        ]
    )
    assert code == 1
    assert "rerun the same command to resume" in capsys.readouterr().err


# ------------------------------------------------------------------ against the real server process


@pytest.fixture(scope="module")
def server_url(request: pytest.FixtureRequest, tiny_encoder_dir: Path) -> str:
    return shared_server(request.config, tiny_encoder_dir)


def test_rmserve_score_end_to_end_and_resumed(server_url: str, tmp_path: Path) -> None:
    source, full, resumed = tmp_path / "pairs.jsonl", tmp_path / "full.jsonl", tmp_path / "resumed.jsonl"
    rows = score_rows(60)
    write_jsonl(source, rows)
    common = ["--url", server_url, "--input", str(source), "--chunk-rows", "16", "--no-progress"]
    assert main(["score", *common, "--output", str(full)]) == 0
    reference = read_jsonl(full)
    assert [r["index"] for r in reference] == [i for i, r in enumerate(rows) if r is not None]

    # An interrupted run: two chunks and half a line on disk.
    lines = full.read_bytes().splitlines(keepends=True)
    resumed.write_bytes(b"".join(lines[:32]) + lines[32][:17])
    assert main(["score", *common, "--output", str(resumed)]) == 0
    again = read_jsonl(resumed)
    assert [r["index"] for r in again] == [r["index"] for r in reference]  # each row once, in order
    assert again[:32] == reference[:32]
    for mine, theirs in zip(again, reference, strict=True):
        assert mine["score"] == pytest.approx(theirs["score"], abs=1e-5)
        assert mine.get("id") == theirs.get("id") and mine["model"] == theirs["model"]

    # A finished output is left as it is.
    assert main(["score", *common, "--output", str(resumed)]) == 0
    assert read_jsonl(resumed) == again


def test_rmserve_rank_best_of_n(server_url: str, tmp_path: Path) -> None:
    source, output = tmp_path / "groups.jsonl", tmp_path / "ranked.jsonl"
    groups: list[dict[str, Any]] = [
        {
            "id": f"g{i}",
            "prompt": f"Explain topic {i}.",
            "responses": [f"Take {j} on topic {i}." * (1 + j) for j in range(2 + i % 4)],
        }
        for i in range(9)
    ]
    write_jsonl(source, list(groups))
    args = [
        "rank",
        "--url",
        server_url,
        "--input",
        str(source),
        "--output",
        str(output),
        "--chunk-rows",
        "4",
        "--top-k",
        "2",
    ]
    assert main([*args, "--no-progress"]) == 0
    ranked = read_jsonl(output)
    assert [r["id"] for r in ranked] == [g["id"] for g in groups]
    with RewardClient(server_url) as client:
        for row, group in zip(ranked, groups, strict=True):
            direct = client.rank(group["prompt"], group["responses"])
            assert row["scores"] == pytest.approx(direct.scores, abs=1e-5)
            assert row["ranking"] == sorted(range(len(row["scores"])), key=lambda i: -row["scores"][i])[:2]
            assert row["best_response"] == group["responses"][row["best_index"]]
