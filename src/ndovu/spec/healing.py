"""A cluster's healing policy: what ndovu repairs by itself once the cluster runs.

Declared in a spec (``"healing": {...}``) and overridable at create, like Cluster API's
MachineHealthCheck and Magnum's auto-healing: ``enabled``; ``unhealthyAfter``, the
seconds a node must stay unwell before it is repaired (a blip is left alone);
``maxUnhealthy``, how many nodes may be unwell at once for repairs to go on (a count, or
a percentage of the cluster's nodes as ``"40%"``): beyond it something larger is wrong
(the network, the provider), and restarting nodes would make it worse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ndovu.errors import SpecError

KEYS = ("enabled", "unhealthyAfter", "maxUnhealthy")
MAX_UNHEALTHY_AFTER_S = 7 * 24 * 3600
_PERCENT = re.compile(r"^(\d{1,3})%$")


@dataclass(frozen=True)
class HealingPolicy:
    enabled: bool = True
    unhealthy_after_s: int = 300
    # a count of nodes, or a percentage of them ("40%")
    max_unhealthy: str = "40%"

    def max_unhealthy_nodes(self, nodes: int) -> int:
        """How many of ``nodes`` may be unwell at once for repairs to go on."""
        percent = _PERCENT.match(self.max_unhealthy)
        if percent:
            return nodes * int(percent.group(1)) // 100
        return int(self.max_unhealthy)

    def to_api(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "unhealthyAfter": self.unhealthy_after_s,
                "maxUnhealthy": self.max_unhealthy}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> HealingPolicy:
        """From a stored plan (``dataclasses.asdict``); plans stored before healing
        existed have none and get the defaults."""
        return cls(**data) if data else cls()


def parse_healing(value: object, path: str = "healing",
                  base: HealingPolicy | None = None) -> HealingPolicy:
    """``value`` (the JSON object of a spec or a create request) over ``base``; a
    SpecError naming the field for anything else."""
    policy = base or HealingPolicy()
    if value is None:
        return policy
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}: expected an object with {', '.join(KEYS)}", field=path)
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise SpecError(f"{path}.{unknown[0]}: unknown healing setting; the settings are "
                        f"{', '.join(KEYS)}", field=f"{path}.{unknown[0]}")
    if "enabled" in value:
        if not isinstance(value["enabled"], bool):
            raise SpecError(f"{path}.enabled: expected true or false", field=f"{path}.enabled")
        policy = replace(policy, enabled=value["enabled"])
    if "unhealthyAfter" in value:
        after = value["unhealthyAfter"]
        if isinstance(after, bool) or not isinstance(after, int) \
                or not 0 <= after <= MAX_UNHEALTHY_AFTER_S:
            raise SpecError(f"{path}.unhealthyAfter: expected whole seconds from 0 to "
                            f"{MAX_UNHEALTHY_AFTER_S}, got {after!r}",
                            field=f"{path}.unhealthyAfter")
        policy = replace(policy, unhealthy_after_s=after)
    if "maxUnhealthy" in value:
        policy = replace(policy, max_unhealthy=_max_unhealthy(value["maxUnhealthy"], path))
    return policy


def _max_unhealthy(value: object, path: str) -> str:
    field = f"{path}.maxUnhealthy"
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100_000:
        return str(value)
    if isinstance(value, str):
        percent = _PERCENT.match(value)
        if percent and int(percent.group(1)) <= 100:
            return value
    raise SpecError(f"{field}: expected a count of nodes (e.g. 1) or a percentage of them "
                    f"(e.g. \"40%\"), got {value!r}", field=field)
