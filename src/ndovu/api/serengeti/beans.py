"""BDE's request beans (serengeti-ws ``apitypes``), with their bean field names.

Unknown fields are refused (a misspelt ``nodegroups`` must not silently give a default
cluster), except the BDE fields ndovu accepts and ignores, listed in ``IGNORED_*`` and in
the README. Booleans are lax like Jackson's (the seed Heat plugin sends ``"true"``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, StrictInt, StrictStr

from ndovu.store.models import INT_MAX

# ClusterCreate fields BDE clients send that mean nothing to ndovu: vSphere templates and
# clone modes, yum repositories and proxies (ndovu installs nothing on nodes), external
# HDFS/MapReduce, rack maps, BDE's internal copies (networkings, distroMap, vcClusters)
IGNORED_CLUSTER_FIELDS = (
    "localRepoURL", "templateName", "clusterCloneType", "deployPolicy", "hostnamePrefix",
    "httpProxy", "noProxy", "packageRepos", "packagesExistStatus", "networkings",
    "distroMap", "vcClusters", "hostToRackMap", "sharedDatastorePattern",
    "localDatastorePattern", "infrastructure_config", "externalHDFS", "externalMapReduce",
    "externalNamenode", "externalSecondaryNamenode", "externalDatanodes",
)
# NetworkAdd fields of BDE 2.x's DNS handling: the local provider has no DNS
IGNORED_NETWORK_FIELDS = ("isGenerateHostname", "generateHostname")
TRAFFIC_TYPES = ("MGT_NETWORK", "HDFS_NETWORK", "MAPRED_NETWORK")


class _Bean(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClusterCreate(_Bean):
    """POST /clusters. ``type`` names a catalog type; without it, ``distro`` does (as the
    seed Heat plugin sends it)."""

    name: StrictStr = Field(description="BDE rule: letters, digits and underscores")
    type: StrictStr | None = Field(default=None, description="a catalog type, e.g. 'etcd'")
    appManager: StrictStr | None = Field(default=None, description="'Default' only")
    distro: StrictStr | None = None
    distroVendor: StrictStr | None = None
    distroVersion: StrictStr | None = None
    rpNames: list[StrictStr] | None = Field(default=None, description="one resource pool")
    dsNames: list[StrictStr] | None = None
    # a SecretStr never shows in a repr or a log line; refused unless a provider can use it
    password: SecretStr | None = None
    # a name or a list of names per traffic type, checked by the route (a union here would
    # put pydantic's member names into error fields)
    networkConfig: dict[StrictStr, Any] | None = Field(
        default=None, description='{"MGT_NETWORK": "net1"} or {"MGT_NETWORK": ["net1"]}')
    networkNames: list[StrictStr] | None = None
    nodeGroups: list[dict[str, Any]] | None = Field(
        default=None, description="NodeGroupCreate beans; override the type's groups by "
                                  "name, or with specFile true the whole spec")
    configuration: dict[str, Any] | None = None
    topologyPolicy: StrictStr | None = Field(default=None, description="NONE only")
    specFile: bool | None = None
    validateConfig: bool | None = None
    # accepted and ignored (see IGNORED_CLUSTER_FIELDS)
    localRepoURL: Any = None
    templateName: Any = None
    clusterCloneType: Any = None
    deployPolicy: Any = None
    hostnamePrefix: Any = None
    httpProxy: Any = None
    noProxy: Any = None
    packageRepos: Any = None
    packagesExistStatus: Any = None
    networkings: Any = None
    distroMap: Any = None
    vcClusters: Any = None
    hostToRackMap: Any = None
    sharedDatastorePattern: Any = None
    localDatastorePattern: Any = None
    infrastructure_config: Any = None
    externalHDFS: Any = None
    externalMapReduce: Any = None
    externalNamenode: Any = None
    externalSecondaryNamenode: Any = None
    externalDatanodes: Any = None


class ResourceScale(_Bean):
    """PUT /cluster/{c}/nodegroup/{g}/scale; 0 (or absent) leaves a size as it is."""

    clusterName: StrictStr
    nodeGroupName: StrictStr
    cpuNumber: StrictInt = Field(default=0, ge=0)
    memory: StrictInt = Field(default=0, ge=0, description="MB per node")


class ClusterState(_Bean):
    """The body the seed's startRestAPI.py and stopRestAPI.py send to
    ``PUT /cluster/{name}`` instead of ``?state=``."""

    state: StrictStr


class IpBlock(_Bean):
    beginIp: StrictStr
    endIp: StrictStr


class NetworkAdd(_Bean):
    """POST /networks (and, with every field optional, PUT /network/{name})."""

    name: StrictStr
    portGroup: StrictStr
    isDhcp: bool = False
    dns1: StrictStr | None = None
    dns2: StrictStr | None = None
    ipBlocks: list[IpBlock] | None = None
    gateway: StrictStr | None = None
    netmask: StrictStr | None = None
    dnsType: StrictStr | None = Field(default=None, description="NORMAL, DYNAMIC or OTHERS")
    isGenerateHostname: bool | None = None
    generateHostname: bool | None = None


class NetworkUpdate(_Bean):
    """PUT /network/{name}: add ipBlocks, change dns1/dns2; other fields must not change."""

    name: StrictStr | None = None
    portGroup: StrictStr | None = None
    isDhcp: bool | None = None
    dns1: StrictStr | None = None
    dns2: StrictStr | None = None
    ipBlocks: list[IpBlock] | None = None
    gateway: StrictStr | None = None
    netmask: StrictStr | None = None
    dnsType: StrictStr | None = None
    isGenerateHostname: bool | None = None
    generateHostname: bool | None = None


class ResourcePoolAdd(_Bean):
    """POST /resourcepools; ``cpuLimit`` / ``memLimitMB`` are ndovu's (absent: unlimited)."""

    name: StrictStr
    vcClusterName: StrictStr
    resourcePoolName: StrictStr | None = None
    cpuLimit: StrictInt | None = Field(default=None, ge=1, le=INT_MAX,
                                       description="CPUs of all nodes")
    memLimitMB: StrictInt | None = Field(default=None, ge=1, le=INT_MAX,
                                         description="MB of all nodes")


class DatastoreAdd(_Bean):
    """POST /datastores."""

    name: StrictStr
    spec: list[StrictStr] = Field(min_length=1)
    type: StrictStr = "SHARED"
    regex: StrictBool = False
