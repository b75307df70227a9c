"""Deprecated alias of `rmserve`, the client's own top-level package: write `from rmserve import RewardClient`.

Kept for the 0.1 release only, so code written against `from service.client import ...` keeps running while
it moves; it warns once on import and is removed in 0.2. Only the package's public names are re-exported
(not its former submodules such as `service.client.types`: import those from `rmserve.types`).
"""

import warnings

from rmserve import *  # noqa: F403
from rmserve import __all__ as __all__

warnings.warn(
    "service.client is deprecated and will be removed in rmserve 0.2; import from rmserve instead",
    DeprecationWarning,
    stacklevel=2,
)
