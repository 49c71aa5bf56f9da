"""Parse BDE cluster specs (REST bean names or spec-file Gson names) into a ClusterSpec.

Values may be plain (``3``, ``"MEDIUM"``), catalog range strings ``"[default,min,max]"``
or choice strings/lists with the default first (``"[MEDIUM,SMALL]"``, ``["SMALL"]``).
Every error is a SpecError whose ``field`` is a path spelled the way the input spelled
it (``groups[0].instance_num`` or ``nodeGroups[0].instanceNum``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from ndovu.errors import SpecError
from ndovu.spec.healing import parse_healing
from ndovu.spec.model import Choice, ClusterSpec, InstanceType, IntRange, NodeGroupSpec, StorageSpec
from ndovu.spec.names import validate_group_name

INSTANCE_TYPES: tuple[str, ...] = tuple(t.value for t in InstanceType)
STORAGE_TYPES: tuple[str, ...] = ("SHARED", "LOCAL", "TEMPFS")
HA_FLAGS: tuple[str, ...] = ("on", "off", "ft")

# Accepted spellings of each field, REST bean name first (it names the field in messages
# about a missing key). Gson names come from serengeti-ws NodeGroupCreate/StorageRead.
SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "nodeGroups": ("nodeGroups", "groups", "node_groups"),
    "configuration": ("configuration", "cluster_configuration"),
    "healing": ("healing",),
}
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "roles": ("roles",),
    "instanceNum": ("instanceNum", "instance_num"),
    "instanceType": ("instanceType", "instance_type"),
    "cpuNum": ("cpuNum", "cpu_num", "cpu"),
    "memCapacityMB": ("memCapacityMB", "mem_capacity_mb", "memory"),
    "storage": ("storage",),
    "haFlag": ("haFlag", "ha_flag", "ha"),
    "groupType": ("groupType", "group_type"),
    "description": ("description",),
    "configuration": ("configuration", "cluster_configuration"),
    "placementPolicies": ("placementPolicies", "placement_policies"),
}
STORAGE_KEYS: dict[str, tuple[str, ...]] = {
    "type": ("type",),
    "sizeGB": ("sizeGB", "size_gb", "size"),
    "dsNames": ("dsNames", "ds_names"),
}

_RANGE_RE = re.compile(r"\[\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+|max|min)\s*\]", re.IGNORECASE)
_RANGE_HELP = "write '[default,min,max]' with integers, or 'max' for no upper bound"


def parse_spec_text(text: str, source: str = "spec") -> ClusterSpec:
    """Decode JSON text and parse it; a JSON syntax error names its line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(
            f"{source}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
            hint="fix the JSON syntax (a missing comma or quote is the usual cause)",
        ) from e
    if not isinstance(data, Mapping):
        raise SpecError(f"{source}: a cluster spec must be a JSON object, got {_kind(data)}")
    return parse_spec(data, source=source)


def parse_spec(data: Mapping[str, Any], *, source: str = "spec") -> ClusterSpec:
    """Parse a spec mapping. ``source`` (a file name) prefixes messages when given."""
    try:
        return _parse_spec(data)
    except SpecError as e:
        if source == "spec":
            raise
        raise SpecError(f"{source}: {e.message}", field=e.field, hint=e.hint) from e


def _parse_spec(data: Mapping[str, Any]) -> ClusterSpec:
    if not isinstance(data, Mapping):
        raise SpecError(f"a cluster spec must be an object, got {_kind(data)}")
    check_near_misses(data, SPEC_KEYS, "")
    groups_key, raw_groups = pick(data, SPEC_KEYS["nodeGroups"], "")
    if groups_key is None:
        raise SpecError(
            "the spec has no node groups; add a 'nodeGroups' list",
            field="nodeGroups",
        )
    if not isinstance(raw_groups, list) or not raw_groups:
        raise SpecError(
            f"{groups_key}: expected a non-empty list of node groups, got {_kind(raw_groups)}",
            field=groups_key,
        )
    groups = tuple(
        parse_group(raw, f"{groups_key}[{i}]") for i, raw in enumerate(raw_groups)
    )
    seen: dict[str, int] = {}
    for i, g in enumerate(groups):
        # Case-insensitive: node names double as host names, which ignore case.
        first = seen.setdefault(g.name.lower(), i)
        if first != i:
            raise SpecError(
                f"{groups_key}[{i}].name: node group '{g.name}' is defined twice "
                f"(also {groups_key}[{first}]); give each node group its own name",
                field=f"{groups_key}[{i}].name",
            )
    config_key, config = pick(data, SPEC_KEYS["configuration"], "")
    _, healing = pick(data, SPEC_KEYS["healing"], "")
    return ClusterSpec(groups, parse_mapping(config, config_key or "configuration"),
                       parse_healing(healing))


