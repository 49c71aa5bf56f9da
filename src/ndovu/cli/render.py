"""Rich renderables for the API's resources: nodes, endpoints, groups, operations, catalog,
networks, resource pools and datastores.

Every value that came from the server is escaped: names and messages are data, not markup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

Json = dict[str, Any]

STATUS_STYLES = {
    "RUNNING": "green", "COMPLETED": "green", "SERVICE_READY": "green",
    "VM_READY": "cyan", "POWERED_ON": "cyan", "STARTED": "cyan", "STARTING": "cyan",
    "PROVISIONING": "cyan", "CONFIGURING": "cyan", "UPDATING": "cyan", "VMRECONFIGURING": "cyan",
    "DELETING": "yellow", "STOPPING": "yellow", "STOPPED": "yellow", "NOT_EXIST": "dim",
    "POWERED_OFF": "dim", "SERVICE_WARNING": "yellow", "SERVICE_UNHEALTHY": "yellow",
    "SERVICE_STOPPED": "red", "DISCONNECTED": "red",
    "FAILED": "red", "ABANDONED": "red", "ERROR": "red", "PROVISION_ERROR": "red",
    "BOOTSTRAP_FAILED": "red", "UNKNOWN": "yellow",
}


def status_text(status: str | None) -> Text:
    value = status or "-"
    return Text(value, style=STATUS_STYLES.get(value, ""))


def clock_time(stamp: str | None) -> str:
    """``2025-01-01T10:11:12.345678+00:00`` → ``10:11:12.345`` in local time (in an event
    log the date is noise)."""
    if not stamp:
        return "-"
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        return stamp


def node_address(instance: Json) -> str:
    """The management address (``ipConfigs.MGT_NETWORK[0]``), else ``ip``, else ``-``."""
    for config in (instance.get("ipConfigs") or {}).get("MGT_NETWORK") or []:
        if config.get("ipAddress"):
            return str(config["ipAddress"])
    return str(instance.get("ip") or "-")


def instances(cluster: Json) -> list[Json]:
    return [node for group in cluster.get("nodeGroups") or []
            for node in group.get("instances") or []]


def nodes_table(cluster: Json, *, detail: bool = False, action: bool = False) -> Table:
    """Name, address and status of every node; ``action`` adds what each node is doing,
    ``detail`` adds that and its last error."""
    table = Table(title="Nodes", title_justify="left", expand=False)
    table.add_column("Name", no_wrap=True)
    table.add_column("Address", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    if detail or action:
        table.add_column("Action", overflow="ellipsis", no_wrap=True, max_width=60)
    if detail:
        table.add_column("Error", style="red")
    for node in instances(cluster):
        row: list[RenderableType] = [escape(str(node.get("name", "-"))),
                                     escape(node_address(node)),
                                     status_text(node.get("status"))]
        if detail or action:
            row.append(escape(str(node.get("action") or "")))
        if detail:
            row.append(escape(str(node.get("errMessage") or "")))
        table.add_row(*row)
    return table


def endpoints_lines(endpoints: dict[str, str] | None) -> list[str]:
    return [f"[bold]{escape(name)}[/]: {escape(str(value))}"
            for name, value in sorted((endpoints or {}).items())]


def groups_table(cluster: Json) -> Table:
    table = Table(title="Node groups", title_justify="left")
    for column in ("Group", "Roles", "Nodes", "Instance type", "CPU", "Memory MB", "Storage"):
        table.add_column(column, overflow="fold")
    for group in cluster.get("nodeGroups") or []:
        storage = group.get("storage") or {}
        table.add_row(
            escape(str(group.get("name", "-"))),
            escape(", ".join(group.get("roles") or [])),
            str(group.get("instanceNum", "-")),
            escape(str(group.get("instanceType") or "-")),
            str(group.get("cpuNum") or "-"),
            str(group.get("memCapacityMB") or "-"),
            escape(f"{storage.get('sizeGB', '-')} GB {storage.get('type') or ''}".strip()
                   if storage else "-"),
        )
    return table


def operation_summary(op: Json) -> str:
    """One line: ``CREATE #7 of 'zk': COMPLETED 100% (message)``."""
    line = (f"{escape(str(op.get('type')))} #{op.get('id')} of "
            f"'{escape(str(op.get('target')))}': "
            f"[{STATUS_STYLES.get(str(op.get('status')), '')}]{escape(str(op.get('status')))}"
            f"[/] {op.get('progress', 0)}%")
    if op.get("progressMessage"):
        line += f" ({escape(str(op['progressMessage']))})"
    return line


