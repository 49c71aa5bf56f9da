"""Which providers exist; only the composition root (ndovu.server) uses this."""


from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ndovu.errors import ProviderError
from ndovu.providers.base import Provider
from ndovu.providers.local import LocalProvider
from ndovu.providers.machines import MachinesProvider
from ndovu.providers.openstack import OpenStackProvider
from ndovu.providers.sim import SimProvider


def _machines(state_dir: Path, **options: Any) -> Provider:
    # ndovu.server adds the store's inventory and the process's SSH connections
    return MachinesProvider(**options)


def _openstack(state_dir: Path, **options: Any) -> Provider:
    # ndovu.server adds the store's cluster keys and the process's SSH connections
    return OpenStackProvider(**options)


# name -> (constructor over the state dir and options, the options it takes)
_PROVIDERS: dict[str, tuple[Callable[..., Provider], str]] = {
    "local": (LocalProvider, "subnet and max_parallel"),
    "sim": (SimProvider, "boot_latency_s, api_latency_s, max_parallel, failure_rate, seed, "
                         "fail_nodes, refuse_nodes, inventory and subnet"),
    "machines": (_machines, "node_root, max_parallel and reach_timeout_s"),
    "openstack": (_openstack, "cloud, clouds_file, auth, network, image, flavor, flavors, "
                              "security_groups, control_cidrs, server_group_policy, "
                              "floating_network, floating_ip_groups, ssh_user, max_parallel, "
                              "boot_timeout_s and reach_timeout_s"),
}
KNOWN_PROVIDERS = tuple(_PROVIDERS)


def runs_software() -> dict[str, bool]:
    """Every known provider, and whether its machines run real software (the catalog's
    "runs on" lists those where a type's roles can run)."""
    return {name: bool(getattr(make, "runs_software", True))
            for name, (make, _) in _PROVIDERS.items()}


def make_provider(name: str, state_dir: Path, **options: Any) -> Provider:
    """The provider called ``name``, configured with ``options`` from the server config."""
    if name not in _PROVIDERS:
        raise ProviderError(f"unknown provider {name!r}; known providers: "
                            f"{', '.join(KNOWN_PROVIDERS)}")
    make, takes = _PROVIDERS[name]
    try:
        return make(state_dir, **options)
    except TypeError as exc:
        raise ProviderError(f"invalid option for the {name} provider: {exc}",
                            hint=f"the {name} provider takes {takes}") from exc


__all__ = ["KNOWN_PROVIDERS", "make_provider", "runs_software"]