def parse_group(raw: object, path: str) -> NodeGroupSpec:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{path}: expected a node group object, got {_kind(raw)}", field=path)
    check_near_misses(raw, GROUP_KEYS, path)

    _, name = pick(raw, GROUP_KEYS["name"], path)
    validate_group_name(name, f"{path}.name")

    roles_key, roles = pick(raw, GROUP_KEYS["roles"], path)
    if roles_key is None:
        raise SpecError(f"{path}: node group '{name}' has no roles; add a 'roles' list",
                        field=f"{path}.roles")
    roles_t = parse_roles(roles, f"{path}.{roles_key}")

    num_key, num = pick(raw, GROUP_KEYS["instanceNum"], path)
    if num_key is None:
        raise SpecError(
            f"{path}: node group '{name}' has no instanceNum; add e.g. \"instanceNum\": 3 "
            "or \"instanceNum\": \"[3,1,max]\"",
            field=f"{path}.instanceNum",
        )
    instance_num = parse_range(num, f"{path}.{num_key}")

    type_key, itype = pick(raw, GROUP_KEYS["instanceType"], path)
    instance_type = (
        None if itype is None
        else parse_choice(itype, f"{path}.{type_key}", INSTANCE_TYPES, "an instance type")
    )
    cpu_key, cpu = pick(raw, GROUP_KEYS["cpuNum"], path)
    mem_key, mem = pick(raw, GROUP_KEYS["memCapacityMB"], path)
    storage_key, storage = pick(raw, GROUP_KEYS["storage"], path)
    ha_key, ha = pick(raw, GROUP_KEYS["haFlag"], path)
    gtype_key, gtype = pick(raw, GROUP_KEYS["groupType"], path)
    desc_key, desc = pick(raw, GROUP_KEYS["description"], path)
    conf_key, conf = pick(raw, GROUP_KEYS["configuration"], path)
    pp_key, pp = pick(raw, GROUP_KEYS["placementPolicies"], path)

    return NodeGroupSpec(
        name=name,
        roles=roles_t,
        instance_num=instance_num,
        instance_type=instance_type,
        cpu_num=None if cpu is None else parse_range(cpu, f"{path}.{cpu_key}"),
        mem_capacity_mb=None if mem is None else parse_range(mem, f"{path}.{mem_key}"),
        storage=StorageSpec() if storage is None else parse_storage(storage,
                                                                    f"{path}.{storage_key}"),
        ha_flag="off" if ha is None else parse_ha(ha, f"{path}.{ha_key}"),
        group_type=None if gtype is None else parse_str(gtype, f"{path}.{gtype_key}").lower(),
        description="" if desc is None else parse_str(desc, f"{path}.{desc_key}"),
        configuration=parse_mapping(conf, f"{path}.{conf_key}"),
        placement_policies=parse_mapping(pp, f"{path}.{pp_key}"),
    )


def parse_storage(raw: object, path: str) -> StorageSpec:
    if not isinstance(raw, Mapping):
        raise SpecError(
            f"{path}: expected an object like {{\"type\": \"[SHARED,LOCAL]\", \"sizeGB\": 50}}, "
            f"got {_kind(raw)}",
            field=path,
        )
    check_near_misses(raw, STORAGE_KEYS, path)
    type_key, stype = pick(raw, STORAGE_KEYS["type"], path)
    size_key, size = pick(raw, STORAGE_KEYS["sizeGB"], path)
    ds_key, ds = pick(raw, STORAGE_KEYS["dsNames"], path)
    ds_names: tuple[str, ...] = ()
    if ds is not None:
        if not isinstance(ds, list) or not all(isinstance(d, str) and d for d in ds):
            raise SpecError(f"{path}.{ds_key}: expected a list of datastore names, "
                            f"got {_show(ds)}", field=f"{path}.{ds_key}")
        ds_names = tuple(ds)
    return StorageSpec(
        type=StorageSpec().type if stype is None
        else parse_choice(stype, f"{path}.{type_key}", STORAGE_TYPES, "a storage type"),
        size_gb=None if size is None else parse_range(size, f"{path}.{size_key}"),
        ds_names=ds_names,
    )


