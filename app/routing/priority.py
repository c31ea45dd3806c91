"""`priority`: highest priority first, aged by the queue's `priority_weight_s`, across queues.

The aging is in every call's rank (`arrival_ms − priority × priority_weight_s × 1000`, or strict
priority when the weight is null), and ranks are milliseconds, so they compare across queues:
the lowest rank is the highest aged priority. The agent for a call is the longest idle. Today
its decisions equal `longest-idle`'s; it is its own name so that a queue states its intent and
later tuning of priority routing does not change longest-idle queues.
"""

from __future__ import annotations

from app.routing.longest_idle import LongestIdle


class Priority(LongestIdle):
    name = "priority"
