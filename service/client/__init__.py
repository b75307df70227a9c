"""The Python client of rmserve: `RewardClient` (blocking) and `AsyncRewardClient` (asyncio).

Importing it needs only httpx (no FastAPI, torch, onnxruntime or transformers), so a trainer can install the
bare package. The exceptions are drawn as one hierarchy in `service.client.errors`.
"""

from service.client._core import ClientConfig, RetryPolicy
from service.client.async_client import AsyncRewardClient
from service.client.errors import (
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
from service.client.sync_client import RewardClient
from service.client.types import CompareResult, GateResult, ItemScore, RankResult, ScoreResult

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
    "UnexpectedResponseError",
]
