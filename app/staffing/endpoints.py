from __future__ import annotations

from fastapi import APIRouter

from app.deps import Reader
from app.staffing import service
from app.staffing.schemas import ErlangAnswer, ErlangRequest

router = APIRouter(prefix="/v1/staffing", tags=["staffing"])


# A plain `def`: FastAPI runs it in a worker thread, so a search over many agents (up to
# ~0.5 s at 100,000 agents) does not hold up the event loop.
@router.post("/erlang", summary="Agents needed, or what given agents achieve (Erlang C / A)")
def erlang(who: Reader, body: ErlangRequest) -> ErlangAnswer:
    return service.staff(body)
