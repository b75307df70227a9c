"""The base of every error caused by the user's input (a folder, a file, a setting), not by a bug.

The CLI prints such an error as one line (`rmserve: error: ...`) and exits with status 2; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class UserError(Exception):
    """An error whose message alone tells the user what to fix."""


def validation_problems(exc: ValidationError) -> str:
    """pydantic's errors on one line, `field.path: message; ...`, for a UserError's message."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
