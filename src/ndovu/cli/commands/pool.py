"""``ndovu pool create|list|show|delete``: resource pools, capacity limits for clusters."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, ApiClient, Json
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors
from ndovu.cli.render import pool_view, pools_table


def create(
    name: Annotated[str, typer.Argument(help="Resource pool name.")],
    cpu: Annotated[int | None, typer.Option(
        "--cpu", min=1, metavar="N",
        help="CPUs all the pool's nodes may have together (default: unlimited).")] = None,
    memory: Annotated[int | None, typer.Option(
        "--memory", min=1, metavar="MB",
        help="MB of memory all the pool's nodes may have together (default: unlimited).")
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a resource pool: clusters placed in it (`cluster create --pool`) must fit its
    limits, or their create, resize or scale is refused."""
    body: Json = {"name": name}
    if cpu is not None:
        body["cpuLimit"] = cpu
    if memory is not None:
        body["memLimitMB"] = memory
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        pool = client.create_resource_pool(body)
        if json_output:
            print_json(pool)
        else:
            cpus = pool.get("cpuLimit") or "unlimited"
            mb = f"{pool['memLimitMB']} MB" if pool.get("memLimitMB") else "unlimited"
            console.print(f"Created resource pool {pool['name']} (CPUs: {cpus}, memory: "
                          f"{mb}).", markup=False)


def list_pools(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List the resource pools, what their clusters use and their limits."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        pools = client.list_resource_pools()
        if json_output:
            print_json({"resourcePools": pools})
        else:
            console.print(pools_table(pools))


def show(
    name: Annotated[str, typer.Argument(help="Resource pool name.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show a resource pool: limits, what is used and free, and its clusters."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        pool = client.get_resource_pool(name)
        if json_output:
            print_json(pool)
        else:
            console.print(pool_view(pool))


def delete(
    name: Annotated[str, typer.Argument(help="Resource pool name.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete a resource pool no cluster is placed in."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        client.delete_resource_pool(name)
        if json_output:
            print_json({"resourcePool": name, "deleted": True})
        else:
            console.print(f"Deleted resource pool {name}.", markup=False)
