"""Installing packages on a node: the rules every transport follows, in one place.

A transport hands ``ensure_installed`` its own ``run``; everything here is argv. The
package database is asked first, so a node that has everything runs no package manager
at all (and needs no privilege). Nodes sharing a package manager install one at a time
(the transport's ``lock``), but only installing holds it: asking what is missing only
reads the package database, so nodes that have everything never wait for each other,
and what is missing is asked again once the lock is held (another node may have
installed it meanwhile). apt waits for another dpkg to finish instead of failing on its
lock; nothing asks a question (DEBIAN_FRONTEND=noninteractive, -y).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from ndovu.transports.base import TIMEOUT_RETURNCODE, CommandResult, PackageError

APT_LOCK_TIMEOUT_S = 300
# package names of Debian and RPM; never starting with "-", so never read as an option
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]*$")
# a fixed script (no input in it): which package manager, and whether apt has lists yet
_DETECT = (
    "if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then "
    "if ls /var/lib/apt/lists | grep -q _Packages; then echo apt; else echo apt-nolists; fi; "
    "elif command -v dnf >/dev/null; then echo dnf; "
    "elif command -v yum >/dev/null; then echo yum; "
    "else echo none; fi"
)
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
_APT_OPTIONS = ["-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_S}"]
# apt's words when a dpkg run was cut off, and what it asks to be run
_DPKG_INTERRUPTED = "dpkg was interrupted"
_DPKG_RESUME = ["dpkg", "--force-confdef", "--force-confold", "--configure", "-a"]


class Runner(Protocol):
    def __call__(self, argv: Sequence[str], *, timeout: float = ...,
                 env: Mapping[str, str] | None = ..., privileged: bool = ...
                 ) -> CommandResult: ...


def check_names(packages: Sequence[str]) -> list[str]:
    names = list(packages)
    for name in names:
        if not _PACKAGE_NAME.match(name):
            raise ValueError(f"invalid package name {name!r}")
    return names


def installed_query(manager: str, packages: Sequence[str]) -> list[str]:
    """argv printing "NAME installed" for each installed package among ``packages``."""
    if manager.startswith("apt"):
        return ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages]
    return ["rpm", "-q", "--qf", "%{NAME} installed\\n", *packages]


def install_commands(manager: str, packages: Sequence[str]) -> list[list[str]]:
    """The argv lists that install ``packages``, in order (all run privileged)."""
    if manager.startswith("apt"):
        install = ["apt-get", *_APT_OPTIONS, "install", "-y", "--no-install-recommends",
                   *packages]
        update = ["apt-get", *_APT_OPTIONS, "update"]
        return [update, install] if manager == "apt-nolists" else [install]
    return [[manager, "install", "-y", *packages]]


def missing_from(output: str, packages: Sequence[str]) -> list[str]:
    installed = {line.split()[0] for line in output.splitlines()
                 if line.split()[1:] == ["installed"]}
    return [name for name in packages if name not in installed]


# held while installing, by nodes that share one package manager
Lock = Callable[[], contextlib.AbstractContextManager[object]]


def ensure_installed(run: Runner, packages: Sequence[str], *, timeout: float, node: str,
                     lock: Lock = contextlib.nullcontext) -> None:
    """Install what is missing of ``packages`` through ``run``, holding ``lock`` only
    while installing; PackageError if it fails."""
    names = check_names(packages)
    if not names:
        return
    deadline = time.monotonic() + timeout
    detected = run(["sh", "-c", _DETECT], timeout=min(timeout, 60))
    manager = detected.stdout.strip()
    if not detected.ok:
        raise PackageError(
            f"cannot tell which package manager {node} has, so it cannot install "
            f"{', '.join(names)}: {detected.summary()}", node=node)
    if manager == "none":
        raise PackageError(
            f"{node} has no package manager ndovu knows (apt, dnf or yum), so it cannot "
            f"install {', '.join(names)}", node=node,
            hint="use a Debian- or Red Hat-family image, or a distro manifest that ships "
                 "the software as a tarball")

    def missing_of(wanted: list[str]) -> list[str]:
        # the query exits non-zero when a package is unknown: its output still counts
        return missing_from(run(installed_query(manager, wanted), timeout=60).stdout, wanted)

    missing = missing_of(names)
    if not missing:
        return
    with lock():
        missing = missing_of(missing)  # another node may have installed them meanwhile
        if missing:
            _install(run, manager, missing, deadline, timeout, node)


def _install(run: Runner, manager: str, missing: list[str], deadline: float,
             timeout: float, node: str) -> None:
    env = _APT_ENV if manager.startswith("apt") else {}
    for argv in install_commands(manager, missing):
        result = run(argv, timeout=max(deadline - time.monotonic(), 1.0), env=env,
                     privileged=True)
        if not result.ok and _DPKG_INTERRUPTED in result.stderr + result.stdout:
            # an earlier install was cut off (its server or connection died): finish
            # dpkg's half-done work, as apt asks, then try once more
            run(_DPKG_RESUME, timeout=max(deadline - time.monotonic(), 1.0), env=env,
                privileged=True)
            result = run(argv, timeout=max(deadline - time.monotonic(), 1.0), env=env,
                         privileged=True)
        if not result.ok:
            raise _failure(node, manager, missing, result, timeout)


def _failure(node: str, manager: str, missing: Sequence[str], result: CommandResult,
             timeout: float) -> PackageError:
    tool = "apt-get" if manager.startswith("apt") else manager
    if result.returncode == TIMEOUT_RETURNCODE:
        what = f"{tool} did not finish within {timeout:g} s"
    else:
        what = f"{tool} failed (exit {result.returncode}): {result.summary()}"
    return PackageError(
        f"cannot install {', '.join(missing)} on {node}: {what}", node=node,
        hint="check the package names in the distro manifest and the node's package "
             "sources; if another install holds the package manager's lock, try again")
