"""Response shapes, for the OpenAPI document: BDE's read-model field names.

``views`` builds these as plain dicts; the models only declare and check them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Links(BaseModel):
    self: str
    cluster: str | None = None


class OperationRead(BaseModel):
    """An asynchronous request, with BDE TaskRead's fields."""

    id: int
    type: str = Field(description="CREATE, DELETE, START, STOP, RESIZE or SCALE")
    target: str = Field(description="the cluster's name")
    status: str = Field(description="STARTING, STARTED, COMPLETED, FAILED or ABANDONED")
    progress: int = Field(ge=0, le=100)
    progressMessage: str | None
    errorMessage: str | None
    succeedNodes: list[str]
    failNodes: list[str]
    requestedBy: str | None = Field(
        description="the user who asked for it; null: ndovu itself (a heal)")
    createdAt: str | None
    startedAt: str | None
    finishedAt: str | None
    links: Links


class EventRead(BaseModel):
    id: int
    at: str | None
    operationId: int | None
    node: str | None
    step: str
    outcome: str = Field(description="ok, failed or waiting")
    durationMs: int | None
    message: str | None
    engine: str | None = Field(None, description="the engine that did this step")


class EventList(BaseModel):
    events: list[EventRead]


class OperationList(BaseModel):
    operations: list[OperationRead]


class IpConfig(BaseModel):
    ipAddress: str | None
    fqdn: str | None = None


class NodeRead(BaseModel):
    name: str
    moId: str | None = Field(description="the provider's id of the node")
    status: str = Field(description="BDE NodeStatus: NOT_EXIST, VM_READY, SERVICE_READY, …")
    action: str | None = Field(description="what the engine is doing on the node now")
    ip: str | None
    ipConfigs: dict[str, list[IpConfig]]
    roles: list[str]
    errMessage: str | None


class StorageRead(BaseModel):
    type: str
    sizeGB: int


class NodeGroupRead(BaseModel):
    name: str
    roles: list[str]
    instanceNum: int
    instanceType: str | None
    cpuNum: int
    memCapacityMB: int
    storage: StorageRead
    haFlag: str
    instances: list[NodeRead]


class ClusterSummary(BaseModel):
    name: str
    type: str
    status: str = Field(description="BDE ClusterStatus: PROVISIONING, RUNNING, DELETING, …")
    instanceNum: int
    endpoints: dict[str, str] = Field(description="e.g. the ZooKeeper connect string")
    links: Links


class ClusterList(BaseModel):
    clusters: list[ClusterSummary]


class HealingRead(BaseModel):
    enabled: bool
    unhealthyAfter: int = Field(description="seconds a node stays unwell before repair")
    maxUnhealthy: str = Field(description="unwell nodes beyond which nothing is repaired: "
                                          "a count, or a percentage like '40%'")


class ClusterRead(ClusterSummary):
    errorMessage: str | None
    configuration: dict[str, Any]
    healing: HealingRead
    network: str | None = Field(default=None, description="null: the provider's addresses")
    resourcePool: str | None = None
    datastores: list[str] = Field(default_factory=list)
    nodeGroups: list[NodeGroupRead]
    createdAt: str | None
    operation: OperationRead | None = Field(description="the latest operation")


class RangeRead(BaseModel):
    default: int
    min: int
    max: int | None = Field(description="null: no upper bound")


class StorageChoices(BaseModel):
    types: list[str]
    sizeGB: RangeRead | None


class CatalogGroupRead(BaseModel):
    name: str
    roles: list[str]
    groupType: str | None
    instanceNum: RangeRead
    instanceTypes: list[str]
    cpuNum: RangeRead | None
    memCapacityMB: RangeRead | None
    storage: StorageChoices
    haFlag: str
    description: str | None = None
    configuration: dict[str, Any] = Field(default_factory=dict)


class SettingRead(BaseModel):
    name: str
    kind: str = Field(description="int, string, size (e.g. 512m) or bool")
    default: Any = None
    description: str


