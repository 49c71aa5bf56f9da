"""/v1/audit: the audit log (ndovu.api.audit), newest first, for administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from ndovu.api.auth import Admin
from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES, FORBIDDEN, UNAUTHENTICATED
from ndovu.api.views import iso_time
from ndovu.store.models import INT_MAX, AuditEvent

router = APIRouter(tags=["server"], responses={**ERROR_RESPONSES, **UNAUTHENTICATED,
                                               **FORBIDDEN})


class AuditEventRead(BaseModel):
    id: int
    at: str
    user: str | None
    address: str
    method: str
    path: str
    status: int


class AuditList(BaseModel):
    events: list[AuditEventRead]


@router.get("/v1/audit", response_model=AuditList)
def audit_log(_: Admin, ctx: Annotated[ApiContext, Depends(context)],
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              before: Annotated[int | None, Query(ge=1, le=INT_MAX,
                                                  description="only events older than "
                                                              "this id (paging)")] = None,
              ) -> dict[str, Any]:
    """Every request that asked for a change, newest first: who, from where, what, and
    the answer's status (never a body or a secret)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    with ctx.store.session() as s:
        return {"events": [{"id": e.id, "at": iso_time(e.at), "user": e.user_name,
                            "address": e.address, "method": e.method, "path": e.path,
                            "status": e.status} for e in s.scalars(query)]}
