"""Which backend and precision serve a model: `choose_backend`, the only function that decides.

An explicit setting always wins (`backend` and `dtype` both set: that configuration, no measurement).
Otherwise (`auto`, the default) the choice runs in three steps:

1. **Candidates** (`plan_candidates`, pure: the settings, the folder and the CPU's features in, a list
   out). An ONNX folder holding an fp32 graph can run on onnxruntime fp32, OpenVINO fp32 and, where the
   CPU has bf16 units (AMX or AVX512-BF16), OpenVINO bf16; an int8 or fp16 graph runs on onnxruntime
   only (the file fixes its precision). A safetensors folder runs on torch fp32, and torch bf16 where the
   CPU has the units. On a GPU the choice is today's: onnxruntime for an ONNX folder, else torch fp32.
   Without bf16 units bf16 is emulated (slower than fp32), so it is never a candidate there.
2. **The fidelity gate** (`models.fidelity`) for every reduced precision: a candidate whose export
   recorded a failed gate in the model card is left out, and the rest are checked again on the card's
   reference pairs (their fp32 scores, every two of them compared: `reference_fidelity_report`, which
   judges Spearman only from `MIN_SCORES_FOR_SPEARMAN` scores on; over a card's handful it measures
   near-ties, not fidelity). A precision that fails is never chosen automatically; one chosen explicitly
   is served with a warning. Every start-up report, with the criteria it was judged by, goes to the log
   and `/v1/models`.
3. **A short measurement** (`choice_budget_s`, interleaved rounds so that a noisy neighbour hurts every
   candidate alike): pairs per second of one short pair and one batch of eight longer ones. The fastest
   fp32 candidate is the baseline; a reduced precision is chosen only when it is at least
   `REDUCED_PRECISION_MIN_GAIN` faster. With a budget of 0 nothing is timed: bf16 on AMX (where it is
   known to win, about 3x), else the first fp32 candidate (today's choice).

The result, `Choice`, says what was chosen and why; the start-up log and `/v1/models` show it.
"""

from __future__ import annotations

import importlib.util
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.cpu_features import CpuFeatures, detect_cpu_features
from models.fidelity import FidelityReport, reference_fidelity_report
from models.folder import ModelFolder, ModelLoadError
from models.formatting import EncodedPair, PairFormatter
from models.heads import RewardHead
from models.runtime import choose_runtime
from models.selftest import DEFAULT_REFERENCE_PROMPTS
from models.tokenizer import RMTokenizer
from service.backends.base import Backend
from service.cost_model import synthetic_pair
from service.settings import Settings

logger = logging.getLogger("rmserve")

REDUCED_PRECISION_MIN_GAIN = 1.05  # bf16 must beat the best fp32 by 5%: fidelity is not free
_SHORT_PAIR_TOKENS = 64
_LONG_PAIR_TOKENS = 192  # about the median HH-RLHF pair with the default model's tokenizer
_LONG_BATCH_ROWS = 8


@dataclass(frozen=True)
class Candidate:
    """One way to serve the folder: a backend name and the precision it computes in."""

    backend: str  # torch | onnx | openvino
    dtype: str  # fp32 | fp16 | bf16 | int8

    @property
    def label(self) -> str:
        return f"{self.backend} {self.dtype}"

    @property
    def reduced(self) -> bool:
        """bf16 or int8 on the CPU: judged by the fidelity gate before it may be chosen."""
        return self.dtype in ("bf16", "int8")


@dataclass(frozen=True)
class Plan:
    """The candidates in preference order (fp32 first), why others were left out, and whether the
    settings fixed the choice (then nothing is measured)."""

    candidates: list[Candidate]
    notes: list[str]
    explicit: bool


@dataclass
class Choice:
    """What serves the model and why (shown by /v1/models and the start-up log)."""

    backend: str
    dtype: str
    mode: str  # "explicit" or "auto"
    reason: str
    cpu: dict[str, Any]
    candidates: list[str]
    pairs_per_s: dict[str, float] = field(default_factory=dict)
    fidelity: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "dtype": self.dtype,
            "mode": self.mode,
            "reason": self.reason,
            "cpu": self.cpu,
            "candidates": self.candidates,
            "pairs_per_s": self.pairs_per_s,
            "fidelity": self.fidelity,
            "notes": self.notes,
        }


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def file_dtype(folder: ModelFolder) -> str:
    """The precision model.onnx was exported in (its card says; fp32 when it does not)."""
    export = folder.card.export if folder.card else None
    return export.dtype if export else "fp32"


