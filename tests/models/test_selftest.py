"""Start-up self-test: an exported folder reproduces its card's reference scores; a mismatched tokenizer,
or weights that are not the card's, is caught with a clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.card import ModelCard, ReferencePair, write_card
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair
from models.selftest import (
    DEFAULT_REFERENCE_PROMPTS,
    SelfTestError,
    SelfTestResult,
    Tolerance,
    tolerance_for,
    verify_reference_scores,
)
from service.backends.onnx_backend import OnnxBackend


def _self_test(model_dir: Path, max_length: int | None = None) -> SelfTestResult:
    folder = inspect_model_folder(model_dir)
    tokenizer = load_tokenizer(folder)
    backend = OnnxBackend(folder, tokenizer.pad_token_id, threads_per_worker=1)
    formatter = build_formatter(folder, tokenizer, max_length)
    return verify_reference_scores(folder.card, formatter, backend.score, tolerance_for(backend.dtype, backend.device))


@pytest.mark.parametrize("which", ["encoder", "decoder"])
def test_export_stores_reference_scores_that_the_served_model_reproduces(
    which: str, request: pytest.FixtureRequest
) -> None:
    model_dir = request.getfixturevalue(f"{which}_onnx_dir")
    card = inspect_model_folder(model_dir).card
    assert card is not None
    assert [(p.prompt, p.response) for p in card.reference_pairs] == list(DEFAULT_REFERENCE_PROMPTS)
    result = _self_test(model_dir)
    assert result.checked == len(DEFAULT_REFERENCE_PROMPTS) and result.skipped == 0
    assert result.max_abs_diff <= 1e-5


def test_a_mismatched_tokenizer_fails_the_self_test(encoder_onnx_dir: Path, tmp_path: Path) -> None:
    """The model is uncased (its tokenizer lower-cases); a copy whose tokenizer keeps case maps every
    capitalised word to other word pieces, and the self-test refuses to serve it."""
    broken = tmp_path / "cased-tokenizer"
    shutil.copytree(encoder_onnx_dir, broken)
    spec = json.loads((broken / "tokenizer.json").read_text())
    assert spec["normalizer"]["lowercase"] is True
    spec["normalizer"]["lowercase"] = False
    (broken / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(SelfTestError, match=r"self-test failed: \d+ of 5 reference pairs.*tokenizer, chat template"):
        _self_test(broken)


def test_weights_that_are_not_the_cards_fail_the_self_test(encoder_onnx_dir: Path, tmp_path: Path) -> None:
    folder = inspect_model_folder(encoder_onnx_dir)
    assert folder.card is not None
    shifted = folder.card.model_copy(
        update={
            "reference_pairs": [p.model_copy(update={"score": p.score + 1e-3}) for p in folder.card.reference_pairs]
        }
    )
    other = tmp_path / "other-card"
    shutil.copytree(encoder_onnx_dir, other)
    write_card(other, shifted)
    with pytest.raises(SelfTestError, match=r"5 of 5 .*\|diff\| 0\.001"):
        _self_test(other)


def test_pairs_truncated_by_a_shorter_serving_max_length_are_skipped() -> None:
    from models.tokenizer import RMTokenizer
    from tests.conftest import minilm_dir

    formatter_long = build_formatter(inspect_model_folder(minilm_dir()), RMTokenizer.from_folder(minilm_dir()), 128)
    formatter_short = build_formatter(inspect_model_folder(minilm_dir()), RMTokenizer.from_folder(minilm_dir()), 16)
    pairs = [("short?", "yes"), ("a much longer prompt " * 5, "and an answer that is long as well " * 3)]

    def by_length(batch: list[EncodedPair]) -> np.ndarray:
        return np.array([float(item.num_tokens) for item in batch], dtype=np.float32)

    card = ModelCard(
        name="m",
        max_length=128,
        reference_pairs=[
            ReferencePair(prompt=p, response=r, score=float(formatter_long.encode(p, r).num_tokens)) for p, r in pairs
        ],
    )
    result = verify_reference_scores(card, formatter_short, by_length, Tolerance(0.0, 0.0))
    assert (result.checked, result.skipped) == (1, 1)
    # Served with the card's own max_length a truncation change is an error, not a skip.
    with pytest.raises(SelfTestError):
        verify_reference_scores(card.model_copy(update={"max_length": 16}), formatter_short, by_length, Tolerance(0, 0))


def test_a_card_without_reference_pairs_checks_nothing() -> None:
    def never(batch: list[EncodedPair]) -> np.ndarray:
        raise AssertionError("nothing to score")

    result = verify_reference_scores(ModelCard(name="m"), None, never, tolerance_for("fp32", "cpu"))
    assert result.checked == 0


def test_tolerances_are_looser_for_lower_precision() -> None:
    fp32, fp16, int8 = tolerance_for("fp32", "cpu"), tolerance_for("fp16", "cuda"), tolerance_for("int8", "cpu")
    assert fp32.allows(2.0, 2.0 + 2e-4) and not fp32.allows(2.0, 2.0 + 5e-4)
    assert fp16.allows(2.0, 2.02) and not fp16.allows(2.0, 2.05)
    assert int8.allows(1.0, 1.01) and not int8.allows(1.0, 1.02)
    assert tolerance_for("fp32", "cuda:0").absolute > fp32.absolute
    with pytest.raises(ValueError):
        tolerance_for("fp8", "cpu")
