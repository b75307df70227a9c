"""The `rmserve` command line: one subcommand per module, imported only when that subcommand runs.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`, and keeps heavy imports
(torch, onnxruntime, uvicorn) inside `run`, so `rmserve --help` is instant and `rmserve serve` on an ONNX
model never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from models.errors import UserError

# name -> (module, one-line help); the help is here so that `rmserve --help` imports no command module.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("service.cli.serve", "serve a reward model over HTTP"),
    "train": ("service.cli.train", "train a reward model on preference pairs (Bradley-Terry)"),
    "eval": ("service.cli.eval", "pairwise accuracy of a reward model on preference pairs"),
    "export": ("service.cli.export", "export a reward model to ONNX, with a parity gate"),
    "calibrate": ("service.cli.calibrate", "fit the temperature of a model's preference probabilities"),
    "default-model": ("service.cli.default_model", "build (once) and print the embedded default model"),
    "score": ("service.cli.score", "score a JSONL file of prompt/response rows against a server"),
    "rank": ("service.cli.rank", "rank best-of-n rows of a JSONL file against a server"),
}


class CommandModule(Protocol):
    """What every module of `COMMANDS` exposes."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _command_module(module_name: str) -> CommandModule:
    return cast(CommandModule, importlib.import_module(module_name))


def build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rmserve", description="Reward-model inference service.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == command:
            _command_module(module_name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(args_list)
    module = _command_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args))
    except UserError as exc:
        print(f"rmserve: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
