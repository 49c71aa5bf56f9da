"""Reading a password for a command without putting it on the command line (where `ps`
and shell history would show it): a file, standard input, or a hidden prompt."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

PasswordFileOption = Annotated[Path | None, typer.Option(
    "--password-file", exists=True, dir_okay=False,
    help="Read the password from the first line of this file.")]
PasswordStdinOption = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input.")]


def read_password(password_file: Path | None, from_stdin: bool, *, prompt: str,
                  confirm: bool = False) -> str:
    if password_file is not None and from_stdin:
        raise typer.BadParameter("give either --password-file or --password-stdin, not both")
    if password_file is not None:
        lines = password_file.read_text().splitlines()
        return lines[0] if lines else ""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
