"""``ndovu cluster stop``: stop a cluster's software and power its nodes off."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, DEFAULT_WAIT_TIMEOUT_S, ApiClient
from ndovu.cli.follow import handle_accepted
from ndovu.cli.options import JsonOption, NoWaitOption, TimeoutOption, UrlOption
from ndovu.cli.output import reporting_errors


def stop(
    name: Annotated[str, typer.Argument(help="Cluster name.")],
    no_wait: NoWaitOption = False,
    json_output: JsonOption = False,
    timeout: TimeoutOption = DEFAULT_WAIT_TIMEOUT_S,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Stop a cluster: its roles in reverse start order, then every node is powered off.
    Nodes, addresses and data are kept; `ndovu cluster start` brings it back."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        accepted = client.stop_cluster(name)
        handle_accepted(client, accepted, name=name, verb="Stopping",
                        done=f"Cluster '{name}' is stopped; its nodes and data are kept",
                        no_wait=no_wait, timeout=timeout, json_output=json_output,
                        show_nodes=True)
