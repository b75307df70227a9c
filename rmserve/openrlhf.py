"""rmserve as OpenRLHF's reward-function file: give this module's path to `--remote_rm_url`.

```bash
export RMSERVE_URL=http://rm-host:8000   # where the rollout actors run; also RMSERVE_API_KEY, RMSERVE_TIMEOUT_S
python -m openrlhf.cli.train_ppo_ray ... \\
    --remote_rm_url "$(python -c 'import rmserve.openrlhf as m; print(m.__file__)')"
```

How OpenRLHF uses the file: a `--remote_rm_url` ending in `.py` is loaded with
`importlib.util.spec_from_file_location("reward_func", path)` and `exec_module`, and its `reward_func` is
called as `reward_func(queries, prompts, labels)`. `queries[i]` is the whole sample (its prompt and response
tokens decoded with their special tokens: the policy's chat template included), `prompts[i]` its prompt
text and `labels[i]` the dataset's label. Recent versions (`openrlhf/utils/agent.py`,
`SingleTurnAgentExecutor`) load the file in every vLLM rollout actor and call the function once per sample,
from worker threads (`asyncio.to_thread`), many at a time; earlier ones (`openrlhf/utils/remote_rm_utils.py`,
`RemoteRewardModel`) call it with a micro-batch as a Ray task (`ray.remote(reward_func)`), which pickles it.

What it does: the queries go to the server's `/get_reward` through `RewardClient.score_texts(queries,
prompts=prompts)`, so the rewards are those OpenRLHF gets posting to `/get_reward` itself (each query scored
as given, no chat template applied again; an encoder RM splits its text pair where the prompt ends),
chunked within the server's limits, with the client's retries (connection errors, and 429/503 honouring
Retry-After). Labels are ignored: a reward model needs no reference answer. Each process creates one client,
at its first call, from `ClientConfig.from_env()`: `RMSERVE_URL` (default http://127.0.0.1:8000),
`RMSERVE_API_KEY` and `RMSERVE_TIMEOUT_S` (a call's total time, default 60 s); set them where the rollout
actors run (a Ray job's `runtime_env` `env_vars`, or the environment `ray start` ran in). Loaded from its
path, the module hands out `rmserve.openrlhf.reward_func` itself, so that every load in a process shares one
client and Ray pickles the function by reference.

What it returns: `{"rewards": r, "scores": r, "extra_logs": {...}}`, as OpenRLHF's own examples do, with `r`
a float32 `torch.Tensor` of shape `(len(queries),)`: the raw rewards, in order. `extra_logs` holds one such
tensor per name: `rmserve_truncated` (1.0 where the server cut the query to fit the model) and a
multi-objective model's attributes. torch is imported inside the function (OpenRLHF always has it), so this
module imports with httpx alone.

Errors: the client's (`rmserve.errors`: `ConnectionFailedError`, `OverloadedError`, `InvalidRequestError`,
...) are raised once its retries are spent, after being logged at ERROR on the `rmserve.openrlhf` logger:
recent OpenRLHF versions catch a reward function's exception, log it at info level and keep the sample
without a reward.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from rmserve._core import ClientConfig
from rmserve.sync_client import RewardClient

__all__ = ["reward_func"]

logger = logging.getLogger("rmserve.openrlhf")
TRUNCATED_LOG = "rmserve_truncated"


class _ProcessClient:
    """This process's one client, created from the environment at first use (again in a forked child: a
    connection pool does not survive a fork). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: RewardClient | None = None
        self._pid: int | None = None

    def get(self) -> RewardClient:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = RewardClient.from_config(ClientConfig.from_env())
                self._pid = os.getpid()
            return self._client

    def close(self) -> None:
        """Close the client; the next call creates a new one (from the environment as it is then)."""
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client, self._pid = None, None


_CLIENT = _ProcessClient()


def reward_func(
    queries: Sequence[str], prompts: Sequence[str] | None, labels: Sequence[Any] | None, **kwargs: Any
) -> dict[str, Any]:
    """OpenRLHF's `reward_func(queries, prompts, labels)`: the server's raw rewards of `queries` as
    `{"rewards", "scores", "extra_logs"}` torch tensors (see the module's docstring). `labels` and any
    further keyword arguments of newer OpenRLHF versions are accepted and ignored."""
    import torch

    texts = list(queries)
    if not texts:
        empty = torch.zeros(0, dtype=torch.float32)
        return {"rewards": empty, "scores": empty, "extra_logs": {}}
    client = _CLIENT.get()
    try:
        result = client.score_texts(texts, prompts=None if prompts is None else list(prompts))
    except Exception as exc:
        logger.error("rmserve: no rewards for %d queries from %s: %s", len(texts), client.config.base_url, exc)
        raise
    rewards = torch.tensor(result.scores, dtype=torch.float32)
    extra_logs = {TRUNCATED_LOG: torch.tensor([float(item.truncated) for item in result.items], dtype=torch.float32)}
    for name in result.items[0].attributes or {}:
        values = [(item.attributes or {}).get(name, float("nan")) for item in result.items]
        extra_logs[name] = torch.tensor(values, dtype=torch.float32)
    return {"rewards": rewards, "scores": rewards, "extra_logs": extra_logs}


if __name__ != "rmserve.openrlhf":
    # Loaded from its path, as OpenRLHF loads it: a module named "reward_func" that no other process can import
    # by name. Hand out the package's own function instead of this copy's: every load in a process then shares
    # one client, and pickling (Ray's `ray.remote(reward_func)`) refers to `rmserve.openrlhf.reward_func`.
    from rmserve.openrlhf import reward_func
