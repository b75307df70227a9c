"""The CPU's matrix and vector units, read from the kernel's flags (Linux `/proc/cpuinfo`).

What rmserve's choice of backend and precision needs to know: AMX (Intel Sapphire Rapids and later: tile
matrix units with bf16 and int8), AVX512-BF16 (bf16 dot products in AVX-512 registers: Cooper Lake, AMD
Zen 4 and later), AVX512-VNNI / AVX-VNNI (int8 dot products) and AVX2. Torch-free and dependency-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CPUINFO_PATH = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuFeatures:
    """The units that matter for reward-model inference, and the CPU's model name."""

    model_name: str
    amx_bf16: bool
    avx512_bf16: bool
    avx512_vnni: bool
    avx_vnni: bool
    avx512f: bool
    avx2: bool

    @property
    def bf16_units(self) -> str | None:
        """ "amx" or "avx512_bf16" when the CPU computes bf16 natively (best first), else None."""
        if self.amx_bf16:
            return "amx"
        if self.avx512_bf16:
            return "avx512_bf16"
        return None

    def summary(self) -> str:
        """The model name and the flags that are present, e.g. "AMD EPYC (avx2, avx512f, avx512_bf16)"."""
        names = ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")
        present = [name for name in names if getattr(self, name)]
        return f"{self.model_name} ({', '.join(present) or 'no AVX2'})"

    def to_dict(self) -> dict[str, object]:
        return {
            "model_name": self.model_name,
            "amx_bf16": self.amx_bf16,
            "avx512_bf16": self.avx512_bf16,
            "avx512_vnni": self.avx512_vnni,
            "avx_vnni": self.avx_vnni,
            "avx512f": self.avx512f,
            "avx2": self.avx2,
        }


def parse_cpuinfo(text: str) -> CpuFeatures:
    """Features from the text of `/proc/cpuinfo` (the first processor's `flags` and `model name`; x86
    flag names as the Linux kernel spells them). Text without flags (another OS, an emulator) gives a
    CPU with none of the units, so nothing is assumed."""
    flags: set[str] = set()
    model_name = "unknown CPU"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "model name" and model_name == "unknown CPU":
            model_name = value.strip() or model_name
    return CpuFeatures(
        model_name=model_name,
        amx_bf16="amx_bf16" in flags and "amx_tile" in flags,
        avx512_bf16="avx512_bf16" in flags,
        avx512_vnni="avx512_vnni" in flags,
        avx_vnni="avx_vnni" in flags,
        avx512f="avx512f" in flags,
        avx2="avx2" in flags,
    )


def detect_cpu_features(path: Path = CPUINFO_PATH) -> CpuFeatures:
    """This machine's features (none where `path` is unreadable: not Linux)."""
    try:
        return parse_cpuinfo(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return parse_cpuinfo("")
