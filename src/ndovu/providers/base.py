"""The Provider protocol: turns node requests into machines with addresses.

Every verb is idempotent and keyed by the node's name, so the engine can repeat any step
after a crash: ``ensure_node`` returns the existing node, ``delete_node`` of a missing
node does nothing. ``list_nodes`` reports what really exists for a cluster, so nodes made
before a crash are adopted instead of duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ndovu.transports.base import Transport


@dataclass(frozen=True)
class NodeRequest:
    cluster: str
    name: str
    group: str
    index: int
    cpu: int
    memory_mb: int
    storage_gb: int
    # the cluster's network as (first, last) address blocks, both ends included: the node
    # gets a free address inside them; empty = the provider's own addresses (BDE: DHCP)
    address_pool: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NodeInfo:
    cluster: str
    name: str
    group: str
    index: int
    provider_id: str
    address: str
    powered_on: bool
    # the node's size as the provider reports it; None when the provider does not say
    # (a provider that can scale nodes must report both)
    cpu: int | None = None
    memory_mb: int | None = None


class Provider(Protocol):
    name: str
    # how many node operations the engine may run against this provider at once
    max_parallel: int
    # whether ``scale_node`` can give a node other CPU and memory; when it cannot,
    # ``scale_refusal`` says why and what to do instead (shown to API users as is)
    can_scale_nodes: bool
    scale_refusal: str | None
    # the addresses this provider can give its nodes (a network's ipBlocks must lie
    # inside), as a CIDR; None when it can give any
    address_space: str | None
    # why this provider cannot set a cluster password on its nodes; None when it can
    password_refusal: str | None
    # why this provider cannot give its nodes a static network's addresses (they keep
    # their machines' own); None when it can
    static_network_refusal: str | None
    # whether its machines run real software (the sim provider's are simulated: only
    # roles naming it in their ``providers`` run there)
    runs_software: bool

    def ensure_node(self, request: NodeRequest) -> NodeInfo: ...

    def delete_node(self, cluster: str, name: str) -> None: ...

    def forget_node(self, cluster: str, name: str) -> str:
        """A forced delete gave up on ``delete_node``: drop the provider's own record of
        the node without reaching it, so it is never listed (or adopted) again, and say
        what may be left behind and where."""

    def release_cluster(self, cluster: str) -> None:
        """The cluster is gone (every node deleted): remove what its nodes shared (the
        OpenStack provider's key pair, security group, server groups). Idempotent; called
        also when no node was ever made."""

    def power_on(self, cluster: str, name: str) -> NodeInfo: ...

    def power_off(self, cluster: str, name: str) -> NodeInfo: ...

    def list_nodes(self, cluster: str) -> list[NodeInfo]: ...

    def scale_node(self, cluster: str, name: str, cpu: int, memory_mb: int) -> NodeInfo:
        """Give the node ``cpu`` CPUs and ``memory_mb`` MB (idempotent: a node of that size
        is left alone) and return it running. ProviderError when ``can_scale_nodes`` is
        False."""

    def transport(self, node: NodeInfo) -> Transport: ...
