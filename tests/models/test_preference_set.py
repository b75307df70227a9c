"""The default preference set: the committed JSONL is what its sources build, and the split is honest."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

from models import preference_set
from models.default_model import DEFAULT_DATA_PATH, read_split


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return preference_set.build_rows()


def test_the_committed_file_is_what_the_sources_build() -> None:
    assert preference_set.is_current(), "run: python -m models.preference_set"
    assert preference_set.main(["--check"]) == 0


def test_every_family_holds_out_about_a_fifth(rows: list[dict]) -> None:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counts[row["category"]][row["split"] == "heldout"] += 1
    assert set(counts) == set(preference_set.FAMILIES)
    lightly_trained = {"helpful_vs_evasive", "detailed_vs_curt"}  # LIGHTLY_TRAINED pairs in five trained on
    light_share = 1 - preference_set.LIGHTLY_TRAINED / preference_set.HELDOUT_EVERY
    for family, (train, heldout) in counts.items():
        share = heldout / (train + heldout)
        if family in lightly_trained:
            assert train > 0 and abs(share - light_share) <= 0.1, family
        else:
            assert 0.15 <= share <= 0.25, family
    assert len(rows) >= 1100


@pytest.mark.parametrize("family", ["refuse_harmful_request", "decline_demeaning_request"])
def test_generated_families_hold_out_whole_topics(rows: list[dict], family: str) -> None:
    """No held-out pair's request appears (as a string or as a conversation's last turn) in training."""

    def request(prompt: str | list[dict[str, str]]) -> str:
        return prompt if isinstance(prompt, str) else prompt[-1]["content"]

    family_rows = [r for r in rows if r["category"] == family]
    train = {request(r["prompt"]) for r in family_rows if r["split"] == "train"}
    heldout = {request(r["prompt"]) for r in family_rows if r["split"] == "heldout"}
    assert heldout and not train & heldout


def test_arithmetic_is_right_on_the_chosen_side(rows: list[dict]) -> None:
    arithmetic = [r for r in rows if r["category"] == "correct_vs_wrong_arithmetic"]
    assert (arithmetic[0]["prompt"], arithmetic[0]["chosen"], arithmetic[0]["rejected"]) == ("What is 2 + 2?", "4", "5")
    for row in arithmetic:
        numbers = re.findall(r"\d+", row["prompt"])
        if row["prompt"].startswith("What is") and " + " in row["prompt"]:
            assert row["chosen"].rstrip(".").split()[-1] == str(int(numbers[0]) + int(numbers[1]))


def test_fill_refuses_an_unfilled_placeholder() -> None:
    assert preference_set._fill("I won't help you {act}. {Act}!", act="do that") == "I won't help you do that. Do that!"
    with pytest.raises(ValueError, match="unfilled"):
        preference_set._fill("{harm} {alternative}", harm="x")


def test_check_rows_catches_duplicates_and_a_family_without_held_out_pairs() -> None:
    row = {"prompt": "p", "chosen": "a", "rejected": "b", "category": "f", "split": "heldout"}
    with pytest.raises(ValueError, match="duplicate"):
        preference_set.check_rows([row, dict(row)])
    with pytest.raises(ValueError, match="both training and held-out"):
        preference_set.check_rows([row])


def test_read_split_follows_the_rows_split_and_names_families() -> None:
    split = read_split(DEFAULT_DATA_PATH)
    rows = [json.loads(line) for line in DEFAULT_DATA_PATH.read_text(encoding="utf-8").splitlines()]
    assert len(split.heldout) == sum(r["split"] == "heldout" for r in rows) == len(split.families)
    assert len(split.train) + len(split.heldout) == len(rows)
    assert split.families == [r["category"] for r in rows if r["split"] == "heldout"]
