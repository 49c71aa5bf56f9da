"""The server's hard limits on what one cluster may ask for, whatever its spec allows.

A catalog spec's ranges are the operator's per type; a full spec in the request
(``specFile``) brings its own. These bounds hold for every path, and are checked on the
numbers before any plan is built: a request for a million nodes is refused without a
million of anything made in memory or in the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from ndovu.errors import SpecError


@dataclass(frozen=True)
class ServerLimits:
    nodes_per_cluster: int = 1000
    cpu_per_node: int = 128
    memory_mb_per_node: int = 1024 * 1024  # 1 TiB
    storage_gb_per_node: int = 64 * 1024  # 64 TiB

    def check_nodes(self, count: int, field: str, what: str) -> None:
        """``what`` (e.g. "cluster 'zk'") would have ``count`` nodes in all."""
        if count > self.nodes_per_cluster:
            raise SpecError(
                f"{field}: {what} would have {count} nodes; this server allows at most "
                f"{self.nodes_per_cluster} nodes per cluster", field=field,
                hint="ask for fewer nodes, or have the operator raise max_nodes_per_cluster")

    def check_size(self, cpu: int | None, memory_mb: int | None, storage_gb: int | None,
                   *, group: str, fields: tuple[str, str, str]) -> None:
        """A node of ``group`` with these sizes (None: not asked for); ``fields`` name
        the CPU, memory and storage values in the request."""
        for value, most, unit, setting, field in (
                (cpu, self.cpu_per_node, "CPUs", "max_cpu_per_node", fields[0]),
                (memory_mb, self.memory_mb_per_node, "MB of memory",
                 "max_memory_mb_per_node", fields[1]),
                (storage_gb, self.storage_gb_per_node, "GB of storage",
                 "max_storage_gb_per_node", fields[2])):
            if value is not None and value > most:
                raise SpecError(
                    f"{field}: {group} wants {value} {unit} per node; this server allows "
                    f"at most {most}", field=field,
                    hint=f"ask for less, or have the operator raise {setting}")


DEFAULT_LIMITS = ServerLimits()
