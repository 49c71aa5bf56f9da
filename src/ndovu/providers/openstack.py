"""The OpenStack provider: each node is a Nova server on a Neutron port ndovu made first,
reached over SSH with the cluster's own key pair, on openstacksdk.

Per cluster, made on first need and removed by ``release_cluster`` when it is deleted:
- a key pair ``ndovu-<cluster>`` (the public half of ``ClusterKeys``' key);
- a security group ``ndovu-<cluster>``: everything between the cluster's own ports, and
  TCP from ``control_cidrs`` (where ndovu's engines connect from: SSH and the roles'
  network probes); or the operator's ``security_groups`` instead;
- a server group ``ndovu-<cluster>-<group>`` per node group, ``soft-anti-affinity`` by
  default, so a group's members land on different hosts where the cloud has them.
Per node: the port ``<node>-port0`` (its MAC and address are known before the server
boots: no DHCP race), then the server ``<node>`` on it, and a floating IP for the node
groups ``floating_ip_groups`` names.

A boot is submitted, then looked at by later passes (``NodePending``): a booting server
holds no engine slot. The calls of one pass share one listing of the cluster's servers.

Everything is found again by name and by the ``ndovu_cluster`` metadata or tag, so a pass
interrupted by a crash adopts what the last one made instead of making it twice. Every
refusal of the cloud reaches the node's error message in the cloud's own words with its
request id; credentials never do.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import asyncssh
from openstack.config import OpenStackConfig
from openstack.connection import Connection
from openstack.exceptions import (
    ConfigException,
    HttpException,
    ResourceTimeout,
    SDKException,
)

from ndovu.errors import NodePending, ProviderError
from ndovu.providers.base import NodeInfo, NodeRequest
from ndovu.spec.model import INSTANCE_SIZES
from ndovu.transports.base import Transport
from ndovu.transports.ssh import SshConnections, SshTarget, SshTransport

T = TypeVar("T")
CLUSTER_KEY = "ndovu_cluster"   # server metadata and port tag prefix
POLL_S = 1.0
# how soon the engine looks at a booting server again
BOOT_POLL_S = 2.0
# how old a listing of a cluster's servers may be when a pass reads it
LIST_FRESH_S = 1.0
# how often a new server group member is looked at until Nova has scheduled it, and how
# long the next member waits for that at most
PLACE_POLL_S = 0.1
PLACE_TIMEOUT_S = 30.0
NODE_ROOT = "/var/lib/ndovu/node"
SOFTWARE_DIR = "/var/lib/ndovu/software"
SERVER_GROUP_POLICIES = ("soft-anti-affinity", "anti-affinity", "none")


@dataclass(frozen=True)
class KeyPair:
    private_key: str = field(repr=False)   # OpenSSH PEM; never logged
    public_key: str                        # "ssh-ed25519 AAAA…"


class ClusterKeys(Protocol):
    """Where the provider keeps each cluster's SSH key pair and its nodes' host keys (the
    server's store: ``ndovu.store.cluster_keys``), so that every engine reaches the
    nodes and a restart does not lose them."""

    def key_pair(self, cluster: str) -> KeyPair:
        """The cluster's key pair, made on first call (idempotent, also across engines)."""

    def host_key(self, cluster: str, node: str) -> str | None: ...

    def record_host_key(self, cluster: str, node: str, host_key: str) -> None:
        """Pin the node's SSH host key at first contact (a node made anew forgets it)."""

    def forget(self, cluster: str, node: str | None = None) -> None:
        """Drop a node's pinned host key; with no node, the cluster's key pair and all."""


def generate_key_pair() -> tuple[str, str]:
    """A new Ed25519 key pair: (OpenSSH private key, public key line)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="ndovu")
    return (key.export_private_key().decode(),
            key.export_public_key().decode().strip())


def connect(cloud: str | None = None, clouds_file: str | None = None,
            auth: Mapping[str, Any] | None = None) -> Connection:
    """A connection from clouds.yaml (``cloud``, optionally from ``clouds_file``) or from
    ``auth`` (openstack.connect's arguments: auth_url, username, password, …)."""
    if auth:
        return Connection(**dict(auth))
    if not cloud:
        raise ProviderError("the openstack provider needs 'cloud' (an entry of clouds.yaml) "
                            "or 'auth' in its options")
    config = OpenStackConfig(config_files=[clouds_file] if clouds_file else None)
    try:
        return Connection(config=config.get_one(cloud=cloud))
    except ConfigException as exc:
        raise ProviderError(f"cloud {cloud!r}: {exc}",
                            hint="name an entry of clouds.yaml in the 'cloud' option") from exc


def cloud_words(exc: SDKException) -> str:
    """What the cloud said, with its request id, never the credentials."""
    if isinstance(exc, HttpException):
        said = exc.details or exc.message or str(exc)
        request = f" (request {exc.request_id})" if exc.request_id else ""
        return f"{said}{request}"
    return str(exc)


def _retryable(exc: SDKException) -> bool:
    """A cloud that is busy or briefly away may answer next time; a refusal stays."""
    if isinstance(exc, HttpException):
        return exc.status_code is None or exc.status_code >= 500 or exc.status_code in (409,
                                                                                        429)
    return True  # not an answer: the connection failed


@contextmanager
def _asking(doing: str, node: str | None = None) -> Iterator[None]:
    """The cloud's refusals as ProviderErrors that say what ndovu was doing."""
    try:
        yield
    except SDKException as exc:
        raise ProviderError(f"OpenStack refused to {doing}: {cloud_words(exc)}", node=node,
                            retryable=_retryable(exc)) from exc


class OpenStackProvider:
    name = "openstack"
    runs_software = True
    can_scale_nodes = False
    scale_refusal = ("the openstack provider does not resize servers yet; resize the node "
                     "group instead, or recreate it with a larger instance type")
    address_space = None
    static_network_refusal = (
        "the openstack provider gives nodes addresses from the Neutron subnet of its "
        "'network' option; create the cluster without a network (or on a DHCP network)")
    password_refusal = ("ndovu does not set node passwords on OpenStack: it logs in with the "
                        "cluster's own key pair")

    def __init__(self, *, keys: ClusterKeys, connections: SshConnections, network: str,
                 image: str, cloud: str | None = None, clouds_file: str | None = None,
                 auth: Mapping[str, Any] | None = None, flavor: str | None = None,
                 flavors: Mapping[str, str] | None = None,
                 security_groups: Sequence[str] = (), control_cidrs: Sequence[str] = (),
                 server_group_policy: str = "soft-anti-affinity",
                 floating_network: str | None = None,
                 floating_ip_groups: Sequence[str] = (), ssh_user: str = "root",
                 max_parallel: int = 8, boot_timeout_s: float = 600.0,
                 reach_timeout_s: float = 300.0,
                 connection: Connection | None = None) -> None:
        if server_group_policy not in SERVER_GROUP_POLICIES:
            raise ProviderError(f"server_group_policy {server_group_policy!r} is not one of "
                                f"{', '.join(SERVER_GROUP_POLICIES)}")
        unknown = sorted(set(flavors or {}) - {t.value for t in INSTANCE_SIZES})
        if unknown:
            raise ProviderError(f"flavors names unknown instance types {unknown}; known: "
                                f"{', '.join(t.value for t in INSTANCE_SIZES)}")
        if floating_ip_groups and not floating_network:
            raise ProviderError("floating_ip_groups needs floating_network (the external "
                                "network floating IPs come from)")
        if max_parallel < 1 or boot_timeout_s <= 0 or reach_timeout_s <= 0:
            raise ProviderError("max_parallel must be at least 1 and the timeouts positive")
        self.keys = keys
        self.connections = connections
        self.conn = connection or connect(cloud, clouds_file, auth)
        self.network_name, self.image_name = network, image
        self.flavor_name, self.flavors = flavor, dict(flavors or {})
        self.security_groups = tuple(security_groups)
        self.control_cidrs = tuple(control_cidrs)
        self.server_group_policy = server_group_policy
        self.floating_network, self.floating_ip_groups = floating_network, set(
            floating_ip_groups)
        self.ssh_user = ssh_user
        self.max_parallel = max_parallel
        self.boot_timeout_s, self.reach_timeout_s = boot_timeout_s, reach_timeout_s
        # one maker of a cluster's shared resources at a time (parallel nodes of a cluster
        # would otherwise make two security groups); other engines find them by name
        self._cluster_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._lookups: dict[str, Any] = {}
        # (cluster, node group) -> what _ensure_cluster made or found for it
        self._ensured: dict[tuple[str, str], tuple[list[str], str | None]] = {}
        # when this process first saw each server still booting (the boot timeout's
        # start; the cloud's clock is not ours)
        self._booting_since: dict[str, float] = {}
        # cluster -> (when, its servers): see _listing
        self._listings: dict[str, tuple[float, list[Any]]] = {}

    # -- the cloud's fixed things, looked up once

    def _once(self, what: str, find: Callable[[], T]) -> T:
        if what not in self._lookups:
            self._lookups[what] = find()
        return self._lookups[what]  # type: ignore[no-any-return]

    def _network(self) -> Any:
        return self._once("network", lambda: self._find(
            self.conn.network.find_network, self.network_name, "network", "'network'"))

    def _image(self) -> Any:
        return self._once("image", lambda: self._find(
            self.conn.image.find_image, self.image_name, "image", "'image'"))

    def _find(self, find: Callable[..., Any], name: str, kind: str, option: str) -> Any:
        with _asking(f"look up {kind} {name!r}"):
            found = find(name, ignore_missing=True)
        if found is None:
            raise ProviderError(f"OpenStack has no {kind} {name!r} visible to ndovu's "
                                "project", hint=f"set the openstack provider's {option} "
                                f"option to an existing {kind} (openstack {kind} list)")
        return found

    def _flavor(self, request: NodeRequest) -> Any:
        """The explicit flavor; else the one ``flavors`` maps the node's instance type to
        (its size is exactly one of BDE's); else the smallest that fits the node.

        The node's storage is the flavor's root disk (Cinder volumes are not made yet):
        a flavor whose disk is smaller than the node's storage is refused, never used."""
        name = self.flavor_name or next(
            (self.flavors[t.value] for t, size in INSTANCE_SIZES.items()
             if t.value in self.flavors and (size.cpu, size.memory_mb) == (
                 request.cpu, request.memory_mb)), None)
        if name:
            flavor = self._once(f"flavor {name}", lambda: self._find(
                self.conn.compute.find_flavor, name, "flavor", "'flavor' or 'flavors'"))
            if flavor.disk < request.storage_gb:
                raise ProviderError(
                    f"node {request.name} asks for {request.storage_gb} GB of storage, and "
                    f"flavor {name}'s disk has {flavor.disk} GB (ndovu gives OpenStack "
                    "nodes their storage on the flavor's disk; it makes no volumes yet)",
                    node=request.name, hint="ask for less storage (storage.sizeGB), or "
                    "map the instance type to a flavor with a larger disk ('flavors')")
            return flavor
        with _asking("list flavors", request.name):
            flavors = self._once("flavors", lambda: list(self.conn.compute.flavors()))
        fitting = [f for f in flavors if f.vcpus >= request.cpu
                   and f.ram >= request.memory_mb and f.disk >= request.storage_gb]
        if not fitting:
            offered = ", ".join(f"{f.name} ({f.vcpus} vCPU, {f.ram} MB, {f.disk} GB)"
                                for f in flavors)
            raise ProviderError(
                f"node {request.name}: no flavor has {request.cpu} vCPUs, "
                f"{request.memory_mb} MB and a {request.storage_gb} GB disk; the cloud "
                f"offers {offered or 'none'}", node=request.name,
                hint="ask for a smaller instance type or less storage, or set the "
                "openstack provider's 'flavors' option")
        return min(fitting, key=lambda f: (f.vcpus, f.ram, f.disk))

    # -- per cluster

    def _cluster_lock(self, key: str) -> threading.Lock:
        """The lock of a cluster (its name) or of one of its node groups."""
        with self._locks_lock:
            return self._cluster_locks.setdefault(key, threading.Lock())

    def _key_name(self, cluster: str) -> str:
        return f"ndovu-{cluster}"

    def _ensure_cluster(self, cluster: str, group: str) -> tuple[list[str], str | None]:
        """The cluster's key pair and security groups, and the node group's server group
        (None when the policy is "none"): (security group ids, server group id). Made or
        found once per process and node group, then remembered (until release_cluster,
        or a refusal that may mean they went away)."""
        compute, network = self.conn.compute, self.conn.network
        with self._cluster_lock(cluster):
            if (cluster, group) in self._ensured:
                return self._ensured[cluster, group]
            name = self._key_name(cluster)
            with _asking(f"register key pair {name}"):
                if compute.find_keypair(name, ignore_missing=True) is None:
                    compute.create_keypair(name=name,
                                           public_key=self.keys.key_pair(cluster).public_key)
            groups = ([self._find(network.find_security_group, g, "security group",
                                  "'security_groups'").id for g in self.security_groups]
                      or [self._own_security_group(cluster).id])
            server_group = None
            if self.server_group_policy != "none":
                group_name = f"ndovu-{cluster}-{group}"
                with _asking(f"make server group {group_name}"):
                    found = next((g for g in compute.server_groups()
                                  if g.name == group_name), None)
                    server_group = found or compute.create_server_group(
                        name=group_name, policy=self.server_group_policy)
            made = groups, server_group.id if server_group else None
            self._ensured[cluster, group] = made
            return made

    def _own_security_group(self, cluster: str) -> Any:
        network, name = self.conn.network, f"ndovu-{cluster}"
        with _asking(f"make security group {name}"):
            found = network.find_security_group(name, ignore_missing=True)
            if found is not None:
                return found
            made = network.create_security_group(
                name=name, description=f"ndovu cluster {cluster}: its nodes and ndovu")
            for ethertype in ("IPv4", "IPv6"):
                network.create_security_group_rule(
                    security_group_id=made.id, direction="ingress", ethertype=ethertype,
                    remote_group_id=made.id)
            for cidr in self.control_cidrs or self._subnet_cidrs():
                network.create_security_group_rule(
                    security_group_id=made.id, direction="ingress", protocol="tcp",
                    ethertype="IPv6" if ":" in cidr else "IPv4", remote_ip_prefix=cidr)
            return made

    def _subnet_cidrs(self) -> list[str]:
        """Where ndovu connects from when the operator did not say: the node network."""
        return [s.cidr for s in self.conn.network.subnets(network_id=self._network().id)]

    # -- per node

    def _listing(self, cluster: str) -> list[Any]:
        """The cluster's servers as one listing shared by the calls of a pass: every
        node's ensure_node and the engine's list_nodes read it, instead of one request
        each (a booting cluster of 20 is looked at every 2 s). At most LIST_FRESH_S old;
        dropped whenever this process makes or deletes one of the cluster's servers."""
        with self._cluster_lock(f"{cluster}\0listing"):
            taken = self._listings.get(cluster)
            if taken is not None and time.monotonic() - taken[0] < LIST_FRESH_S:
                return taken[1]
            servers = self._servers(cluster)
            self._listings[cluster] = (time.monotonic(), servers)
            return servers

    def _changed(self, cluster: str) -> None:
        self._listings.pop(cluster, None)

    def _servers(self, cluster: str, name_pattern: str | None = None) -> list[Any]:
        """The cluster's servers (Nova filters names by regular expression; the metadata
        tells a cluster "a" from a cluster "a-b")."""
        pattern = name_pattern or f"^{re.escape(cluster)}-"
        with _asking(f"list the servers of cluster {cluster}"):
            return [s for s in self.conn.compute.servers(details=True, name=pattern)
                    if (s.metadata or {}).get(CLUSTER_KEY) == cluster]

    def _server(self, cluster: str, name: str) -> Any | None:
        return next(iter(self._servers(cluster, f"^{re.escape(name)}$")), None)

    def _port(self, cluster: str, name: str, security_groups: list[str]) -> Any:
        """The node's port, made unless a pass before a crash made it."""
        network, port_name = self.conn.network, f"{name}-port0"
        with _asking(f"make port {port_name}", name):
            found = next(iter(network.ports(name=port_name,
                                            network_id=self._network().id)), None)
            if found is not None:
                return found
            return network.create_port(name=port_name, network_id=self._network().id,
                                       security_group_ids=security_groups,
                                       tags=[f"{CLUSTER_KEY}={cluster}"])

    def ensure_node(self, request: NodeRequest) -> NodeInfo:
        if request.address_pool:
            raise ProviderError(f"node {request.name}: {self.static_network_refusal}",
                                node=request.name)
        name, compute = request.name, self.conn.compute
        # a server found in ERROR is a failed boot whose report a crash cut short:
        # _booted reports it (and removes it, so the next attempt boots anew)
        server = next((s for s in self._listing(request.cluster) if s.name == name), None)
        if server is None:
            flavor, image = self._flavor(request), self._image()
            groups, server_group = self._ensure_cluster(request.cluster, request.group)
            port = self._port(request.cluster, name, groups)
            self.keys.forget(request.cluster, name)  # a new machine has a new host key
            try:
                with self._placing(request, server_group), _asking(f"boot server {name}",
                                                                   name):
                    server = compute.create_server(
                        name=name, flavor_id=flavor.id, image_id=image.id,
                        networks=[{"port": port.id}],
                        key_name=self._key_name(request.cluster),
                        metadata={CLUSTER_KEY: request.cluster, "ndovu_group": request.group,
                                  "ndovu_index": str(request.index)},
                        **({"scheduler_hints": {"group": server_group}}
                           if server_group else {}))
                    self._changed(request.cluster)
                    self._wait_placed(server, server_group)
            except ProviderError as exc:
                with self._cluster_lock(request.cluster):
                    self._ensured.pop((request.cluster, request.group), None)
                if not exc.retryable:  # refused (quota, …): leave nothing half-made
                    self._delete_port(name)
                raise
            self._booting_since[server.id] = time.monotonic()
            raise NodePending(f"server {name} submitted", node=name,
                              check_after_s=BOOT_POLL_S)
        server = self._booted(server, name)
        if request.group in self.floating_ip_groups:
            self._floating_ip(request.cluster, name)
        return self._info(server)

    @contextmanager
    def _placing(self, request: NodeRequest, server_group: str | None) -> Iterator[None]:
        """Boot a server group's members one placement at a time: Nova's scheduler keeps
        members apart only from members it has placed already, so members scheduled side
        by side land together (soft anti-affinity) or are rescheduled (strict). The next
        member's create waits here until the last one has left scheduling (well under a
        second); the boots themselves overlap, and other node groups go on."""
        if server_group is None:
            yield
            return
        with self._cluster_lock(f"{request.cluster}\0{request.group}"):
            yield

    def _wait_placed(self, server: Any, server_group: str | None) -> None:
        """Until Nova has scheduled the new member (bounded: a slow scheduler costs
        spreading, never the boot)."""
        deadline = time.monotonic() + PLACE_TIMEOUT_S
        while server_group is not None and time.monotonic() < deadline:
            server = self.conn.compute.get_server(server.id)
            if server.status != "BUILD" or server.task_state not in (None, "scheduling"):
                return
            time.sleep(PLACE_POLL_S)

    def _booted(self, server: Any, name: str) -> Any:
        """The server (as listed) once ACTIVE. While it boots, NodePending: the engine
        asks again later instead of holding a slot. A boot that fails, or outlasts
        ``boot_timeout_s``, is removed with its port and reported in Nova's words."""
        if server.status == "ACTIVE":
            self._booting_since.pop(server.id, None)
            return server
        since = self._booting_since.setdefault(server.id, time.monotonic())
        waited = time.monotonic() - since
        if server.status == "ERROR" or waited > self.boot_timeout_s:
            fault = ((server.fault or {}).get("message") or "no reason given"
                     if server.status == "ERROR" else
                     f"still {server.status} after {self.boot_timeout_s:.0f} s")
            self._booting_since.pop(server.id, None)
            self._delete_server(server, name)
            self._delete_port(name)
            raise ProviderError(f"OpenStack could not boot server {name}: {fault}",
                                node=name, hint=self._fault_hint(fault))
        raise NodePending(f"server {name} is {server.status} ({waited:.0f} s)", node=name,
                          check_after_s=BOOT_POLL_S)

    def _wait(self, server: Any, status: str, name: str) -> Any:
        """The server once it has ``status`` (a stop or start: seconds, not a boot)."""
        deadline = time.monotonic() + self.boot_timeout_s
        while True:
            with _asking(f"look at server {name}", name):
                server = self.conn.compute.get_server(server.id)
            if server.status == status:
                return server
            if server.status == "ERROR" or time.monotonic() > deadline:
                fault = (server.fault or {}).get("message") or f"it is {server.status}"
                raise ProviderError(f"server {name} did not become {status}: {fault}",
                                    node=name, retryable=server.status != "ERROR")
            time.sleep(POLL_S)

    @staticmethod
    def _fault_hint(fault: str) -> str | None:
        if "No valid host" in fault:
            return ("no compute host can take this server (capacity, or anti-affinity with "
                    "more nodes than hosts): ask for fewer or smaller nodes, or set the "
                    "openstack provider's server_group_policy to soft-anti-affinity")
        return None

    def _floating_ip(self, cluster: str, name: str) -> None:
        network = self.conn.network
        port = next(iter(network.ports(name=f"{name}-port0")), None)
        if port is None or next(iter(network.ips(port_id=port.id)), None) is not None:
            return
        with _asking(f"give node {name} a floating IP", name):
            external = self._once("floating network", lambda: self._find(
                network.find_network, self.floating_network or "", "network",
                "'floating_network'"))
            network.create_ip(floating_network_id=external.id, port_id=port.id,
                              description=f"ndovu cluster {cluster} node {name}")

    def _info(self, server: Any) -> NodeInfo:
        metadata = server.metadata or {}
        return NodeInfo(cluster=metadata.get(CLUSTER_KEY, ""), name=server.name,
                        group=metadata.get("ndovu_group", ""),
                        index=int(metadata.get("ndovu_index", "0")), provider_id=server.id,
                        address=self._fixed_address(server),
                        powered_on=server.status == "ACTIVE")

    def _fixed_address(self, server: Any) -> str:
        for addresses in (server.addresses or {}).values():
            for entry in addresses:
                if entry.get("OS-EXT-IPS:type", "fixed") == "fixed" and entry.get("version",
                                                                                  4) == 4:
                    return str(entry["addr"])
        return ""

    def _reach_address(self, node: NodeInfo) -> str:
        """The floating IP when the node has one (ndovu may be outside the node network),
        else its fixed address."""
        if node.group in self.floating_ip_groups:
            port = next(iter(self.conn.network.ports(name=f"{node.name}-port0")), None)
            ip = next(iter(self.conn.network.ips(port_id=port.id)), None) if port else None
            if ip is not None:
                return str(ip.floating_ip_address)
        return node.address

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        nodes = [self._info(s) for s in self._listing(cluster) if s.status != "DELETED"]
        return sorted(nodes, key=lambda n: (n.group, n.index, n.name))

    def power_on(self, cluster: str, name: str) -> NodeInfo:
        return self._power(cluster, name, on=True)

    def power_off(self, cluster: str, name: str) -> NodeInfo:
        return self._power(cluster, name, on=False)

    def _power(self, cluster: str, name: str, *, on: bool) -> NodeInfo:
        """Start (``on``) or stop the node's server and wait until it is ACTIVE or
        SHUTOFF; a server already there is left alone."""
        server, compute = self._existing(cluster, name), self.conn.compute
        verb, act, before, after = (
            ("start", compute.start_server, "SHUTOFF", "ACTIVE") if on else
            ("stop", compute.stop_server, "ACTIVE", "SHUTOFF"))
        if server.status == before:
            with _asking(f"{verb} server {name}", name):
                act(server)
        server = self._wait(server, after, name)
        self._changed(cluster)  # a listing taken meanwhile may show it as it was
        return self._info(server)

    def _existing(self, cluster: str, name: str) -> Any:
        server = self._server(cluster, name)
        if server is None:
            raise ProviderError(f"node {name} of cluster {cluster} has no server in "
                                "OpenStack", node=name)
        return server

    def scale_node(self, cluster: str, name: str, cpu: int, memory_mb: int) -> NodeInfo:
        raise ProviderError(self.scale_refusal, node=name)

    def delete_node(self, cluster: str, name: str) -> None:
        """The server, its floating IP and port."""
        server = self._server(cluster, name)
        if server is not None:
            self._delete_server(server, name)
        self._delete_port(name)
        self.keys.forget(cluster, name)

    def _delete_port(self, name: str) -> None:
        """The node's port and its floating IP."""
        network = self.conn.network
        with _asking(f"delete the port of node {name}", name):
            for port in network.ports(name=f"{name}-port0", network_id=self._network().id):
                for ip in network.ips(port_id=port.id):
                    network.delete_ip(ip, ignore_missing=True)
                network.delete_port(port, ignore_missing=True)

    def _delete_server(self, server: Any, name: str) -> None:
        compute = self.conn.compute
        self._changed((server.metadata or {}).get(CLUSTER_KEY, ""))
        with _asking(f"delete server {name}", name):
            compute.delete_server(server, ignore_missing=True)
            try:
                compute.wait_for_delete(server, interval=POLL_S, wait=self.boot_timeout_s)
            except ResourceTimeout as exc:
                raise ProviderError(f"server {name} is still there {self.boot_timeout_s:.0f}"
                                    " s after ndovu deleted it", node=name,
                                    retryable=True) from exc

    def release_cluster(self, cluster: str) -> None:
        """Ports of nodes never booted, the server groups, the security group ndovu made
        and the key pair."""
        compute, network = self.conn.compute, self.conn.network
        with self._cluster_lock(cluster), _asking(f"delete what cluster {cluster} shared"):
            for key in [k for k in self._ensured if k[0] == cluster]:
                del self._ensured[key]
            for port in network.ports(tags=f"{CLUSTER_KEY}={cluster}"):
                network.delete_port(port, ignore_missing=True)  # of nodes never booted
            for group in compute.server_groups():
                if group.name.startswith(f"ndovu-{cluster}-"):
                    compute.delete_server_group(group, ignore_missing=True)
            if not self.security_groups:
                found = network.find_security_group(f"ndovu-{cluster}", ignore_missing=True)
                if found is not None:
                    network.delete_security_group(found, ignore_missing=True)
            compute.delete_keypair(self._key_name(cluster), ignore_missing=True)
        self.keys.forget(cluster)

    def forget_node(self, cluster: str, name: str) -> str:
        """The server loses its ``ndovu_cluster`` metadata, so no listing (nor a new
        cluster of the same name) finds it again; the cloud keeps it for the operator."""
        self.keys.forget(cluster, name)
        left = (f"server {name} and port {name}-port0 in OpenStack project "
                f"{self.conn.current_project_id}; look with `openstack server show {name}` "
                "and delete them there")
        try:
            server = self._server(cluster, name)
            if server is None:
                return f"nothing in Nova; port {name}-port0 if Neutron still has it"
            self.conn.compute.delete_server_metadata(server, [CLUSTER_KEY])
            self._changed(cluster)
        except (ProviderError, SDKException) as exc:
            message = exc.message if isinstance(exc, ProviderError) else cloud_words(exc)
            return (f"{left} (ndovu could not unmark the server either: {message}, so a "
                    "new cluster of the same name would adopt it)")
        return left

    def transport(self, node: NodeInfo) -> Transport:
        target = SshTarget(node=node.name, host=self._reach_address(node), user=self.ssh_user,
                           private_key=self.keys.key_pair(node.cluster).private_key,
                           host_key=self.keys.host_key(node.cluster, node.name),
                           root=NODE_ROOT, software_dir=SOFTWARE_DIR)
        return SshTransport(target, self.connections, on_host_key=lambda key: (
            self.keys.record_host_key(node.cluster, node.name, key)))
