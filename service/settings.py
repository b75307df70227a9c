"""The service's settings: one pydantic-settings class, read from `RMSERVE_*` environment variables.

Build it once (`Settings()` reads the environment at that moment, never at import time) and pass it
explicitly: `create_app(settings)`. Command-line flags of `rmserve serve` override the environment.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.errors import UserError
from models.runtime import available_cpus
from service.batcher import BatcherConfig, LaneConfig
from service.lanes import RouteLane

BackendName = Literal["auto", "torch", "onnx", "openvino"]
DTypeName = Literal["auto", "fp32", "fp16", "bf16"]

_DEVICE_PATTERN = re.compile(r"^(cpu|cuda|cuda:\d+)$")


class Settings(BaseSettings):
    """Every knob of `rmserve serve`. Environment: `RMSERVE_<NAME>` (e.g. `RMSERVE_MAX_BATCH_SIZE=1`)."""

    model_config = SettingsConfigDict(env_prefix="RMSERVE_", extra="forbid", protected_namespaces=())

    model: Path | None = Field(default=None, description="model folder; unset = the embedded default model")
    backend: BackendName = Field(
        default="auto",
        description="auto = the fastest faithful backend for the folder and the CPU (service.backend_choice)",
    )
    device: str = Field(default="cpu", description="cpu | cuda | cuda:N")
    dtype: DTypeName = Field(
        default="auto",
        description="auto = fp32, or bf16 where the CPU has bf16 units, it passes the fidelity gate and is faster",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_length: int | None = Field(default=None, ge=8, description="token cap per pair; default: what the model allows")

    max_batch_size: int = Field(default=64, ge=1, description="most pairs in one forward pass (1 = batching off)")
    max_batch_tokens: int = Field(default=16384, ge=8, description="most padded tokens (rows x longest) in one pass")
    max_wait_ms: float = Field(default=5.0, ge=0, description="longest a pair waits for a batch to fill")
    workers: int | None = Field(default=None, ge=1, description="backend worker threads; default per device")
    threads_per_worker: int | None = Field(default=None, ge=1, description="torch/onnx threads per worker (CPU)")
    max_queue_items: int = Field(
        default=4096, ge=1, description="queued bulk pairs beyond which bulk requests get 429 (all pairs, lanes off)"
    )
    max_queue_tokens: int = Field(
        default=2_000_000, ge=1, description="queued bulk tokens beyond which bulk requests get 429"
    )
    lanes: bool = Field(
        default=True,
        description="priority lanes: interactive pairs run ahead of bulk ones (false: one FIFO for every request)",
    )
    interactive_max_queue_items: int = Field(
        default=256, ge=1, description="queued interactive pairs beyond which interactive requests get 429"
    )
    interactive_max_queue_tokens: int = Field(
        default=131_072, ge=1, description="queued interactive tokens beyond which interactive requests get 429"
    )
    bulk_max_pass_over_ms: float = Field(
        default=500.0,
        ge=0,
        description="the longest queued bulk pairs go without a batch while interactive pairs are served first",
    )
    interactive_max_pairs: int = Field(
        default=2, ge=0, description="on routes whose lane is auto, requests of at most this many pairs are interactive"
    )
    route_lanes: dict[str, RouteLane] = Field(
        default={
            "/v1/gate": "interactive",
            "/v1/score": "auto",
            "/v1/rank": "auto",
            "/v1/compare": "auto",
            "/get_reward": "bulk",
            "/classify": "bulk",
        },
        description="default lane per route path (interactive, bulk or auto, by size); a request's priority "
        "field or X-Rmserve-Priority header overrides it; routes not listed are auto. Environment: JSON",
    )
    admission_deadline_fraction: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="a request is refused (429) unless its predicted finish (work ahead over the measured drain "
        "rate) falls within this share of its deadline",
    )

    request_timeout_s: float = Field(default=30.0, gt=0, description="default deadline of a request")
    max_request_timeout_s: float = Field(default=300.0, gt=0, description="cap on a request's own timeout_s")
    max_items_per_request: int = Field(default=1024, ge=1)
    max_chars_per_text: int = Field(
        default=200_000, ge=1, description="cap per prompt/response, checked pre-tokenizing"
    )
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="request body cap, checked pre-parsing")
    max_inflight_body_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="bytes of request bodies held at once across all connections (being read or being answered); "
        "past it new bodies get 503 with Retry-After before they are read. At least max_body_bytes",
    )

    gate_threshold: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="default threshold of /v1/gate (raw score); unset: the model card's gate threshold, else 0.0",
    )
    api_keys: str = Field(default="", description="comma-separated bearer keys; empty = no authentication")
    behind_gateway: bool = Field(default=False, description="allow a non-loopback bind without API keys")
    shutdown_grace_s: float = Field(default=30.0, ge=0, description="drain time for accepted requests after SIGTERM")
    trust_remote_code: bool = False
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    onnx_providers: str = Field(default="", description="comma-separated onnxruntime providers; empty = by device")
    gil_switch_interval_ms: float = Field(
        default=1.0,
        gt=0,
        description="Python's GIL switch interval in the server process (Python's default is 5): how long the "
        "event loop can wait for the GIL behind the tokenizer and backend threads",
    )
    backend_worker_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="niceness added to the backend worker threads (Linux; 0 = none), so that the event loop gets "
        "a core ahead of a forward pass: /health and request handling no longer wait for one",
    )
    choice_budget_s: float = Field(
        default=2.0,
        ge=0,
        description="start-up seconds spent timing the candidates of an auto backend/dtype choice (0 = choose by "
        "the CPU's features alone)",
    )
    profile_budget_s: float = Field(
        default=8.0, ge=0, description="warm-up seconds spent timing batch shapes for the cost model (0 = assume)"
    )
    share_prompts: bool = Field(
        default=True,
        description="score pairs that begin with the same tokens (a group's shared prompt) with one prefix pass, on "
        "causal models served by the torch backend; scores are unchanged (false = every pair runs whole)",
    )
    min_shared_tokens: int = Field(
        default=32, ge=1, description="shortest common token prefix worth computing once for a group of pairs"
    )
    backend_factory: str | None = Field(
        default=None,
        description="'module:callable' building a Backend from (ModelFolder, Settings), used instead of the "
        "built-in backends (custom hardware, fault-injection tests)",
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE_PATTERN.match(value):
            raise ValueError("device must be cpu, cuda or cuda:N")
        return value

    @model_validator(mode="after")
    def _check_body_budget(self) -> Settings:
        if self.max_inflight_body_bytes < self.max_body_bytes:
            raise ValueError(
                "max_inflight_body_bytes must be at least max_body_bytes (else a body at the cap never fits)"
            )
        return self

    @field_validator("route_lanes", mode="before")
    @classmethod
    def _parse_routes(cls, value: object) -> object:
        """A JSON object given as text (the --route-lanes flag; the environment is parsed by pydantic-settings)."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"route_lanes is not a JSON object: {exc}") from None
        return value

    @field_validator("route_lanes")
    @classmethod
    def _check_routes(cls, value: dict[str, RouteLane]) -> dict[str, RouteLane]:
        for route in value:
            if not route.startswith("/"):
                raise ValueError(f"route_lanes keys are paths starting with '/', not {route!r}")
        return value

    @field_validator("dtype", mode="before")
    @classmethod
    def _lower_dtype(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    @property
    def onnx_provider_list(self) -> list[str]:
        return [name.strip() for name in self.onnx_providers.split(",") if name.strip()]

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def resolved_workers(self) -> int:
        """Backend worker threads. CPU: up to 4 single-model workers (two 1-thread workers beat one 2-thread
        worker on a 2-core box); GPU: 2, so that one batch is padded and copied while the other runs."""
        if self.workers:
            return self.workers
        return 2 if self.on_gpu else max(1, min(4, available_cpus()))

    def resolved_threads_per_worker(self) -> int:
        """Intra-op threads per worker: the CPUs shared out among the workers (1 on GPU)."""
        if self.threads_per_worker:
            return self.threads_per_worker
        return 1 if self.on_gpu else max(1, available_cpus() // self.resolved_workers())

    def batcher_config(self, max_batch_size: int | None = None) -> BatcherConfig:
        """The batcher's configuration; `max_batch_size` overrides the setting (a backend that runs one
        pair per run gains nothing from larger batches)."""
        return BatcherConfig(
            max_batch_size=max_batch_size if max_batch_size is not None else self.max_batch_size,
            max_batch_tokens=self.max_batch_tokens,
            max_wait_ms=self.max_wait_ms,
            workers=self.resolved_workers(),
            worker_nice=self.backend_worker_nice,
            lanes={
                "interactive": LaneConfig(self.interactive_max_queue_items, self.interactive_max_queue_tokens, 0.0),
                "bulk": LaneConfig(self.max_queue_items, self.max_queue_tokens, self.bulk_max_pass_over_ms),
            },
            deadline_fraction=self.admission_deadline_fraction,
            share_prompts=self.share_prompts,
            min_shared_tokens=self.min_shared_tokens,
        )

    def route_lane(self, route: str) -> RouteLane:
        """The default lane of requests to `route` (a path such as /v1/score)."""
        return self.route_lanes.get(route, "auto")

    def effective_timeout_s(self, requested_s: float | None) -> float:
        """A request's deadline in seconds: its own timeout_s capped by max_request_timeout_s."""
        return min(requested_s if requested_s else self.request_timeout_s, self.max_request_timeout_s)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UnsafeBindError(UserError, ValueError):
    """A public bind without API keys and without `behind_gateway`."""


def check_bind_safety(settings: Settings) -> None:
    """Refuse to listen on a non-loopback address with no API keys unless a gateway authenticates."""
    if is_loopback(settings.host) or settings.api_key_list or settings.behind_gateway:
        return
    raise UnsafeBindError(
        f"refusing to bind {settings.host} without API keys: set RMSERVE_API_KEYS (or --api-keys), "
        "or --behind-gateway when an authenticating gateway fronts the service"
    )
