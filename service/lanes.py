"""Priority lanes: which lane a request's pairs queue in, from the request, its header and the route.

Two lanes, in the order the batcher serves them: `interactive` (a chat product's safety gate: one pair,
a latency budget of a few hundred ms) and `bulk` (an RL trainer's scoring: many pairs, throughput
matters). A request names its lane with the body field `priority` or the header `X-Rmserve-Priority`
(the field wins); otherwise the route's default applies (`Settings.route_lanes`): a lane, or `auto`,
which puts requests of at most `interactive_max_pairs` pairs in the interactive lane and larger ones in
bulk. With lanes off (`Settings.lanes = false`) every request queues in bulk: one FIFO, as before lanes.
"""

from __future__ import annotations

from typing import Literal, get_args

Lane = Literal["interactive", "bulk"]
LANES: tuple[Lane, ...] = get_args(Lane)  # the batcher's service order: the first lane goes first
RouteLane = Literal["interactive", "bulk", "auto"]
PRIORITY_HEADER = "x-rmserve-priority"


def choose_lane(
    requested: Lane | None, route_default: RouteLane, pairs: int, interactive_max_pairs: int, lanes_on: bool
) -> Lane:
    """The lane of a request of `pairs` pairs: `requested` (field or header) if given, else the route's default."""
    if not lanes_on:
        return "bulk"
    if requested is not None:
        return requested
    if route_default == "auto":
        return "interactive" if pairs <= interactive_max_pairs else "bulk"
    return route_default
