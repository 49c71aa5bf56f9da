"""Expand a ClusterSpec plus a request's per-group overrides into a concrete ClusterPlan."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ndovu.errors import SpecError
from ndovu.spec.healing import parse_healing
from ndovu.spec.limits import DEFAULT_LIMITS, ServerLimits
from ndovu.spec.model import (
    INSTANCE_SIZES,
    ClusterPlan,
    ClusterSpec,
    GroupPlan,
    InstanceSize,
    InstanceType,
    IntRange,
    NodeGroupSpec,
)
from ndovu.spec.names import validate_cluster_name
from ndovu.spec.parse import (
    GROUP_KEYS,
    INSTANCE_TYPES,
    STORAGE_KEYS,
    check_near_misses,
    parse_ha,
    parse_mapping,
    pick,
)

# Groups whose nodes get an instance type's "master" storage size.
MASTER_GROUP_TYPES = frozenset({"master", "zookeeper", "management"})
# Sizes used when a group names neither an instance type nor cpu/memory.
FALLBACK_INSTANCE_TYPE = InstanceType.MEDIUM


def expand(
    spec: ClusterSpec,
    *,
    cluster_name: str,
    cluster_type: str,
    overrides: Sequence[Mapping[str, Any]] = (),
    configuration: Mapping[str, Any] | None = None,
    healing: Mapping[str, Any] | None = None,
    limits: ServerLimits = DEFAULT_LIMITS,
) -> ClusterPlan:
    """Return the plan for one cluster of ``spec``.

    ``overrides`` are the request's node groups (REST bean or Gson names), matched to the
    spec's groups by name (case-insensitively); each value is checked against the spec's
    range or choice, and ``field`` in errors is ``nodeGroups[i].<key as written>`` with
    ``i`` the override's position in the request.

    Sizes, first rule that applies:

    - cpu / memory: explicit ``cpuNum`` / ``memCapacityMB`` override > the instance type
      the user chose (raised or lowered into the spec's cpuNum/memCapacityMB range, since
      the operator's bounds hold whatever the type) > the spec's cpuNum/memCapacityMB
      default > the spec's default instance type > MEDIUM.
    - storage_gb: ``storage.sizeGB`` override > the spec's sizeGB default > the instance
      type's (chosen, else spec default, else MEDIUM) master storage for group types
      master/zookeeper/management, worker storage otherwise.

    ``configuration`` is merged over the spec's cluster configuration (nested objects are
    merged, the request wins); group-level configuration is merged the same way and kept
    on each GroupPlan. ``healing`` (the request's) is laid over the spec's policy.

    The server's ``limits`` hold whatever the spec allows, checked on the numbers before
    the plan's nodes exist anywhere.
    """
    validate_cluster_name(cluster_name, [g.name for g in spec.groups])
    by_group = _match_overrides(spec, overrides)
    groups = tuple(_expand_group(g, *by_group.get(g.name, (None, {})), limits)
                   for g in spec.groups)
    config = deep_merge(spec.configuration, parse_mapping(configuration, "configuration"))
    plan = ClusterPlan(cluster_name, cluster_type, groups, config,
                       healing=parse_healing(healing, base=spec.healing))
    limits.check_nodes(plan.node_count(), "nodeGroups", f"cluster {cluster_name!r}")
    return plan


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _match_overrides(
    spec: ClusterSpec, overrides: Sequence[Mapping[str, Any]]
) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Map spec group name -> (path of the override, override)."""
    if isinstance(overrides, str | bytes | Mapping) or not isinstance(overrides, Sequence):
        raise SpecError("nodeGroups: expected a list of node group objects", field="nodeGroups")
    names = {g.name.lower(): g.name for g in spec.groups}
    found: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for i, raw in enumerate(overrides):
        path = f"nodeGroups[{i}]"
        if not isinstance(raw, Mapping):
            raise SpecError(f"{path}: expected a node group object", field=path)
        name = raw.get("name")
        if name is None:
            raise SpecError(
                f"{path}.name: each node group override needs the 'name' of the group it "
                f"changes; this cluster type's groups are "
                f"{', '.join(repr(g.name) for g in spec.groups)}",
                field=f"{path}.name",
            )
        group = names.get(name.lower()) if isinstance(name, str) else None
        if group is None:
            raise SpecError(
                f"{path}.name: this cluster type has no node group {_quote(name)}; its node "
                f"groups are {', '.join(repr(g.name) for g in spec.groups)}",
                field=f"{path}.name",
            )
        if group in found:
            raise SpecError(
                f"{path}.name: node group '{group}' is given twice (also {found[group][0]}); "
                "give each node group once",
                field=f"{path}.name",
            )
        check_near_misses(raw, GROUP_KEYS, path)
        found[group] = (path, raw)
    return found


def _expand_group(g: NodeGroupSpec, path: str | None, over: Mapping[str, Any],
                  limits: ServerLimits) -> GroupPlan:
    # fields name the value as the request wrote it, or the group when the spec gave it
    where = path or "nodeGroups"
    path = path or ""
    key, value = pick(over, GROUP_KEYS["instanceNum"], path)
    num = _want_int(value, g.instance_num, f"{path}.{key}", g.name, "instances")
    limits.check_nodes(num, f"{path}.{key}" if value is not None else where,
                       f"node group {g.name!r}")

    key, value = pick(over, GROUP_KEYS["instanceType"], path)
    chosen = None if value is None else _want_type(value, g, f"{path}.{key}")
    spec_type = InstanceType(g.instance_type.default) if g.instance_type else None
    size = INSTANCE_SIZES[chosen or spec_type or FALLBACK_INSTANCE_TYPE]

    key, value = pick(over, GROUP_KEYS["cpuNum"], path)
    cpu_field = f"{path}.{key}" if value is not None else where
    cpu = _size(value, g.cpu_num, chosen, size.cpu, f"{path}.{key}", g.name, "CPUs")
    key, value = pick(over, GROUP_KEYS["memCapacityMB"], path)
    mem_field = f"{path}.{key}" if value is not None else where
    mem = _size(value, g.mem_capacity_mb, chosen, size.memory_mb, f"{path}.{key}", g.name,
                "MB of memory")

    storage_key, storage = pick(over, GROUP_KEYS["storage"], path)
    storage_path = f"{path}.{storage_key}"
    if storage is None:
        storage = {}
    elif not isinstance(storage, Mapping):
        raise SpecError(f"{storage_path}: expected an object like {{\"sizeGB\": 50}}",
                        field=storage_path)
    check_near_misses(storage, STORAGE_KEYS, storage_path)
    key, value = pick(storage, STORAGE_KEYS["type"], storage_path)
    storage_type = g.storage.type.default
    if value is not None:
        storage_type = _want_option(value, g.storage.type.options, f"{storage_path}.{key}",
                                    g.name, "storage type")
    key, value = pick(storage, STORAGE_KEYS["sizeGB"], storage_path)
    storage_gb = _want_int(value, g.storage.size_gb, f"{storage_path}.{key}", g.name,
                           "GB of storage", default=_default_storage(g, size))
    limits.check_size(cpu, mem, storage_gb, group=g.name, fields=(
        cpu_field, mem_field, f"{storage_path}.{key}" if value is not None else where))

    key, value = pick(over, GROUP_KEYS["haFlag"], path)
    ha = g.ha_flag if value is None else parse_ha(value, f"{path}.{key}")
    key, value = pick(over, GROUP_KEYS["roles"], path)
    if value is not None and (not isinstance(value, list)
                              or not all(isinstance(r, str) for r in value)
                              or set(value) != set(g.roles)):
        raise SpecError(
            f"{path}.{key}: the roles of node group '{g.name}' are fixed by the cluster type "
            f"({', '.join(g.roles)}); leave 'roles' out",
            field=f"{path}.{key}",
        )
    key, value = pick(over, GROUP_KEYS["configuration"], path)
    config = deep_merge(g.configuration, parse_mapping(value, f"{path}.{key}"))

    return GroupPlan(
        name=g.name,
        roles=g.roles,
        instance_num=num,
        instance_min=g.instance_num.minimum,
        instance_max=g.instance_num.maximum,
        instance_type=(chosen or spec_type).value if (chosen or spec_type) else None,
        cpu=cpu,
        memory_mb=mem,
        storage_type=storage_type,
        storage_gb=storage_gb,
        ha_flag=ha,
        group_type=g.group_type,
        configuration=config,
    )


def _size(value: object, bounds: IntRange | None, chosen: InstanceType | None,
          type_value: int, field: str, group: str, unit: str) -> int:
    if value is not None:
        return _want_int(value, bounds, field, group, unit, default=type_value)
    if chosen is not None:
        return _clamp(type_value, bounds)
    return bounds.default if bounds else type_value


def _clamp(value: int, bounds: IntRange | None) -> int:
    if bounds is None:
        return value
    value = max(value, bounds.minimum)
    return value if bounds.maximum is None else min(value, bounds.maximum)


def _default_storage(g: NodeGroupSpec, size: InstanceSize) -> int:
    if g.group_type in MASTER_GROUP_TYPES:
        return size.master_storage_gb
    return size.worker_storage_gb


def _want_int(value: object, bounds: IntRange | None, field: str, group: str, unit: str,
              *, default: int | None = None) -> int:
    """The override ``value`` checked against ``bounds``; without a value, the default."""
    if value is None:
        if bounds is not None:
            return bounds.default
        assert default is not None
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{field}: {group} wants {_quote(value)} {unit}; give a whole number",
                        field=field)
    allowed = bounds or IntRange(value, 1, None)
    if not allowed.allows(value):
        raise SpecError(
            f"{field}: {group} wants {value} {unit}; this cluster type allows "
            f"{allowed.describe()}",
            field=field,
        )
    return value


def _want_type(value: object, g: NodeGroupSpec, field: str) -> InstanceType:
    options = g.instance_type.options if g.instance_type else INSTANCE_TYPES
    return InstanceType(_want_option(value, options, field, g.name, "instance type"))


def _want_option(value: object, options: tuple[str, ...], field: str, group: str,
                 what: str) -> str:
    if not isinstance(value, str) or value.strip().upper() not in options:
        raise SpecError(
            f"{field}: {group} wants {what} {_quote(value)}; this cluster type offers "
            f"{', '.join(options)}",
            field=field,
        )
    return value.strip().upper()


def _quote(value: object) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
