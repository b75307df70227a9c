"""Our loader + formatter + batching score exactly what transformers scores, for an encoder and a decoder RM.

The reference runs each pair alone (no padding) through `AutoTokenizer` and
`AutoModelForSequenceClassification`; ours runs them batched and right-padded, as serving does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.evaluate import score_many
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import Prompt, prompt_as_messages, prompt_as_text

TOLERANCE = 1e-5
PAIRS: list[tuple[Prompt, str]] = [
    ("what is the capital of france ?", "paris is the capital ."),
    ("hello how can i help you today", "i cannot help with that , but here is a safer idea"),
    (
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "please write a python function that adds two numbers"},
        ],
        "def add(a, b): return a + b",
    ),
    (
        [
            {"role": "user", "content": "the quick brown fox"},
            {"role": "assistant", "content": "jumps over the lazy dog"},
            {"role": "user", "content": "and then ?"},
        ],
        "the lazy dog",
    ),
    ("hi", "hello"),
]


def ours(model_dir: Path) -> np.ndarray:
    from models.torch_model import load_torch_reward_model

    folder = inspect_model_folder(model_dir)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer)
    model = load_torch_reward_model(folder, tokenizer.pad_token_id)
    encoded = formatter.encode_many(PAIRS)
    assert not any(e.truncated for e in encoded)
    return score_many(model, encoded, tokenizer.pad_token_id, batch_size=len(PAIRS))


def reference_inputs(model_dir: Path, kind: str) -> list[dict[str, object]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if kind == "encoder":
        return [tokenizer(prompt_as_text(p), r, return_tensors="pt") for p, r in PAIRS]
    conversations = [[*prompt_as_messages(p), {"role": "assistant", "content": r}] for p, r in PAIRS]
    return [
        tokenizer.apply_chat_template(c, tokenize=True, return_dict=True, return_tensors="pt") for c in conversations
    ]


def reference_scores(model_dir: Path, kind: str) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    model.eval()
    with torch.inference_mode():
        return np.array([model(**inputs).logits[0, 0].item() for inputs in reference_inputs(model_dir, kind)])


@pytest.mark.parametrize("fixture", ["tiny_encoder_dir", "tiny_decoder_dir"])
def test_scores_equal_transformers_in_fp32(fixture: str, request: pytest.FixtureRequest) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    kind = inspect_model_folder(model_dir).kind
    assert kind == ("encoder" if fixture == "tiny_encoder_dir" else "decoder")
    expected = reference_scores(model_dir, kind)
    got = ours(model_dir)
    assert got.dtype == np.float32 and got.shape == (len(PAIRS),)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.unique(got).size == len(PAIRS)  # the pairs really differ: not a constant output
