"""The SSH transport: a node is a folder on a machine reached with asyncssh.

Every verb is one command line over the machine's kept connection (``SshConnections``):
an argv quoted with ``shlex.join``, or one of the constant scripts of ``services`` and
below with its inputs as positional parameters. The node's root is made at first use,
owned by the login user; ``privileged`` goes through ``sudo -n`` unless that user is
root.
"""

from __future__ import annotations

import math
import os
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath

from ndovu.transports import packages as package_rules
from ndovu.transports import services
from ndovu.transports.base import TIMEOUT_RETURNCODE, CommandResult, TransportError
from ndovu.transports.local import relative_path
from ndovu.transports.services import NODE_ROOT_VARIABLE, SERVICE_VARIABLE, script
from ndovu.transports.ssh_connections import (
    MARGIN_S,
    Kept,
    SshConnections,
    SshTarget,
    key_line,
)

__all__ = ["SshConnections", "SshTarget", "SshTransport"]

_OUTSIDE = 45  # exit statuses of the file scripts
_MISSING = 44
# $1 root, $2 path: fails with _OUTSIDE when a symlink leads the path out of the root
_CONFINE = rf"""
cd "$1" || exit 1
case $(realpath -m -- "$2") in "$(realpath .)"/*) ;; *) exit {_OUTSIDE};; esac
"""
# $3 mode (octal), $4 owner or ""; the content arrives on stdin
_WRITE = _CONFINE + r"""
set -e
dir=$(dirname -- "$2")
mkdir -p -- "$dir"
tmp=$(mktemp "$dir/.ndovu.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
chmod "$3" "$tmp"
[ -z "$4" ] || chown -- "$4" "$tmp"
mv -f -- "$tmp" "$2"
"""
_READ = rf"""
cd "$1" 2>/dev/null || exit {_MISSING}
""" + _CONFINE + rf"""
[ -e "$2" ] || exit {_MISSING}
exec cat -- "$2"
"""
_IN_FOLDER = 'cd "$1" && shift && exec "$@"'


