"""Networks, resource pools and datastores behind both REST surfaces (/v1 and BDE's
/serengeti/api).

Each function takes the ApiContext and plain values, opens the transaction, takes the
locks the rules need and applies ``ndovu.placement``'s rules, so a rule lives there
once and the order of locking lives here once. The surfaces differ only in their request
and read shapes: each passes its own ``read`` (row → its JSON), which runs inside the
transaction because a read shows usage (free addresses, used capacity, the clusters).

``listed_at`` names where the caller's surface lists the resources: a 404's hint then
points there (placement's own hints name both surfaces).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ndovu import placement
from ndovu.api.deps import ApiContext
from ndovu.errors import NotFoundError
from ndovu.store.models import Datastore, Network, ResourcePool

R = TypeVar("R")
Block = tuple[str, str]


@contextmanager
def _hinting(listed_at: str | None, what: str) -> Iterator[None]:
    try:
        yield
    except NotFoundError as exc:
        if listed_at is not None:
            exc.hint = f"GET {listed_at} lists the {what}"
        raise


# -- networks ------------------------------------------------------------------------


def list_networks(ctx: ApiContext, read: Callable[[Session, Network], R]) -> list[R]:
    """Every network, the built-in ``defaultNetwork`` (the provider's own addresses) first."""
    with ctx.store.session() as s:
        rows = [placement.default_network(ctx.provider),
                *s.scalars(select(Network).order_by(Network.name))]
        return [read(s, n) for n in rows]


def add_network(ctx: ApiContext, read: Callable[[Session, Network], R], *, name: str,
                port_group: str, is_dhcp: bool, ip_blocks: Sequence[Block] | None,
                dns1: str | None = None, dns2: str | None = None, gateway: str | None = None,
                netmask: str | None = None, dns_type: str | None = None) -> R:
    """A static network's ipBlocks must lie inside the provider's address space."""
    with ctx.store.session() as s:
        row = placement.add_network(
            s, name=name, port_group=port_group, is_dhcp=is_dhcp, ip_blocks=ip_blocks,
            dns1=dns1, dns2=dns2, gateway=gateway, netmask=netmask, dns_type=dns_type,
            address_space=ctx.address_space, provider=ctx.provider)
        return read(s, row)


def get_network(ctx: ApiContext, name: str, read: Callable[[Session, Network], R], *,
                listed_at: str | None = None) -> R:
    with ctx.store.session() as s, _hinting(listed_at, "networks"):
        return read(s, placement.get_network(s, name, ctx.provider))


def update_network(ctx: ApiContext, name: str, read: Callable[[Session, Network], R], *,
                   ip_blocks: Sequence[Block] | None, dns1: str | None, dns2: str | None,
                   fixed: dict[str, Any] | None = None, listed_at: str | None = None) -> R:
    """Add ipBlocks, change dns1 / dns2; ``fixed`` fields given must equal the network's."""
    with ctx.store.session() as s, _hinting(listed_at, "networks"):
        placement.lock(s, name, None)  # blocks added while a create counts free addresses
        row = placement.update_network(
            s, name, ip_blocks=ip_blocks, dns1=dns1, dns2=dns2, fixed=fixed or {},
            address_space=ctx.address_space, provider=ctx.provider)
        return read(s, row)


def delete_network(ctx: ApiContext, name: str, *, listed_at: str | None = None) -> None:
    """Refused (409) while a cluster uses the network."""
    with ctx.store.session() as s, _hinting(listed_at, "networks"):
        placement.lock(s, name, None)  # no create may take its addresses meanwhile
        placement.delete_network(s, name, ctx.provider)


# -- resource pools ------------------------------------------------------------------


def list_resource_pools(ctx: ApiContext,
                        read: Callable[[Session, ResourcePool], R]) -> list[R]:
    with ctx.store.session() as s:
        return [read(s, p)
                for p in s.scalars(select(ResourcePool).order_by(ResourcePool.name))]


def add_resource_pool(ctx: ApiContext, read: Callable[[Session, ResourcePool], R], *,
                      name: str, vc_cluster: str, vc_resource_pool: str | None,
                      cpu_limit: int | None, mem_limit_mb: int | None) -> R:
    """``cpu_limit`` / ``mem_limit_mb``: what all the pool's nodes may have together
    (None: unlimited)."""
    with ctx.store.session() as s:
        row = placement.add_resource_pool(
            s, name=name, vc_cluster=vc_cluster, vc_resource_pool=vc_resource_pool,
            cpu_limit=cpu_limit, mem_limit_mb=mem_limit_mb)
        return read(s, row)


def get_resource_pool(ctx: ApiContext, name: str, read: Callable[[Session, ResourcePool], R],
                      *, listed_at: str | None = None) -> R:
    with ctx.store.session() as s, _hinting(listed_at, "resource pools"):
        return read(s, placement.get_resource_pool(s, name))


def delete_resource_pool(ctx: ApiContext, name: str, *, listed_at: str | None = None) -> None:
    """Refused (409) while a cluster is placed in the pool."""
    with ctx.store.session() as s, _hinting(listed_at, "resource pools"):
        placement.lock(s, None, name)  # no create may count on it meanwhile
        placement.delete_resource_pool(s, name)


# -- datastores ----------------------------------------------------------------------


def list_datastores(ctx: ApiContext, read: Callable[[Session, Datastore], R]) -> list[R]:
    with ctx.store.session() as s:
        return [read(s, d) for d in s.scalars(select(Datastore).order_by(Datastore.name))]


def add_datastore(ctx: ApiContext, read: Callable[[Session, Datastore], R], *, name: str,
                  spec: Sequence[str], type_: str, regex: bool) -> R:
    with ctx.store.session() as s:
        row = placement.add_datastore(s, name=name, spec=spec, type_=type_, regex=regex)
        return read(s, row)


def get_datastore(ctx: ApiContext, name: str, read: Callable[[Session, Datastore], R], *,
                  listed_at: str | None = None) -> R:
    with ctx.store.session() as s, _hinting(listed_at, "datastores"):
        return read(s, placement.get_datastore(s, name))


def delete_datastore(ctx: ApiContext, name: str, *, listed_at: str | None = None) -> None:
    """Refused (409) while a cluster names the datastore."""
    with ctx.store.session() as s, _hinting(listed_at, "datastores"):
        placement.delete_datastore(s, name)
