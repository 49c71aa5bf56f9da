"""Kept SSH connections: one per (host, port, user), shared by every transport.

All of asyncssh runs on one event loop in a daemon thread; the transports are
synchronous and hand it coroutines with a bounded wait. A connection stays open between
steps (keepalives find a dead peer) and is opened again, once, when it broke before a
command could start. asyncssh errors become ``TransportError`` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncssh

from ndovu.transports.base import HostKeyError, TransportError

log = logging.getLogger(__name__)

T = TypeVar("T")
# sshd's default MaxSessions is 10 channels per connection; stay under it
MAX_CHANNELS = 8
# what the loop may take beyond a command's own timeout (connecting, transferring)
MARGIN_S = 30.0


@dataclass(frozen=True)
class SshTarget:
    node: str                 # node name, for messages
    host: str                 # address
    port: int = 22
    user: str = "root"
    private_key: str = field(default="", repr=False)  # never logged, never in messages
    host_key: str | None = None  # pinned "ssh-ed25519 AAAA…" line; None: first contact
    root: str = ""            # the node's root folder on the machine
    software_dir: str = "/var/lib/ndovu/software"  # software the machine's nodes share

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes


class Kept:
    """An open connection and what was learned about its machine."""

    def __init__(self, connection: asyncssh.SSHClientConnection):
        self.connection = connection
        self.channels = asyncio.Semaphore(MAX_CHANNELS)
        key = connection.get_server_host_key()
        assert key is not None  # the key exchange is done once connect returns
        self.host_key = key
        self.systemd: bool | None = None  # detected at first need
        self.roots: set[str] = set()      # node roots made on this machine


class _HostKeyCheck(asyncssh.SSHClient):
    """Only asked about a key that differs from the pinned one: records it, refuses it."""

    def __init__(self) -> None:
        self.offered: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.offered = key
        return False


def key_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().split("\n")[0].strip()


def host_key_error(target: SshTarget, pinned: asyncssh.SSHKey,
                   offered: asyncssh.SSHKey | None) -> HostKeyError:
    now = (offered.get_fingerprint("sha256") if offered is not None
           else f"no {pinned.get_algorithm().decode()} key")
    return HostKeyError(
        f"the SSH host key of {target.node} ({target.host}:{target.port}) changed: "
        f"recorded {pinned.get_fingerprint('sha256')}, the machine now offers {now}; "
        "ndovu did not log in", node=target.node,
        hint="if the machine was reinstalled on purpose, remove the node and add it again "
             "so its new key is recorded; otherwise something else answers at that address")


def translate(exc: BaseException, target: SshTarget, doing: str) -> TransportError:
    """One place where connection failures become TransportError (never with a secret)."""
    where = f"{target.node} ({target.where})"
    if isinstance(exc, asyncssh.PermissionDenied):
        return TransportError(
            f"{where} does not accept ndovu's SSH key for user {target.user}", node=target.node,
            retryable=False,
            hint=f"add the node's public key to ~{target.user}/.ssh/authorized_keys there")
    if isinstance(exc, TimeoutError):  # asyncio's and concurrent.futures' too
        what = "no answer in time"
    elif isinstance(exc, asyncssh.Error):
        what = exc.reason or type(exc).__name__
    else:
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return TransportError(f"{where}: {doing} failed: {what or type(exc).__name__}",
                          node=target.node)


def pinned_key(target: SshTarget, pinned: str) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_public_key(pinned)
    except (asyncssh.KeyImportError, ValueError):
        raise HostKeyError(f"the host key recorded for {target.node} ({target.host}) is "
                           f"not an OpenSSH public key line: {pinned[:60]!r}",
                           node=target.node,
                           hint="record the machine's key as 'ssh-ed25519 AAAA…'") from None


def import_key(target: SshTarget) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_private_key(target.private_key)
    except (asyncssh.KeyImportError, ValueError):
        # the library's message is not shown: it might quote the key
        raise TransportError(f"the SSH private key for {target.node} is not a valid "
                             "OpenSSH or PEM private key", node=target.node,
                             retryable=False) from None


_BROKEN = (asyncssh.DisconnectError, asyncssh.ChannelOpenError, ConnectionError,
           BrokenPipeError, EOFError)


class SshConnections:
    """One per server process: the event loop thread and the kept connections."""

    def __init__(self, *, keepalive_interval: float = 15.0, connect_timeout: float = 15.0):
        self.opened = 0
        self.keepalive_interval = keepalive_interval
        self.connect_timeout = connect_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="ndovu-ssh")
        self._thread.start()
        # loop-thread state: no lock needed beyond the loop itself
        self._kept: dict[tuple[str, int, str], Kept] = {}
        self._opening: dict[tuple[str, int, str], asyncio.Lock] = {}
        self._package_locks: dict[tuple[str, int], threading.Lock] = {}
        self._package_locks_guard = threading.Lock()

    # -- from the transports' threads ----------------------------------------------------

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float, target: SshTarget,
             doing: str) -> T:
        """Run ``coroutine`` on the loop; TransportError if it takes over ``timeout``."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise translate(exc, target, doing) from None

    def package_lock(self, target: SshTarget) -> threading.Lock:
        """Serializes installs on one machine (its nodes often want the same package)."""
        with self._package_locks_guard:
            return self._package_locks.setdefault((target.host, target.port),
                                                  threading.Lock())

    def close(self) -> None:
        if self._loop.is_closed():
            return

        async def close_all() -> None:
            for kept in self._kept.values():
                kept.connection.close()
            await asyncio.gather(*(k.connection.wait_closed() for k in self._kept.values()),
                                 return_exceptions=True)
            self._kept.clear()

        with contextlib.suppress(concurrent.futures.TimeoutError):
            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # -- on the loop -----------------------------------------------------------------------

    async def connection(self, target: SshTarget, pinned: str | None) -> Kept:
        """The kept connection to ``target``'s machine, opened when there is none."""
        key = (target.host, target.port, target.user)
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:  # concurrent callers wait for one connect, then share it
            kept = self._kept.get(key)
            if kept is not None and kept.connection.is_closed():
                del self._kept[key]
                kept = None
            if kept is None:
                kept = Kept(await self._open(target, pinned))
                self._kept[key] = kept
                self.opened += 1
                # one line per connection: a node should need one (bench/deploy_machines.py)
                log.info("opened SSH connection to %s@%s:%d for %s", target.user,
                         target.host, target.port, target.node)
        if pinned is not None:
            expected = pinned_key(target, pinned)
            if kept.host_key != expected:  # opened by a transport that pinned nothing
                raise host_key_error(target, expected, kept.host_key)
        return kept

    def _discard(self, target: SshTarget, kept: Kept) -> None:
        """Drop a broken connection, so the next caller opens a new one."""
        key = (target.host, target.port, target.user)
        if self._kept.get(key) is kept:
            del self._kept[key]
        kept.connection.close()

    async def _open(self, target: SshTarget, pinned: str | None
                    ) -> asyncssh.SSHClientConnection:
        client = _HostKeyCheck()
        expected = pinned_key(target, pinned) if pinned is not None else None
        try:
            connection, _ = await asyncio.wait_for(asyncssh.create_connection(
                lambda: client, target.host, target.port, username=target.user,
                client_keys=[import_key(target)], agent_path=None, config=None,
                password=None, kbdint_auth=False,
                # pinned: only that key passes (and only its algorithms are offered);
                # first contact: any key, which the caller then records
                known_hosts=([expected], [], []) if expected is not None else None,
                keepalive_interval=self.keepalive_interval, keepalive_count_max=3),
                self.connect_timeout)
        except asyncssh.HostKeyNotVerifiable:
            assert expected is not None
            raise host_key_error(target, expected, client.offered) from None
        except asyncssh.KeyExchangeFailed as exc:
            if expected is not None and client.offered is None:
                raise host_key_error(target, expected, None) from None
            raise translate(exc, target, "connecting") from None
        except (OSError, asyncssh.Error) as exc:  # TimeoutError is an OSError
            raise translate(exc, target, "connecting") from None
        return connection

    async def execute(self, target: SshTarget, pinned: str | None, command: str, *,
                      stdin: bytes | str | None, timeout: float) -> Completed:
        """Run one command line; reconnect once if the connection broke before it ran
        (after that the command may have run: the caller's step decides on a retry)."""
        retries = 1
        while True:
            kept = await self.connection(target, pinned)
            async with kept.channels:
                try:
                    # no input: /dev/null, so nothing is written to a channel that a quick
                    # command may already have closed
                    process = await kept.connection.create_process(
                        command, encoding=None,
                        stdin=stdin if isinstance(stdin, str)
                        else asyncssh.PIPE if stdin else asyncssh.DEVNULL)
                except _BROKEN as exc:
                    self._discard(target, kept)
                    if retries:
                        retries -= 1
                        continue
                    raise translate(exc, target, "opening a session") from None
                try:
                    if isinstance(stdin, bytes) and stdin:  # a file name streams by itself
                        with contextlib.suppress(BrokenPipeError):
                            # the command ended before reading it all: its exit says why
                            process.stdin.write(stdin)
                            process.stdin.write_eof()
                    result = await process.wait(timeout=timeout)
                except (asyncssh.TimeoutError, *_BROKEN) as exc:
                    process.close()
                    raise translate(exc, target, "running a command") from None
                if result.exit_status is None and result.exit_signal is None:
                    # the channel closed without the command's end: the connection broke
                    # (keepalives unanswered) and nobody knows how the command fared
                    self._discard(target, kept)
                    raise TransportError(
                        f"{target.node} ({target.where}): the connection broke while "
                        "running a command", node=target.node)
                return Completed(_returncode(result), _bytes(result.stdout),
                                 _bytes(result.stderr))


def _bytes(data: object) -> bytes:
    return data if isinstance(data, bytes) else b""


def _returncode(result: asyncssh.SSHCompletedProcess) -> int:
    if result.exit_status is not None and result.exit_status >= 0:
        return result.exit_status
    if result.exit_signal is not None:  # as a shell reports a signal: 128 + its number
        try:
            return 128 + signal.Signals[f"SIG{result.exit_signal[0]}"].value
        except KeyError:
            pass
    return 255