def parse_range(value: object, path: str) -> IntRange:
    """A plain int n means IntRange(n, 1, None): BDE lets users resize such groups."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SpecError(
            f"{path}: {_show(value)} is not a number or a range; {_RANGE_HELP}", field=path
        )
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        if value < 1:
            raise SpecError(f"{path}: {value} is too small; the smallest allowed value is 1",
                            field=path)
        return IntRange(value, 1, None)
    m = _RANGE_RE.fullmatch(value.strip())
    if not m:
        raise SpecError(f"{path}: '{value}' is not a range; {_RANGE_HELP}", field=path)
    default, minimum = int(m[1]), int(m[2])
    # "max" is unbounded. BDE's own templates also write "min" in the max slot (e.g.
    # "[7500,3748,min]"): read as max=min those would be contradictory (default above
    # max), so "min" is treated as unbounded too.
    maximum = None if m[3].lower() in ("max", "min") else int(m[3])
    if minimum < 1:
        raise SpecError(f"{path}: '{value}' has minimum {minimum}; the minimum must be at "
                        "least 1", field=path)
    if maximum is not None and maximum < minimum:
        raise SpecError(f"{path}: '{value}' has maximum {maximum} below minimum {minimum}; "
                        f"{_RANGE_HELP}", field=path)
    result = IntRange(default, minimum, maximum)
    if not result.allows(default):
        raise SpecError(f"{path}: '{value}' has default {default} outside its own range; "
                        f"the default must be {result.describe()}", field=path)
    return result


def parse_choice(value: object, path: str, allowed: tuple[str, ...], what: str) -> Choice:
    """``"A"``, ``"[A,B]"`` or ``["A", "B"]``; case-insensitive; the first is the default."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items: list[object] = [t.strip() for t in text.split(",")]
    elif isinstance(value, list):
        items = list(value)
    else:
        items = []
    if not items or not all(isinstance(i, str) and i.strip() for i in items):
        raise SpecError(
            f"{path}: {_show(value)} is not {what} or a list of them; choose from "
            f"{', '.join(allowed)}",
            field=path,
        )
    options: list[str] = []
    for item in items:
        option = str(item).strip().upper()
        if option not in allowed:
            raise SpecError(f"{path}: '{item}' is not {what}; choose from {', '.join(allowed)}",
                            field=path)
        if option not in options:
            options.append(option)
    return Choice(tuple(options))


def parse_ha(value: object, path: str) -> str:
    # Old BDE releases serialised "ha" as a boolean.
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str) and value.strip().lower() in HA_FLAGS:
        return value.strip().lower()
    raise SpecError(f"{path}: {_show(value)} is not an HA setting; use one of "
                    f"{', '.join(HA_FLAGS)}", field=path)


def parse_roles(value: object, path: str) -> tuple[str, ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(r, str) and r.strip() for r in value)):
        raise SpecError(f"{path}: expected a non-empty list of role names, got {_show(value)}",
                        field=path, hint='for example "roles": ["zookeeper"]')
    roles = tuple(r.strip() for r in value)
    dup = next((r for i, r in enumerate(roles) if r in roles[:i]), None)
    if dup:
        raise SpecError(f"{path}: role '{dup}' is listed twice; list each role once",
                        field=path)
    return roles


def parse_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{path}: expected a string, got {_show(value)}", field=path)
    return value


def parse_mapping(value: object, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}: expected an object, got {_kind(value)}", field=path)
    return copy.deepcopy(dict(value))


def pick(data: Mapping[str, Any], aliases: tuple[str, ...], path: str) -> tuple[str | None, Any]:
    """The (key, value) of the one alias present in ``data``, or (None, None)."""
    present = [k for k in aliases if k in data]
    if len(present) > 1:
        where = _join(path, present[0])
        raise SpecError(
            f"{where}: both {' and '.join(repr(k) for k in present)} are given; keep one",
            field=where,
        )
    if not present or data[present[0]] is None:
        return (present[0] if present else None), None
    return present[0], data[present[0]]


def check_near_misses(data: Mapping[str, Any], table: Mapping[str, tuple[str, ...]],
                      path: str) -> None:
    """Refuse keys that differ from a known one only by case or underscores.

    Other unknown keys (BDE's ``editable``, ``rpNames``, ``swapRatio``…) are ignored, but a
    miscased ``instancenum`` would silently fall back to the default, so it is an error.
    """
    known = {a for aliases in table.values() for a in aliases}
    canon = {_squash(a): aliases[0] for aliases in table.values() for a in aliases}
    for key in data:
        if isinstance(key, str) and key not in known and _squash(key) in canon:
            where = _join(path, key)
            raise SpecError(f"{where}: unknown key '{key}'; did you mean "
                            f"'{canon[_squash(key)]}'?", field=where)


def _squash(key: str) -> str:
    return key.replace("_", "").lower()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: object) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)
