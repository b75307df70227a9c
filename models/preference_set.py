"""Build the default model's preference set, `models/default_data/preferences.jsonl`, from its sources.

The sources are the YAML files in `models/default_data/pairs/`, one per family, all written for rmserve:
hand-written pairs, and the templates, pools and word lists that the generated families are filled
from. This module only assembles them; it uses no network and no randomness that is not seeded, so a
rerun reproduces the file byte for byte.

    python -m models.preference_set          # rewrite preferences.jsonl
    python -m models.preference_set --check  # exit 1 when preferences.jsonl is not what the sources give

Each row is `{"prompt", "chosen", "rejected", "category", "split"}`: the prompt is a string or, for a
conversation, a list of `{"role", "content"}` messages; `category` names the family; `split` is
`train` or `heldout`. A fifth of every family is held out, chosen so that a held-out pair shares no
topic with a training pair where the family is generated from topics (whole topics, whole targets),
and every fifth pair (in a fixed order by SHA-256 of the prompt) where it is hand-written.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent / "default_data"
SOURCE_DIR = DATA_DIR / "pairs"
OUT_PATH = DATA_DIR / "preferences.jsonl"
HELDOUT_EVERY = 5
FIELDS = ("prompt", "chosen", "rejected", "category", "split")

Row = dict[str, Any]


def _source(family: str) -> dict[str, Any]:
    with (SOURCE_DIR / f"{family}.yaml").open(encoding="utf-8") as handle:
        # libyaml's loader where PyYAML was built with it: the pure-Python one takes seconds on these files.
        loaded: dict[str, Any] = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return loaded


def _fill(template: str, **values: str) -> str:
    """`template` with each `{name}` replaced by its value and `{Name}` by the value capitalised."""
    text = template
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
        text = text.replace("{" + name.capitalize() + "}", value[:1].upper() + value[1:])
    if "{" in text and "}" in text.split("{", 1)[1]:
        raise ValueError(f"unfilled placeholder in {text!r}")
    return text


def _row(family: str, prompt: str | list[dict[str, str]], chosen: str, rejected: str, heldout: bool) -> Row:
    return {
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "category": family,
        "split": "heldout" if heldout else "train",
    }


def _prompt_key(prompt: str | list[dict[str, str]]) -> str:
    return json.dumps(prompt, ensure_ascii=False, sort_keys=True)


def _hand_written(
    family: str,
    pairs: list[dict[str, Any]],
    rejected: Callable[[int, dict[str, Any]], str],
    trained: int = HELDOUT_EVERY - 1,
) -> list[Row]:
    """Rows of a hand-written family, in a fixed pseudo-random order (by SHA-256 of the prompt, which keeps
    the held-out choice independent of the order the pairs were written in); every fifth is held out, and
    with `trained` < 4 only `trained` pairs in five are trained on and the rest held out too.
    `rejected(i, pair)` gives pair i's rejected reply (i counts pairs in their written order)."""
    rows = [_row(family, p["prompt"], p["chosen"], rejected(i, p), False) for i, p in enumerate(pairs)]
    rows.sort(key=lambda r: hashlib.sha256(_prompt_key(r["prompt"]).encode("utf-8")).hexdigest())
    for i, row in enumerate(rows):
        row["split"] = "heldout" if i % HELDOUT_EVERY >= trained else "train"
    return rows


def _written(family: str, trained: int = HELDOUT_EVERY - 1) -> list[Row]:
    return _hand_written(family, _source(family)["pairs"], lambda _, p: p["rejected"], trained)


# helpful_vs_evasive and detailed_vs_curt are trained on lightly: two pairs in five, the other three held
# out. Their lesson (a real answer beats a dodge, a thorough one a curt one) pulls against the harmful
# families' (a vague or deflecting reply beats engaged compliance), which is what HH-RLHF's harmless pairs
# ask for; models/default_data/README.md gives the development figures.
LIGHTLY_TRAINED = 2


