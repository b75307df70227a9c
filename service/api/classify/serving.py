"""The logic of `POST /classify`: texts scored as given, outputs shaped the way vLLM answers them."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence

from models.formatting import ScoringInput, WholeText
from service.api.classify.protocol import ClassificationData, ClassificationRequest, ClassificationResponse, UsageInfo
from service.api.protocol import prompt_value
from service.api.serving import ScoringContext, sigmoid
from service.errors import InvalidRequest
from service.scorer import Timings


def activated(outputs: Sequence[float]) -> list[float]:
    """vLLM's classification activation: sigmoid of a single output, softmax over several."""
    if len(outputs) < 2:
        return [sigmoid(x) for x in outputs]
    top = max(outputs)
    exps = [math.exp(x - top) for x in outputs]
    total = sum(exps)
    return [e / total for e in exps]


def max_tokens(request: ClassificationRequest, max_length: int) -> int | None:
    """The per-text token budget `truncate_prompt_tokens` asks for; None for the model's own."""
    asked = request.truncate_prompt_tokens
    if asked is None or asked == -1:
        return None
    if asked > max_length:
        raise InvalidRequest(f"truncate_prompt_tokens ({asked}) is more than the model's max_length ({max_length})")
    return asked


async def classify(ctx: ScoringContext, request: ClassificationRequest) -> tuple[ClassificationResponse, Timings]:
    budget = max_tokens(request, ctx.model.max_length)
    inputs: list[ScoringInput]
    if request.messages is not None:
        # One conversation: the model's chat template renders it once, as for /v1/score.
        *prompt, reply = request.messages
        inputs = [(prompt_value(prompt), reply.content)]
    else:
        inputs = [WholeText(text, request.add_special_tokens, 0, budget) for text in request.texts()]
    # vLLM's `priority` is an integer of its own scheduler, ignored here: the lane comes from the
    # X-Rmserve-Priority header, else the route's default (bulk).
    outcome = await ctx.run(inputs, request.timeout_s, None)
    id2label = ctx.model.folder.config.get("id2label") or {}
    use_activation = request.wants_activation()
    data = []
    for index, item in enumerate(outcome.items):
        # A multi-objective head's K outputs are its classes, as vLLM returns them; a one-output head's, its reward.
        outputs = list(item.attributes.values()) if item.attributes else [item.score]
        probs = activated(outputs) if use_activation else outputs
        top = max(range(len(outputs)), key=lambda i: outputs[i])
        label = id2label.get(str(top))
        data.append(
            ClassificationData(
                index=index,
                label=label if isinstance(label, str) else None,
                probs=probs,
                num_classes=len(probs),
                score=item.score,
                truncated=item.truncated,
            )
        )
    tokens = sum(item.tokens for item in outcome.items)
    body = ClassificationResponse(
        id=f"classify-{request.request_id or uuid.uuid4().hex}",
        created=int(time.time()),
        **ctx.identity,
        data=data,
        usage=UsageInfo(prompt_tokens=tokens, total_tokens=tokens),
    )
    return body, outcome.timings
