"""``ndovu machine add|list|show|remove``: the hosts the machines provider puts nodes on
(administrators only).

``add`` reads the private key file here, on the client, and sends its text once; the
server keeps it and never shows it again. An unreadable file is a usage error (exit 2)
before anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from ndovu.cli.client import DEFAULT_URL, ApiClient, Json
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors

# the server refuses longer keys; a bigger file is not a key
MAX_KEY_BYTES = 16384


class MachineClient(ApiClient):
    """The /v1/machines calls."""

    def add_machine(self, body: Json) -> Json:
        return self._request("POST", "/v1/machines", json=body)

    def list_machines(self) -> Json:
        return self._request("GET", "/v1/machines")

    def get_machine(self, name: str) -> Json:
        return self._request("GET", f"/v1/machines/{quote(name, safe='')}")

    def remove_machine(self, name: str) -> None:
        self._request("DELETE", f"/v1/machines/{quote(name, safe='')}")


def read_key_file(path: Path) -> str:
    """The key file's text; a usage error (never quoting the file) when it cannot be
    read or cannot be a key."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}",
                                 param_hint="'--key-file'") from None
    if len(data) > MAX_KEY_BYTES:
        raise typer.BadParameter(f"{path} is larger than {MAX_KEY_BYTES} bytes: not an SSH "
                                 "private key", param_hint="'--key-file'")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise typer.BadParameter(f"{path} is not a text file: give an OpenSSH or PEM "
                                 "private key", param_hint="'--key-file'") from None
    if not text.strip():
        raise typer.BadParameter(f"{path} is empty", param_hint="'--key-file'")
    return text


def parse_labels(values: list[str] | None) -> dict[str, str]:
    """``["rack=r1"]`` → ``{"rack": "r1"}`` (the server checks the names)."""
    labels: dict[str, str] = {}
    for raw in values or []:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE (e.g. rack=r1), got {raw!r}",
                                     param_hint="'--label'")
        labels[key.strip()] = value.strip()
    return labels


# -- rendering -----------------------------------------------------------------------


def _text(value: object) -> str:
    return escape("-" if value in (None, "") else str(value))


def labels_text(labels: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "-"


def machines_table(machines: list[Json]) -> Table:
    table = Table(title="Machines", title_justify="left")
    for column in ("Name", "Address", "Port", "User", "Status", "Cluster", "Node", "Labels"):
        table.add_column(column, overflow="fold")
    for m in machines:
        table.add_row(_text(m.get("name")), _text(m.get("address")), _text(m.get("port")),
                      _text(m.get("user")), _text(m.get("status")), _text(m.get("cluster")),
                      _text(m.get("node")), escape(labels_text(m.get("labels"))))
    return table


def machine_view(m: Json) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in (("Machine", m.get("name")), ("Address", m.get("address")),
                         ("Port", m.get("port")), ("User", m.get("user")),
                         ("Status", m.get("status")), ("Cluster", m.get("cluster")),
                         ("Node", m.get("node")),
                         ("Labels", labels_text(m.get("labels"))),
                         ("Host key", m.get("hostKeyFingerprint")
                          or "not seen yet (pinned at first contact)")):
        grid.add_row(label, _text(value))
    return grid


# -- commands ------------------------------------------------------------------------


def add(
    address: Annotated[str, typer.Argument(help="The host's IPv4/IPv6 address or name.")],
    key_file: Annotated[Path, typer.Option(
        "--key-file", metavar="FILE",
        help="The unencrypted SSH private key ndovu logs in with (read here, sent once).")],
    user: Annotated[str, typer.Option(
        "--user", metavar="USER", help="Who ndovu logs in as: root, or a user with "
                                       "password-less sudo.")] = "root",
    port: Annotated[int, typer.Option("--port", min=1, max=65535,
                                      help="The SSH port.")] = 22,
    name: Annotated[str | None, typer.Option(
        "--name", help="The machine's name (default: made from the address).")] = None,
    labels: Annotated[list[str] | None, typer.Option(
        "--label", metavar="KEY=VALUE", help="A label; repeatable.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Register a host: clusters on the machines provider get one node per free machine."""
    body: Json = {"address": address, "user": user, "port": port,
                  "privateKey": read_key_file(key_file), "labels": parse_labels(labels)}
    if name is not None:
        body["name"] = name
    with reporting_errors(json_output=json_output), MachineClient(url) as client:
        machine = client.add_machine(body)
        if json_output:
            print_json(machine)
        else:
            console.print(f"Added machine {machine['name']} ({machine['user']}@"
                          f"{machine['address']}:{machine['port']}).", markup=False)


def list_machines(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List the machines, free or with the node on each."""
    with reporting_errors(json_output=json_output), MachineClient(url) as client:
        answer = client.list_machines()
        if json_output:
            print_json(answer)
            return
        machines = answer.get("machines", [])
        console.print(machines_table(machines))
        console.print(f"{answer.get('free', '-')} of {len(machines)} machines free.",
                      markup=False)


def show(
    name: Annotated[str, typer.Argument(help="Machine name.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show a machine: where it is, who logs in, its host key, the node on it."""
    with reporting_errors(json_output=json_output), MachineClient(url) as client:
        machine = client.get_machine(name)
        if json_output:
            print_json(machine)
        else:
            console.print(machine_view(machine))


def remove(
    name: Annotated[str, typer.Argument(help="Machine name.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Forget a machine no node is on (its host is left as it is)."""
    with reporting_errors(json_output=json_output), MachineClient(url) as client:
        client.remove_machine(name)
        if json_output:
            print_json({"machine": name, "removed": True})
        else:
            console.print(f"Removed machine {name}.", markup=False)
