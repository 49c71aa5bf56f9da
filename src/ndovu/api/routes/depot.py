"""/depot: the software depot's files, downloaded by nodes while a role installs.

Served without a login, like BDE's distros folder: nodes have no ndovu account, and the
files are the operator's published software (the same for every tenant), never
configuration or secrets. Only the files a catalog manifest names are served; anything
else under ``distros/`` (or outside it) answers 404. Starlette's FileResponse answers
Range requests, so an interrupted download can resume.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES
from ndovu.errors import NotFoundError

router = APIRouter(prefix="/depot", tags=["depot"], responses=ERROR_RESPONSES)


@router.get("/{path:path}", response_class=FileResponse)
def download(path: str, ctx: Annotated[ApiContext, Depends(context)]) -> FileResponse:
    found = ctx.catalog.depot.published(path)
    if found is None:
        raise NotFoundError(f"the depot has no file {path!r}",
                            hint="the depot serves the tarballs the catalog's distro "
                                 "manifests name; see GET /serengeti/api/distros")
    return FileResponse(found, media_type="application/octet-stream")