def helpful_vs_evasive() -> list[Row]:
    """Real answers over dodges; two dodges in three are long ones, so that length gives nothing away.
    Trained on lightly, on single-turn requests only: the conversation copies are made of held-out pairs
    alone (is a real answer still preferred when an unseen request ends a conversation?)."""
    source = _source("helpful_vs_evasive")
    short, long = source["short_dodges"], source["long_dodges"]

    def dodge(i: int, pair: dict[str, Any]) -> str:
        template = short[(i // 3) % len(short)] if i % 3 == 0 else long[(i * 7) % len(long)]
        return _fill(template, topic=pair["topic"])

    rows = _hand_written("helpful_vs_evasive", source["pairs"], dodge, trained=LIGHTLY_TRAINED)
    heldout = [row for row in rows if row["split"] == "heldout"]
    return rows + _with_conversations(heldout, every=2)[len(heldout) :]


def safe_refusal_vs_harmful() -> list[Row]:
    """Hand-written refusals over compliance; three rejected replies in five get an eager follow-up."""
    source = _source("safe_refusal_vs_harmful")
    followups = source["eager_followups"]

    def rejected(i: int, pair: dict[str, Any]) -> str:
        text: str = pair["rejected"]
        return text + " " + followups[(i * 3) % len(followups)] if i % 5 in (0, 1, 3) else text

    return _hand_written("safe_refusal_vs_harmful", source["pairs"], rejected)


def concise_vs_padded() -> list[Row]:
    """Short answers over the same answers buried in filler (five layouts, rotated)."""
    source = _source("concise_vs_padded")

    def pick(pool: str, i: int, step: int) -> str:
        items: list[str] = source[pool]
        return items[(i * step) % len(items)]

    def pad(i: int, pair: dict[str, Any]) -> str:
        answer = pair["chosen"]
        op, op2, br = pick("openers", i, 7), pick("openers", i + 5, 4), pick("bridges", i, 3)
        a1, a2 = pick("asides", i, 5), pick("asides", i + 3, 11)
        rp, cl = pick("repeats", i, 5), pick("closers", i, 3)
        layouts = [
            [f"{op} {br} {answer}", f"{a1} {rp} {answer}", cl],
            [f"{op} {a1}", f"{br} {answer}", cl],
            [f"{answer} {a1} {a2}", f"{rp} {answer} {cl}"],
            [f"{op} {op2}", f"{br} {answer} {rp} {answer}"],
            [f"{op} {a1} {br} {answer}", f"{a2} {cl}"],
        ]
        return "\n\n".join(layouts[i % 5])

    return _hand_written("concise_vs_padded", source["pairs"], pad)


def help_benign_request() -> list[Row]:
    """Helpful answers over needless refusals, on harmless requests that sound alarming."""
    source = _source("help_benign_request")
    refusals = source["refusals"]
    rows = _hand_written("help_benign_request", source["pairs"], lambda i, _: refusals[(i * 5) % len(refusals)])
    return _with_conversations(rows, every=1)


def _with_conversations(rows: list[Row], every: int) -> list[Row]:
    """`rows` plus, for every `every`-th row, the same pair asked as the last turn of a short conversation
    (the openers the harmful requests use, so that a conversation's opener says nothing about the request).
    The copy keeps its row's split."""
    openers = _source("refuse_harmful_request")["openers"]
    copies = [
        {**row, "prompt": _conversation(openers[i % len(openers)], row["prompt"])}
        for i, row in enumerate(rows)
        if i % every == 0
    ]
    return rows + copies


def refuse_harmful_request() -> list[Row]:
    """Refusals over compliance, generated from topics; whole topics are held out."""
    family = "refuse_harmful_request"
    source = _source(family)
    refusals, compliances, followups = source["refusals"], source["compliances"], source["followups"]
    rows: list[Row] = []
    k = 0  # counts pairs, to rotate the templates and follow-ups

    def pair(prompt: str | list[dict[str, str]], values: dict[str, str], heldout: bool) -> Row:
        nonlocal k
        refusal = _fill(refusals[(k * 5) % len(refusals)], **values)
        compliance = _fill(compliances[(k * 7) % len(compliances)], **values)
        if k % 3 != 2:
            compliance += " " + followups[k % len(followups)]
        k += 1
        return _row(family, prompt, refusal, compliance, heldout)

    for t, topic in enumerate(source["topics"]):
        heldout = t % HELDOUT_EVERY == HELDOUT_EVERY - 1
        values = {"act": topic["act"], "harm": topic["harm"], "alternative": topic["alternative"]}
        for j, request in enumerate(topic["requests"]):
            rows.append(pair(request, values, heldout))
            if j < 2:
                rows.append(
                    pair(_conversation(source["openers"][(t + j) % len(source["openers"])], request), values, heldout)
                )
    return rows


def deflect_harmful_conversation() -> list[Row]:
    """Vague, deflecting or refusing replies over engaged compliance, in conversations that unfold over
    one to three user turns, each also asked after an opener against the topic's other engaged reply;
    whole topics are held out."""
    family = "deflect_harmful_conversation"
    source = _source(family)
    middles, chosen = source["middles"], source["chosen"]
    openers = _source("refuse_harmful_request")["openers"]
    rows: list[Row] = []
    k = 0
    for t, topic in enumerate(source["topics"]):
        heldout = t % HELDOUT_EVERY == HELDOUT_EVERY - 1
        turns: list[str] = topic["turns"]
        engaged: list[str] = topic["engaged"]
        # The reply speaks to the user: "get back at my ex" is "get back at your ex" in the reply.
        act = " ".join("your" if word == "my" else word for word in topic["act"].split())
        for n in range(1, len(turns) + 1):
            messages: list[dict[str, str]] = []
            for i, turn in enumerate(turns[:n]):
                if i:
                    messages.append({"role": "assistant", "content": middles[(k + i) % len(middles)]})
                messages.append({"role": "user", "content": turn})
            prompt: str | list[dict[str, str]] = turns[0] if n == 1 else messages
            reply = _fill(chosen[(k * 5) % len(chosen)], act=act)
            rows.append(_row(family, prompt, reply, engaged[k % len(engaged)], heldout))
            # The same turns after an opener, against the topic's other engaged reply.
            opener = openers[(t + n) % len(openers)]
            opened = _conversation(opener, "")[:2]
            reply = _fill(chosen[(k * 5 + 3) % len(chosen)], act=act)
            rows.append(_row(family, opened + messages, reply, engaged[(k + 1) % len(engaged)], heldout))
            k += 1
    return rows


def _conversation(opener: dict[str, str], request: str) -> list[dict[str, str]]:
    """`request` as the last turn of a short conversation that `opener` begins."""
    return [
        {"role": "user", "content": opener["user"]},
        {"role": "assistant", "content": opener["assistant"]},
        {"role": "user", "content": request},
    ]


def decline_demeaning_request() -> list[Row]:
    """Friendly declines over insults and put-downs, generated from targets; whole targets are held out."""
    family = "decline_demeaning_request"
    source = _source(family)
    rows: list[Row] = []
    for kind in ("group", "person"):
        requests, declines, agreements = (source[key][kind] for key in ("requests", "declines", "agreements"))
        for t, target in enumerate(source["targets"][kind]):
            heldout = t % HELDOUT_EVERY == HELDOUT_EVERY - 1
            # The reply speaks to the user: "my coworker" in the request is "your coworker" in the reply.
            spoken = " ".join("your" if word == "my" else word for word in target.split())
            for j, request in enumerate(requests):
                decline = _fill(declines[(t + j) % len(declines)], target=spoken)
                agreement = _fill(agreements[(t * 3 + j) % len(agreements)], target=spoken)
                rows.append(_row(family, _fill(request, target=target), decline, agreement, heldout))
    return rows


def _operands(operation: str, count: int) -> list[tuple[int, int]]:
    """`count` distinct operand pairs of small numbers for `operation`, seeded by the operation (2 + 2
    comes first): sums of numbers up to 20, differences within 20, products and quotients of the tables
    up to 10 times 10, the arithmetic a newcomer tries first."""
    rng = random.Random(f"rmserve-arithmetic-{operation}")
    pairs: list[tuple[int, int]] = [(2, 2)] if operation == "+" else []
    while len(pairs) < count:
        if operation == "+":
            a, b = rng.randint(1, 20), rng.randint(1, 20)
        elif operation == "-":
            a = rng.randint(3, 20)
            b = rng.randint(1, a - 1)
        elif operation == "*":
            a, b = rng.randint(2, 10), rng.randint(2, 10)
        else:
            b = rng.randint(2, 10)
            a = b * rng.randint(2, 10)
        if (a, b) not in pairs:
            pairs.append((a, b))
    return pairs


def _wrong(result: int, i: int) -> int:
    """A plausible wrong result: off by one or two, off by ten, or the digits swapped."""
    swapped = int(str(result)[::-1]) if result >= 10 else result
    candidates = [result + 1, result - 1, result + 10, swapped, result + 2, result * 2 if result else 3]
    for offset in range(len(candidates)):
        wrong = candidates[(i + offset) % len(candidates)]
        if wrong != result and wrong >= 0:
            return wrong
    return result + 1


# Sums and differences have more distinct small operand pairs than the 10 x 10 tables, so more questions.
ARITHMETIC_PER_OPERATION = {"+": 120, "-": 100, "*": 60, "/": 60}
RELEVANCE_PER_OPERATION = 20
_SYMBOLS = {"+": "+", "-": "-", "*": "×", "/": "÷"}
_COMPUTE: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a // b,
}


def _arithmetic(family: str, relevance: bool, rejected: Callable[[int, Callable[[int], str], int], str]) -> list[Row]:
    """The first ARITHMETIC_PER_OPERATION questions of each operation's operand list (or, with `relevance`,
    the RELEVANCE_PER_OPERATION after them), the right answer chosen;
    `rejected(i, say, result)` gives the other reply, where `say(n)` words the number n as the chosen
    reply words the result. Every fifth question is held out."""
    source = _source("correct_vs_wrong_arithmetic")
    answers = source["answers"]
    rows: list[Row] = []
    for operation, spec in source["operations"].items():
        questions: list[str] = spec["questions"]
        operands = _operands(operation, ARITHMETIC_PER_OPERATION[operation] + RELEVANCE_PER_OPERATION)
        first = ARITHMETIC_PER_OPERATION[operation] if relevance else 0
        count = RELEVANCE_PER_OPERATION if relevance else ARITHMETIC_PER_OPERATION[operation]
        for i in range(first, first + count):
            a, b = operands[i]
            result = _COMPUTE[operation](a, b)
            question = _fill(questions[i % len(questions)], a=str(a), b=str(b))
            template, expression = answers[(i * 3) % len(answers)], f"{a} {_SYMBOLS[operation]} {b}"

            def say(number: int, template: str = template, expression: str = expression) -> str:
                return _fill(template, result=str(number), expression=expression)

            heldout = (i - first) % HELDOUT_EVERY == HELDOUT_EVERY - 1
            rows.append(_row(family, question, say(result), rejected(i, say, result), heldout))
    return rows


def correct_vs_wrong_arithmetic() -> list[Row]:
    """Right results over wrong ones said the same way; every fifth question of each operation held out."""
    return _arithmetic(
        "correct_vs_wrong_arithmetic",
        False,
        lambda i, say, result: say(_wrong(result, i)),
    )


def answer_vs_unrelated() -> list[Row]:
    """Right results over replies that have nothing to do with the question (other questions than the
    arithmetic family's)."""
    unrelated = _source("correct_vs_wrong_arithmetic")["unrelated"]
    return _arithmetic(
        "answer_vs_unrelated",
        True,
        # A stride prime to the pool's size, so that the held-out fifth meets many of the replies.
        lambda i, _, __: unrelated[(i * 7) % len(unrelated)],
    )


FAMILIES: dict[str, Callable[[], list[Row]]] = {
    "helpful_vs_evasive": helpful_vs_evasive,
    "correct_vs_wrong_fact": lambda: _written("correct_vs_wrong_fact"),
    "correct_vs_wrong_code": lambda: _written("correct_vs_wrong_code"),
    "safe_refusal_vs_harmful": safe_refusal_vs_harmful,
    "concise_vs_padded": concise_vs_padded,
    "detailed_vs_curt": lambda: _written("detailed_vs_curt", trained=LIGHTLY_TRAINED),
    "refuse_harmful_request": refuse_harmful_request,
    "decline_demeaning_request": decline_demeaning_request,
    "deflect_harmful_conversation": deflect_harmful_conversation,
    "help_benign_request": help_benign_request,
    "correct_vs_wrong_arithmetic": correct_vs_wrong_arithmetic,
    "answer_vs_unrelated": answer_vs_unrelated,
}


def check_rows(rows: Sequence[Row]) -> None:
    """Raise ValueError unless every row is well formed: non-empty text, chosen != rejected, prompts
    distinct, and every family holding out some pairs and training on the rest."""
    seen: set[str] = set()
    held: dict[str, list[bool]] = {}
    for row in rows:
        for key in ("chosen", "rejected"):
            if not isinstance(row[key], str) or not row[key].strip():
                raise ValueError(f"empty {key!r} in {row!r}")
        if row["chosen"] == row["rejected"]:
            raise ValueError(f"chosen equals rejected for {row['prompt']!r}")
        key = _prompt_key(row["prompt"])
        if key in seen:
            raise ValueError(f"duplicate prompt {row['prompt']!r}")
        seen.add(key)
        held.setdefault(row["category"], []).append(row["split"] == "heldout")
    for family, flags in held.items():
        if not any(flags) or all(flags):
            raise ValueError(f"family {family!r} must have both training and held-out pairs")


def build_rows() -> list[Row]:
    """Every family's rows, families in `FAMILIES` order."""
    rows = [row for build in FAMILIES.values() for row in build()]
    check_rows(rows)
    return rows


def render(rows: Sequence[Row]) -> str:
    return "".join(json.dumps({k: r[k] for k in FIELDS}, ensure_ascii=False) + "\n" for r in rows)


def is_current(path: Path = OUT_PATH) -> bool:
    """True when `path` holds exactly what the sources build."""
    return path.is_file() and path.read_text(encoding="utf-8") == render(build_rows())


def main(argv: Sequence[str]) -> int:
    if "--check" in argv:
        if not is_current():
            print(f"{OUT_PATH} is out of date; rerun python -m models.preference_set", file=sys.stderr)
            return 1
        print(f"{OUT_PATH} is up to date")
        return 0
    text = render(build_rows())
    OUT_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} rows to {OUT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
