"""rmserve as a TRL `GRPOTrainer` reward function.

TRL calls a reward function as `f(prompts=..., completions=..., completion_ids=..., **kwargs) -> list[float]`,
one reward per completion, and logs it under its `__name__`. Prompts and completions come in two formats:

- standard: `prompts[i]` and `completions[i]` are strings;
- conversational: `prompts[i]` is a list of `{"role", "content"}` messages and `completions[i]` a list of
  messages produced by the policy (one assistant message, more when tools were called).

For a conversational pair the prompt messages are sent as the prompt (the server applies the reward
model's own chat template) and the text of the completion's assistant messages, joined by newlines, is the
response. Message content given as a list of parts keeps its text parts.

With a process reward model, pass `aggregate` ("min", "last", "mean" or "product"): each completion's
response text is split into steps at `step_separator` (default a newline; blank steps are dropped), scored
through /v1/score_steps, and its reward is that aggregate of its step probabilities. A completion with no
step at all (an empty answer) gets 0.0, the lowest probability, without asking the server.

`TRLRewardFunc` (blocking) and `AsyncTRLRewardFunc` (awaited on TRL's event loop, concurrently with other
async reward functions) are callable objects, not closures: they pickle (as their client's configuration,
without an injected transport), which TRL's asynchronous GRPO needs to ship reward functions to its rollout
worker process. When TRL passes `log_metric`, the fraction of pairs the server truncated is logged as
`<name>/truncated_frac`: a policy whose answers outgrow the reward model's window earns rewards for cut text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from rmserve._core import ClientConfig
from rmserve.async_client import AsyncRewardClient
from rmserve.sync_client import RewardClient
from rmserve.types import Prompt, ScoreResult, StepsResult

Aggregate: TypeAlias = Literal["min", "last", "mean", "product"]
_AGGREGATES = ("min", "last", "mean", "product")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def _prompt(prompt: Any) -> Prompt:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        return [{"role": m.get("role"), "content": _content_text(m.get("content"))} for m in prompt]
    raise TypeError(f"a TRL prompt is a string or a list of messages, not {type(prompt)}")


def _response(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        texts = [
            _content_text(m.get("content"))
            for m in completion
            if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"
        ]
        return "\n".join(text for text in texts if text)
    raise TypeError(f"a TRL completion is a string or a list of messages, not {type(completion)}")


def trl_pairs(prompts: Sequence[Any], completions: Sequence[Any]) -> list[tuple[Prompt, str]]:
    """(prompt, response) pairs for /v1/score from TRL's prompts and completions, in either format."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    return [(_prompt(p), _response(c)) for p, c in zip(prompts, completions, strict=True)]


def trl_steps(
    prompts: Sequence[Any], completions: Sequence[Any], step_separator: str
) -> list[tuple[Prompt, list[str]]]:
    """(prompt, steps) items for /v1/score_steps: each response split at `step_separator`, blank steps dropped."""
    if not step_separator:
        raise ValueError("step_separator must not be empty")
    return [
        (prompt, [step for step in response.split(step_separator) if step.strip()])
        for prompt, response in trl_pairs(prompts, completions)
    ]


