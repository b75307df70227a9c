"""Request and response models of the HTTP API, per feature (pydantic; they are also the OpenAPI schema).

Texts are checked for lone surrogates (they cannot be encoded as UTF-8, so no tokenizer can read them);
numbers must be finite; unknown fields are refused (a typo such as `top-k` is an error, not a silent
default), except on /get_reward, whose callers (OpenRLHF) may send fields of their own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from service.lanes import Lane


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text contains a lone surrogate (not valid Unicode)") from None
    return text


Text = Annotated[str, AfterValidator(_encodable)]
Timeout = Annotated[
    float | None,
    Field(default=None, gt=0, allow_inf_nan=False, description="deadline in seconds; capped by the server's maximum"),
]
Priority = Annotated[
    Lane | None,
    Field(
        default=None,
        description="the queue lane: interactive pairs are served ahead of bulk ones; default: the route's "
        "(the X-Rmserve-Priority header, then the server's per-route setting)",
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(Strict):
    role: Literal["system", "user", "assistant"]
    content: Text


Prompt = Text | Annotated[list[Message], Field(min_length=1)]
Weights = Annotated[
    list[Annotated[float, Field(allow_inf_nan=False)]] | None,
    Field(
        default=None,
        min_length=1,
        description="a multi-objective model's weights, one per attribute in /v1/models' order; "
        "score = sum(weight * attribute). Default: the model card's",
    ),
]
Attributes = Annotated[
    dict[str, float] | None,
    Field(default=None, description="a multi-objective model's attribute values by name; null for one-output models"),
]


def prompt_value(prompt: str | list[Message]) -> str | list[dict[str, str]]:
    """The prompt in the form `models.formatting` takes."""
    if isinstance(prompt, str):
        return prompt
    return [{"role": m.role, "content": m.content} for m in prompt]


class ModelRef(BaseModel):
    """Which model answered: every scoring response carries it."""

    model: str
    weights_digest: str


# ---------------------------------------------------------------- /v1/score


class ScoreItem(Strict):
    prompt: Prompt
    response: Text


class ScoreRequest(Strict):
    items: list[ScoreItem] = Field(min_length=1)
    weights: Weights = None
    timeout_s: Timeout = None
    priority: Priority = None


class ItemDetail(BaseModel):
    score: float
    tokens: int = Field(description="tokens the model read for this pair")
    truncated: bool
    normalized: float | None = Field(default=None, description="z-score from the model card's training statistics")
    attributes: Attributes = None
    shared_prefix_tokens: int = Field(
        default=0,
        description="leading tokens computed once for a group of pairs that begin with them, this one among "
        "them (0: scored as a whole sequence); the score is the same either way",
    )


class ScoreResponse(ModelRef):
    scores: list[float] = Field(description="raw rewards, in request order")
    items: list[ItemDetail]


# ---------------------------------------------------------------- /v1/rank


class RankRequest(Strict):
    prompt: Prompt
    responses: list[Text] = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1)
    weights: Weights = None
    timeout_s: Timeout = None
    priority: Priority = None


class RankResponse(ModelRef):
    scores: list[float] = Field(description="raw rewards, in the order of the responses")
    ranking: list[int] = Field(description="response indices, best first (the first top_k when asked)")
    best_index: int
    zscores: list[float] = Field(description="(score - mean) / std within the group (population std; 0 if equal)")
    items: list[ItemDetail]


# ---------------------------------------------------------------- /v1/compare


class ComparePair(Strict):
    prompt: Prompt
    response_a: Text
    response_b: Text


class CompareRequest(Strict):
    """Either one comparison (`prompt`, `response_a`, `response_b`) or a batch of them (`pairs`)."""

    # The rule `_one_form` enforces, said in the schema too, so that a generated client knows it.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["pairs"],
                    "properties": {
                        "pairs": {"type": "array"},
                        "prompt": {"type": "null"},
                        "response_a": {"type": "null"},
                        "response_b": {"type": "null"},
                    },
                },
                {
                    "required": ["prompt", "response_a", "response_b"],
                    "properties": {
                        "prompt": {"not": {"type": "null"}},
                        "response_a": {"type": "string"},
                        "response_b": {"type": "string"},
                        "pairs": {"type": "null"},
                    },
                },
            ]
        }
    )

    prompt: Prompt | None = None
    response_a: Text | None = None
    response_b: Text | None = None
    pairs: list[ComparePair] | None = Field(default=None, min_length=1)
    weights: Weights = None
    timeout_s: Timeout = None
    priority: Priority = None

    @model_validator(mode="after")
    def _one_form(self) -> CompareRequest:
        single = (self.prompt, self.response_a, self.response_b)
        if self.pairs is not None:
            if any(x is not None for x in single):
                raise ValueError("send either prompt/response_a/response_b or pairs, not both")
        elif any(x is None for x in single):
            raise ValueError("prompt, response_a and response_b are all required (or send pairs)")
        return self

    def comparisons(self) -> list[ComparePair]:
        if self.pairs is not None:
            return self.pairs
        assert self.prompt is not None and self.response_a is not None and self.response_b is not None
        return [ComparePair(prompt=self.prompt, response_a=self.response_a, response_b=self.response_b)]


_CALIBRATED_DESCRIPTION = (
    "sigmoid((score_a - score_b) / T) with the temperature T of the model card's calibration (rmserve calibrate); "
    "null when the model has none"
)


class CompareResult(BaseModel):
    score_a: float
    score_b: float
    prob_a_preferred: float = Field(description="sigmoid(score_a - score_b): Bradley-Terry P(a preferred)")
    calibrated_prob_a_preferred: float | None = Field(default=None, description=_CALIBRATED_DESCRIPTION)
    attributes_a: Attributes = None
    attributes_b: Attributes = None


class CompareResponse(ModelRef):
    """For a single comparison the top-level fields hold its result; `results` always lists every one."""

    score_a: float | None = None
    score_b: float | None = None
    prob_a_preferred: float | None = None
    calibrated_prob_a_preferred: float | None = Field(default=None, description=_CALIBRATED_DESCRIPTION)
    attributes_a: Attributes = None
    attributes_b: Attributes = None
    results: list[CompareResult]


# ---------------------------------------------------------------- /v1/gate


class GateRequest(Strict):
    prompt: Prompt
    response: Text
    threshold: float | None = Field(
        default=None, allow_inf_nan=False, description="raw-score threshold; default: server's"
    )
    weights: Weights = None
    timeout_s: Timeout = None
    priority: Priority = None


ThresholdSource = Literal["request", "settings", "model card", "default"]


class GateDefault(BaseModel):
    """The threshold /v1/gate uses when a request gives none, and where it comes from."""

    threshold: float
    source: ThresholdSource = Field(
        description="settings (RMSERVE_GATE_THRESHOLD), model card (derived from held-out scores), or default (0.0)"
    )
    rule: str = Field(description="how the threshold was chosen")


class GateResponse(ModelRef):
    decision: Literal["allow", "block"]
    allow: bool = Field(description="score >= threshold")
    score: float
    threshold: float
    attributes: Attributes = None
    threshold_source: ThresholdSource = Field(description="the request's own threshold, or the server's default")
    threshold_rule: str = Field(description="how the threshold was chosen")


# ---------------------------------------------------------------- /get_reward (OpenRLHF)


class RewardRequest(BaseModel):
    """OpenRLHF's remote reward-model request. Each `query` is a full text (prompt + response) that the trainer
    has rendered with its chat template already: it is scored as given (see `models.formatting.WholeText`),
    after dropping runs of the tokenizer's pad token at its ends. An encoder RM reads it as a text pair, split
    where the prompt of the same index ends when that prompt is a prefix of it. An empty `query` (OpenRLHF
    sends one to some servers when it has several `--remote_rm_url`s) is answered with empty lists."""

    model_config = ConfigDict(extra="ignore")

    query: list[Text]
    prompts: list[Text] | None = None
    labels: list[Any] | None = Field(default=None, description="accepted and ignored: a reward model needs none")
    add_special_tokens: bool | None = Field(
        default=None,
        description="true: add the tokenizer's special tokens (BOS, [CLS]/[SEP]); false: none; "
        "absent: the tokenizer's own, unless the text already begins with them (a BOS is never doubled)",
    )
    timeout_s: Timeout = None
    priority: Priority = None


class RewardResponse(BaseModel):
    rewards: list[float] = Field(description="raw rewards, in the order of `query`")
    scores: list[float] = Field(description="the same rewards (OpenRLHF reads `scores`, else `rewards`)")
    extra_logs: dict[str, Any] = Field(default_factory=dict)
    model: str
    weights_digest: str
    items: list[ItemDetail] = Field(default_factory=list, description="rmserve's per-query details, as on /v1/score")


# ---------------------------------------------------------------- errors


class ErrorInfo(BaseModel):
    type: str = Field(
        description="machine-readable kind: invalid_request, payload_too_large, unauthenticated, overloaded, "
        "unavailable, deadline_exceeded, backend_error or internal_error"
    )
    message: str = Field(description="what went wrong, for people")


class ErrorResponse(BaseModel):
    """The body of every error answer (see service.errors)."""

    error: ErrorInfo


# ---------------------------------------------------------------- /v1/models, /health, /ready


class Limits(BaseModel):
    max_items_per_request: int
    max_chars_per_text: int
    max_body_bytes: int
    max_length: int
    request_timeout_s: float
    max_request_timeout_s: float


class HeadInfo(BaseModel):
    """What the model's head computes (see models.heads)."""

    kind: Literal["reward", "multi_objective", "process"]
    attributes: list[str] | None = Field(default=None, description="a multi-objective head's outputs, in order")
    weights: list[float] | None = Field(default=None, description="the model card's combination, per attribute")
    step_format: Literal["trl", "step_token"] | None = None
    step_separator: str | None = Field(default=None, description="a process model's step separator or step token")


class ModelInfo(ModelRef):
    folder: str
    architecture: str
    kind: str
    head: HeadInfo
    backend: str
    device: str
    dtype: str
    max_length: int
    card: dict[str, Any] | None = Field(default=None, description="provenance from the model card (rmserve_card.json)")
    choice: dict[str, Any] | None = Field(
        default=None,
        description="how the backend and precision were chosen: mode (auto or explicit), reason, the CPU's "
        "features, the candidates with their start-up pairs/s and fidelity-gate reports",
    )
    gate: GateDefault = Field(description="the default threshold of /v1/gate and where it comes from")
    limits: Limits
    batching: dict[str, bool | int | float]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    phase: str


class Readiness(BaseModel):
    ready: bool
    phase: str
    reason: str | None = None
