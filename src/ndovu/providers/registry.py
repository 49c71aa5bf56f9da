"""Which providers exist; only the composition root (ndovu.server) uses this."""


from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ndovu.errors import ProviderError
from ndovu.providers.base import Provider
from ndovu.providers.local import LocalProvider
from ndovu.providers.sim import SimProvider

# name -> (constructor over the state dir and options, the options it takes)
_PROVIDERS: dict[str, tuple[Callable[..., Provider], str]] = {
    "local": (LocalProvider, "subnet and max_parallel"),
    "sim": (SimProvider, "boot_latency_s, api_latency_s, max_parallel, failure_rate, seed, "
                         "fail_nodes, refuse_nodes, inventory and subnet"),
}
KNOWN_PROVIDERS = tuple(_PROVIDERS)


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


__all__ = ["KNOWN_PROVIDERS", "make_provider"]