def model_family(settings: Settings, folder: ModelFolder) -> str:
    """The explicit backend, else "onnx" for a folder holding model.onnx, else "torch"."""
    return choose_runtime(settings.backend, has_onnx=folder.onnx_file is not None)


def plan_candidates(
    settings: Settings, folder: ModelFolder, features: CpuFeatures, openvino_available: bool, head_kind: str = "reward"
) -> Plan:
    """The configurations that may serve `folder` under `settings` on a CPU with `features`. A head other
    than a one-output reward (multi-objective, process) is served by torch only, in fp32 unless set.

    Raises ModelLoadError for settings that cannot be served (bf16 on onnxruntime, a dtype the ONNX file
    does not hold, openvino where it is not installed, an ONNX runtime for another head)."""
    family, dtype = model_family(settings, folder), settings.dtype
    notes: list[str] = []
    if head_kind != "reward":
        if settings.backend in ("onnx", "openvino"):
            raise ModelLoadError(
                f"{folder.path} has a {head_kind.replace('_', '-')} head, which the {settings.backend} backend does "
                "not serve (rmserve export writes one-output reward models only); serve it with --backend torch"
            )
        notes.append(f"a {head_kind.replace('_', '-')} head: torch serves it (the ONNX runtimes serve reward heads)")
        candidate = Candidate("torch", "fp32" if dtype == "auto" else dtype)
        return Plan([candidate], notes, explicit=settings.backend != "auto")
    if family in ("onnx", "openvino") and folder.onnx_file is None:
        raise ModelLoadError(f"--backend {family} needs {folder.path}/model.onnx; export one with rmserve export")
    if family == "openvino" and not openvino_available:
        raise ModelLoadError("--backend openvino needs the openvino package (part of the rmserve[serve] extra)")
    if settings.on_gpu:
        if family == "openvino":
            raise ModelLoadError(f"the openvino backend runs on the CPU, not {settings.device}")
        if family == "torch":
            return Plan(
                [Candidate("torch", "fp32" if dtype == "auto" else dtype)], notes, explicit=settings.backend != "auto"
            )
        return Plan([_onnx_candidate(folder, dtype)], notes, explicit=settings.backend != "auto")
    bf16_units = features.bf16_units
    if bf16_units is None:
        notes.append(f"no bf16 units on {features.model_name} (AMX or AVX512-BF16): bf16 would be emulated")

    def wanted(precision: str) -> bool:
        return dtype == precision or (
            dtype == "auto" and (precision == "fp32" or (precision == "bf16" and bool(bf16_units)))
        )

    candidates: list[Candidate] = []
    if family == "torch":
        candidates = [Candidate("torch", precision) for precision in ("fp32", "bf16", "fp16") if wanted(precision)]
    else:
        exported = file_dtype(folder)
        if exported != "fp32":
            if family == "openvino":
                raise ModelLoadError(
                    f"the openvino backend runs an fp32 model.onnx; {folder.path} holds a {exported} export"
                )
            return Plan([_onnx_candidate(folder, dtype)], notes, explicit=settings.backend != "auto")
        if family == "onnx" and settings.backend == "onnx":
            return Plan([_onnx_candidate(folder, dtype)], notes, explicit=True)
        if dtype == "fp16":
            raise ModelLoadError("fp16 on the CPU: export with --fp16 for a GPU, or use fp32 or bf16 here")
        if family == "onnx" and wanted("fp32"):
            candidates.append(Candidate("onnx", "fp32"))
        if openvino_available:
            candidates += [Candidate("openvino", precision) for precision in ("fp32", "bf16") if wanted(precision)]
        else:
            notes.append("openvino is not installed: onnxruntime only")
    if not candidates:
        raise ModelLoadError(f"no {family} configuration serves dtype {dtype} for {folder.path}")
    explicit = settings.backend != "auto" and dtype != "auto"
    return Plan(candidates, notes, explicit=explicit)


