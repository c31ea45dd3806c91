from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.agents import service
from app.agents.schemas import Agent, AgentConfig, AgentList, AgentState, AgentStateChange
from app.deps import Admin, AgentStateSetter, Reader, RuntimeDep
from app.schemas import ID_PATTERN, model_response

router = APIRouter(prefix="/v1/agents", tags=["agents"])
AgentId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.put("/{agent_id}", summary="Create or replace an agent")
async def put_agent(rt: RuntimeDep, who: Admin, agent_id: AgentId, body: AgentConfig) -> Agent:
    return await service.put_agent(rt, who.tenant, agent_id, body)


@router.get("", summary="List agents")
async def list_agents(rt: RuntimeDep, who: Reader,
                      state: Annotated[AgentState | None, Query()] = None) -> AgentList:
    return AgentList(agents=await service.list_agents(rt, who.tenant, state))


@router.get("/{agent_id}", summary="Get an agent with its live state")
async def get_agent(rt: RuntimeDep, who: Reader, agent_id: AgentId) -> Agent:
    return await service.get_agent(rt, who.tenant, agent_id)


@router.delete("/{agent_id}", status_code=204, summary="Delete an agent that holds no call")
async def delete_agent(rt: RuntimeDep, who: Admin, agent_id: AgentId) -> Response:
    await service.delete_agent(rt, who.tenant, agent_id)
    return Response(status_code=204)


@router.post("/{agent_id}/state", summary="Set available, away or offline",
             response_model=Agent)
async def set_state(rt: RuntimeDep, who: AgentStateSetter, agent_id: AgentId,
                    body: AgentStateChange) -> Response:
    return model_response(await service.set_state(rt, who.tenant, agent_id, body))
