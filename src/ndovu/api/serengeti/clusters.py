"""/serengeti/api clusters and tasks: BDE's RestResource calls on ndovu's commands.

Each call translates BDE's request (ClusterCreate, a bare integer, ResourceScale, a
``state`` query) into a command of ``ndovu.api.commands`` (the same ones /v1 calls) and
answers as BDE does: 202 with ``Location: <base>/serengeti/api/task/{id}`` and the
TaskRead, or BDE's read beans.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from sqlalchemy import select

from ndovu.api import commands
from ndovu.api.deps import ApiContext, app_context, context
from ndovu.api.schemas import ERROR_RESPONSES
from ndovu.api.serengeti import views
from ndovu.api.serengeti.beans import TRAFFIC_TYPES, ClusterCreate, ClusterState, ResourceScale
from ndovu.api.serengeti.models import BdeClusterRead, BdeClusterSpec, BdeTaskRead
from ndovu.catalog import CatalogType
from ndovu.errors import NotFoundError, SpecError
from ndovu.placement import Placement
from ndovu.spec import ClusterSpec, parse_spec
from ndovu.store.models import INT_MAX, Cluster, Operation

router = APIRouter(prefix="/serengeti/api", tags=["serengeti"], responses=ERROR_RESPONSES)

# the calls this API's error hints name (the commands' default names /v1's)
SURFACE = commands.Surface(
    follow="GET /serengeti/api/task/{id}", clusters="GET /serengeti/api/clusters",
    start="PUT /serengeti/api/cluster/{name}/action?state=start",
    stop="PUT /serengeti/api/cluster/{name}/action?state=stop")

# BDE's ClusterManager start/stop/resume; resume retries a failed create, which in ndovu
# is what start does from PROVISION_ERROR
STATES = {"start": commands.start_cluster, "resume": commands.start_cluster,
          "stop": commands.stop_cluster}
# the type recorded for a cluster made from a full spec in the request (specFile true)
CUSTOM_TYPE = "custom"


def _accepted(request: Request, response: Response, op: Operation) -> dict[str, Any]:
    # BDE answers with the full URL of the task (its CLI takes the last path segment),
    # from the configured public URL: a client's Host header must not steer where others
    # are sent
    path = request.app.url_path_for("serengeti_task", task_id=op.id)
    response.headers["Location"] = f"{app_context(request).public_url}{path}"
    return views.task_read(op)


def _one(values: list[str], field: str, what: str) -> str | None:
    if len(values) > 1:
        raise SpecError(f"{field}: ndovu places a cluster on one {what}; name one, not "
                        f"{len(values)}", field=field)
    return values[0] if values else None


def _network(body: ClusterCreate) -> tuple[str | None, str]:
    """The one network named by ``networkConfig`` and/or ``networkNames``, and its field."""
    named: list[tuple[str, str]] = []  # (field, network)
    for traffic, value in (body.networkConfig or {}).items():
        field = f"networkConfig.{traffic}"
        if traffic not in TRAFFIC_TYPES:
            raise SpecError(f"{field}: unknown traffic type {traffic!r}; use "
                            f"{', '.join(TRAFFIC_TYPES)}", field=field)
        if isinstance(value, str):
            named.append((field, value))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            name = _one(value, field, "network per traffic type")
            if name is not None:
                named.append((f"{field}[0]", name))
        else:
            raise SpecError(f"{field}: give a network name or a list of one, e.g. "
                            '["net1"]', field=field)
    name = _one(list(body.networkNames or []), "networkNames", "network")
    if name is not None:
        named.append(("networkNames[0]", name))
    if len({n for _, n in named}) > 1:
        listed = ", ".join(f"{f} is '{n}'" for f, n in named)
        raise SpecError(f"{named[1][0]}: ndovu gives each node one address, on one network; "
                        f"{listed}", field=named[1][0],
                        hint="name the same network everywhere, or only MGT_NETWORK")
    mgt = next((item for item in named if ".MGT_NETWORK" in item[0]), None)
    field, name = mgt or (named[0] if named else ("networkConfig.MGT_NETWORK", None))
    return name, field


def _by_distro(ctx: ApiContext, distro: str) -> CatalogType:
    """The type the seed Heat plugin means with ``distro`` (it sends no ``type``)."""
    try:
        return ctx.catalog.get(distro)
    except SpecError:
        pass
    found = [t for t in ctx.catalog.types()
             if str((t.distro or {}).get("name", "")).lower() == distro.lower()]
    if len(found) == 1:
        return found[0]
    known = ", ".join(t.name for t in ctx.catalog.types())
    if found:
        raise SpecError(f"distro: {distro!r} is the distro of types "
                        f"{', '.join(t.name for t in found)}; give 'type' to choose one",
                        field="distro")
    raise SpecError(f"distro: no cluster type or distro named {distro!r}; known types: "
                    f"{known}", field="distro", hint="give 'type', a catalog type name")


def _kind(ctx: ApiContext, body: ClusterCreate) -> CatalogType | None:
    if body.type:
        kind = ctx.catalog.get(body.type)
    elif body.distro:
        kind = _by_distro(ctx, body.distro)
    elif body.specFile:
        return None
    else:
        raise SpecError("the field 'type' is required: name a cluster type, e.g. 'etcd'",
                        field="type", hint="GET /v1/catalog lists the types")
    distro = kind.distro or {}
    if body.type and body.distro and body.distro.lower() not in {
            kind.name.lower(), str(distro.get("name", "")).lower()}:
        raise SpecError(f"distro: type '{kind.name}' uses distro "
                        f"'{distro.get('name', kind.name)}', not {body.distro!r}",
                        field="distro")
    if body.distroVendor and body.distroVendor.lower() != kind.vendor.lower():
        raise SpecError(f"distroVendor: type '{kind.name}' is from vendor '{kind.vendor}', "
                        f"not {body.distroVendor!r}", field="distroVendor")
    version = body.distroVersion
    if version and version != str(distro.get("version")) and not re.match(kind.version,
                                                                          version):
        raise SpecError(f"distroVersion: type '{kind.name}' offers version "
                        f"{distro.get('version') or kind.version!r}, not {version!r}",
                        field="distroVersion")
    if body.appManager and body.appManager.lower() != kind.app_manager.lower():
        raise SpecError(f"appManager: ndovu deploys type '{kind.name}' itself (application "
                        f"manager '{kind.app_manager}'), not with {body.appManager!r}",
                        field="appManager")
    return kind


def _create(ctx: ApiContext, body: ClusterCreate) -> Operation:
    if body.password is not None and body.password.get_secret_value():
        # the value itself is never repeated, logged or kept
        raise SpecError(f"password: {ctx.password_refusal}; leave 'password' out",
                        field="password")
    if body.topologyPolicy and body.topologyPolicy.upper() != "NONE":
        raise SpecError(f"topologyPolicy: ndovu places nodes without rack topology; only "
                        f"NONE is possible, not {body.topologyPolicy!r}",
                        field="topologyPolicy")
    kind = _kind(ctx, body)
    spec: ClusterSpec | None = None
    node_groups = body.nodeGroups or []
    if body.specFile and node_groups:
        # the whole spec is in the request (BDE's CLI --specFile): groups with their roles
        spec = parse_spec({"nodeGroups": node_groups})
        node_groups = []
    elif kind is None:
        raise SpecError("nodeGroups: with specFile true and no type, give the whole spec's "
                        "node groups (name, roles, instanceNum, …)", field="nodeGroups")
    network, network_field = _network(body)
    pool = _one(list(body.rpNames or []), "rpNames", "resource pool")
    return commands.create_cluster(
        ctx, name=body.name, cluster_type=kind.name if kind else CUSTOM_TYPE,
        node_groups=node_groups, configuration=body.configuration, spec=spec,
        where=Placement(network=network, network_field=network_field, resource_pool=pool,
                        pool_field="rpNames[0]", datastores=tuple(body.dsNames or ()),
                        datastores_field="dsNames"))


@router.post("/clusters", status_code=202, response_model=BdeTaskRead)
def create_cluster(body: ClusterCreate, request: Request, response: Response,
                   ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """ClusterCreate → 202, ``Location`` the task to poll."""
    return _accepted(request, response, _create(ctx, body))


@router.get("/clusters", response_model=list[BdeClusterRead])
def list_clusters(ctx: Annotated[ApiContext, Depends(context)],
                  details: bool = False) -> list[dict[str, Any]]:
    """ClusterRead of every cluster; ``details=true`` adds each group's instances."""
    with ctx.store.session() as s:
        return [views.cluster_read(ctx, s, c, details=details)
                for c in s.scalars(select(Cluster).order_by(Cluster.name))]


