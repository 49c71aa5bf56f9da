"""Bootstrap order from what roles declare they provide and require.

Roles form stages: every role of a stage requires only services provided by earlier
stages, so a stage starts once the previous one is healthy (BDE's provide_service /
wait_for_service), and the roles inside a stage start in parallel. A service a role
``uses`` is waited for like a required one when some role of the cluster provides it, and
ignored otherwise (a Spark master uses ZooKeeper for recovery only when there is one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ndovu.errors import SpecError
from ndovu.roles.base import Role
from ndovu.spec.model import ClusterPlan, ClusterSpec


def plan_roles(plan: ClusterPlan) -> list[str]:
    seen: dict[str, None] = {}
    for group in plan.groups:
        for role in group.roles:
            seen.setdefault(role, None)
    return list(seen)


def bootstrap_stages(role_names: Iterable[str], roles: Mapping[str, Role]) -> list[list[str]]:
    """Group roles into ordered stages; raise SpecError on a missing provider or a cycle."""
    names = list(dict.fromkeys(role_names))
    providers: dict[str, str] = {}
    for name in names:
        for service in roles[name].provides:
            providers.setdefault(service, name)
    for name in names:
        for service in sorted(roles[name].requires):
            if service not in providers:
                raise SpecError(
                    f"role {name!r} requires the service {service!r}, which no role of this "
                    "cluster provides", field="nodeGroups",
                    hint="add a node group with a role that provides it")
    waits = {n: {s for s in roles[n].requires | roles[n].uses
                 if s in providers} for n in names}
    stages: list[list[str]] = []
    done: set[str] = set()
    remaining = list(names)
    while remaining:
        ready = [n for n in remaining
                 if all(providers[s] in done or providers[s] == n for s in waits[n])]
        if not ready:
            raise SpecError(f"roles {', '.join(remaining)} require each other's services in a "
                            "cycle; no start order exists", field="nodeGroups")
        stages.append(ready)
        done.update(ready)
        remaining = [n for n in remaining if n not in done]
    return stages


# how ndovu runs a role: through a Transport, which every provider gives for its nodes
UNIMPLEMENTED_NOTE = ("ndovu has no implementation of them (BDE installed such roles with "
                      "Chef cookbooks baked into its VM templates), so no provider can run "
                      "them; nothing is installed that ndovu cannot really run")


def runs_on(role: Role, provider: str, runs_software: bool = True) -> bool:
    """Whether ``role`` runs on ``provider``: the providers the role names in an optional
    ``providers`` attribute, or else every provider whose machines run real software (the
    provider's ``runs_software`` capability; the sim provider's nodes run none)."""
    only = getattr(role, "providers", None)
    return provider in only if only is not None else runs_software


def not_runnable_reason(role_names: Iterable[str], roles: Mapping[str, Role],
                        provider: str | None = None,
                        runs_software: bool = True) -> str | None:
    """Why a cluster with these roles cannot run on this server (with ``provider``, also:
    on that provider), or None when it can."""
    names = list(dict.fromkeys(role_names))
    missing = [n for n in names if n not in roles]
    if missing:
        return (f"it needs the roles {', '.join(missing)}; {UNIMPLEMENTED_NOTE} (roles ndovu "
                f"runs: {', '.join(sorted(roles)) or 'none'})")
    for name in names:
        if provider is None or runs_on(roles[name], provider, runs_software):
            continue
        only = getattr(roles[name], "providers", None)
        if only is not None:
            return (f"role {name!r} runs only on the {' or '.join(sorted(only))} provider, "
                    f"and this server uses the {provider} provider")
        return (f"role {name!r} runs real software, and the {provider} provider's nodes "
                "are simulated: they run none")
    for name in names:
        reason = roles[name].unsupported_reason()
        if reason:
            return f"role {name!r} cannot run on this server: {reason}"
    return None


def role_support(role_names: Iterable[str], roles: Mapping[str, Role], provider: str,
                 providers: Mapping[str, bool]) -> dict[str, Any]:
    """What the catalog tells a user about running a type: where it can run (of
    ``providers``: name -> whether its machines run real software), whether it can run
    here and why not, and each role with the settings it understands."""
    names = list(dict.fromkeys(role_names))
    reason = not_runnable_reason(names, roles, provider, providers.get(provider, True))
    implemented = all(n in roles for n in names)
    return {
        "runsOn": [p for p, real in providers.items()
                   if all(runs_on(roles[n], p, real) for n in names)]
        if implemented else [],
        "runnableHere": reason is None,
        "provider": provider,
        "reason": reason,
        "roleDetails": [{
            "name": n,
            "implemented": n in roles,
            "summary": roles[n].summary if n in roles else None,
            "configSection": roles[n].config_section if n in roles else None,
            "settings": [{"name": st.name, "kind": st.kind, "default": st.default,
                          "description": st.description}
                         for st in roles[n].settings.values()] if n in roles else [],
        } for n in names],
    }


def check_spec_configuration(spec: ClusterSpec, roles: Mapping[str, Role]) -> None:
    """For a catalog type whose roles all run here: refuse configuration in the spec
    itself that no role understands, so the operator hears of it when the catalog loads,
    not when every tenant's create fails."""
    role_names = [r for g in spec.groups for r in g.roles]
    if not_runnable_reason(role_names, roles):
        return
    check_configuration(spec.configuration, [roles[r] for r in dict.fromkeys(role_names)],
                        "configuration")
    for i, group in enumerate(spec.groups):
        check_configuration(group.configuration, [roles[r] for r in group.roles],
                            f"nodeGroups[{i}].configuration")


