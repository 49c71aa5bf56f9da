"""/metrics: Prometheus' scrape of the store's aggregates (ndovu.api.metrics).

Served without a login, as Prometheus scrapes usually are: its labels are statuses,
operation types, provider verbs and outcomes only, never a cluster, node, user or
project name, so an anonymous reader learns how many clusters are in which state and
nothing about whose.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ndovu.api.deps import ApiContext, context
from ndovu.api.metrics import CONTENT_TYPE, exposition

router = APIRouter(tags=["server"])


# a plain def: the aggregation queries run in the thread pool, off the event loop
@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}},
                             "description": "Prometheus' text format"}})
def metrics(ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    return Response(exposition(ctx.store, ctx.provider, ctx.engine_metrics),
                    media_type=CONTENT_TYPE)
