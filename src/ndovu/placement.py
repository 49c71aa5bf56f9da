"""Networks, resource pools and datastores (BDE's resources), honoured rather than stored.

- A **network** is an address pool: a cluster placed on it gets its nodes' addresses
  from its ``ipBlocks`` (the engine hands them to the provider in ``NodeRequest``); a
  DHCP network, and BDE's ``defaultNetwork`` that ndovu always has, mean the provider's
  own addresses. A create or resize-out that needs more addresses than are free is
  refused up front.
- A **resource pool** is a capacity limit: the CPUs and MB of memory of the nodes of
  every cluster placed in it (by their plans, stopped clusters included; a cluster being
  deleted no longer counts) must stay within its ``cpuLimit`` / ``memLimitMB``.
- **Datastores** are names a cluster may ask for; they are checked and kept with the
  cluster (the local provider stores a node's data in its directory).

Every function takes plain values; validation errors name the field as the caller spelt
it. A call that hands out a network's addresses or a pool's capacity first writes that
row, so two such calls are decided one after the other (see ``lock``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ndovu import addresses
from ndovu.addresses import Block
from ndovu.errors import ConflictError, NotFoundError, SpecError
from ndovu.spec.model import ClusterPlan
from ndovu.statuses import Desired
from ndovu.store.models import Cluster, Datastore, Network, Node, ResourcePool

# BDE's installer creates a network of this name and its scripts name it; ndovu always
# has it: the provider's own addresses, like a DHCP network. It cannot be changed.
DEFAULT_NETWORK = "defaultNetwork"
# BDE's Constants.RESOURCE_NAME_PATTERN (letters, digits, '_', '-', spaces), with single
# spaces between words only, at most 80 characters; ASCII, as Java's \w is: a Cyrillic
# letter that looks like a Latin one would make a look-alike of another name
RESOURCE_NAME = re.compile(r"[\w-]+(?: [\w-]+)*", re.ASCII)
MAX_NAME = 80
# the longest vSphere object name a field may carry (their columns' size)
MAX_TEXT = 200
MAX_DATASTORE_NAMES = 64
MAX_BLOCKS = 64
DATASTORE_TYPES = ("SHARED", "LOCAL")
# BDE 2.x NetworkDnsType
DNS_TYPES = ("NORMAL", "DYNAMIC", "OTHERS")


@dataclass(frozen=True)
class Placement:
    """Where a new cluster's nodes go, by name; ``*_field`` name the request's fields."""

    network: str | None = None
    network_field: str = "network"
    resource_pool: str | None = None
    pool_field: str = "resourcePool"
    datastores: tuple[str, ...] = ()
    datastores_field: str = "datastores"


def check_name(name: str, what: str, field: str = "name") -> str:
    if not (1 <= len(name) <= MAX_NAME) or not RESOURCE_NAME.fullmatch(name):
        raise SpecError(f"{field}: {what} name {name!r} is not valid: use letters, digits, "
                        f"'_' and '-', words separated by single spaces, at most {MAX_NAME} "
                        "characters", field=field)
    return name


def check_text(value: str, field: str, what: str) -> str:
    """A free-text name of something outside ndovu (a port group, a vCenter cluster):
    not empty, printable, at most MAX_TEXT characters."""
    if not value.strip():
        raise SpecError(f"{field}: give the {what}", field=field)
    if len(value) > MAX_TEXT or not value.isprintable():
        raise SpecError(f"{field}: the {what} must be printable and at most {MAX_TEXT} "
                        f"characters (got {len(value)})", field=field)
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def lock(s: Session, network: str | None, pool: str | None) -> None:
    """Write the network's and the pool's rows first: SQLite takes its write lock here,
    PostgreSQL/MariaDB lock the rows, so counting free room and taking it is one step."""
    if network:  # a network may be named by its port group (see find_network)
        s.execute(update(Network).where(or_(Network.name == network,
                                            Network.port_group == network))
                  .values(updated_at=_now()))
    if pool:
        s.execute(update(ResourcePool).where(ResourcePool.name == pool)
                  .values(updated_at=_now()))


# -- networks ------------------------------------------------------------------------


def default_network(provider: str) -> Network:
    """The built-in network (not a row): the provider's own addresses."""
    return Network(name=DEFAULT_NETWORK, port_group=f"the {provider} provider's own",
                   is_dhcp=True, ip_blocks=[], dns1=None, dns2=None, gateway=None,
                   netmask=None)