def validate_plan(plan: ClusterPlan, roles: Mapping[str, Role],
                  provider: str | None = None, runs_software: bool = True) -> list[list[str]]:
    """Refuse up front a plan this server cannot run; return its bootstrap stages."""
    reason = not_runnable_reason(plan_roles(plan), roles, provider, runs_software)
    if reason:
        missing = [r for r in plan_roles(plan) if r not in roles or roles[r].unsupported_reason()
                   or (provider is not None
                       and not runs_on(roles[r], provider, runs_software))]
        where = next((i for i, g in enumerate(plan.groups)
                      if any(r in missing for r in g.roles)), 0)
        where_to = f"the {provider} provider" if provider else "this server"
        raise SpecError(f"cluster type {plan.type!r} cannot run on {where_to}: {reason}",
                        field=f"nodeGroups[{where}].roles",
                        hint="GET /v1/catalog (or `ndovu catalog list`) shows which types "
                             "can run here")
    stages = bootstrap_stages(plan_roles(plan), roles)
    check_configuration(plan.configuration, [roles[r] for r in plan_roles(plan)],
                        "configuration")
    for i, group in enumerate(plan.groups):
        check_configuration(group.configuration, [roles[r] for r in group.roles],
                            f"nodeGroups[{i}].configuration")
    return stages


def check_configuration(configuration: Mapping[str, Any], roles: list[Role],
                        where: str) -> None:
    """Refuse sections and keys that none of ``roles`` understands, and bad values.

    A cluster-level section applies to every role of the cluster with that section; a
    group-level one to the group's roles only.
    """
    sections: dict[str, dict[str, Any]] = {}
    for role in roles:
        sections.setdefault(role.config_section, {}).update(role.settings)
    known = ", ".join(sorted(sections)) or "none"
    for section, values in configuration.items():
        if section not in sections:
            owner = next((s for s, keys in sections.items() if section in keys), None)
            hint = (f"put it inside the '{owner}' section: {{\"{owner}\": {{\"{section}\": "
                    "...}}" if owner else f"sections understood here: {known}")
            raise SpecError(f"configuration section '{section}' is not understood by any "
                            f"role of this {'cluster' if where == 'configuration' else 'group'}"
                            f" (sections understood: {known})",
                            field=f"{where}.{section}", hint=hint)
        if not isinstance(values, Mapping):
            raise SpecError(f"configuration section '{section}' must be an object of "
                            f"settings, not {values!r}", field=f"{where}.{section}")
        settings = sections[section]
        unknown = sorted(k for k in values if k not in settings)
        if unknown:
            raise SpecError(f"configuration keys not understood by any {section} role: "
                            f"{', '.join(unknown)}",
                            field=f"{where}.{section}.{unknown[0]}",
                            hint=f"settable {section} keys: {', '.join(sorted(settings))}")
        for key, value in values.items():
            try:
                settings[key].parse(value)
            except ValueError as exc:
                raise SpecError(f"{section}.{key} {exc}", field=f"{where}.{section}.{key}",
                                hint=settings[key].description) from None