def _onnx_candidate(folder: ModelFolder, dtype: str) -> Candidate:
    """onnxruntime runs the file's own precision; "fp32" (the old default of `dtype`) and "auto" both mean
    that one, so settings written before `auto` existed still serve an int8 export."""
    exported = file_dtype(folder)
    if dtype not in ("auto", "fp32", exported):
        hint = " (bf16 on a CPU: --backend openvino)" if dtype == "bf16" else ""
        raise ModelLoadError(f"onnxruntime serves model.onnx in the precision it was exported in ({exported}){hint}")
    return Candidate("onnx", exported)


def build_candidate(
    candidate: Candidate, settings: Settings, folder: ModelFolder, tokenizer: RMTokenizer, head: RewardHead
) -> Backend:
    """Load `candidate` (imports its runtime: torch, onnxruntime or openvino)."""
    threads = settings.resolved_threads_per_worker()
    if candidate.backend == "onnx":
        from service.backends.onnx_backend import OnnxBackend

        onnx_backend: Backend = OnnxBackend(
            folder,
            pad_token_id=tokenizer.pad_token_id,
            device=settings.device,
            threads_per_worker=threads,
            providers=settings.onnx_provider_list or None,
        )
        return onnx_backend
    if candidate.backend == "openvino":
        from service.backends.openvino_backend import OpenVinoBackend

        openvino_backend: Backend = OpenVinoBackend(
            folder,
            tokenizer.pad_token_id,
            dtype=candidate.dtype,
            threads_per_worker=threads,
            workers=settings.resolved_workers(),
            device=settings.device,
        )
        return openvino_backend
    if importlib.util.find_spec("torch") is None:
        raise ModelLoadError(
            f"{folder.path} holds safetensors weights, which need torch (the rmserve[torch] extra); this install "
            "serves ONNX folders only: export one with rmserve export"
        )
    from service.backends.torch_backend import TorchBackend

    return TorchBackend(
        folder,
        tokenizer.pad_token_id,
        device=settings.device,
        dtype=candidate.dtype,  # type: ignore[arg-type]
        threads_per_worker=threads,
        trust_remote_code=settings.trust_remote_code,
        head=head,
    )


def recorded_fidelity(folder: ModelFolder, dtype: str) -> dict[str, Any] | None:
    """The fidelity report that export wrote into the card for `dtype`, if any."""
    export = folder.card.export if folder.card else None
    return export.fidelity.get(dtype) if export else None


def startup_fidelity(
    folder: ModelFolder,
    formatter: PairFormatter,
    candidate: Candidate,
    score: Callable[[Sequence[EncodedPair]], Any],
    fp32_score: Callable[[Sequence[EncodedPair]], Any] | None,
) -> FidelityReport | str:
    """The gate for `candidate` on the card's reference pairs (every two of them compared), against the
    fp32 scores the card stores, else against `fp32_score` on the built-in reference prompts. Returns
    the report (`reference_fidelity_report`: with fewer than `MIN_SCORES_FOR_SPEARMAN` scores, judged by
    agreement above the margin alone, Spearman reported), or why none could be made."""
    import numpy as np

    card = folder.card
    export = card.export if card else None
    card_dtype = ((export.reference_scores or {}).get("dtype") or export.dtype) if export else "fp32"
    shorter = card is not None and card.max_length is not None and formatter.max_length < card.max_length
    encoded: list[EncodedPair] = []
    expected: list[float] = []
    if card is not None and card.reference_pairs and card_dtype == "fp32":
        for pair in card.reference_pairs:
            item = formatter.encode(pair.prompt, pair.response)
            if not (item.truncated and shorter):
                encoded.append(item)
                expected.append(pair.score)
    elif fp32_score is not None:
        encoded = [formatter.encode(prompt, response) for prompt, response in DEFAULT_REFERENCE_PROMPTS]
        expected = [float(s) for s in np.asarray(fp32_score(encoded)).reshape(-1)]
    if len(encoded) < 2:
        return "no fp32 reference scores to check it against (the card has no fp32 reference pairs)"
    got = np.asarray(score(encoded), dtype=np.float64).reshape(-1)
    return reference_fidelity_report(candidate.dtype, np.asarray(expected), got)