class RoleDetailRead(BaseModel):
    name: str
    implemented: bool = Field(description="whether ndovu can run this role at all")
    summary: str | None
    configSection: str | None = Field(
        description="the configuration section whose keys this role reads")
    settings: list[SettingRead]


class CatalogTypeRead(BaseModel):
    name: str
    type: str
    vendor: str
    version: str | None = Field(description="the distro's version, from the manifest")
    versionPattern: str = Field(description="the map entry's version regex")
    distro: str | None
    description: str
    roles: list[str]
    runsOn: list[str] = Field(description="the providers that can run this type")
    runnableHere: bool = Field(description="whether this server's provider can run it now")
    provider: str = Field(description="this server's provider")
    notRunnableReason: str | None = Field(description="why it cannot run here, if it cannot")
    roleDetails: list[RoleDetailRead]
    configuration: dict[str, Any] = Field(
        default_factory=dict, description="the spec's default cluster configuration")
    nodeGroups: list[CatalogGroupRead]


class CatalogProblemRead(BaseModel):
    path: str
    field: str | None
    message: str


class CatalogRead(BaseModel):
    types: list[CatalogTypeRead]
    problems: list[CatalogProblemRead]


class IpBlockRead(BaseModel):
    beginIp: str
    endIp: str = Field(description="included")


class AssignedAddress(BaseModel):
    ipAddress: str
    cluster: str
    node: str


class NetworkRead(BaseModel):
    """An address pool: the nodes of the clusters placed on it get addresses from its
    ipBlocks; a DHCP network (and the built-in defaultNetwork) means the provider's own."""

    name: str
    portGroup: str
    isDhcp: bool
    builtIn: bool = Field(description="defaultNetwork: cannot be changed or deleted")
    ipBlocks: list[IpBlockRead]
    dns1: str | None
    dns2: str | None
    gateway: str | None
    netmask: str | None
    totalAddresses: int | None = Field(description="null: the provider's own addresses")
    freeAddresses: int | None = Field(
        description="addresses not held by a node nor owed to a placed cluster's node")
    freeIpBlocks: list[IpBlockRead]
    assigned: list[AssignedAddress]
    clusters: list[str] = Field(description="the clusters placed on the network")
    links: Links


class NetworkList(BaseModel):
    networks: list[NetworkRead]


class ResourcePoolRead(BaseModel):
    """A capacity limit on the CPUs and memory of every node of the clusters placed in it
    (by their plans: stopped clusters count, a cluster being deleted does not)."""

    name: str
    cpuLimit: int | None = Field(description="null: unlimited")
    memLimitMB: int | None = Field(description="null: unlimited")
    cpuUsed: int
    memUsedMB: int
    cpuFree: int | None = Field(description="null: unlimited")
    memFreeMB: int | None = Field(description="null: unlimited")
    clusters: list[str]
    links: Links


class ResourcePoolList(BaseModel):
    resourcePools: list[ResourcePoolRead]


class DatastoreRead(BaseModel):
    name: str
    type: str = Field(description="SHARED or LOCAL")
    spec: list[str] = Field(description="datastore names, or patterns when regex")
    regex: bool
    clusters: list[str]
    links: Links


class DatastoreList(BaseModel):
    datastores: list[DatastoreRead]


class ErrorDetail(BaseModel):
    code: str = Field(description="stable and machine-readable, e.g. invalid_spec, not_found")
    message: str = Field(description="what is wrong, in a sentence a person can act on")
    field: str | None = Field(default=None, description="e.g. nodeGroups[0].instanceNum")
    hint: str | None = Field(default=None, description="what to do about it")


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text} for status, text in (
        (400, "malformed JSON"), (404, "no such resource"), (409, "conflict"),
        (422, "invalid request or spec: nothing was created or changed"))
}
# routes behind a credential (and the logins, for wrong credentials)
UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "no valid credential"}}
# routes for administrators only
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "not allowed to this user"}}
# the logins: too many failures from the caller's address (Retry-After says when to retry)
THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorResponse, "description": "too many failed logins from this address; "
                                                 "see Retry-After"}}
