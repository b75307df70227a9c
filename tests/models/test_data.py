"""Preference data: TRL and HH-RLHF rows, row ranges, and malformed rows reported with their line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from models.data import (
    DataFormatError,
    PreferencePair,
    RowRange,
    data_name,
    parse_hh_transcript,
    read_preferences,
)
from models.formatting import prompt_as_text

HH_CHOSEN = (
    "\n\nHuman: What is a good prank?\n\nAssistant: Are you looking for harmless ideas?"
    "\n\nHuman: yes\n\nAssistant: Put googly eyes on everything in the fridge."
)
HH_REJECTED = (
    "\n\nHuman: What is a good prank?\n\nAssistant: Are you looking for harmless ideas?"
    "\n\nHuman: yes\n\nAssistant: Hide their medication."
)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_trl_string_prompt_and_margin(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"prompt": "2+2?", "chosen": "4", "rejected": "5", "margin": 1.5, "category": "math"}],
    )
    assert read_preferences(path) == [PreferencePair("2+2?", "4", "5", 1.5)]


def test_trl_message_prompt_and_message_responses(tmp_path: Path) -> None:
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
    row = {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": "Paris."}],
        "rejected": [{"role": "assistant", "content": "Lyon."}],
    }
    (pair,) = read_preferences(write_jsonl(tmp_path / "d.jsonl", [row]))
    assert pair.prompt == prompt
    assert (pair.chosen, pair.rejected, pair.margin) == ("Paris.", "Lyon.", None)


def test_trl_implicit_prompt_shares_all_but_last_message(tmp_path: Path) -> None:
    user = {"role": "user", "content": "Capital of France?"}
    row = {
        "chosen": [user, {"role": "assistant", "content": "Paris."}],
        "rejected": [user, {"role": "assistant", "content": "Lyon."}],
    }
    (pair,) = read_preferences(write_jsonl(tmp_path / "d.jsonl", [row]))
    assert pair.prompt == [user]
    assert (pair.chosen, pair.rejected) == ("Paris.", "Lyon.")


def test_hh_transcript_splits_into_messages_and_final_responses(tmp_path: Path) -> None:
    (pair,) = read_preferences(write_jsonl(tmp_path / "hh.jsonl", [{"chosen": HH_CHOSEN, "rejected": HH_REJECTED}]))
    assert pair.prompt == [
        {"role": "user", "content": "What is a good prank?"},
        {"role": "assistant", "content": "Are you looking for harmless ideas?"},
        {"role": "user", "content": "yes"},
    ]
    assert pair.chosen == "Put googly eyes on everything in the fridge."
    assert pair.rejected == "Hide their medication."
    # Encoders see the natural transcript: the prompt renders back to the original text.
    assert prompt_as_text(pair.prompt) == HH_CHOSEN[: HH_CHOSEN.rfind("\n\nAssistant:") + len("\n\nAssistant:")]


def test_hh_response_that_runs_on_into_more_turns_uses_the_common_prompt(tmp_path: Path) -> None:
    base = "\n\nHuman: Are drag queens men?\n\nAssistant:"
    chosen = base + " Usually. Human: really?\n\nAssistant: yes"
    rejected = base + " No."
    (pair,) = read_preferences(write_jsonl(tmp_path / "hh.jsonl", [{"chosen": chosen, "rejected": rejected}]))
    assert pair.prompt == [{"role": "user", "content": "Are drag queens men?"}]
    assert pair.chosen == "Usually. Human: really?\n\nAssistant: yes"
    assert pair.rejected == "No."


def test_parse_hh_transcript_rejects_text_without_turns() -> None:
    with pytest.raises(ValueError, match="turn"):
        parse_hh_transcript("no markers here")


def test_gzip_file_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"prompt": "a", "chosen": "b", "rejected": "c"}) + "\n\n")
        handle.write(json.dumps({"prompt": "d", "chosen": "e", "rejected": "f"}) + "\n")
    assert [p.prompt for p in read_preferences(path)] == ["a", "d"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":1800", RowRange(None, 1800)),
        ("1800:", RowRange(1800, None)),
        ("-512:", RowRange(-512, None)),
        ("2:5", RowRange(2, 5)),
    ],
)
def test_row_range_parse(text: str, expected: RowRange) -> None:
    assert RowRange.parse(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["1800", "a:b", "1:2:3"])
def test_row_range_rejects_malformed_text(text: str) -> None:
    with pytest.raises(DataFormatError):
        RowRange.parse(text)


def test_row_ranges_select_rows_and_skip_parsing_the_rest(tmp_path: Path) -> None:
    rows: list[object] = [{"prompt": str(i), "chosen": "x", "rejected": "y"} for i in range(10)]
    rows.append("{broken")  # outside the selected ranges: never parsed
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    assert [p.prompt for p in read_preferences(path, RowRange.parse(":3"))] == ["0", "1", "2"]
    assert [p.prompt for p in read_preferences(path, RowRange.parse("8:10"))] == ["8", "9"]
    assert data_name(path, RowRange.parse(":3")) == "d.jsonl[:3]"
    with pytest.raises(DataFormatError, match=r"d\.jsonl:11"):
        read_preferences(path, RowRange.parse("-2:"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ('{"prompt": "p", "chosen": "c"}', "missing key"),
        ('{"prompt": 3, "chosen": "c", "rejected": "r"}', "'prompt' must be a string or a list of messages"),
        ('{"prompt": "p", "chosen": 1, "rejected": "r"}', "'chosen' must be a string or a list of messages"),
        ('{"prompt": [{"role": "robot", "content": "x"}], "chosen": "c", "rejected": "r"}', "role"),
        ('{"prompt": "p", "chosen": "c", "rejected": "r", "margin": "big"}', "margin"),
        ('{"chosen": "just text", "rejected": "other"}', "not an HH-RLHF transcript"),
        (
            '{"chosen": "\\n\\nHuman: a\\n\\nAssistant: b", "rejected": "\\n\\nHuman: z\\n\\nAssistant: c"}',
            "share a prompt",
        ),
        (
            '{"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], '
            '"rejected": [{"role": "user", "content": "z"}, {"role": "assistant", "content": "c"}]}',
            "share a prompt",
        ),
        ('{"chosen": "c", "rejected": ["r"]}', "both be strings or both be message lists"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"})
    path = write_jsonl(tmp_path / "bad.jsonl", [good, "", line])  # the blank line still counts
    with pytest.raises(DataFormatError) as info:
        read_preferences(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert message in str(info.value)


def test_missing_file_and_empty_selection(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="does not exist"):
        read_preferences(tmp_path / "absent.jsonl")
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "chosen": "c", "rejected": "r"}])
    with pytest.raises(DataFormatError, match="no preference rows"):
        read_preferences(path, RowRange.parse("5:"))


def test_reads_the_shared_hh_file(hh_data_path: Path) -> None:
    pairs = read_preferences(hh_data_path)
    assert len(pairs) == 2312
    holdout = read_preferences(hh_data_path, RowRange.parse("1800:"))
    assert len(holdout) == 512 and holdout[-1] == pairs[-1]
    for pair in pairs:
        assert isinstance(pair.prompt, list) and pair.prompt[-1]["role"] == "user"
