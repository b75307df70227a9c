"""The Python client of rmserve: `RewardClient` (blocking) and `AsyncRewardClient` (asyncio).

Importing it needs only httpx (no FastAPI, torch, onnxruntime or transformers), so a trainer can install the
bare package. The exceptions are drawn as one hierarchy in `rmserve.errors`.
"""

from rmserve._core import ClientConfig, RetryPolicy
from rmserve.async_client import AsyncRewardClient
from rmserve.errors import (
    APIStatusError,
    AuthenticationError,
    ClientTimeoutError,
    ConnectionFailedError,
    DeadlineExceededError,
    InvalidRequestError,
    OverloadedError,
    PayloadTooLargeError,
    RewardServiceError,
    ServerError,
    UnexpectedResponseError,
)
from rmserve.sync_client import RewardClient
from rmserve.types import (
    CompareResult,
    GateResult,
    ItemScore,
    RankResult,
    ScoreResult,
    StepItemScore,
    StepsResult,
)

__all__ = [
    "APIStatusError",
    "AsyncRewardClient",
    "AuthenticationError",
    "ClientConfig",
    "ClientTimeoutError",
    "CompareResult",
    "ConnectionFailedError",
    "DeadlineExceededError",
    "GateResult",
    "InvalidRequestError",
    "ItemScore",
    "OverloadedError",
    "PayloadTooLargeError",
    "RankResult",
    "RetryPolicy",
    "RewardClient",
    "RewardServiceError",
    "ScoreResult",
    "ServerError",
    "StepItemScore",
    "StepsResult",
    "UnexpectedResponseError",
]
