"""``ndovu cluster create``: ask for a cluster and follow its creation."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, DEFAULT_WAIT_TIMEOUT_S, ApiClient, Json
from ndovu.cli.follow import handle_accepted
from ndovu.cli.options import JsonOption, NoWaitOption, TimeoutOption, UrlOption
from ndovu.cli.output import reporting_errors
from ndovu.cli.parsing import (
    check_instance_types,
    check_instances,
    check_settings,
    json_object,
    parse_instance_types,
    parse_instances,
    parse_settings,
)


def create_body(name: str, cluster_type: str, counts: dict[str, int],
                types: dict[str, str], configuration: Json | None = None, *,
                network: str | None = None, pool: str | None = None,
                datastores: list[str] | None = None, healing: Json | None = None) -> Json:
    """The POST /v1/clusters body; only the groups and fields the user named are sent."""
    body: Json = {"name": name, "type": cluster_type}
    groups: list[Json] = []
    for group in dict.fromkeys([*counts, *types]):
        entry: Json = {"name": group}
        if group in counts:
            entry["instanceNum"] = counts[group]
        if group in types:
            entry["instanceType"] = types[group]
        groups.append(entry)
    if groups:
        body["nodeGroups"] = groups
    if configuration:
        body["configuration"] = configuration
    if network is not None:
        body["network"] = network
    if pool is not None:
        body["resourcePool"] = pool
    if datastores:
        body["datastores"] = datastores
    if healing is not None:
        body["healing"] = healing
    return body


def create(
    name: Annotated[str, typer.Argument(help="Cluster name.")],
    cluster_type: Annotated[str, typer.Option(
        "--type", "-t", help="Cluster type from the catalog (see `ndovu catalog list`).")],
    instances: Annotated[list[str] | None, typer.Option(
        "--instances", metavar="GROUP=N", callback=check_instances,
        help="Number of nodes in a node group; repeat for several groups.")] = None,
    instance_types: Annotated[list[str] | None, typer.Option(
        "--instance-type", metavar="GROUP=TYPE", callback=check_instance_types,
        help="Instance type (SMALL, MEDIUM, …) of a node group; repeatable.")] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", metavar="SECTION.KEY=VALUE", callback=check_settings,
        help="A configuration setting, e.g. spark.worker.cores=2 (see `ndovu catalog show "
             "TYPE` for the keys); repeatable.")] = None,
    configuration: Annotated[str | None, typer.Option(
        "--configuration", metavar="JSON",
        help='The configuration as JSON, e.g. \'{"zookeeper": {"tickTime": 3000}}\'; '
             "--set wins over it.")] = None,
    network: Annotated[str | None, typer.Option(
        "--network", metavar="NAME",
        help="Give the nodes addresses from this network's blocks (see `ndovu network "
             "list`); default: the provider's own.")] = None,
    pool: Annotated[str | None, typer.Option(
        "--pool", metavar="NAME",
        help="Count the nodes' CPUs and memory against this resource pool's limits.")] = None,
    datastores: Annotated[list[str] | None, typer.Option(
        "--datastore", metavar="NAME", help="A datastore for the nodes; repeatable.")] = None,
    healing: Annotated[str | None, typer.Option(
        "--healing", metavar="JSON",
        help='The healing policy over the type\'s, e.g. \'{"unhealthyAfter": 60, '
             '"maxUnhealthy": 1}\' or \'{"enabled": false}\'.')] = None,
    no_wait: NoWaitOption = False,
    json_output: JsonOption = False,
    timeout: TimeoutOption = DEFAULT_WAIT_TIMEOUT_S,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a cluster and follow it until it runs (or fails)."""
    body = create_body(name, cluster_type, parse_instances(instances),
                       parse_instance_types(instance_types),
                       parse_settings(settings, configuration), network=network, pool=pool,
                       datastores=datastores,
                       healing=json_object(healing, "--healing", '\'{"enabled": false}\''))
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        accepted = client.create_cluster(body)
        handle_accepted(client, accepted, name=name, verb="Creating",
                        done=f"Cluster '{name}' is running", no_wait=no_wait, timeout=timeout,
                        json_output=json_output, show_nodes=True)
