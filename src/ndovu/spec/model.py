"""The shapes of a cluster spec and of the concrete plan expanded from it.

A *spec* is what an operator publishes (ranges, choices, defaults); a *plan* is what one
cluster must look like (exact counts and sizes, node names). The store keeps the plan as
JSON (``ClusterPlan.to_dict``) so the engine never re-reads the catalog.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from ndovu.spec.healing import HealingPolicy


class InstanceType(StrEnum):
    SMALL = "SMALL"
    MEDIUM = "MEDIUM"
    LARGE = "LARGE"
    EXTRA_LARGE = "EXTRA_LARGE"


@dataclass(frozen=True)
class InstanceSize:
    cpu: int
    memory_mb: int
    master_storage_gb: int
    worker_storage_gb: int


# BDE's instance types (reference/bde-api.md).
INSTANCE_SIZES: dict[InstanceType, InstanceSize] = {
    InstanceType.SMALL: InstanceSize(1, 3748, 25, 50),
    InstanceType.MEDIUM: InstanceSize(2, 7500, 50, 100),
    InstanceType.LARGE: InstanceSize(4, 15000, 100, 200),
    InstanceType.EXTRA_LARGE: InstanceSize(8, 30000, 200, 400),
}


@dataclass(frozen=True)
class IntRange:
    """``"[default,min,max]"``; ``maximum`` None means unbounded."""

    default: int
    minimum: int
    maximum: int | None = None

    def allows(self, value: int) -> bool:
        return value >= self.minimum and (self.maximum is None or value <= self.maximum)

    def describe(self) -> str:
        upper = "no maximum" if self.maximum is None else f"at most {self.maximum}"
        return f"at least {self.minimum} and {upper}"


@dataclass(frozen=True)
class Choice:
    """``"[MEDIUM,SMALL,LARGE]"``: the first entry is the default."""

    options: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.options[0]


@dataclass(frozen=True)
class StorageSpec:
    type: Choice = Choice(("SHARED", "LOCAL"))
    size_gb: IntRange | None = None
    ds_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeGroupSpec:
    name: str
    roles: tuple[str, ...]
    instance_num: IntRange
    instance_type: Choice | None = None
    cpu_num: IntRange | None = None
    mem_capacity_mb: IntRange | None = None
    storage: StorageSpec = StorageSpec()
    ha_flag: str = "off"
    group_type: str | None = None
    description: str = ""
    configuration: dict[str, Any] = field(default_factory=dict)
    placement_policies: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterSpec:
    groups: tuple[NodeGroupSpec, ...]
    configuration: dict[str, Any] = field(default_factory=dict)
    healing: HealingPolicy = field(default_factory=HealingPolicy)

    def group(self, name: str) -> NodeGroupSpec | None:
        return next((g for g in self.groups if g.name == name), None)


@dataclass(frozen=True)
class GroupPlan:
    name: str
    roles: tuple[str, ...]
    instance_num: int
    instance_min: int
    instance_max: int | None
    instance_type: str | None
    cpu: int
    memory_mb: int
    storage_type: str
    storage_gb: int
    ha_flag: str = "off"
    group_type: str | None = None
    configuration: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodePlan:
    name: str
    group: str
    index: int
    roles: tuple[str, ...]
    cpu: int
    memory_mb: int
    storage_gb: int


@dataclass(frozen=True)
class Tarball:
    """A file of the software depot: ``path`` relative to the depot (the catalog
    folders' ``distros/``), which nodes download from the server and check against
    ``sha256`` before they unpack it."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class RoleSoftware:
    """Where one role's software comes from, as the catalog distro's manifest says:
    packages for the node's package manager, and depot tarballs unpacked on the node."""

    packages: tuple[str, ...] = ()
    tarballs: tuple[Tarball, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> RoleSoftware:
        if isinstance(data, list):  # plans stored before tarballs: a list of packages
            return cls(tuple(data))
        return cls(tuple(data.get("packages") or ()),
                   tuple(Tarball(**t) for t in data.get("tarballs") or ()))


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    type: str
    groups: tuple[GroupPlan, ...]
    configuration: dict[str, Any] = field(default_factory=dict)
    # role -> its software, from the catalog distro's manifest; a role missing here
    # installs its own default packages
    software: dict[str, RoleSoftware] = field(default_factory=dict)
    # what ndovu repairs by itself once the cluster runs (ndovu.spec.healing)
    healing: HealingPolicy = field(default_factory=HealingPolicy)

    def nodes(self) -> list[NodePlan]:
        """Every node, named ``<cluster>-<group>-<index>`` (0-based, as BDE names VMs)."""
        from ndovu.spec.names import node_name

        return [
            NodePlan(node_name(self.name, g.name, i), g.name, i, g.roles, g.cpu, g.memory_mb,
                     g.storage_gb)
            for g in self.groups
            for i in range(g.instance_num)
        ]

    def node_count(self) -> int:
        """How many nodes ``nodes()`` would list, without listing them."""
        return sum(g.instance_num for g in self.groups)

    def group(self, name: str) -> GroupPlan | None:
        return next((g for g in self.groups if g.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterPlan:
        groups = tuple(
            GroupPlan(**{**g, "roles": tuple(g["roles"])}) for g in data["groups"]
        )
        software = {role: RoleSoftware.from_dict(item)
                    for role, item in (data.get("software") or {}).items()}
        return cls(data["name"], data["type"], groups, dict(data.get("configuration") or {}),
                   software, HealingPolicy.from_dict(data.get("healing")))