@router.get("/cluster/{name}", response_model=BdeClusterRead)
def show_cluster(name: str, ctx: Annotated[ApiContext, Depends(context)],
                 details: bool = True) -> dict[str, Any]:
    """ClusterRead with node groups and their instances (NodeRead)."""
    with ctx.store.session() as s:
        return views.cluster_read(ctx, s, commands.get_cluster(s, name, SURFACE),
                                  details=details)


@router.get("/cluster/{name}/spec", response_model=BdeClusterSpec)
def cluster_spec(name: str, ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """The cluster as a ClusterCreate."""
    with ctx.store.session() as s:
        return views.cluster_spec(ctx, commands.get_cluster(s, name, SURFACE))


@router.delete("/cluster/{name}", status_code=202, response_model=BdeTaskRead)
def delete_cluster(name: str, request: Request, response: Response,
                   ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    return _accepted(request, response, commands.delete_cluster(ctx, name, surface=SURFACE))


def _state_change(ctx: ApiContext, name: str, state: str | None) -> Operation:
    command = STATES.get((state or "").lower())
    if command is None:
        raise SpecError(f"state: {state!r} is not a cluster action; use one of "
                        f"{', '.join(STATES)}" if state else
                        f"state: give ?state= one of {', '.join(STATES)}", field="state")
    return command(ctx, name, surface=SURFACE)


@router.put("/cluster/{name}/action", status_code=202, response_model=BdeTaskRead)
def cluster_action(name: str, request: Request, response: Response,
                   ctx: Annotated[ApiContext, Depends(context)], state: str | None = None,
                   force: bool = False) -> dict[str, Any]:
    """``state=start|stop|resume`` (resume = start); ``force`` is accepted and changes
    nothing (a start always retries what failed)."""
    return _accepted(request, response, _state_change(ctx, name, state))


@router.put("/cluster/{name}", status_code=202, response_model=BdeTaskRead)
def cluster_state_legacy(name: str, request: Request, response: Response,
                         ctx: Annotated[ApiContext, Depends(context)],
                         body: Annotated[ClusterState | None, Body()] = None,
                         state: str | None = None, force: bool = False) -> dict[str, Any]:
    """BDE's older ``PUT /cluster/{name}?state=…``, forwarded to the action; the state
    may come as the JSON body ``{"state": "start"}`` instead, as the seed's scripts send
    it."""
    if body is not None and state is not None and body.state.lower() != state.lower():
        raise SpecError(f"state: the body says {body.state!r} and ?state= says {state!r}; "
                        "give one", field="state")
    return _accepted(request, response,
                     _state_change(ctx, name, state if body is None else body.state))


def _shape(value: object) -> str:
    kinds = ((bool, "a boolean"), (str, "a string"), (float, "a number with a fraction"),
             (list, "a list"), (dict, "an object"), (type(None), "nothing"))
    return next((text for cls, text in kinds if isinstance(value, cls)), "something else")


@router.put("/cluster/{name}/nodegroup/{group}/instancenum", status_code=202,
            response_model=BdeTaskRead)
def resize_group(name: str, group: str, request: Request, response: Response,
                 ctx: Annotated[ApiContext, Depends(context)],
                 count: Annotated[Any, Body(description="the new instance number, a bare "
                                                        "JSON integer > 0, e.g. 5")] = None
                 ) -> dict[str, Any]:
    """The body is a bare integer, as BDE's ``@RequestBody Integer instanceNum``."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise SpecError(f"instanceNum: the body must be the new number of nodes as a bare "
                        f"JSON integer, e.g. 5; got {_shape(count)}", field="instanceNum")
    if count <= 0:
        raise SpecError(f"instanceNum: the number of nodes must be greater than 0, not "
                        f"{count}", field="instanceNum")
    return _accepted(request, response,
                     commands.resize_group(ctx, name, group, count, surface=SURFACE))


@router.put("/cluster/{name}/nodegroup/{group}/scale", status_code=202,
            response_model=BdeTaskRead)
def scale_group(name: str, group: str, body: ResourceScale, request: Request,
                response: Response,
                ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """ResourceScale; the same rules as /v1's scale (refused where the provider cannot)."""
    for field, value, path in (("clusterName", body.clusterName, name),
                               ("nodeGroupName", body.nodeGroupName, group)):
        if value != path:
            raise SpecError(f"{field}: {value!r} differs from {path!r} in the path",
                            field=field)
    return _accepted(request, response, commands.scale_group(
        ctx, name, group, body.cpuNumber or None, body.memory or None,
        cpu_field="cpuNumber", memory_field="memory", surface=SURFACE))


@router.get("/task/{task_id}", name="serengeti_task", response_model=BdeTaskRead)
def show_task(task_id: int, ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        op = s.get(Operation, task_id) if 0 < task_id <= INT_MAX else None
        if op is None:
            raise NotFoundError(f"no task with id {task_id}", field="id")
        return views.task_read(op)


@router.get("/tasks", response_model=list[BdeTaskRead])
def list_tasks(ctx: Annotated[ApiContext, Depends(context)]) -> list[dict[str, Any]]:
    """The 100 newest tasks, newest first."""
    with ctx.store.session() as s:
        return [views.task_read(op) for op in
                s.scalars(select(Operation).order_by(Operation.id.desc()).limit(100))]
