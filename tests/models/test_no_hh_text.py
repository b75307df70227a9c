"""No HH-RLHF text is in the project: the project ships only data its own authors wrote.

Every text file git tracks (the preference set and its sources, code, docs) is checked against the shared
HH-RLHF file for a run of `NGRAM_WORDS` consecutive words in common, after lower-casing and keeping only
letters, digits and apostrophes. Twelve words is long enough that ordinary English phrases do not match
by chance and short enough that a copied sentence cannot hide.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.service.server_process import REPO_ROOT

NGRAM_WORDS = 12
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _ngrams(words: list[str]) -> set[int]:
    return {hash(tuple(words[i : i + NGRAM_WORDS])) for i in range(len(words) - NGRAM_WORDS + 1)}


@pytest.fixture(scope="module")
def hh_ngrams(hh_data_path: Path) -> set[int]:
    grams: set[int] = set()
    with gzip.open(hh_data_path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            for key in ("chosen", "rejected"):
                grams |= _ngrams(_words(row[key]))
    return grams


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    files = []
    for name in listed.decode().split("\0"):
        path = REPO_ROOT / name
        if name and path.is_file() and b"\0" not in path.read_bytes()[:4096]:
            files.append(path)
    return files


def test_no_file_shares_a_long_run_of_words_with_hh_rlhf(hh_ngrams: set[int]) -> None:
    files = _tracked_text_files()
    assert REPO_ROOT / "models" / "default_data" / "preferences.jsonl" in files
    overlaps = {}
    for path in files:
        words = _words(path.read_text(encoding="utf-8", errors="replace"))
        shared = [
            i for i in range(len(words) - NGRAM_WORDS + 1) if hash(tuple(words[i : i + NGRAM_WORDS])) in hh_ngrams
        ]
        if shared:
            overlaps[str(path.relative_to(REPO_ROOT))] = " ".join(words[shared[0] : shared[0] + NGRAM_WORDS])
    assert overlaps == {}


def test_the_check_finds_a_copied_sentence(hh_data_path: Path, hh_ngrams: set[int]) -> None:
    """The same check on a text that quotes one HH reply finds it (the check can fail)."""
    with gzip.open(hh_data_path, "rt", encoding="utf-8") as handle:
        row = json.loads(next(handle))
    quoted = _words(row["chosen"])[-NGRAM_WORDS - 3 :]
    assert _ngrams(quoted) & hh_ngrams
    assert not _ngrams(_words("a sentence written for this test and found in no data set at all, surely")) & hh_ngrams
