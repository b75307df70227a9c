"""The README's curl examples show what the default model really answers.

Each ```bash block of README.md that posts a JSON body with `curl ... -d '{...}'` to a scoring route and
shows the answer on a following `# ...` line is replayed against the embedded default model, in-process;
the scores, decisions and thresholds shown must be the ones it gives (to the two decimals shown).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.settings import Settings
from tests.service.app_harness import serving
from tests.service.server_process import REPO_ROOT

_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
_CALL = re.compile(r"curl -s http://127\.0\.0\.1:8000(/v1/\w+) .*?-d '(\{.*?\})'\n# ([^\n]*)", re.DOTALL)
_NUMBER = r"-?\d+(?:\.\d+)?"


def readme_examples() -> list[tuple[str, dict[str, object], str]]:
    """(route, request body, shown answer line) of every curl example in the README."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    examples = []
    for block in _BLOCK.findall(text):
        for call in _CALL.finditer(block):
            examples.append((call.group(1), json.loads(call.group(2)), call.group(3).strip()))
    return examples


def test_the_readme_has_a_score_and_a_gate_example() -> None:
    routes = [route for route, _, _ in readme_examples()]
    assert "/v1/score" in routes and "/v1/gate" in routes


def test_readme_examples_show_the_default_models_answers(default_model_dir: Path) -> None:
    with serving(Settings(model=default_model_dir, profile_budget_s=0)) as client:
        for route, body, shown in readme_examples():
            answer = client.post(route, json=body).json()
            if "scores" in shown:
                listed = re.search(rf"\"scores\": \[({_NUMBER}(?:, {_NUMBER})*)\]", shown)
                assert listed is not None, shown
                printed = [float(x) for x in listed.group(1).split(", ")]
                assert printed == pytest.approx(answer["scores"], abs=0.006), (route, body)
            for key in ("score", "threshold"):
                value = re.search(rf"\"{key}\": ({_NUMBER})", shown)
                if value is not None:
                    assert float(value.group(1)) == pytest.approx(answer[key], abs=0.006), (route, key)
            for key in ("decision", "threshold_source"):
                value = re.search(rf"\"{key}\": \"([^\"]+)\"", shown)
                if value is not None:
                    assert value.group(1) == answer[key], (route, key)
