"""What the routes need from the process, injected by the composition root (ndovu.server)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session

from ndovu.api.reading import Reader
from ndovu.catalog import Catalog
from ndovu.spec.limits import DEFAULT_LIMITS, ServerLimits
from ndovu.spec.model import ClusterPlan
from ndovu.store.db import Store

NO_NODE_PASSWORDS = "this server's provider cannot set node passwords"


@dataclass
class ApiContext:
    store: Store
    catalog: Catalog
    # raises SpecError when the engine cannot run a plan (unknown or unsupported roles)
    validate_plan: Callable[[ClusterPlan], None]
    # for the catalog: where a type with these roles runs, whether it can run here and why
    # not, and each role's settings (a plain dict, see engine.planner.role_support)
    role_support: Callable[[Sequence[str]], dict[str, Any]]
    # tells the engine that new work is waiting (no-op when the engine runs elsewhere)
    notify: Callable[[], None]
    # why this server's provider cannot change a node's CPU or memory (refused scale
    # requests say so); None when it can
    scale_refusal: str | None = None
    # this server's provider, and the addresses it can give nodes (a network's ipBlocks
    # must lie inside; None: any), e.g. 127.0.0.0/8 for the local provider
    provider: str = "local"
    address_space: str | None = None
    # why this server's provider cannot set a cluster password on its nodes: a create
    # carrying one is refused with it (no provider sets node passwords yet, so there is
    # no path that would keep the password)
    password_refusal: str = NO_NODE_PASSWORDS
    # why this server's provider cannot give nodes a static network's addresses (its nodes
    # keep their machines' own); None when it can
    static_network_refusal: str | None = None
    # (session, cluster, new nodes, field): refuses (422) new nodes the provider has no
    # room for in the store's records (the machines provider: a free machine per node)
    check_node_room: Callable[[Session, str, int, str | None], None] = \
        lambda s, cluster, new_nodes, field: None
    # the pass durations of the engine in this process (ndovu.engine.pass_times), added
    # to /metrics; None when the engine runs elsewhere
    engine_metrics: CollectorRegistry | None = None
    # this server's URL as clients use it (Settings.public_base_url): absolute URLs in
    # responses start with it, never with what a request's headers claim
    public_url: str = "http://127.0.0.1:8470"
    # served over HTTPS: session cookies are marked Secure
    secure_cookies: bool = False
    # what one cluster may ask for on this server, whatever its spec allows
    limits: ServerLimits = DEFAULT_LIMITS
    # the largest request body accepted (larger ones: 413 before any route runs)
    max_body_bytes: int = 1 << 20

    # for async routes and dependencies: ``await ctx.read(fn, *args)`` runs
    # ``fn(connection, *args)`` without a hop to the thread pool where it can (see reading)
    read: Reader = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.read = Reader(self.store.engine)


def app_context(request: Request) -> ApiContext:
    return request.app.state.ndovu


# async: a plain function dependency would cost a hop to the thread pool on every request
async def context(request: Request) -> ApiContext:
    return app_context(request)
