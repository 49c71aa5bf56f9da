"""/v1/catalog: the cluster types this server offers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES, CatalogRead, CatalogTypeRead

router = APIRouter(prefix="/v1/catalog", tags=["catalog"], responses=ERROR_RESPONSES)


def _range(r: Any) -> dict[str, Any] | None:
    return None if r is None else {"default": r.default, "min": r.minimum, "max": r.maximum}


def type_read(t: Any, ctx: ApiContext) -> dict[str, Any]:
    support = ctx.role_support(t.roles)
    if support["reason"] is None and t.software_problem:
        # the roles run here, but the distro's software is not in the depot
        support = {**support, "runnableHere": False, "reason": t.software_problem}
    return {
        "name": t.name,
        "type": t.display_type,
        "vendor": t.vendor,
        # BDE's map holds a version pattern; the distro manifest holds the actual version
        "version": (t.distro or {}).get("version"),
        "versionPattern": t.version,
        "distro": (t.distro or {}).get("name"),
        "description": t.description,
        "roles": list(t.roles),
        "runsOn": support["runsOn"],
        "runnableHere": support["runnableHere"],
        "provider": support["provider"],
        "notRunnableReason": support["reason"],
        "roleDetails": support["roleDetails"],
        "configuration": t.spec.configuration,
        "nodeGroups": [{
            "name": g.name,
            "roles": list(g.roles),
            "groupType": g.group_type,
            "instanceNum": _range(g.instance_num),
            "instanceTypes": list(g.instance_type.options) if g.instance_type else [],
            "cpuNum": _range(g.cpu_num),
            "memCapacityMB": _range(g.mem_capacity_mb),
            "storage": {"types": list(g.storage.type.options),
                        "sizeGB": _range(g.storage.size_gb)},
            "haFlag": g.ha_flag,
            "description": g.description,
            "configuration": g.configuration,
        } for g in t.spec.groups],
    }


@router.get("", response_model=CatalogRead)
def list_types(ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    return {"types": [type_read(t, ctx) for t in ctx.catalog.types()],
            "problems": [{"path": p.path, "field": p.field, "message": p.message}
                         for p in ctx.catalog.problems]}


@router.get("/{name}", response_model=CatalogTypeRead)
def show_type(name: str, ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    return type_read(ctx.catalog.get(name), ctx)
