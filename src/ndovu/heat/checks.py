"""What ``validate()`` checks before anything is created, with messages a template author
can act on. The server checks all of it again; this is so a stack fails at validation
rather than half-way through a create.

- ``name_problem``: BDE's naming rules for cluster names (the same rule as the server:
  letters, digits and underscores; every node name ``<cluster>-<group>-<index>`` must fit
  vCenter's 80 characters).
- ``type_problems``: the type against ``GET /v1/catalog/{type}`` (unknown, or not runnable
  on this server and why) and each node group override against the type's groups: known
  group, each group once, instance count within the spec's ``[default,min,max]`` range,
  instance type among the group's choices, CPU and memory within their ranges.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import cluster_spec

CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9_]+")
MAX_VC_OBJECT_NAME = 80
NODE_NAME_OVERHEAD = 2 + 4  # the two "-" and room for a 4-digit index
DEFAULT_GROUP_NAME_LENGTH = 6


def name_problem(name: str, group_names: Iterable[str] = ()) -> str | None:
    if not CLUSTER_NAME_RE.fullmatch(name):
        suggestion = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "cluster_1"
        return (f"cluster name {name!r} is invalid: use letters, digits and underscores "
                f"only (no spaces, hyphens or other characters), for example "
                f"{suggestion!r}")
    longest = max((len(g.replace(" ", "_")) for g in group_names),
                  default=DEFAULT_GROUP_NAME_LENGTH)
    limit = MAX_VC_OBJECT_NAME - NODE_NAME_OVERHEAD - longest
    if len(name) > limit:
        return (f"cluster name {name!r} has {len(name)} characters; node names "
                f"'{name}-<group>-NNNN' must fit {MAX_VC_OBJECT_NAME} characters, so use "
                f"at most {limit}")
    return None


def unknown_type(name: str, offered: Sequence[str]) -> str:
    listed = ", ".join(offered) if offered else "none"
    return f"ndovu's catalog has no cluster type {name!r}; it offers: {listed}"


def type_problems(kind: Mapping[str, Any],
                  groups: Sequence[cluster_spec.GroupOverride]) -> list[str]:
    """Problems of the overrides against the type (``kind``: its /v1 catalog read)."""
    problems: list[str] = []
    if kind.get("runnableHere") is False:
        reason = kind.get("notRunnableReason") or "no provider of this server can run it"
        problems.append(f"cluster type {kind['name']!r} cannot run on this ndovu server: "
                        f"{reason}")
    spec_groups = {g["name"].lower(): g for g in kind.get("nodeGroups", [])}
    names = ", ".join(repr(g["name"]) for g in kind.get("nodeGroups", []))
    seen: set[str] = set()
    for i, over in enumerate(groups):
        where = f"node_groups[{i}]"
        spec = spec_groups.get(over.name.lower())
        if spec is None:
            problems.append(f"{where}: cluster type {kind['name']!r} has no node group "
                            f"{over.name!r}; its node groups are {names}")
            continue
        if over.name.lower() in seen:
            problems.append(f"{where}: node group {spec['name']!r} is given twice")
        seen.add(over.name.lower())
        problems += _range_problems(where, spec, "instance_num", over.instance_num,
                                    "instanceNum", "nodes")
        problems += _range_problems(where, spec, "cpu_num", over.cpu_num, "cpuNum", "CPUs")
        problems += _range_problems(where, spec, "memory_mb", over.memory_mb,
                                    "memCapacityMB", "MB of memory")
        types = spec.get("instanceTypes") or []
        if over.instance_type and types and over.instance_type not in types:
            problems.append(f"{where}.instance_type: node group {spec['name']!r} offers "
                            f"{', '.join(types)}, not {over.instance_type!r}")
        storage = (spec.get("storage") or {}).get("sizeGB")
        problems += _range_problems(where, {"sizeGB": storage, "name": spec["name"]},
                                    "storage_gb", over.storage_gb, "sizeGB", "GB of storage")
    return problems


def _range_problems(where: str, spec: Mapping[str, Any], key: str, value: int | None,
                    spec_key: str, unit: str) -> list[str]:
    bounds = spec.get(spec_key)
    if value is None or not bounds:
        return []
    low, high = bounds.get("min"), bounds.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        upper = "no maximum" if high is None else f"at most {high}"
        return [f"{where}.{key}: node group {spec['name']!r} may have at least {low} and "
                f"{upper} {unit}, not {value}"]
    return []