class _StepRewards:
    """Which aggregate of a PRM's step scores is the reward, and how responses split into steps."""

    def __init__(self, aggregate: Aggregate, step_separator: str) -> None:
        if aggregate not in _AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(_AGGREGATES)}, not {aggregate!r}")
        if not step_separator:
            raise ValueError("step_separator must not be empty")
        self.aggregate = aggregate
        self.step_separator = step_separator

    def items(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[tuple[Prompt, list[str]]]:
        return trl_steps(prompts, completions, self.step_separator)

    def rewards(self, items: Sequence[tuple[Prompt, list[str]]], result: StepsResult | None) -> list[float]:
        """Rewards in the order of `items`; `result` holds the scores of the items that have steps."""
        scored = iter(result.aggregate(self.aggregate) if result is not None else [])
        return [next(scored) if steps else 0.0 for _, steps in items]

    def log(self, kwargs: Mapping[str, Any], name: str, result: StepsResult | None) -> None:
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and result is not None and result.items:
            log_metric(f"{name}/truncated_frac", sum(i.truncated for i in result.items) / len(result.items))


def _rewards(result: ScoreResult, normalized: bool) -> list[float]:
    if not normalized:
        return result.scores
    values = result.normalized
    if values is None:
        raise ValueError(
            "normalized rewards were asked for, but the served model has no score statistics in its card; "
            "use normalized=False for raw rewards"
        )
    return values


def _log(kwargs: Mapping[str, Any], name: str, result: ScoreResult) -> None:
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        log_metric(f"{name}/truncated_frac", result.truncated_fraction)


class _RewardFuncOptions:
    """What both reward functions hold besides their client, and how it pickles (beside the client's
    configuration: a client's connections cannot cross processes)."""

    __name__: str
    normalized: bool
    _steps: _StepRewards | None

    def _set_options(self, name: str, normalized: bool, aggregate: Aggregate | None, step_separator: str) -> None:
        if aggregate is not None and normalized:
            raise ValueError("normalized rewards are for outcome reward models; a PRM's aggregate is a probability")
        self.__name__ = name
        self.normalized = normalized
        self._steps = _StepRewards(aggregate, step_separator) if aggregate is not None else None

    def _options_state(self) -> dict[str, Any]:
        steps = self._steps
        return {
            "name": self.__name__,
            "normalized": self.normalized,
            "aggregate": steps.aggregate if steps else None,
            "step_separator": steps.step_separator if steps else "\n",
        }

    def _restore_options(self, state: dict[str, Any]) -> None:
        self._set_options(state["name"], state["normalized"], state.get("aggregate"), state.get("step_separator", "\n"))


class TRLRewardFunc(_RewardFuncOptions):
    """A blocking GRPO reward function backed by a `RewardClient`: raw rewards by default, z-scores from the
    model card's statistics with `normalized=True`."""

    def __init__(
        self,
        client: RewardClient,
        *,
        name: str = "rmserve",
        normalized: bool = False,
        aggregate: Aggregate | None = None,
        step_separator: str = "\n",
    ) -> None:
        self.client = client
        self._set_options(name, normalized, aggregate, step_separator)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        if self._steps is not None:
            items = self._steps.items(prompts, completions)
            with_steps = [item for item in items if item[1]]
            steps_result = self.client.score_steps(with_steps) if with_steps else None
            self._steps.log(kwargs, self.__name__, steps_result)
            return self._steps.rewards(items, steps_result)
        result = self.client.score(trl_pairs(prompts, completions))
        _log(kwargs, self.__name__, result)
        return _rewards(result, self.normalized)

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.client.config, **self._options_state()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        config: ClientConfig = state["config"]
        self.client = RewardClient.from_config(config)
        self._restore_options(state)


class AsyncTRLRewardFunc(_RewardFuncOptions):
    """The async twin of `TRLRewardFunc`, backed by an `AsyncRewardClient`. TRL awaits it on its own event
    loop, so create the client without using it elsewhere first (its connections belong to one loop)."""

    def __init__(
        self,
        client: AsyncRewardClient,
        *,
        name: str = "rmserve",
        normalized: bool = False,
        aggregate: Aggregate | None = None,
        step_separator: str = "\n",
    ) -> None:
        self.client = client
        self._set_options(name, normalized, aggregate, step_separator)

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        if self._steps is not None:
            items = self._steps.items(prompts, completions)
            with_steps = [item for item in items if item[1]]
            steps_result = await self.client.score_steps(with_steps) if with_steps else None
            self._steps.log(kwargs, self.__name__, steps_result)
            return self._steps.rewards(items, steps_result)
        result = await self.client.score(trl_pairs(prompts, completions))
        _log(kwargs, self.__name__, result)
        return _rewards(result, self.normalized)

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.client.config, **self._options_state()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        config: ClientConfig = state["config"]
        self.client = AsyncRewardClient.from_config(config)
        self._restore_options(state)
