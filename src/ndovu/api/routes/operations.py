"""/v1/operations: every mutating call's progress, shaped like BDE's TaskRead."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES, EventList, OperationList, OperationRead
from ndovu.api.views import event_read, operation_read
from ndovu.errors import NotFoundError
from ndovu.store.models import INT_MAX, Event, Operation

router = APIRouter(prefix="/v1/operations", tags=["operations"], responses=ERROR_RESPONSES)


def _get(s: Any, op_id: int) -> Operation:
    op = s.get(Operation, op_id) if 0 < op_id <= INT_MAX else None  # none larger exists
    if op is None:
        raise NotFoundError(f"no operation with id {op_id}", field="id")
    return op


@router.get("", response_model=OperationList)
def list_operations(ctx: Annotated[ApiContext, Depends(context)],
                    limit: int = 50) -> dict[str, Any]:
    with ctx.store.session() as s:
        ops = s.scalars(select(Operation).order_by(Operation.id.desc())
                        .limit(max(1, min(limit, 500)))).all()
        return {"operations": [operation_read(o) for o in ops]}


@router.get("/{op_id}", response_model=OperationRead)
def show_operation(op_id: int, ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        return operation_read(_get(s, op_id))


@router.get("/{op_id}/events", response_model=EventList)
def operation_events(op_id: int,
                     ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        _get(s, op_id)
        events = s.scalars(select(Event).where(Event.operation_id == op_id)
                           .order_by(Event.id)).all()
        return {"events": [event_read(e) for e in events]}
