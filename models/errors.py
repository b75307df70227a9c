"""The base of every error caused by the user's input (a folder, a file, a setting), not by a bug.

The CLI prints such an error as one line (`rmserve: error: ...`) and exits with status 2; anything else is
a bug and keeps its traceback.
"""


class UserError(Exception):
    """An error whose message alone tells the user what to fix."""