def operation_table(op: Json) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, RenderableType]] = [
        ("Operation", str(op.get("id"))),
        ("Type", escape(str(op.get("type")))),
        ("Cluster", escape(str(op.get("target")))),
        ("Status", status_text(op.get("status"))),
        ("Progress", f"{op.get('progress', 0)}%"),
        ("Message", escape(str(op.get("progressMessage") or "-"))),
        ("Created", escape(str(op.get("createdAt") or "-"))),
        ("Finished", escape(str(op.get("finishedAt") or "-"))),
    ]
    if op.get("errorMessage"):
        rows.append(("Error", Text(str(op["errorMessage"]), style="red")))
    if op.get("succeedNodes"):
        rows.append(("Succeeded", escape(", ".join(op["succeedNodes"]))))
    if op.get("failNodes"):
        rows.append(("Failed nodes", Text(", ".join(op["failNodes"]), style="red")))
    for label, value in rows:
        table.add_row(label, value)
    return table


def events_table(events: list[Json]) -> Table:
    table = Table(title="Events", title_justify="left")
    for column in ("#", "At", "Node", "Step", "Outcome", "ms", "Message"):
        table.add_column(column, no_wrap=column not in ("Step", "Message"))
    outcome_styles = {"ok": "green", "failed": "red", "waiting": "yellow"}
    for event in events:
        outcome = str(event.get("outcome") or "-")
        duration = event.get("durationMs")
        table.add_row(str(event.get("id", "")), clock_time(event.get("at")),
                      escape(str(event.get("node") or "-")), escape(str(event.get("step"))),
                      Text(outcome, style=outcome_styles.get(outcome, "")),
                      "-" if duration is None else str(duration),
                      escape(str(event.get("message") or "")))
    return table