def measure_pairs_per_s(
    backends: dict[str, Backend], template: EncodedPair, max_length: int, max_batch_size: int, budget_s: float
) -> dict[str, float]:
    """Median pairs/s of each backend on one short pair plus one batch of longer pairs, in interleaved
    rounds until `budget_s` is spent (at least three rounds; each shape is run once untimed first)."""
    short = [synthetic_pair(template, min(_SHORT_PAIR_TOKENS, max_length))]
    long = [synthetic_pair(template, min(_LONG_PAIR_TOKENS, max_length))] * min(_LONG_BATCH_ROWS, max_batch_size)
    pairs = len(short) + len(long)
    for backend in backends.values():
        backend.score(short)
        backend.score(long)
    rates: dict[str, list[float]] = {label: [] for label in backends}
    started = time.perf_counter()
    rounds = 0
    while rounds < 3 or time.perf_counter() - started < budget_s:
        for label, backend in backends.items():
            t0 = time.perf_counter()
            backend.score(short)
            backend.score(long)
            rates[label].append(pairs / max(time.perf_counter() - t0, 1e-9))
        rounds += 1
    return {label: statistics.median(values) for label, values in rates.items()}


def _pick_measured(candidates: Sequence[Candidate], rates: dict[str, float]) -> tuple[Candidate, str]:
    """The fastest fp32 candidate, or the fastest reduced one when it beats that by the minimum gain."""
    measured = ", ".join(f"{label} {rate:.1f}" for label, rate in sorted(rates.items(), key=lambda kv: -kv[1]))
    fp32 = [c for c in candidates if not c.reduced]
    reduced = [c for c in candidates if c.reduced]
    best_fp32 = max(fp32, key=lambda c: rates[c.label]) if fp32 else None
    best_reduced = max(reduced, key=lambda c: rates[c.label]) if reduced else None
    if best_reduced is not None and (
        best_fp32 is None or rates[best_reduced.label] >= REDUCED_PRECISION_MIN_GAIN * rates[best_fp32.label]
    ):
        return best_reduced, f"{best_reduced.label} is the fastest faithful candidate (pairs/s: {measured})"
    assert best_fp32 is not None
    why = f"{best_fp32.label} is the fastest"
    if best_reduced is not None:
        why += f" (a reduced precision must be {REDUCED_PRECISION_MIN_GAIN:g}x faster than fp32)"
    return best_fp32, f"{why}; pairs/s: {measured}"


def prior_order(candidates: Sequence[Candidate], features: CpuFeatures) -> list[Candidate]:
    """The candidates in the order to try without timing them: reduced precision first on AMX (where bf16
    is known to win, about 3x), else fp32 first (today's choice)."""
    return sorted(candidates, key=lambda c: c.reduced != features.amx_bf16)


