"""``ndovu cluster scale``: give a node group's nodes other CPU and memory."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, DEFAULT_WAIT_TIMEOUT_S, ApiClient
from ndovu.cli.follow import handle_accepted
from ndovu.cli.options import JsonOption, NoWaitOption, TimeoutOption, UrlOption
from ndovu.cli.output import reporting_errors


def scale(
    name: Annotated[str, typer.Argument(help="Cluster name.")],
    group: Annotated[str, typer.Argument(help="Node group name.")],
    cpu: Annotated[int | None, typer.Option(
        "--cpu", min=1, metavar="N", help="CPUs per node.")] = None,
    memory: Annotated[int | None, typer.Option(
        "--memory", min=1, metavar="MB", help="Memory per node, in MB.")] = None,
    no_wait: NoWaitOption = False,
    json_output: JsonOption = False,
    timeout: TimeoutOption = DEFAULT_WAIT_TIMEOUT_S,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Give every node of a group new CPU and/or memory, one node at a time (needs a
    provider that can resize machines; the local provider cannot)."""
    if cpu is None and memory is None:
        raise typer.BadParameter("give --cpu, --memory or both", param_hint="--cpu/--memory")
    size = ", ".join(part for part in (cpu and f"{cpu} CPU", memory and f"{memory} MB")
                     if part)
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        accepted = client.scale_group(name, group, cpu=cpu, memory_mb=memory)
        handle_accepted(client, accepted, name=name, verb="Scaling",
                        done=f"Node group '{group}' of cluster '{name}' is scaled to {size}",
                        no_wait=no_wait, timeout=timeout, json_output=json_output,
                        show_nodes=True)
