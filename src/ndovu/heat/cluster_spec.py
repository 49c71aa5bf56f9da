"""What a resource asks ndovu for: the /v1 create body from the resource's properties,
and the resize and scale steps that bring a running cluster to changed node groups.

Plain data in and out (the JSON shapes of /v1/clusters and /v1/catalog); no Heat here.
"""

# No `from __future__ import annotations` here: Heat runs a plugin folder's modules
# before registering them in sys.modules, where dataclasses look string annotations up.
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# BDE's instance types (CPU, memory MB), as ndovu's specs use them
INSTANCE_SIZES: dict[str, tuple[int, int]] = {
    "SMALL": (1, 3748),
    "MEDIUM": (2, 7500),
    "LARGE": (4, 15000),
    "EXTRA_LARGE": (8, 30000),
}

# the node group override keys of both resource types
NAME, INSTANCE_NUM, INSTANCE_TYPE, CPU_NUM, MEMORY_MB, STORAGE_GB = (
    "name", "instance_num", "instance_type", "cpu_num", "memory_mb", "storage_gb")


@dataclass(frozen=True)
class GroupOverride:
    name: str
    instance_num: int | None = None
    instance_type: str | None = None
    cpu_num: int | None = None
    memory_mb: int | None = None
    storage_gb: int | None = None

    def body(self) -> dict[str, Any]:
        """The override as /v1 ``nodeGroups[]`` wants it."""
        out: dict[str, Any] = {"name": self.name}
        if self.instance_num is not None:
            out["instanceNum"] = self.instance_num
        if self.instance_type is not None:
            out["instanceType"] = self.instance_type
        if self.cpu_num is not None:
            out["cpuNum"] = self.cpu_num
        if self.memory_mb is not None:
            out["memCapacityMB"] = self.memory_mb
        if self.storage_gb is not None:
            out["storage"] = {"sizeGB": self.storage_gb}
        return out

    def sets_size(self) -> bool:
        return any(v is not None for v in (self.instance_type, self.cpu_num, self.memory_mb))


def overrides(raw: Sequence[Mapping[str, Any]] | None) -> list[GroupOverride]:
    """The ``node_groups`` property as overrides (Heat has checked the types)."""
    return [GroupOverride(
        name=str(item[NAME]),
        instance_num=item.get(INSTANCE_NUM),
        instance_type=item[INSTANCE_TYPE].upper() if item.get(INSTANCE_TYPE) else None,
        cpu_num=item.get(CPU_NUM),
        memory_mb=item.get(MEMORY_MB),
        storage_gb=item.get(STORAGE_GB),
    ) for item in raw or () if item and item.get(NAME)]


@dataclass(frozen=True)
class ClusterRequest:
    """One cluster as the template describes it."""

    name: str
    cluster_type: str
    groups: tuple[GroupOverride, ...] = ()
    configuration: Mapping[str, Any] | None = None
    network: str | None = None
    resource_pool: str | None = None
    datastores: tuple[str, ...] = ()
    password: str | None = None

    def body(self) -> dict[str, Any]:
        """The ``POST /v1/clusters`` body."""
        out: dict[str, Any] = {"name": self.name, "type": self.cluster_type}
        if self.groups:
            out["nodeGroups"] = [g.body() for g in self.groups]
        if self.configuration:
            out["configuration"] = dict(self.configuration)
        if self.network:
            out["network"] = self.network
        if self.resource_pool:
            out["resourcePool"] = self.resource_pool
        if self.datastores:
            out["datastores"] = list(self.datastores)
        if self.password:
            # passed through so that the server says whether it can set node passwords
            out["password"] = self.password
        return out


@dataclass(frozen=True)
class Step:
    """One change ndovu makes as its own operation: a resize or a scale of a group."""

    kind: str  # "resize" or "scale"
    group: str
    count: int | None = None
    cpu: int | None = None
    memory_mb: int | None = None

    def describe(self, cluster: str) -> str:
        """What the step does, e.g. "resize node group 'worker' of cluster 'sp' to 3
        nodes"."""
        where = f"node group '{self.group}' of cluster '{cluster}'"
        if self.kind == "resize":
            return f"resize {where} to {self.count} nodes"
        return f"scale {where} to {self.cpu} CPU and {self.memory_mb} MB per node"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "group": self.group, "count": self.count,
                "cpu": self.cpu, "memory_mb": self.memory_mb}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Step":
        return cls(raw["kind"], raw["group"], raw.get("count"), raw.get("cpu"),
                   raw.get("memory_mb"))


def update_steps(cluster: Mapping[str, Any], kind: Mapping[str, Any],
                 groups: Iterable[GroupOverride]) -> list[Step]:
    """The steps that give ``cluster`` (a /v1 cluster read) the node groups the template
    now asks for. A group without a count override goes back to the type's default count
    (``kind``: the /v1 catalog read of its type); a group without a size override keeps
    its nodes' size."""
    wanted = {g.name.lower(): g for g in groups}
    spec_groups = {g["name"].lower(): g for g in kind.get("nodeGroups", [])}
    steps: list[Step] = []
    for current in cluster.get("nodeGroups", []):
        key = current["name"].lower()
        over = wanted.get(key)
        spec = spec_groups.get(key, {})
        count = over.instance_num if over and over.instance_num is not None else \
            (spec.get("instanceNum") or {}).get("default")
        if count is not None and count != current.get("instanceNum"):
            steps.append(Step("resize", current["name"], count=count))
        if over is not None and over.sets_size():
            cpu, memory = target_size(over, spec)
            if (cpu, memory) != (current.get("cpuNum"), current.get("memCapacityMB")):
                steps.append(Step("scale", current["name"], cpu=cpu, memory_mb=memory))
    return steps


def target_size(over: GroupOverride, spec_group: Mapping[str, Any]) -> tuple[int, int]:
    """CPU and memory for the override, as ndovu computes them at create: explicit values
    win; an instance type's size is brought into the type's CPU and memory ranges."""
    base_cpu, base_memory = INSTANCE_SIZES[over.instance_type or "MEDIUM"]
    if over.instance_type is None:
        base_cpu = (spec_group.get("cpuNum") or {}).get("default") or base_cpu
        base_memory = (spec_group.get("memCapacityMB") or {}).get("default") or base_memory
    cpu = over.cpu_num if over.cpu_num is not None else \
        _clamp(base_cpu, spec_group.get("cpuNum"))
    memory = over.memory_mb if over.memory_mb is not None else \
        _clamp(base_memory, spec_group.get("memCapacityMB"))
    return cpu, memory


def _clamp(value: int, bounds: Mapping[str, Any] | None) -> int:
    if not bounds:
        return value
    value = max(value, bounds.get("min") or value)
    upper = bounds.get("max")
    return value if upper is None else min(value, upper)


def storage_changed(before: Sequence[GroupOverride], after: Sequence[GroupOverride]) -> bool:
    """Storage cannot change in place: a different size for any group needs a new cluster."""
    old = {g.name.lower(): g.storage_gb for g in before}
    new = {g.name.lower(): g.storage_gb for g in after}
    return any(old.get(k) != new.get(k) for k in old.keys() | new.keys())