def choose_backend(
    settings: Settings,
    folder: ModelFolder,
    tokenizer: RMTokenizer,
    formatter: PairFormatter | None,
    head: RewardHead | None = None,
    features: CpuFeatures | None = None,
    openvino_available: bool | None = None,
) -> tuple[Backend, Choice]:
    """The backend that serves `folder` under `settings`, and why (see the module docstring). `formatter`
    is None for a process reward model (it scores steps; its one candidate is neither gated nor timed).

    `features`/`openvino_available` default to this machine's (tests pass others). When the choice is
    timed every candidate is loaded; otherwise they are tried in `prior_order` and the first one that
    loads and passes the gate serves. Every candidate that is not chosen is closed before this returns.
    Raises ModelLoadError for unservable settings or when no candidate can serve.
    """
    features = features or detect_cpu_features()
    available = openvino_installed() if openvino_available is None else openvino_available
    head = head or RewardHead("reward")
    plan = plan_candidates(settings, folder, features, available, head.kind)
    mode = "explicit" if plan.explicit else "auto"
    choice = Choice("", "", mode, "", features.to_dict(), [c.label for c in plan.candidates], notes=list(plan.notes))
    timed = not plan.explicit and settings.choice_budget_s > 0 and len(plan.candidates) > 1 and formatter is not None
    # A precision the operator named is served even when the gate fails (with a warning); auto never is.
    enforce_gate = settings.dtype == "auto"
    built: dict[str, Backend] = {}
    usable: list[Candidate] = []
    fp32_backend: Backend | None = None
    try:
        for candidate in plan.candidates if timed else prior_order(plan.candidates, features):
            record = recorded_fidelity(folder, candidate.dtype) if candidate.reduced else None
            # A folder's only configuration serves whatever its card says (an int8 export is int8).
            alternatives = len(plan.candidates) > 1
            if enforce_gate and alternatives and record is not None and not record.get("passed", False):
                choice.notes.append(f"{candidate.label} left out: failed the fidelity gate at export")
                choice.fidelity[f"{candidate.label} (export)"] = record
                continue
            try:
                backend = build_candidate(candidate, settings, folder, tokenizer, head)
            except ModelLoadError as exc:
                if len(plan.candidates) == 1:
                    raise
                choice.notes.append(f"{candidate.label} left out: {exc}")
                continue
            built[candidate.label] = backend
            if candidate.reduced and candidate.backend != "onnx":
                # onnxruntime's int8 is the file's own precision, gated when it was exported.
                fp32_score = fp32_backend.score if fp32_backend is not None else None
                report: FidelityReport | str = "a process head scores steps, not pairs"
                if formatter is not None:
                    report = startup_fidelity(folder, formatter, candidate, backend.score, fp32_score)
                if isinstance(report, str) or not report.passed:
                    why = report if isinstance(report, str) else report.summary()
                    if enforce_gate:
                        choice.notes.append(f"{candidate.label} left out: {why}")
                        if not isinstance(report, str):
                            choice.fidelity[candidate.label] = report.to_dict()
                        built.pop(candidate.label).close()
                        continue
                    logger.warning("%s set explicitly, served although: %s", candidate.label, why)
                if not isinstance(report, str):
                    choice.fidelity[candidate.label] = report.to_dict()
                    if report.passed:
                        logger.info("%s at start-up: %s", candidate.label, report.summary())
            elif fp32_backend is None and candidate.dtype == "fp32":
                fp32_backend = backend
            usable.append(candidate)
            if not timed:
                break
        if not usable:
            raise ModelLoadError(f"no backend could serve {folder.path}: {'; '.join(choice.notes)}")
        if len(usable) > 1:
            assert formatter is not None  # more than one usable candidate only when timed
            template = formatter.encode("How do I keep basil fresh?", "Stand it in a glass of water.")
            rates = measure_pairs_per_s(
                {c.label: built[c.label] for c in usable},
                template,
                formatter.max_length,
                settings.max_batch_size,
                settings.choice_budget_s,
            )
            choice.pairs_per_s = {label: round(rate, 2) for label, rate in rates.items()}
            chosen, reason = _pick_measured(usable, rates)
        elif plan.explicit:
            chosen, reason = usable[0], "set explicitly"
        elif len(plan.candidates) == 1:
            chosen, reason = usable[0], "the only candidate for this folder and device"
        elif timed:
            chosen, reason = usable[0], "the only candidate left"
        else:
            chosen = usable[0]
            reason = "not timed (choice_budget_s 0): " + (
                "bf16 first on AMX" if features.amx_bf16 else "fp32 first without AMX (today's default)"
            )
        backend = built.pop(chosen.label)
    finally:
        for other in built.values():
            other.close()
    choice.backend, choice.dtype = backend.name, backend.dtype
    choice.reason = reason if chosen.dtype == backend.dtype else f"{reason}; the runtime computes {backend.dtype}"
    if choice.notes:
        logger.info("backend choice notes: %s", "; ".join(choice.notes))
    logger.info("backend %s %s (%s) on %s: %s", backend.name, backend.dtype, mode, features.summary(), choice.reason)
    return backend, choice
