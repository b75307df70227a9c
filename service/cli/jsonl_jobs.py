"""Resumable JSONL jobs: score the rows of an input file into an output file, each row written exactly once.

Every output row carries `index`, the 0-based line number of its input row (and the row's `id` when it has
one). Rows go out in chunks; a chunk is appended with one `write` and made durable (`fsync`) before the next
chunk is scored. A rerun of the same command reads the output first: a torn last line (the process died in
the middle of a write) is cut off, every complete line counts as done, and only the rows not yet done are
scored and appended. So after any number of interruptions the output holds every input row exactly once.
The output is locked while a job runs, so a second job on the same file stops instead of writing twice.

Blank input lines are skipped (their line numbers are simply absent from the output).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from models.errors import UserError

Row = dict[str, Any]
# Validates one input row; raises ValueError with a message naming what is wrong.
RowValidator = Callable[[Row], None]
# Turns a chunk of (index, input row) into output rows, in the same order.
ChunkScorer = Callable[[list[tuple[int, Row]]], list[Row]]


class JobFileError(UserError):
    """An input or output file that cannot be used as it is (bad JSON, missing fields, foreign output)."""


def _parse_line(raw: bytes, where: str) -> Row:
    try:
        row = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JobFileError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(row, dict):
        raise JobFileError(f"{where}: a row must be a JSON object")
    return row


def iter_input(path: Path) -> Iterator[tuple[int, Row]]:
    """(line index, row) for each non-blank line of a JSONL file, streamed."""
    with path.open("rb") as stream:
        for index, raw in enumerate(stream):
            if raw.strip():
                yield index, _parse_line(raw, f"{path}:{index + 1}")


def scan_input(path: Path, validate: RowValidator) -> dict[int, Any]:
    """Validate every row before any scoring starts; return {line index: the row's id or None}."""
    if not path.is_file():
        raise JobFileError(f"input file not found: {path}")
    ids: dict[int, Any] = {}
    for index, row in iter_input(path):
        try:
            validate(row)
        except ValueError as exc:
            raise JobFileError(f"{path}:{index + 1}: {exc}") from exc
        ids[index] = row.get("id")
    return ids


def recover_output(stream: BinaryIO, input_ids: dict[int, Any], where: Path) -> set[int]:
    """The input indices already in the output open as `stream` (read from its start), after cutting a torn
    last line. Raises JobFileError when the output cannot belong to this input (unknown index, duplicate, or
    an id that differs)."""
    done: set[int] = set()
    stream.seek(0)
    offset = 0
    for raw in stream:
        if not raw.endswith(b"\n"):
            stream.truncate(offset)
            break
        offset += len(raw)
        if not raw.strip():
            continue
        row = _parse_line(raw, f"{where} (byte {offset - len(raw)})")
        index = row.get("index")
        if not isinstance(index, int) or index not in input_ids or index in done:
            raise JobFileError(
                f"{where} holds a row with index {index!r} that is not a pending row of this input; "
                "was it written for another input file? Use a new output path."
            )
        if input_ids[index] is not None and row.get("id") != input_ids[index]:
            raise JobFileError(f"{where}: row {index} has id {row.get('id')!r}, the input has {input_ids[index]!r}")
        done.add(index)
    return done


def _lock(stream: BinaryIO, where: Path) -> None:
    """An exclusive lock on the output for the job's life: two jobs appending to one file would write rows
    twice. Advisory, POSIX only (elsewhere the job runs unlocked)."""
    try:
        import fcntl
    except ImportError:
        return
    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise JobFileError(f"another job is writing {where}; wait for it or use another output path") from None


def append_rows(stream: BinaryIO, rows: list[Row]) -> None:
    """Append rows as one write, then flush and fsync, so a chunk is on disk before the next one starts."""
    stream.write(b"".join(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n" for row in rows))
    stream.flush()
    os.fsync(stream.fileno())


@dataclass(frozen=True, slots=True)
class JobSummary:
    total_rows: int
    already_done: int
    written: int


def run_job(
    input_path: Path,
    output_path: Path,
    validate: RowValidator,
    score_chunk: ChunkScorer,
    chunk_rows: int,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> JobSummary:
    """Score the rows of `input_path` that `output_path` lacks, `chunk_rows` at a time, appending each chunk.

    `on_start(total, already_done)` is called once before scoring, `on_progress(n)` after each chunk is on
    disk. An exception from `score_chunk` stops the job; everything written so far stays valid for a rerun.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    input_ids = scan_input(input_path, validate)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with output_path.open("a+b") as stream:
        _lock(stream, output_path)
        done = recover_output(stream, input_ids, output_path)
        if on_start is not None:
            on_start(len(input_ids), len(done))
        chunk: list[tuple[int, Row]] = []
        for index, row in iter_input(input_path):
            if index in done:
                continue
            chunk.append((index, row))
            if len(chunk) == chunk_rows:
                written += _write_chunk(stream, chunk, score_chunk, on_progress)
                chunk = []
        if chunk:
            written += _write_chunk(stream, chunk, score_chunk, on_progress)
    return JobSummary(len(input_ids), len(done), written)


def _write_chunk(
    stream: BinaryIO,
    chunk: list[tuple[int, Row]],
    score_chunk: ChunkScorer,
    on_progress: Callable[[int], None] | None,
) -> int:
    rows = score_chunk(chunk)
    if len(rows) != len(chunk) or any(r.get("index") != index for r, (index, _) in zip(rows, chunk, strict=True)):
        raise RuntimeError("a chunk scorer must return one row per input row, in order, carrying its index")
    append_rows(stream, rows)
    if on_progress is not None:
        on_progress(len(rows))
    return len(rows)
