"""Load a reward model as a torch module and score encoded pairs with it (imports torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from models.batching import pad_batch
from models.folder import ModelFolder, ModelLoadError
from models.formatting import EncodedPair
from models.heads import RewardHead
from models.runtime import available_cpus
from models.steps import EncodedSteps

DType = Literal["fp32", "fp16", "bf16"]
TORCH_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def configure_threads(threads: int | None) -> int:
    """Use `threads` intra-op threads in torch (default: `models.runtime.available_cpus`); return the count.

    torch's default counts physical cores of the whole machine, which oversubscribes a container limited
    to fewer CPUs.
    """
    torch.set_num_threads(max(1, threads or available_cpus()))
    return torch.get_num_threads()


def load_torch_reward_model(
    folder: ModelFolder,
    pad_token_id: int,
    device: str = "cpu",
    dtype: DType = "fp32",
    trust_remote_code: bool = False,
    attn_implementation: str | None = "sdpa",
    require_head: bool = True,
    head: RewardHead | None = None,
) -> Any:
    """Load `folder` as `AutoModelForSequenceClassification` with one output, in eval mode on `device`.

    With `require_head` (serving, evaluation) a folder whose config names no `...ForSequenceClassification`
    architecture is refused: a bare backbone would score with a random head. Without it (training), such a
    backbone (all-MiniLM-L6-v2's `BertModel`, say) gets a freshly initialised one-output head. A head with
    more than one output is refused unless `head` (see `models.heads.read_head`) says what it is: a
    multi-objective head keeps its K outputs, and a process head loads as the token classifier (or, for
    `step_token` models, the folder's own code) whose logits are read per token.
    """
    from transformers import AutoModelForSequenceClassification

    if not folder.safetensors_files:
        raise ModelLoadError(f"model folder {folder.path} has no safetensors weights for the torch backend")
    if head is not None and head.kind != "reward":
        return _load_head_model(folder, pad_token_id, device, dtype, trust_remote_code, attn_implementation, head)
    if folder.architecture.endswith(("ForTokenClassification", "ForProcessRewardModel")):
        # Loaded as a sequence classifier, a PRM's backbone would score with a fresh random head.
        raise ModelLoadError(
            f"{folder.path} is a process reward model ({folder.architecture}); it scores steps "
            "(rmserve serve, /v1/score_steps; rmserve eval on step-labelled rows), not whole pairs"
        )
    if require_head and not has_reward_head(folder.config):
        raise ModelLoadError(
            f"{folder.path} has no reward head (architecture {folder.architecture}, not "
            f"...ForSequenceClassification); train one on it with: rmserve train --base {folder.path}"
        )
    num_labels = folder.config.get("num_labels")
    id2label = folder.config.get("id2label")
    labels = len(id2label) if isinstance(id2label, dict) else num_labels
    if folder.config.get("architectures", [""])[0].endswith("ForSequenceClassification") and labels not in (
        None,
        1,
    ):
        raise ModelLoadError(f"{folder.path} is a classifier with {labels} outputs; a reward model has one")
    return _from_pretrained(
        AutoModelForSequenceClassification,
        folder,
        pad_token_id,
        device,
        dtype,
        trust_remote_code,
        attn_implementation,
        num_labels=1,
    )


def _load_head_model(
    folder: ModelFolder,
    pad_token_id: int,
    device: str,
    dtype: DType,
    trust_remote_code: bool,
    attn_implementation: str | None,
    head: RewardHead,
) -> Any:
    """A multi-objective or process head, loaded with the class its config names (see the caller)."""
    import transformers

    if head.kind == "multi_objective":
        auto: Any = transformers.AutoModelForSequenceClassification
    elif head.step_format == "trl":
        auto = transformers.AutoModelForTokenClassification
    else:
        # Qwen2.5-Math-PRM style: the folder's auto_map names its own class for AutoModel.
        auto = transformers.AutoModel
    return _from_pretrained(auto, folder, pad_token_id, device, dtype, trust_remote_code, attn_implementation)


def _from_pretrained(
    auto: Any,
    folder: ModelFolder,
    pad_token_id: int,
    device: str,
    dtype: DType,
    trust_remote_code: bool,
    attn_implementation: str | None,
    **config_overrides: Any,
) -> Any:
    """`auto.from_pretrained` on the folder's safetensors, offline, in eval mode on `device`. An attention
    implementation the model refuses is dropped (the library's default is used instead)."""
    kwargs: dict[str, Any] = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        model = auto.from_pretrained(
            str(folder.path),
            dtype=TORCH_DTYPES[dtype],
            use_safetensors=True,
            local_files_only=True,
            trust_remote_code=trust_remote_code,
            **config_overrides,
            **kwargs,
        )
    except ValueError as exc:
        if attn_implementation and "attn" in str(exc).lower():
            return _from_pretrained(
                auto, folder, pad_token_id, device, dtype, trust_remote_code, None, **config_overrides
            )
        raise ModelLoadError(f"cannot load {folder.path}: {exc}") from exc
    except OSError as exc:
        raise ModelLoadError(f"cannot load {folder.path}: {exc}") from exc
    # Decoder heads find each row's last token through pad_token_id; it must match the tokenizer's.
    model.config.pad_token_id = pad_token_id
    model.to(device)
    model.eval()
    return model


def has_reward_head(config: dict[str, Any]) -> bool:
    """Whether a config names a sequence-classification architecture (a scoring head is in the weights)."""
    architectures = config.get("architectures") or []
    return any(str(arch).endswith("ForSequenceClassification") for arch in architectures)


def batch_to_tensors(batch: dict[str, np.ndarray], device: str | torch.device) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(array).to(device) for name, array in batch.items()}


def score_encoded(
    model: Any, pairs: Sequence[EncodedPair], pad_token_id: int, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Raw rewards for `pairs` as float32, shape (len(pairs),), in one forward pass without gradients."""
    batch = batch_to_tensors(pad_batch(pairs, pad_token_id), device)
    with torch.inference_mode():
        logits = model(**batch).logits
    return logits[:, 0].float().cpu().numpy().astype(np.float32)


def head_outputs_encoded(
    model: Any, pairs: Sequence[EncodedPair], pad_token_id: int, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Every output of a sequence-classification head, float32 (len(pairs), K), in one forward pass."""
    batch = batch_to_tensors(pad_batch(pairs, pad_token_id), device)
    with torch.inference_mode():
        logits = model(**batch).logits
    return logits.float().cpu().numpy().astype(np.float32).reshape(len(pairs), -1)


def step_logits_encoded(
    model: Any, items: Sequence[EncodedSteps], pad_token_id: int, device: str | torch.device = "cpu"
) -> list[np.ndarray]:
    """The two-label logits at each item's score positions: per item float32 (len(score_positions), 2)."""
    batch = batch_to_tensors(pad_batch(items, pad_token_id), device)
    with torch.inference_mode():
        output = model(**batch)
        logits = output.logits if hasattr(output, "logits") else output[0]
        rows = torch.tensor([row for row, item in enumerate(items) for _ in item.score_positions], dtype=torch.long)
        columns = torch.tensor([p for item in items for p in item.score_positions], dtype=torch.long)
        picked = logits[rows.to(logits.device), columns.to(logits.device)].float().cpu().numpy()
    if picked.ndim != 2 or picked.shape[1] != 2:
        raise ValueError(f"a process reward head gives two logits per token, not shape {tuple(logits.shape)}")
    sizes = np.cumsum([len(item.score_positions) for item in items])[:-1]
    return [part.astype(np.float32) for part in np.split(picked, sizes)]
