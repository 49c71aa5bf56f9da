"""``ndovu user create|list|passwd``: accounts (creating users needs an administrator)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ndovu.cli.client import DEFAULT_URL, ApiClient
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors
from ndovu.cli.passwords import PasswordFileOption, PasswordStdinOption, read_password


def create(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make an administrator.")] = False,
    password_file: PasswordFileOption = None,
    password_stdin: PasswordStdinOption = False,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a user."""
    password = read_password(password_file, password_stdin, prompt=f"Password for {name}",
                             confirm=True)
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        user = client.create_user(name, password, is_admin=admin)
        if json_output:
            print_json(user)
        else:
            console.print(f"Created user {user['name']}"
                          + (" (administrator)." if user["isAdmin"] else "."))


def list_users(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List the users."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        users = client.list_users()
        if json_output:
            print_json({"users": users})
            return
        table = Table(title="Users", title_justify="left")
        table.add_column("Name")
        table.add_column("Administrator")
        for user in users:
            table.add_row(user["name"], "yes" if user["isAdmin"] else "no")
        console.print(table)


def passwd(
    name: Annotated[str, typer.Argument(help="Whose password (yours, unless an admin).")],
    password_file: PasswordFileOption = None,
    password_stdin: PasswordStdinOption = False,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a password; every token of that user stops working."""
    password = read_password(password_file, password_stdin, prompt="New password",
                             confirm=True)
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        client.set_password(name, password)
        if json_output:
            print_json({"user": name, "changed": True})
        else:
            console.print(f"Changed the password of {name}; log in again with it.")