def duration_text(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def cluster_events_table(events: list[Json]) -> Table:
    """A cluster's event log: one row per step, across its operations."""
    table = Table(title="Events", title_justify="left")
    for column in ("Time", "Op", "Node", "Step", "Outcome", "Duration", "Message"):
        table.add_column(column, no_wrap=column not in ("Step", "Message"),
                         justify="right" if column == "Duration" else "left")
    outcome_styles = {"ok": "green", "failed": "red", "waiting": "yellow"}
    for event in events:
        outcome = str(event.get("outcome") or "-")
        table.add_row(clock_time(event.get("at")), str(event.get("operationId") or "-"),
                      escape(str(event.get("node") or "-")), escape(str(event.get("step"))),
                      Text(outcome, style=outcome_styles.get(outcome, "")),
                      duration_text(event.get("durationMs")),
                      escape(str(event.get("message") or "")))
    return table


def cluster_header(cluster: Json) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Cluster", escape(str(cluster.get("name"))))
    table.add_row("Type", escape(str(cluster.get("type"))))
    table.add_row("Status", status_text(cluster.get("status")))
    table.add_row("Nodes", str(cluster.get("instanceNum", "-")))
    if cluster.get("errorMessage"):
        table.add_row("Error", Text(str(cluster["errorMessage"]), style="red"))
    return table


def cluster_view(cluster: Json) -> RenderableType:
    parts: list[RenderableType] = [cluster_header(cluster), "", groups_table(cluster),
                                   nodes_table(cluster, detail=True)]
    lines = endpoints_lines(cluster.get("endpoints"))
    if lines:
        parts += ["", "[bold]Endpoints[/]", *[f"  {line}" for line in lines]]
    if cluster.get("operation"):
        parts += ["", f"[bold]Latest operation[/]: {operation_summary(cluster['operation'])}"]
    return Group(*parts)


def clusters_table(clusters: list[Json]) -> Table:
    table = Table(title="Clusters", title_justify="left")
    for column in ("Name", "Type", "Status", "Nodes", "Endpoints"):
        table.add_column(column)
    for cluster in clusters:
        endpoints = "\n".join(f"{k}: {v}" for k, v in sorted((cluster.get("endpoints")
                                                                or {}).items()))
        table.add_row(escape(str(cluster.get("name"))), escape(str(cluster.get("type"))),
                      status_text(cluster.get("status")), str(cluster.get("instanceNum", "-")),
                      escape(endpoints or "-"))
    return table


def _instance_range(num: Json | int | None) -> str:
    if isinstance(num, dict):
        high = num.get("max")
        return (f"{num.get('default', '-')} ({num.get('min', 0)}.."
                f"{'∞' if high is None else high})")
    return "-" if num is None else str(num)


def _runs_here(kind: Json) -> str:
    if kind.get("runnableHere"):
        return "[green]yes[/]"
    return "[yellow]no[/]" if kind.get("runsOn") else "[red]no provider[/]"


def catalog_table(types: list[Json]) -> Table:
    table = Table(title="Cluster types", title_justify="left")
    for column in ("Name", "Type", "Vendor", "Version", "Runs here", "Roles"):
        table.add_column(column)
    for kind in types:
        table.add_row(escape(str(kind.get("name"))), escape(str(kind.get("type") or "-")),
                      escape(str(kind.get("vendor") or "-")),
                      escape(str(kind.get("version") or "-")), _runs_here(kind),
                      escape(", ".join(kind.get("roles") or [])))
    return table


def catalog_problems(problems: list[Json]) -> list[str]:
    return [f"[yellow]warning:[/] {escape(str(p.get('path')))}"
            + (f" [{escape(str(p['field']))}]" if p.get("field") else "")
            + f": {escape(str(p.get('message')))}" for p in problems]


def catalog_type_view(kind: Json) -> RenderableType:
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    for label, key in (("Name", "name"), ("Type", "type"), ("Vendor", "vendor"),
                       ("Version", "version"), ("Description", "description")):
        header.add_row(label, escape(str(kind.get(key) or "-")))
    header.add_row("Roles", escape(", ".join(kind.get("roles") or []) or "-"))
    header.add_row("Runs on", escape(", ".join(kind.get("runsOn") or []) or "no provider"))
    provider = escape(str(kind.get("provider") or "this server's"))
    if kind.get("runnableHere"):
        header.add_row("Here", f"[green]runs on the {provider} provider[/]")
    else:
        header.add_row("Here", f"[yellow]cannot run on the {provider} provider:[/] "
                               + escape(str(kind.get("notRunnableReason") or "unknown")))
    groups = Table(title="Node groups", title_justify="left")
    for column in ("Group", "Roles", "Instances default (min..max)", "Instance types",
                   "Storage GB"):
        groups.add_column(column)
    for group in kind.get("nodeGroups") or []:
        storage = group.get("storage") or {}
        groups.add_row(escape(str(group.get("name"))), escape(", ".join(group.get("roles")
                                                                          or [])),
                       _instance_range(group.get("instanceNum")),
                       escape(", ".join(group.get("instanceTypes") or []) or "-"),
                       _instance_range(storage.get("sizeGB")))
    parts: list[RenderableType] = [header, "", groups]
    if kind.get("runnableHere"):
        table = settings_table(kind.get("roleDetails") or [], kind.get("configuration") or {})
        if table.row_count:
            parts += ["", table]
    return Group(*parts)


def _setting_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "-" if value is None else str(value)


def settings_table(role_details: list[Json], type_configuration: Json) -> Table:
    """Every configuration key the type's roles understand, once per key (a key two roles
    read, like spark.daemon.memory, names both); the type's own value wins over the role's
    default and is marked."""
    rows: dict[str, list[Any]] = {}
    for role in role_details:
        section = str(role.get("configSection"))
        overrides = type_configuration.get(section) or {}
        for setting in role.get("settings") or []:
            key = f"{section}.{setting.get('name')}"
            if key in rows:
                rows[key][0].append(str(role.get("name")))
                continue
            value = _setting_value(setting.get("default"))
            if setting.get("name") in overrides:
                value = f"{_setting_value(overrides[setting['name']])} (this type)"
            rows[key] = [[str(role.get("name"))], key, str(setting.get("kind")), value,
                         str(setting.get("description") or "")]
    table = Table(title="Configuration (set with --set SECTION.KEY=VALUE)",
                  title_justify="left")
    for column in ("Setting", "Kind", "Default", "Read by", "Meaning"):
        table.add_column(column)
    for roles, key, kind_name, value, meaning in rows.values():
        table.add_row(escape(key), escape(kind_name), escape(value),
                      escape(", ".join(roles)), escape(meaning))
    return table


def _grid() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    return table


def blocks_text(blocks: list[Json] | None) -> str:
    return ", ".join(f"{b.get('beginIp')}-{b.get('endIp')}" for b in blocks or []) or "-"


def network_kind(net: Json) -> str:
    if net.get("builtIn"):
        return "built in (the provider's addresses)"
    return "DHCP (the provider's addresses)" if net.get("isDhcp") else "static"


def _free_addresses(net: Json) -> str:
    if net.get("freeAddresses") is None:
        return "-"
    return f"{net['freeAddresses']} of {net.get('totalAddresses', '-')}"


def _names(values: list[str] | None) -> str:
    return escape(", ".join(values or []) or "-")


def networks_table(networks: list[Json]) -> Table:
    table = Table(title="Networks", title_justify="left")
    for column in ("Name", "Kind", "Blocks", "Free", "Clusters"):
        table.add_column(column, overflow="fold")
    for net in networks:
        table.add_row(escape(str(net.get("name"))), escape(network_kind(net)),
                      escape(blocks_text(net.get("ipBlocks"))), _free_addresses(net),
                      _names(net.get("clusters")))
    return table


def network_view(net: Json) -> RenderableType:
    header = _grid()
    header.add_row("Network", escape(str(net.get("name"))))
    header.add_row("Kind", escape(network_kind(net)))
    header.add_row("Port group", escape(str(net.get("portGroup") or "-")))
    header.add_row("Blocks", escape(blocks_text(net.get("ipBlocks"))))
    header.add_row("Free addresses", _free_addresses(net))
    if net.get("ipBlocks"):
        header.add_row("Free blocks", escape(blocks_text(net.get("freeIpBlocks"))))
    for label, key in (("DNS 1", "dns1"), ("DNS 2", "dns2"), ("Gateway", "gateway"),
                       ("Netmask", "netmask")):
        if net.get(key):
            header.add_row(label, escape(str(net[key])))
    header.add_row("Clusters", _names(net.get("clusters")))
    if not net.get("assigned"):
        return header
    table = Table(title="Assigned addresses", title_justify="left")
    for column in ("Address", "Cluster", "Node"):
        table.add_column(column, no_wrap=True)
    for entry in net["assigned"]:
        table.add_row(escape(str(entry.get("ipAddress"))), escape(str(entry.get("cluster"))),
                      escape(str(entry.get("node"))))
    return Group(header, "", table)


def _used_of(used: object, limit: object, unit: str = "") -> str:
    return f"{used}{unit} of {'unlimited' if limit is None else f'{limit}{unit}'}"


def pools_table(pools: list[Json]) -> Table:
    table = Table(title="Resource pools", title_justify="left")
    for column in ("Name", "CPUs used", "Memory used", "Clusters"):
        table.add_column(column, overflow="fold")
    for pool in pools:
        table.add_row(escape(str(pool.get("name"))),
                      _used_of(pool.get("cpuUsed"), pool.get("cpuLimit")),
                      _used_of(pool.get("memUsedMB"), pool.get("memLimitMB"), " MB"),
                      _names(pool.get("clusters")))
    return table


def pool_view(pool: Json) -> RenderableType:
    header = _grid()
    header.add_row("Resource pool", escape(str(pool.get("name"))))
    header.add_row("CPUs used", _used_of(pool.get("cpuUsed"), pool.get("cpuLimit")))
    header.add_row("Memory used", _used_of(pool.get("memUsedMB"), pool.get("memLimitMB"),
                                           " MB"))
    if pool.get("cpuFree") is not None:
        header.add_row("CPUs free", str(pool["cpuFree"]))
    if pool.get("memFreeMB") is not None:
        header.add_row("Memory free", f"{pool['memFreeMB']} MB")
    header.add_row("Clusters", _names(pool.get("clusters")))
    return header


def datastores_table(datastores: list[Json]) -> Table:
    table = Table(title="Datastores", title_justify="left")
    for column in ("Name", "Type", "Spec", "Clusters"):
        table.add_column(column, overflow="fold")
    for ds in datastores:
        spec = ", ".join(ds.get("spec") or []) + (" (patterns)" if ds.get("regex") else "")
        table.add_row(escape(str(ds.get("name"))), escape(str(ds.get("type") or "-")),
                      escape(spec or "-"), _names(ds.get("clusters")))
    return table
