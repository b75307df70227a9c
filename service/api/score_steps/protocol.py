"""Request and response models of /v1/score_steps (pydantic; they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.api.protocol import ModelRef, Priority, Prompt, Strict, Text, Timeout

Step = Annotated[Text, Field(min_length=1)]
Steps = Annotated[list[Step], Field(min_length=1, description="the response's steps, in order (none empty)")]


class StepsItem(Strict):
    prompt: Prompt
    steps: Steps


class ScoreStepsRequest(Strict):
    """Either one item (`prompt`, `steps`) or a batch of them (`items`)."""

    # The rule `_one_form` enforces, said in the schema too, so that a generated client knows it.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["items"],
                    "properties": {"items": {"type": "array"}, "prompt": {"type": "null"}, "steps": {"type": "null"}},
                },
                {
                    "required": ["prompt", "steps"],
                    "properties": {
                        "prompt": {"not": {"type": "null"}},
                        "steps": {"type": "array"},
                        "items": {"type": "null"},
                    },
                },
            ]
        }
    )

    prompt: Prompt | None = None
    steps: Steps | None = None
    items: list[StepsItem] | None = Field(default=None, min_length=1)
    timeout_s: Timeout = None
    priority: Priority = None

    @model_validator(mode="after")
    def _one_form(self) -> ScoreStepsRequest:
        if self.items is not None:
            if self.prompt is not None or self.steps is not None:
                raise ValueError("send either prompt and steps or items, not both")
        elif self.prompt is None or self.steps is None:
            raise ValueError("prompt and steps are both required (or send items)")
        return self

    def all_items(self) -> list[StepsItem]:
        if self.items is not None:
            return self.items
        assert self.prompt is not None and self.steps is not None
        return [StepsItem(prompt=self.prompt, steps=self.steps)]


class StepScore(BaseModel):
    score: float | None = Field(
        description="P(the step is right): softmax of the head's two logits, the positive label's; "
        "null when truncation dropped the step's scoring token"
    )
    logit: float | None = Field(description="the raw logit difference, right minus wrong (null as score)")
    truncated: bool = Field(description="the step lost tokens to truncation (its score, if any, read a cut step)")


class Aggregates(BaseModel):
    """Over the scored steps' P(right)."""

    min: float
    last: float
    mean: float
    product: float


class StepsResult(BaseModel):
    scores: list[float | None] = Field(description="each step's P(right), in step order (null: see steps)")
    steps: list[StepScore]
    aggregates: Aggregates
    tokens: int = Field(description="tokens the model read for this item")
    truncated: bool = Field(description="the prompt or any step lost tokens")
    truncated_steps: int = Field(description="how many steps lost tokens (the first ones: truncation keeps the end)")


class ScoreStepsResponse(ModelRef):
    results: list[StepsResult] = Field(description="one per item, in request order")
