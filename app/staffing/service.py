"""Staffing: the API's and the CLI's one verb, from a request body to an answer."""

from __future__ import annotations

import math

from app.errors import SwitchboardError, invalid
from app.staffing import erlang
from app.staffing.schemas import ErlangAnswer, ErlangRequest


def staff(body: ErlangRequest) -> ErlangAnswer:
    load = erlang.Load(body.arrival_rate_per_hour, body.aht_s, body.patience_s)
    if body.agents is not None:
        prediction = erlang.predict(load, body.agents, body.threshold_s)
    elif body.target_service_level is None:
        raise invalid("target_service_level", "required when agents is absent")
    else:
        found = erlang.agents_needed(load, body.threshold_s, body.target_service_level,
                                     body.max_occupancy)
        if found is None:
            raise _unreachable(body, load)
        prediction = found
    return ErlangAnswer(
        model=prediction.model, traffic_erlangs=prediction.erlangs, agents=prediction.agents,
        scheduled_agents=erlang.scheduled_agents(prediction.agents, body.shrinkage),
        stable=prediction.stable, service_level=prediction.service_level,
        probability_of_wait=prediction.probability_of_wait, asa_s=_finite(prediction.asa_s),
        average_wait_s=_finite(prediction.average_wait_s),
        abandon_rate=prediction.abandon_rate, occupancy=prediction.occupancy)


def _unreachable(body: ErlangRequest, load: erlang.Load) -> SwitchboardError:
    occupancy = "" if body.max_occupancy is None else f" at occupancy ≤ {body.max_occupancy}"
    return SwitchboardError(
        422, "target-unreachable", "Service level target not reachable",
        f"No number of agents up to {erlang.MAX_AGENTS} answers {body.target_service_level} "
        f"of calls within {body.threshold_s:g} s{occupancy}; the offered traffic is "
        f"{load.erlangs:.6g} Erlangs.", max_agents=erlang.MAX_AGENTS,
        traffic_erlangs=load.erlangs)


def _finite(value: float) -> float | None:
    """JSON has no infinity: an unstable queue's waits are null."""
    return value if math.isfinite(value) else None
