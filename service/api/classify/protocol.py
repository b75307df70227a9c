"""Request and response models of `POST /classify`, the fields and defaults of vLLM's classification API.

The request is vLLM's `ClassificationCompletionRequest` (`vllm/entrypoints/pooling/classify/protocol.py` and
the pooling mixins in `vllm/entrypoints/pooling/base/protocol.py`): `input` is one text or a list of texts
that the caller has rendered already (verl applies the reward model's chat template itself), scored as
given. Or it is vLLM's `ClassificationChatRequest`: `messages`, one conversation ending with the assistant's
reply, which the model's chat template renders once (the encoding `/v1/score` gives the same messages).

Unknown fields are ignored, as vLLM ignores them, so that a vLLM client's extra parameters (`user`,
`priority`, `cache_salt`, ...) never break a call. The answer is vLLM's `ClassificationResponse`, plus
rmserve's `truncated` per item and `weights_digest`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.api.protocol import Message, Text, Timeout

_ACTIVATION_FLAGS = ("use_activation", "activation", "softmax")


class ClassificationRequest(BaseModel):
    # The rule `_one_form` enforces, said in the schema too, so that a generated client knows it.
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "oneOf": [
                {"required": ["input"], "properties": {"messages": {"type": "null"}}},
                {"required": ["messages"], "properties": {"input": {"type": "null"}}},
            ]
        },
    )

    model: str | None = Field(
        default=None, description="accepted and not checked (verl sends the reward model's path); one model is served"
    )
    input: Text | Annotated[list[Text], Field(min_length=1)] | None = Field(
        default=None,
        description="the texts to score, each a whole conversation with the chat template applied already; "
        "token-id input is not supported",
    )
    messages: Annotated[list[Message], Field(min_length=2)] | None = Field(
        default=None,
        description="instead of input: one conversation whose last message is the assistant's reply to score",
    )
    use_activation: bool | None = Field(
        default=None,
        description="false: raw rewards (the value head's output). true or absent: sigmoid of the reward for a "
        "one-output head, softmax over the outputs otherwise, as vLLM applies them",
    )
    activation: bool | None = Field(default=None, description="vLLM's older name for use_activation")
    softmax: bool | None = Field(default=None, description="vLLM's oldest name for use_activation")
    add_special_tokens: bool | None = Field(
        default=None,
        description="true: add the tokenizer's special tokens (BOS, [CLS]/[SEP]); false: none; absent: the "
        "tokenizer's own, unless the text already begins with them (vLLM adds them again; rmserve never doubles "
        "a BOS)",
    )
    truncate_prompt_tokens: int | None = Field(
        default=None,
        ge=-1,
        description="keep at most this many tokens, the last ones; -1 or absent: the model's max_length "
        "(over-long texts are cut from the left and flagged `truncated`)",
    )
    truncation_side: Literal["left"] | None = Field(
        default=None,
        description="only 'left' (keep the end): a reward model reads its reward at the end of the text",
    )
    request_id: str | None = Field(default=None, max_length=256, description="echoed in the answer's id")
    timeout_s: Timeout = None

    @model_validator(mode="before")
    @classmethod
    def _the_models_own_template(cls, data: Any) -> Any:
        """Refuse, with a clear message, vLLM's token-id input and the chat options that would render a
        conversation otherwise than the model was trained on."""
        if isinstance(data, dict):
            given = data.get("input")
            if isinstance(given, list) and given and not isinstance(given[0], str):
                raise ValueError("input must be text (one string or a list of them); token-id input is not supported")
            if data.get("chat_template") is not None:
                raise ValueError("chat_template is not taken: the model's own chat template renders messages")
            for option in ("add_generation_prompt", "continue_final_message"):
                if data.get(option):
                    raise ValueError(f"{option} is not taken: a reward model scores a finished reply")
        return data

    @model_validator(mode="after")
    def _one_form(self) -> ClassificationRequest:
        if (self.input is None) == (self.messages is None):
            raise ValueError("send either input (rendered texts) or messages (one conversation)")
        if self.messages is not None:
            if self.messages[-1].role != "assistant":
                raise ValueError("the last message must be the assistant's reply to score")
            if self.truncate_prompt_tokens not in (None, -1):
                raise ValueError("truncate_prompt_tokens applies to input texts; messages are truncated oldest first")
        given = {name: getattr(self, name) for name in _ACTIVATION_FLAGS if getattr(self, name) is not None}
        if len(set(given.values())) > 1:
            raise ValueError(f"the activation flags disagree: {given}; send use_activation alone")
        if self.truncate_prompt_tokens == 0:
            raise ValueError("truncate_prompt_tokens must be -1 (the model's max_length) or at least 1")
        return self

    def texts(self) -> list[str]:
        """The input texts ([] for a messages request)."""
        if self.input is None:
            return []
        return [self.input] if isinstance(self.input, str) else list(self.input)

    def wants_activation(self) -> bool:
        """vLLM applies the activation unless the caller turns it off."""
        for name in _ACTIVATION_FLAGS:
            value = getattr(self, name)
            if value is not None:
                return bool(value)
        return True


class ClassificationData(BaseModel):
    index: int = Field(description="the position of the text in `input`")
    label: str | None = Field(description="id2label of the largest output, from the model's config")
    probs: list[float] = Field(
        description="the head's outputs (a multi-objective head's attributes in id2label order): raw when the "
        "activation is off"
    )
    num_classes: int
    score: float = Field(
        description="rmserve: the raw reward (a multi-objective head's declared combination of its attributes)"
    )
    truncated: bool = Field(description="rmserve: the text was cut from the left to fit the model")


class UsageInfo(BaseModel):
    prompt_tokens: int
    total_tokens: int
    completion_tokens: int = 0
    prompt_tokens_details: dict[str, Any] | None = None


class ClassificationResponse(BaseModel):
    id: str
    object: Literal["list"] = "list"
    created: int = Field(description="Unix time, seconds")
    model: str
    weights_digest: str
    data: list[ClassificationData]
    usage: UsageInfo