def _address(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if addresses.parse_ipv4(value) is None:
        raise SpecError(f"{field}: {value!r} is not an IPv4 address", field=field)
    return str(addresses.parse_ipv4(value))


def _netmask(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.IPv4Network(f"0.0.0.0/{value.strip()}").netmask)
    except ValueError:
        raise SpecError(f"{field}: {value!r} is not a netmask, e.g. 255.255.255.0",
                        field=field) from None


def check_blocks(raw: Sequence[tuple[str, str]], field: str, address_space: str | None,
                 provider: str, existing: Sequence[Block] = ()) -> list[Block]:
    """The blocks, each a valid range inside the provider's address space and
    overlapping neither another block given nor ``existing``."""
    if len(raw) + len(existing) > MAX_BLOCKS:
        raise SpecError(f"{field}: a network holds at most {MAX_BLOCKS} ipBlocks",
                        field=field)
    space = ipaddress.IPv4Network(address_space) if address_space else None
    blocks: list[Block] = []
    for i, (begin, end) in enumerate(raw):
        where = f"{field}[{i}]"
        first = addresses.parse_ipv4(begin)
        if first is None:
            raise SpecError(f"{where}.beginIp: {begin!r} is not an IPv4 address",
                            field=f"{where}.beginIp")
        last = addresses.parse_ipv4(end)
        if last is None:
            raise SpecError(f"{where}.endIp: {end!r} is not an IPv4 address",
                            field=f"{where}.endIp")
        if last < first:
            raise SpecError(f"{where}: endIp {last} comes before beginIp {first}; give the "
                            "lower address first", field=where)
        block = (str(first), str(last))
        if space is not None and not addresses.inside(block, space):
            raise SpecError(
                f"{where}: {addresses.describe([block])} is outside {space}: the {provider} "
                f"provider can give its nodes addresses in {space} only",
                field=where,
                hint=f"use addresses inside {space} (for example 127.73.0.1-127.73.0.50), "
                     "or isDhcp true for the provider's own addresses"
                if str(space) == "127.0.0.0/8" else f"use addresses inside {space}")
        clash = next((b for b in (*existing, *blocks) if addresses.overlap(b, block)), None)
        if clash is not None:
            raise SpecError(f"{where}: {addresses.describe([block])} overlaps "
                            f"{addresses.describe([clash])} of the same network",
                            field=where)
        blocks.append(block)
    return blocks


def _refuse_overlap_with_others(s: Session, name: str, blocks: Sequence[Block],
                                field: str) -> None:
    """Two networks sharing addresses would hand out the same ones twice."""
    for other in s.scalars(select(Network).where(Network.name != name)):
        for i, block in enumerate(blocks):
            clash = next((tuple(b) for b in other.ip_blocks or ()
                          if addresses.overlap(tuple(b), block)), None)
            if clash is not None:
                raise ConflictError(
                    f"{field}[{i}]: {addresses.describe([block])} overlaps network "
                    f"'{other.name}' ({addresses.describe([clash])}); a network's addresses "
                    "belong to it alone", field=f"{field}[{i}]")


def add_network(s: Session, *, name: str, port_group: str, is_dhcp: bool,
                ip_blocks: Sequence[tuple[str, str]] | None, dns1: str | None,
                dns2: str | None, gateway: str | None, netmask: str | None,
                dns_type: str | None, address_space: str | None, provider: str) -> Network:
    check_name(name, "network")
    check_text(port_group, "portGroup", "port group's name")
    if dns_type is not None and dns_type.upper() not in DNS_TYPES:
        raise SpecError(f"dnsType: {dns_type!r} is not one of {', '.join(DNS_TYPES)}",
                        field="dnsType")
    values = {"dns1": _address(dns1, "dns1"), "dns2": _address(dns2, "dns2"),
              "gateway": _address(gateway, "gateway"), "netmask": _netmask(netmask, "netmask")}
    if is_dhcp and ip_blocks:
        raise SpecError("ipBlocks: a DHCP network takes the provider's own addresses; "
                        "give ipBlocks with isDhcp false, or leave them out",
                        field="ipBlocks")
    if not is_dhcp and not ip_blocks:
        raise SpecError("ipBlocks: a static network (isDhcp false) needs at least one block "
                        "{beginIp, endIp} of addresses for its nodes", field="ipBlocks")
    blocks = check_blocks(ip_blocks or (), "ipBlocks", address_space, provider)
    if name.casefold() == DEFAULT_NETWORK.casefold() or s.scalars(
            select(Network.id).where(Network.name == name)).first():
        raise ConflictError(f"a network named {name!r} already exists", field="name",
                            hint="choose another name, or change it with PUT")
    _refuse_overlap_with_others(s, name, blocks, "ipBlocks")
    row = Network(name=name, port_group=port_group, is_dhcp=is_dhcp,
                  ip_blocks=[list(b) for b in blocks], **values)
    s.add(row)
    s.flush()
    return row


def find_network(s: Session, name: str, provider: str) -> Network | None:
    """By name, else by port group when exactly one network has it (the seed Heat plugin
    names its network by port group in ``networkConfig``)."""
    if name == DEFAULT_NETWORK:
        return default_network(provider)
    row = s.scalars(select(Network).where(Network.name == name)).first()
    if row is not None:
        return row
    by_port_group = s.scalars(select(Network).where(Network.port_group == name)).all()
    return by_port_group[0] if len(by_port_group) == 1 else None


def get_network(s: Session, name: str, provider: str) -> Network:
    row = (default_network(provider) if name == DEFAULT_NETWORK
           else s.scalars(select(Network).where(Network.name == name)).first())
    if row is None:
        raise NotFoundError(f"no network named {name!r}", field="name",
                            hint="GET /v1/networks (or /serengeti/api/networks) lists the networks")
    return row


def _refuse_builtin(name: str, verb: str) -> None:
    if name == DEFAULT_NETWORK:
        raise ConflictError(f"network {DEFAULT_NETWORK!r} is built in (the provider's own "
                            f"addresses) and cannot be {verb}", field="name")


def update_network(s: Session, name: str, *, ip_blocks: Sequence[tuple[str, str]] | None,
                   dns1: str | None, dns2: str | None, fixed: dict[str, Any],
                   address_space: str | None, provider: str) -> Network:
    """Add ipBlocks and/or change the DNS servers (BDE's ``network modify``); anything else
    given must equal what the network has."""
    _refuse_builtin(name, "changed")
    row = get_network(s, name, provider)
    current = {"name": row.name, "portGroup": row.port_group, "isDhcp": row.is_dhcp,
               "gateway": row.gateway, "netmask": row.netmask}
    for field, value in fixed.items():
        if value is None:
            continue
        if field == "gateway":
            value = _address(value, field)
        elif field == "netmask":
            value = _netmask(value, field)
        if value != current[field]:
            raise SpecError(f"{field}: a network's {field} cannot be changed (it is "
                            f"{current[field]!r}); delete the network and add it again",
                            field=field)
    if ip_blocks is None and dns1 is None and dns2 is None:
        raise SpecError("give ipBlocks to add, or dns1 / dns2 to change; nothing else of a "
                        "network can change", field="ipBlocks")
    if ip_blocks is not None:
        if row.is_dhcp:
            raise SpecError("ipBlocks: a DHCP network has no ipBlocks of its own",
                            field="ipBlocks")
        existing = [(b[0], b[1]) for b in row.ip_blocks or ()]
        added = check_blocks(ip_blocks, "ipBlocks", address_space, provider, existing)
        _refuse_overlap_with_others(s, name, added, "ipBlocks")
        row.ip_blocks = [list(b) for b in (*existing, *added)]
    if dns1 is not None:
        row.dns1 = _address(dns1, "dns1")
    if dns2 is not None:
        row.dns2 = _address(dns2, "dns2")
    s.flush()
    return row


def delete_network(s: Session, name: str, provider: str) -> None:
    _refuse_builtin(name, "deleted")
    row = get_network(s, name, provider)
    users = _cluster_names(s, Cluster.network_name == name)
    if users:
        raise ConflictError(f"network {name!r} is used by cluster(s) {', '.join(users)}; "
                            "delete them first", field="name")
    s.delete(row)


def network_usage(s: Session, net: Network) -> tuple[list[tuple[str, Node]], int]:
    """(address, node) of every node holding an address of the network, and how many of
    the network's clusters' nodes have none yet (each will take one)."""
    blocks = [(b[0], b[1]) for b in net.ip_blocks or ()]
    held: list[tuple[str, Node]] = []
    pending = 0
    for node, network_name in s.execute(select(Node, Cluster.network_name)
                                        .join(Cluster, Node.cluster_id == Cluster.id)):
        if node.address and addresses.contains(blocks, node.address):
            held.append((node.address, node))
        elif not node.address and network_name == net.name:
            pending += 1
    return sorted(held, key=lambda h: int(ipaddress.IPv4Address(h[0]))), pending


def free_addresses(s: Session, net: Network) -> int | None:
    """How many more nodes the network can take; None for the provider's own addresses."""
    if net.is_dhcp:
        return None
    held, pending = network_usage(s, net)
    return addresses.size([(b[0], b[1]) for b in net.ip_blocks]) - len(held) - pending


# -- resource pools ------------------------------------------------------------------


def add_resource_pool(s: Session, *, name: str, vc_cluster: str, vc_resource_pool: str | None,
                      cpu_limit: int | None, mem_limit_mb: int | None) -> ResourcePool:
    check_name(name, "resource pool")
    check_text(vc_cluster, "vcClusterName", "vCenter cluster's name")
    if vc_resource_pool is not None:
        check_text(vc_resource_pool, "resourcePoolName", "vCenter resource pool's name")
    if s.scalars(select(ResourcePool.id).where(ResourcePool.name == name)).first():
        raise ConflictError(f"a resource pool named {name!r} already exists", field="name")
    row = ResourcePool(name=name, vc_cluster_name=vc_cluster,
                       vc_resource_pool_name=vc_resource_pool, cpu_limit=cpu_limit,
                       mem_limit_mb=mem_limit_mb)
    s.add(row)
    s.flush()
    return row


def get_resource_pool(s: Session, name: str) -> ResourcePool:
    row = s.scalars(select(ResourcePool).where(ResourcePool.name == name)).first()
    if row is None:
        raise NotFoundError(f"no resource pool named {name!r}", field="name",
                            hint="GET /v1/resourcepools (or /serengeti/api/resourcepools) "
                                 "lists the resource pools")
    return row


def delete_resource_pool(s: Session, name: str) -> None:
    row = get_resource_pool(s, name)
    users = _cluster_names(s, Cluster.resource_pool_name == name)
    if users:
        raise ConflictError(f"resource pool {name!r} is used by cluster(s) "
                            f"{', '.join(users)}; delete them first", field="name")
    s.delete(row)


def plan_size(plan: ClusterPlan) -> tuple[int, int]:
    """(CPUs, MB of memory) of every node of the plan."""
    return (sum(g.cpu * g.instance_num for g in plan.groups),
            sum(g.memory_mb * g.instance_num for g in plan.groups))


def pool_usage(s: Session, pool: str, *, excluding: str | None = None
               ) -> tuple[int, int, list[str]]:
    """(CPUs, MB, cluster names) the pool's clusters use; a cluster being deleted does
    not count (its capacity is being given back)."""
    cpu = memory = 0
    names = []
    for cluster in s.scalars(select(Cluster).where(Cluster.resource_pool_name == pool,
                                                   Cluster.desired != Desired.ABSENT)
                             .order_by(Cluster.name)):
        if cluster.name == excluding:
            continue
        c, m = plan_size(ClusterPlan.from_dict(cluster.plan))
        cpu, memory, names = cpu + c, memory + m, [*names, cluster.name]
    return cpu, memory, names


# -- datastores ----------------------------------------------------------------------


def add_datastore(s: Session, *, name: str, spec: Sequence[str], type_: str,
                  regex: bool) -> Datastore:
    check_name(name, "datastore")
    kind = type_.strip().upper()
    if kind not in DATASTORE_TYPES:
        raise SpecError(f"type: {type_!r} is not one of {', '.join(DATASTORE_TYPES)}",
                        field="type")
    if not spec or len(spec) > MAX_DATASTORE_NAMES:
        raise SpecError(f"spec: give 1 to {MAX_DATASTORE_NAMES} datastore names (or "
                        "patterns)", field="spec")
    for i, item in enumerate(spec):
        check_text(item, f"spec[{i}]", "datastore name")
        if regex:
            try:
                re.compile(item)
            except re.error as exc:
                raise SpecError(f"spec[{i}]: {item!r} is not a valid pattern: {exc}",
                                field=f"spec[{i}]") from None
    if s.scalars(select(Datastore.id).where(Datastore.name == name)).first():
        raise ConflictError(f"a datastore named {name!r} already exists", field="name")
    row = Datastore(name=name, spec=list(spec), type=kind, regex=regex)
    s.add(row)
    s.flush()
    return row


def get_datastore(s: Session, name: str) -> Datastore:
    row = s.scalars(select(Datastore).where(Datastore.name == name)).first()
    if row is None:
        raise NotFoundError(f"no datastore named {name!r}", field="name",
                            hint="GET /v1/datastores (or /serengeti/api/datastores) lists the "
                                 "datastores")
    return row


def delete_datastore(s: Session, name: str) -> None:
    row = get_datastore(s, name)
    users = datastore_users(s, name)
    if users:
        raise ConflictError(f"datastore {name!r} is used by cluster(s) {', '.join(users)}; "
                            "delete them first", field="name")
    s.delete(row)


def datastore_users(s: Session, name: str) -> list[str]:
    return [c.name for c in s.scalars(select(Cluster).order_by(Cluster.name))
            if name in (c.datastore_names or [])]


# -- a cluster's placement -----------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    network: Network | None
    pool: ResourcePool | None
    datastores: tuple[str, ...]


def resolve(s: Session, placement: Placement, provider: str) -> Resolved:
    """The placement's network, pool and datastores; unknown names are a 422 naming them."""
    network = None
    if placement.network is not None:
        network = find_network(s, placement.network, provider)
        if network is None:
            known = [DEFAULT_NETWORK, *s.scalars(select(Network.name).order_by(Network.name))]
            raise SpecError(f"{placement.network_field}: unknown network "
                            f"{placement.network!r}; networks: {', '.join(known)}",
                            field=placement.network_field,
                            hint="add it with POST /v1/networks (or /serengeti/api/networks)")
    pool = None
    if placement.resource_pool is not None:
        pool = s.scalars(select(ResourcePool)
                         .where(ResourcePool.name == placement.resource_pool)).first()
        if pool is None:
            known = list(s.scalars(select(ResourcePool.name).order_by(ResourcePool.name)))
            raise SpecError(f"{placement.pool_field}: unknown resource pool "
                            f"{placement.resource_pool!r}; resource pools: "
                            f"{', '.join(known) or 'none'}", field=placement.pool_field,
                            hint="add it with POST /v1/resourcepools (or "
                                 "/serengeti/api/resourcepools)")
    known_ds = set(s.scalars(select(Datastore.name)))
    for i, name in enumerate(placement.datastores):
        if name not in known_ds:
            field = f"{placement.datastores_field}[{i}]"
            raise SpecError(f"{field}: unknown datastore {name!r}; datastores: "
                            f"{', '.join(sorted(known_ds)) or 'none'}", field=field,
                            hint="add it with POST /v1/datastores (or /serengeti/api/datastores)")
    return Resolved(network, pool, tuple(placement.datastores))


def check_room(s: Session, *, cluster: str, plan: ClusterPlan, new_nodes: int,
               network: Network | None, pool: ResourcePool | None, network_field: str,
               pool_field: str) -> None:
    """Refuse (422, naming what is left) a plan whose ``new_nodes`` need more addresses
    than the network has free, or whose size exceeds the pool's limits."""
    if network is not None and new_nodes > 0:
        free = free_addresses(s, network)
        if free is not None and free < new_nodes:
            blocks = [(b[0], b[1]) for b in network.ip_blocks]
            raise SpecError(
                f"network '{network.name}' has {max(free, 0)} free address"
                f"{'' if free == 1 else 'es'} ({addresses.describe(blocks)}, "
                f"{addresses.size(blocks)} in all); cluster '{cluster}' needs {new_nodes} more",
                field=network_field,
                hint=f"add ipBlocks with PUT /v1/networks/{network.name} (or PUT "
                     f"/serengeti/api/network/{network.name}), delete clusters that use it, "
                     "or ask for fewer nodes")
    if pool is None:
        return
    cpu, memory = plan_size(plan)
    used_cpu, used_memory, others = pool_usage(s, pool.name, excluding=cluster)
    problems = []
    for need, used, limit, unit in ((cpu, used_cpu, pool.cpu_limit, "CPUs"),
                                    (memory, used_memory, pool.mem_limit_mb,
                                     "MB of memory")):
        if limit is not None and used + need > limit:
            problems.append(f"{need} {unit}, but {max(limit - used, 0)} of its {limit} "
                            f"{unit} are left ({used} used by other clusters)")
    if problems:
        raise SpecError(f"resource pool '{pool.name}' cannot hold cluster '{cluster}': it "
                        f"would use {' and '.join(problems)}", field=pool_field,
                        hint="ask for fewer or smaller nodes, or delete clusters in the pool"
                        + (f" ({', '.join(others)})" if others else ""))


def _cluster_names(s: Session, condition: Any) -> list[str]:
    return list(s.scalars(select(Cluster.name).where(condition).order_by(Cluster.name)))


def network_users(s: Session, name: str) -> list[str]:
    """The clusters placed on the network, by name (a cluster created without one is on
    none, though it too has the provider's own addresses)."""
    return _cluster_names(s, Cluster.network_name == name)
