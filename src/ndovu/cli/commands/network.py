"""``ndovu network create|list|show|update|delete``: address pools for clusters."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, ApiClient, Json
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors
from ndovu.cli.parsing import check_blocks, check_dns, dns_fields, parse_blocks
from ndovu.cli.render import blocks_text, network_view, networks_table

BlockOption = Annotated[list[str] | None, typer.Option(
    "--block", metavar="BEGIN-END", callback=check_blocks,
    help="Addresses the nodes get, first and last included, e.g. 127.73.0.1-127.73.0.50 "
         "(one address: 127.73.0.5-127.73.0.5); repeatable.")]
DnsOption = Annotated[list[str] | None, typer.Option(
    "--dns", metavar="IP", callback=check_dns, help="A DNS server; at most twice.")]


def create_body(name: str, blocks: list[Json], dns: dict[str, str], *, gateway: str | None,
                netmask: str | None, dhcp: bool) -> Json:
    """The POST /v1/networks body; only what the user gave is sent."""
    body: Json = {"name": name, **dns}
    if blocks:
        body["ipBlocks"] = blocks
    if dhcp:
        body["isDhcp"] = True
    if gateway is not None:
        body["gateway"] = gateway
    if netmask is not None:
        body["netmask"] = netmask
    return body


def create(
    name: Annotated[str, typer.Argument(help="Network name.")],
    blocks: BlockOption = None,
    dns: DnsOption = None,
    gateway: Annotated[str | None, typer.Option(
        "--gateway", metavar="IP", help="The gateway's address (kept with the network).")
    ] = None,
    netmask: Annotated[str | None, typer.Option(
        "--netmask", metavar="M", help="e.g. 255.255.255.0 or 24.")] = None,
    dhcp: Annotated[bool, typer.Option(
        "--dhcp", help="The provider's own addresses instead of blocks.")] = False,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a network: clusters placed on it (`cluster create --network`) get their
    nodes' addresses from its blocks."""
    body = create_body(name, parse_blocks(blocks), dns_fields(dns), gateway=gateway,
                       netmask=netmask, dhcp=dhcp)
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        net = client.create_network(body)
        if json_output:
            print_json(net)
        elif net.get("isDhcp"):
            console.print(f"Created network {net['name']} (DHCP: the provider's addresses).",
                          markup=False)
        else:
            console.print(f"Created network {net['name']} ({blocks_text(net.get('ipBlocks'))}"
                          f", {net.get('totalAddresses')} addresses).", markup=False)


def list_networks(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List the networks, their free addresses and the clusters on each."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        networks = client.list_networks()
        if json_output:
            print_json({"networks": networks})
        else:
            console.print(networks_table(networks))


def show(
    name: Annotated[str, typer.Argument(help="Network name.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show a network: its blocks, free addresses and which node holds each address."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        net = client.get_network(name)
        if json_output:
            print_json(net)
        else:
            console.print(network_view(net))


def update(
    name: Annotated[str, typer.Argument(help="Network name.")],
    blocks: BlockOption = None,
    dns: DnsOption = None,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Add blocks to a network, or change its DNS servers (nothing else can change)."""
    body: Json = dns_fields(dns)
    if blocks:
        body["ipBlocks"] = parse_blocks(blocks)
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        net = client.update_network(name, body)
        if json_output:
            print_json(net)
        else:
            console.print(f"Updated network {net['name']}: {blocks_text(net.get('ipBlocks'))}"
                          f", {net.get('freeAddresses')} addresses free.", markup=False)


def delete(
    name: Annotated[str, typer.Argument(help="Network name.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete a network no cluster uses."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        client.delete_network(name)
        if json_output:
            print_json({"network": name, "deleted": True})
        else:
            console.print(f"Deleted network {name}.", markup=False)
