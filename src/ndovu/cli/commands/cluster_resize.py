"""``ndovu cluster resize``: change the number of nodes of one node group."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, DEFAULT_WAIT_TIMEOUT_S, ApiClient
from ndovu.cli.follow import handle_accepted
from ndovu.cli.options import JsonOption, NoWaitOption, TimeoutOption, UrlOption
from ndovu.cli.output import reporting_errors
from ndovu.cli.parsing import parse_instances


def check_group_count(value: str) -> str:
    """Typer callback: reject a bad GROUP=N before anything is sent."""
    parse_instances([value])
    return value


def resize(
    name: Annotated[str, typer.Argument(help="Cluster name.")],
    group_count: Annotated[str, typer.Argument(
        metavar="GROUP=N", callback=check_group_count,
        help="The node group and its new number of nodes, e.g. etcd=5.")],
    no_wait: NoWaitOption = False,
    json_output: JsonOption = False,
    timeout: TimeoutOption = DEFAULT_WAIT_TIMEOUT_S,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Grow or shrink a node group of a running cluster. New nodes join the running
    cluster one at a time; removed ones (the highest indexes) are decommissioned first."""
    ((group, count),) = parse_instances([group_count]).items()
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        accepted = client.resize_group(name, group, count)
        handle_accepted(client, accepted, name=name, verb="Resizing",
                        done=f"Node group '{group}' of cluster '{name}' has {count} nodes",
                        no_wait=no_wait, timeout=timeout, json_output=json_output,
                        show_nodes=True)
