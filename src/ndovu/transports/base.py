"""The Transport protocol: the only way a role touches a node.

A node has a *root* folder of its own (on the local provider its directory under the
state dir, on a machine reached over SSH a folder such as /var/lib/ndovu/nodes/<node>);
the file verbs take paths relative to it and ``path`` turns one into the absolute path on
the node, for config files. Commands are argv lists, never shell strings: a transport
that must hand a remote shell a command line quotes the argv itself (``shlex.join``).

A *service* is a long-running program started and stopped by name: a systemd transient
unit where the node's PID 1 is systemd, a supervised process otherwise. Starting a
service that already runs is a no-op; stopping one that does not run is a no-op.

Failures to *reach* the node (connection refused or reset, a timeout, a host that went
away) raise ``TransportError``, which is retryable: the engine tries again with back-off.
A command that ran and failed is not an exception: its ``CommandResult`` says so, and
only the role decides whether that is fatal. A host key that changed raises
``HostKeyError``, which is never retried: it needs an operator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ndovu.errors import NdovuError

# exit statuses a transport reports for commands that could not run as asked
TIMEOUT_RETURNCODE = 124
NOT_EXECUTABLE_RETURNCODE = 126
NOT_FOUND_RETURNCODE = 127


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self, limit: int = 400) -> str:
        """The last words of stderr (or stdout), for error messages."""
        text = (self.stderr.strip() or self.stdout.strip() or "(no output)")
        return text[-limit:]


class TransportError(NdovuError):
    """The node could not be reached or the connection broke: trying again may help."""

    code = "transport_error"
    retryable = True

    def __init__(self, message: str, *, node: str | None = None, hint: str | None = None,
                 retryable: bool = True):
        super().__init__(message, hint=hint)
        self.node = node
        self.retryable = retryable


class HostKeyError(TransportError):
    """The node's SSH host key is not the one recorded at first contact."""

    code = "host_key_mismatch"

    def __init__(self, message: str, *, node: str | None = None, hint: str | None = None):
        super().__init__(message, node=node, hint=hint, retryable=False)


class PackageError(NdovuError):
    """The node's package manager could not install what a role needs: not retried (the
    package is missing from the node's repositories, or the node has no package manager
    ndovu knows)."""

    code = "package_error"

    def __init__(self, message: str, *, node: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.node = node


@runtime_checkable
class Transport(Protocol):
    # the node's address, as its software binds and peers reach it
    address: str
    # the machine's folder for software its nodes share (depot tarballs, unpacked once
    # per machine; see ndovu.roles.software)
    software_dir: str

    def path(self, relative: str) -> str:
        """The absolute path on the node of ``relative`` (for config file contents)."""

    # -- files -----------------------------------------------------------------------

    def write_file(self, relative: str, content: str | bytes, mode: int = 0o644,
                   owner: str | None = None) -> None:
        """Write atomically (a temporary file renamed into place), creating folders;
        ``owner`` ("user" or "user:group") changes the owner (needs privilege)."""

    def upload_file(self, relative: str, source: str, mode: int = 0o644,
                    owner: str | None = None) -> None:
        """Copy the server's file ``source`` to the node, as ``write_file`` does."""

    def read_file(self, relative: str) -> str | None:
        """The file's text, or None when it does not exist."""

    # -- commands --------------------------------------------------------------------

    def run(self, argv: Sequence[str], *, timeout: float = 60.0,
            env: Mapping[str, str] | None = None, privileged: bool = False) -> CommandResult:
        """Run ``argv`` in the node's root folder and wait for it (killed after
        ``timeout``: returncode TIMEOUT_RETURNCODE). ``privileged`` runs it as root (through
        ``sudo -n`` when the transport logs in as another user)."""

    def install_packages(self, packages: Sequence[str], *, timeout: float = 900.0) -> None:
        """Make sure the node's package manager has installed ``packages`` (a no-op when
        they are); PackageError when it cannot."""

    # -- services --------------------------------------------------------------------

    def start_service(self, name: str, argv: Sequence[str], *,
                      env: Mapping[str, str] | None = None) -> None:
        """Start ``argv`` as the service ``name``, its output appended to the service's
        log; a no-op when it runs already."""

    def stop_service(self, name: str, *, timeout: float = 20.0) -> None:
        """SIGTERM the service with everything it started, SIGKILL what is left after
        ``timeout`` seconds; a no-op when it does not run."""

    def service_running(self, name: str) -> bool: ...

    def running_services(self) -> list[str]:
        """The services of this node that run now."""

    def service_log_tail(self, name: str, lines: int = 20) -> str: ...

    # -- the node as a whole ----------------------------------------------------------

    def remove_node(self, timeout: float = 20.0) -> None:
        """Stop every service of the node (and any process that carries its root in its
        environment), then remove the node's root folder: what a provider does to give
        a machine back. Idempotent."""

    # -- reachability ----------------------------------------------------------------

    def wait_reachable(self, timeout: float = 60.0) -> None:
        """Return once the node answers; TransportError naming what was awaited after
        ``timeout`` seconds."""
