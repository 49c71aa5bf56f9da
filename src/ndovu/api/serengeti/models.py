"""BDE's read beans as response models, for the OpenAPI document of /serengeti/api.

``views`` builds the bodies as plain dicts; these models declare them field for field
(every field the views return, in their order, with their optionality), so declaring
them changes no body. Open parts (configuration, a manifest's packages) are plain dicts.
The names carry a ``Bde`` prefix because /v1 has its own ``ClusterRead``, ``NodeRead``,
… and OpenAPI component names must be unique.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

# -- tasks ---------------------------------------------------------------------------


class BdeTaskNodeRead(BaseModel):
    nodeName: str
    succeed: bool
    errorMessage: str | None


class BdeTaskRead(BaseModel):
    """BDE's TaskRead, kept to BDE's fields and enums (its CLI parses them strictly)."""

    id: int
    status: str = Field(description="STARTING, STARTED, COMPLETED, FAILED or ABANDONED")
    type: str = Field(description="DELETE for a delete, INNER for everything else")
    progress: float = Field(ge=0, le=1, description="a fraction; BDE's CLI prints it times 100")
    errorMessage: str | None
    progressMessage: str | None
    target: str = Field(description="the cluster's name")
    succeedNodes: list[BdeTaskNodeRead]
    failNodes: list[BdeTaskNodeRead]


# -- clusters ------------------------------------------------------------------------


class BdeIpConfig(BaseModel):
    ipAddress: str
    fqdn: str = Field(description="the address itself: the local provider has no DNS")


class BdeNodeRead(BaseModel):
    name: str
    moId: str | None = Field(description="the provider's id of the node")
    rack: str | None
    hostName: str | None
    ipConfigs: dict[str, list[BdeIpConfig]] = Field(
        description='traffic type → addresses, e.g. {"MGT_NETWORK": [{ipAddress, fqdn}]}; '
                    "empty until the node has an address")
    status: str = Field(description="BDE NodeStatus: NOT_EXIST, VM_READY, SERVICE_READY, …")
    action: str | None = Field(description="what the engine is doing on the node now")
    roles: list[str]
    memory: int = Field(description="MB")
    cpuNumber: int
    volumes: list[str]
    errMessage: str | None


class BdeStorageRead(BaseModel):
    type: str
    sizeGB: int
    dsNames: list[str]


class BdeNodeGroupRead(BaseModel):
    name: str
    roles: list[str]
    cpuNum: int
    memCapacityMB: int
    storage: BdeStorageRead
    instanceNum: int
    instances: list[BdeNodeRead] | None = Field(
        description="null in GET /clusters without details=true")


class BdeResourcePoolRef(BaseModel):
    """A cluster's resource pool, as in BDE's ClusterRead.resourcePools."""

    rpName: str
    vcCluster: str | None = Field(description="null if the pool has since been deleted")
    rpVsphereName: str | None


class BdeClusterRead(BaseModel):
    name: str
    distro: str | None
    distroVendor: str | None
    appManager: str
    instanceNum: int
    status: str = Field(description="BDE ClusterStatus: PROVISIONING, RUNNING, DELETING, …")
    topologyPolicy: str
    nodeGroups: list[BdeNodeGroupRead]
    resourcePools: list[BdeResourcePoolRef]
    version: str = Field(description="the ndovu server's version")


class BdeStorageSpec(BaseModel):
    type: str
    sizeGB: int


class BdeNodeGroupSpec(BaseModel):
    name: str
    roles: list[str]
    instanceNum: int
    instanceType: str | None
    cpuNum: int
    memCapacityMB: int
    storage: BdeStorageSpec
    haFlag: str
    configuration: dict[str, Any]


class BdeClusterSpec(BaseModel):
    """GET /cluster/{name}/spec: the cluster as a ClusterCreate; posted back under another
    name it makes the same cluster."""

    name: str
    type: str
    appManager: str
    distro: str | None
    distroVendor: str | None
    distroVersion: Any = Field(description="the catalog manifest's version, as written there")
    rpNames: list[str]
    dsNames: list[str]
    networkConfig: dict[str, list[str]]
    nodeGroups: list[BdeNodeGroupSpec]
    configuration: dict[str, Any]
    topologyPolicy: str
    specFile: bool = Field(description="true: nodeGroups are the whole spec (no catalog type)")
    validateConfig: bool


# -- networks, resource pools, datastores, distros ---------------------------------------


class BdeIpBlock(BaseModel):
    beginIp: str
    endIp: str


class BdeIpAllocEntry(BaseModel):
    ipAddress: str
    clusterName: str
    nodeGroupName: str
    nodeName: str


class BdeNetworkRead(BaseModel):
    name: str
    portGroup: str
    isDhcp: bool
    dhcp: bool = Field(description="the same as isDhcp (BDE's NetworkRead spells it so)")
    dns1: str | None
    dns2: str | None
    gateway: str | None
    netmask: str | None
    ipBlocks: list[BdeIpBlock]
    allIpBlocks: list[BdeIpBlock]
    freeIpBlocks: list[BdeIpBlock]
    assignedIpBlocks: list[BdeIpBlock]
    ipAllocEntries: list[BdeIpAllocEntry]
    freeAddresses: int | None = Field(
        description="ndovu: addresses not yet taken by the clusters placed here; null for "
                    "DHCP")
    clusters: list[str]


class BdeResourcePoolRead(BaseModel):
    rpName: str
    vcCluster: str
    rpVsphereName: str | None
    cpuLimit: int | None = Field(description="ndovu: null is unlimited")
    memLimitMB: int | None = Field(description="ndovu: null is unlimited")
    cpuUsed: int
    memUsedMB: int
    totalRAMInMB: int | None
    usedRAMInMB: int
    clusters: list[str]


class BdeDatastoreRead(BaseModel):
    name: str
    type: str = Field(description="SHARED or LOCAL")
    spec: list[str]
    regex: bool
    clusters: list[str]


class BdeDistroRead(BaseModel):
    name: str
    vendor: str
    version: str
    hveSupported: bool
    roles: list[str]
    packages: list[dict[str, Any]] = Field(
        description="the catalog manifest's package entries, as written there")


class BdeDeleted(BaseModel):
    name: str
    deleted: bool


# -- login ---------------------------------------------------------------------------


class BdeLoginRead(BaseModel):
    user: str
    isAdmin: bool


class BdeLogoutRead(BaseModel):
    loggedOut: bool