class SshTransport:
    """Acts on one node: the folder ``target.root`` on the machine ``target.host``."""

    def __init__(self, target: SshTarget, connections: SshConnections,
                 on_host_key: Callable[[str], None] | None = None):
        if not PurePosixPath(target.root).is_absolute() or ".." in target.root.split("/"):
            raise ValueError(f"the root of {target.node} must be an absolute path, "
                             f"not {target.root!r}")
        self.target = target
        self.address = target.host
        self.root = target.root.rstrip("/") or "/"
        self.software_dir = target.software_dir
        self._connections = connections
        self._on_host_key = on_host_key
        self._pinned = target.host_key
        self._first_contact = threading.Lock()

    def __repr__(self) -> str:
        return f"SshTransport({self.target.node!r}, {self.target.where!r}, {self.root!r})"

    # -- plumbing ------------------------------------------------------------------

    def _session(self) -> Kept:
        """Open (or reuse) the connection; report the host key met at first contact."""
        kept = self._connections.call(
            self._connections.connection(self.target, self._pinned),
            self._connections.connect_timeout + MARGIN_S, self.target, "connecting")
        if self._pinned is None:
            with self._first_contact:  # report the key once, whichever thread met it
                if self._pinned is None:
                    if self._on_host_key is not None:
                        self._on_host_key(key_line(kept.host_key))
                    self._pinned = key_line(kept.host_key)
        return kept

    def _ensure_root(self) -> None:
        """Make the node's folder, owned by the login user, once per connection."""
        kept = self._session()
        if self.root in kept.roots:
            return
        user = self.target.user
        made = self._command(
            script('mkdir -p -- "$1" && chown -- "$2" "$1"', self.root, user)
            if user != "root" else ["mkdir", "-p", "--", self.root],
            timeout=30, privileged=True)
        if not made.ok:
            raise OSError(f"cannot make the folder {self.root} of {self.target.node} on "
                          f"{self.target.host}: {made.summary()}")
        kept.roots.add(self.root)

    def _systemd(self) -> bool:
        kept = self._session()
        if kept.systemd is None:  # once per connection: a reinstall may change it
            kept.systemd = self._command(["cat", "/proc/1/comm"],
                                         timeout=30).stdout.strip() == "systemd"
        return kept.systemd

    def _command(self, argv: Sequence[str], *, timeout: float,
                 env: Mapping[str, str] | None = None, privileged: bool = False,
                 in_root: bool = False, stdin: bytes | str | None = None) -> CommandResult:
        if self._pinned is None:
            self._session()
        words: list[str] = []
        if privileged and self.target.user != "root":
            words += ["sudo", "-n", "--"]
        # killed on the machine itself, whole process group, grandchildren too
        words += ["timeout", "--kill-after=5", f"{max(timeout, 0.1):.1f}"]
        if env:
            words += ["env", *services.env_assignments(env)]
        if in_root:
            words += ["sh", "-c", _IN_FOLDER, "sh", self.root]
        words += [str(a) for a in argv]
        done = self._connections.call(
            self._connections.execute(self.target, self._pinned, shlex.join(words),
                                      stdin=stdin, timeout=timeout + 10),
            timeout + MARGIN_S, self.target, "running a command")
        stderr = done.stderr.decode("utf-8", errors="replace")
        if done.returncode == TIMEOUT_RETURNCODE:
            stderr += f"command timed out after {timeout:g} s and was killed: {argv[0]}\n"
        return CommandResult(done.returncode, done.stdout.decode("utf-8", errors="replace"),
                             stderr)

    # -- files ---------------------------------------------------------------------

    def path(self, relative: str) -> str:
        return str(PurePosixPath(self.root) / relative_path(relative))

    def write_file(self, relative: str, content: str | bytes, mode: int = 0o644,
                   owner: str | None = None) -> None:
        data = content.encode() if isinstance(content, str) else content
        self._write(relative, data, mode, owner)

    def upload_file(self, relative: str, source: str, mode: int = 0o644,
                    owner: str | None = None) -> None:
        if not os.path.isfile(source):
            raise FileNotFoundError(f"no file {source} to upload to {self.target.node}")
        self._write(relative, source, mode, owner)

    def _write(self, relative: str, stdin: bytes | str, mode: int,
               owner: str | None) -> None:
        pure = str(relative_path(relative))
        self._ensure_root()
        result = self._command(script(_WRITE, self.root, pure, f"{mode:o}", owner or ""),
                               timeout=600, privileged=owner is not None, stdin=stdin)
        if result.returncode == _OUTSIDE:
            raise ValueError(f"path {relative!r} leads outside the node directory")
        if not result.ok:
            raise OSError(f"cannot write {relative} on {self.target.node}: "
                          f"{result.summary()}")

    def read_file(self, relative: str) -> str | None:
        result = self._command(script(_READ, self.root, str(relative_path(relative))),
                               timeout=120)
        if result.returncode == _MISSING:
            return None
        if result.returncode == _OUTSIDE:
            raise ValueError(f"path {relative!r} leads outside the node directory")
        if not result.ok:
            raise OSError(f"cannot read {relative} on {self.target.node}: "
                          f"{result.summary()}")
        return result.stdout

    # -- commands ------------------------------------------------------------------

    def run(self, argv: Sequence[str], *, timeout: float = 60.0,
            env: Mapping[str, str] | None = None, privileged: bool = False) -> CommandResult:
        if not argv:
            raise ValueError("an empty command")
        self._ensure_root()
        return self._command(argv, timeout=timeout, privileged=privileged, in_root=True,
                             env={**(env or {}), NODE_ROOT_VARIABLE: self.root})

    def install_packages(self, packages: Sequence[str], *, timeout: float = 900.0) -> None:
        package_rules.ensure_installed(
            self.run, packages, timeout=timeout, node=self.target.node,
            lock=lambda: self._connections.package_lock(self.target))

    # -- services ------------------------------------------------------------------

    def start_service(self, name: str, argv: Sequence[str], *,
                      env: Mapping[str, str] | None = None) -> None:
        services.check_service_name(name)
        argv = services.check_program(argv)
        service_env = {**(env or {}), NODE_ROOT_VARIABLE: self.root, SERVICE_VARIABLE: name}
        self._ensure_root()
        if self._systemd():
            unit = services.unit_name(self.target.node, name)
            result = self._command(script(
                services.SYSTEMD_START, self.root, name, unit,
                *services.systemd_run(unit, self.root, name, argv, service_env,
                                      self.target.user)), timeout=60, privileged=True)
        else:
            result = self._command(script(
                services.START, self.root, name, argv[0],
                *services.env_assignments(service_env), *argv), timeout=60)
        if not result.ok:
            raise OSError(f"could not start {name} on {self.target.node}: "
                          f"{result.summary()}")

    def stop_service(self, name: str, *, timeout: float = 20.0) -> None:
        services.check_service_name(name)
        if self._systemd():
            result = self._command(script(services.SYSTEMD_STOP, self.root, name),
                                   timeout=services.SYSTEMD_STOP_TIMEOUT_S + 30,
                                   privileged=True)
        else:
            result = self._command(
                script(services.STOP, self.root, name, str(math.ceil(timeout * 10))),
                timeout=timeout + 15)
        if not result.ok:
            raise OSError(f"could not stop {name} on {self.target.node}: "
                          f"{result.summary()}")

    def service_running(self, name: str) -> bool:
        services.check_service_name(name)
        return self._command(script(services.STATUS, self.root, name), timeout=30).ok

    def running_services(self) -> list[str]:
        result = self._command(script(services.RUNNING, self.root), timeout=60)
        return sorted(set(result.stdout.split()))

    def service_log_tail(self, name: str, lines: int = 20) -> str:
        services.check_service_name(name)
        if lines <= 0:
            return ""
        result = self._command(["tail", "-n", str(lines), "--",
                                f"{self.root}/logs/{name}.log"], timeout=30)
        return "\n".join(result.stdout.splitlines()[-lines:]) if result.ok else ""

    # -- the node as a whole -------------------------------------------------------

    def wait_reachable(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.5
        while True:
            try:
                self._session()
                return
            except TransportError as exc:
                if not exc.retryable:
                    raise
                last = exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(
                    f"{self.target.node} ({self.target.where}) did not answer over SSH "
                    f"within {timeout:g} s; last error: {last.message}",
                    node=self.target.node,
                    hint="check that the machine is up, sshd runs and the port is open")
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)

    def remove_node(self, timeout: float = 20.0) -> None:
        """Stop every service of the node, kill what carries its root, remove the root."""
        listed = self._command(["ls", "-1", "--", f"{self.root}/run"], timeout=30)
        names = {entry.rsplit(".", 1)[0] for entry in listed.stdout.split()
                 if entry.endswith((".pid", ".unit"))}
        for name in sorted(names):
            self.stop_service(name, timeout=timeout)
        result = self._command(script(services.REMOVE, self.root), timeout=120,
                               privileged=True)
        if not result.ok:
            raise OSError(f"could not remove {self.root} of {self.target.node}: "
                          f"{result.summary()}")
        self._session().roots.discard(self.root)
