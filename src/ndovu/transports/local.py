"""The local transport: a node is a directory on this machine and a loopback address.

Services are process groups started in their own session, so they outlive the ndovu
server (a restarted server finds them again through their pid files) and can be killed
as a whole, children included. A pid file holds "pid starttime": the kernel's start time
of the process (field 22 of /proc/<pid>/stat) tells our service apart from an unrelated
process that later got the same pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ndovu.transports import packages as package_rules
from ndovu.transports.base import (
    NOT_EXECUTABLE_RETURNCODE,
    NOT_FOUND_RETURNCODE,
    TIMEOUT_RETURNCODE,
    CommandResult,
)

# every service started on a node carries its name too, so one whose pid file a crash
# kept from being written is still found (LocalTransport._adopt_unrecorded)
from ndovu.transports.services import (
    NODE_ROOT_VARIABLE,
    SERVICE_NAME,
    SERVICE_VARIABLE,
    check_env_names,
    env_assignments,
)

_PROC = Path("/proc")
# the local nodes share this machine's package manager: one install at a time
_PACKAGE_LOCK = Path(tempfile.gettempdir()) / "ndovu-packages.lock"


@contextlib.contextmanager
def _package_lock() -> Iterator[None]:
    """The machine's package manager, for one install at a time (of every thread and
    process: flock on a fresh descriptor)."""
    with open(_PACKAGE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def relative_path(relative: str) -> PurePosixPath:
    """``relative`` as a path inside a node's root; ValueError when it would leave it."""
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"path {relative!r} must be relative to the node and stay in it")
    return pure


@dataclass(frozen=True)
class ProcStat:
    """The few fields of /proc/<pid>/stat we need."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    num_threads: int
    starttime: int

    @property
    def exited(self) -> bool:
        # a zombie leader whose other threads still run (a JVM mid-exit) still holds
        # its files and sockets: it is gone only once it is the last thread left
        return self.state in ("Z", "X") and self.num_threads <= 1


def read_proc_stat(pid: int) -> ProcStat | None:
    """The process's stat fields, or None when there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ")"
    rest = raw[raw.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); field N is rest[N - 3]
    return ProcStat(pid=pid, state=rest[0], ppid=int(rest[1]), pgrp=int(rest[2]),
                    num_threads=int(rest[17]), starttime=int(rest[19]))


def _all_pids() -> Iterator[int]:
    for entry in os.listdir(_PROC):
        if entry.isdigit():
            yield int(entry)


def _group_members(pgid: int) -> list[ProcStat]:
    """Processes of a process group that have not exited (zombies hold no resources)."""
    members = []
    for pid in _all_pids():
        stat = read_proc_stat(pid)
        if stat is not None and stat.pgrp == pgid and not stat.exited:
            members.append(stat)
    return members


# services this server started, kept so that reaping them goes through Popen (which
# then neither warns nor tries to reap them a second time)
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def _reap(pid: int) -> None:
    """Collect a zombie we are the parent of, so it stops looking like a process."""
    stat = read_proc_stat(pid)
    if stat is None or not stat.exited or stat.ppid != os.getpid():
        return
    with _children_lock:
        process = _children.get(pid)
    if process is not None:
        if process.poll() is not None:
            with _children_lock:
                _children.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _environ(pid: int) -> bytes:
    """A process's environment; read through a live thread once the leader thread exited."""
    base = _PROC / str(pid)
    with contextlib.suppress(OSError):
        return (base / "environ").read_bytes()  # ESRCH once the leader thread exited
    with contextlib.suppress(OSError):
        for task in os.listdir(base / "task"):
            with contextlib.suppress(OSError):
                return (base / "task" / task / "environ").read_bytes()
    return b""


def node_processes(root: Path) -> list[int]:
    """Live processes whose environment names ``root`` as their node root.

    Every service and command of a node inherits NDOVU_NODE_ROOT, so this finds a node's
    processes even when one escaped its process group (a daemon calling setsid).
    """
    marker = f"{NODE_ROOT_VARIABLE}={Path(root).resolve()}".encode()
    found = []
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        if marker in _environ(pid).split(b"\0"):
            stat = read_proc_stat(pid)
            if stat is not None and not stat.exited:
                found.append(pid)
    return found


def _clean_environment(root: Path, extra: Mapping[str, str] | None,
                       service: str | None = None) -> dict[str, str]:
    # the server's own NDOVU_* settings may hold credentials: never hand them to a node
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
    check_env_names(extra or {})  # the names every transport accepts
    env.update(extra or {})
    env[NODE_ROOT_VARIABLE] = str(root)
    if service is not None:
        env[SERVICE_VARIABLE] = service
    return env


class LocalTransport:
    """Acts on one node: its directory ``root`` and its loopback ``address``; software the
    machine's nodes share goes to ``software_dir`` (default: inside the node)."""

    def __init__(self, root: Path, address: str, software_dir: Path | None = None):
        self.root = Path(root).resolve()
        self.address = address
        self.software_dir = str(software_dir or self.root / "software")

    # -- files ---------------------------------------------------------------------

    def _resolve(self, relative: str) -> Path:
        full = self.root / relative_path(relative)
        # a symlink inside the node must not lead out of it either
        if not full.resolve().is_relative_to(self.root):
            raise ValueError(f"path {relative!r} leads outside the node directory")
        return full

    def path(self, relative: str) -> str:
        return str(self._resolve(relative))

    def write_file(self, relative: str, content: str | bytes, mode: int = 0o644,
                   owner: str | None = None) -> None:
        data = content.encode() if isinstance(content, str) else content
        self._write(relative, lambda handle: handle.write(data), mode, owner)

    def upload_file(self, relative: str, source: str, mode: int = 0o644,
                    owner: str | None = None) -> None:
        with open(source, "rb") as origin:
            self._write(relative, lambda handle: shutil.copyfileobj(origin, handle), mode,
                        owner)

    def _write(self, relative: str, fill: Callable[[BinaryIO], object], mode: int,
               owner: str | None) -> None:
        target = self._resolve(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fchmod(handle.fileno(), mode)
            if owner is not None:
                self._chown(temp, owner)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def _chown(self, path: str, owner: str) -> None:
        if os.geteuid() == 0:
            user, _, group = owner.partition(":")
            shutil.chown(path, user or None, group or None)
            return
        result = self.run(["chown", "--", owner, path], timeout=30, privileged=True)
        if not result.ok:
            raise PermissionError(f"cannot give {path} to {owner}: {result.summary()}")

    def read_file(self, relative: str) -> str | None:
        try:
            return self._resolve(relative).read_text()
        except FileNotFoundError:
            return None

    # -- commands ------------------------------------------------------------------

    def run(self, argv: Sequence[str], *, timeout: float = 60.0,
            env: Mapping[str, str] | None = None, privileged: bool = False) -> CommandResult:
        argv = [str(a) for a in argv]
        if not argv:
            raise ValueError("an empty command")
        environment = _clean_environment(self.root, env)
        if privileged and os.geteuid() != 0:
            # sudo resets the environment: hand the node's variables over on the command
            node_env = {**(env or {}), NODE_ROOT_VARIABLE: str(self.root)}
            argv = ["sudo", "-n", "--", "env", *env_assignments(node_env), *argv]
        try:
            # its own session, so a timeout kills grandchildren too and the pipes close
            process = subprocess.Popen(
                argv, cwd=self.root, env=environment,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                encoding="utf-8", errors="replace", start_new_session=True)
        except FileNotFoundError:
            return CommandResult(NOT_FOUND_RETURNCODE, "", f"command not found: {argv[0]}")
        except PermissionError:
            return CommandResult(NOT_EXECUTABLE_RETURNCODE, "",
                                 f"command not executable: {argv[0]}")
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            return CommandResult(process.returncode, stdout, stderr)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            try:
                stdout, stderr = process.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                # a process that left the group still holds the pipes: give up on output
                process.kill()
                process.wait()
                stdout, stderr = "", ""
            message = f"command timed out after {timeout:g} s and was killed: {argv[0]}"
            return CommandResult(TIMEOUT_RETURNCODE, stdout or "",
                                 f"{stderr or ''}{message}\n")

    def install_packages(self, packages: Sequence[str], *, timeout: float = 900.0) -> None:
        package_rules.ensure_installed(self.run, packages, timeout=timeout,
                                       node=self.root.name, lock=_package_lock)

    def wait_reachable(self, timeout: float = 60.0) -> None:
        """A node on this machine is always reachable."""

    def remove_node(self, timeout: float = 20.0) -> None:
        """Stop every service and stray process of the node, then remove its folder."""
        stop_all_services(self.root, timeout=timeout)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- services ------------------------------------------------------------------

    def _check_name(self, name: str) -> None:
        if not SERVICE_NAME.match(name):
            raise ValueError(f"invalid service name {name!r}")

    def _pid_file(self, name: str) -> Path:
        self._check_name(name)
        return self.root / "run" / f"{name}.pid"

    def _log_file(self, name: str) -> Path:
        self._check_name(name)
        return self.root / "logs" / f"{name}.log"

    @contextlib.contextmanager
    def _service_lock(self, name: str) -> Iterator[None]:
        # flock on a fresh descriptor excludes other threads and other processes alike
        lock_path = self.root / "run" / f".{name}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_pid_file(self, name: str) -> tuple[int, int] | None:
        try:
            pid_text, start_text = self._pid_file(name).read_text().split()
            return int(pid_text), int(start_text)
        except (FileNotFoundError, ValueError):
            return None

    def _live_stat(self, name: str) -> ProcStat | None:
        """The service's process if it is ours and alive (not a zombie, not a reused pid)."""
        recorded = self._read_pid_file(name)
        if recorded is None:
            return None
        pid, starttime = recorded
        stat = read_proc_stat(pid)
        if stat is None or stat.starttime != starttime:
            return None
        if stat.exited:
            _reap(pid)
            return None
        return stat

    def _adopt_unrecorded(self, name: str) -> ProcStat | None:
        """The service's process when a server killed between starting it and writing its
        pid file left it unrecorded: found by the NODE_ROOT and SERVICE its environment
        carries, and recorded now, so it is neither started twice nor left behind."""
        marker = f"{SERVICE_VARIABLE}={name}".encode()
        for pid in node_processes(self.root):
            stat = read_proc_stat(pid)
            # the leader of the session it was started in, not one of its children
            if stat is None or stat.pgrp != pid or marker not in _environ(pid).split(b"\0"):
                continue
            self.write_file(f"run/{name}.pid", f"{pid} {stat.starttime}\n")
            return stat
        return None

    def service_running(self, name: str) -> bool:
        return self._live_stat(name) is not None or self._adopt_unrecorded(name) is not None

    def start_service(self, name: str, argv: Sequence[str], *,
                      env: Mapping[str, str] | None = None) -> None:
        with self._service_lock(name):
            if self.service_running(name):
                return
            log_path = self._log_file(name)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    [str(a) for a in argv], cwd=self.root,
                    env=_clean_environment(self.root, env, service=name),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            # not reaped yet (we are its parent), so its stat exists even if it died already
            with _children_lock:
                _children[process.pid] = process
            stat = read_proc_stat(process.pid)
            starttime = stat.starttime if stat is not None else 0
            self.write_file(f"run/{name}.pid", f"{process.pid} {starttime}\n")

    def stop_service(self, name: str, *, timeout: float = 20.0) -> None:
        with self._service_lock(name):
            recorded = self._read_pid_file(name)
            if recorded is None:
                found = self._adopt_unrecorded(name)
                if found is None:
                    return
                recorded = (found.pid, found.starttime)
            pid, starttime = recorded
            stat = read_proc_stat(pid)
            if stat is None or stat.starttime == starttime:
                # ours, or gone while children may remain in its group (a pid is never
                # reused while it still names a process group, so the group is ours)
                _terminate_group(pid, timeout)
                _reap(pid)
            # otherwise the pid was reused by an unrelated process: nothing of ours is left
            self._pid_file(name).unlink(missing_ok=True)

    def running_services(self) -> list[str]:
        run_dir = self.root / "run"
        if not run_dir.is_dir():
            return []
        names = sorted(p.stem for p in run_dir.glob("*.pid"))
        return [n for n in names if SERVICE_NAME.match(n) and self.service_running(n)]

    def recorded_services(self) -> list[str]:
        """Every service with a pid file, running or not (what a stop must clean up)."""
        run_dir = self.root / "run"
        if not run_dir.is_dir():
            return []
        return sorted(p.stem for p in run_dir.glob("*.pid") if SERVICE_NAME.match(p.stem))

    def service_log_tail(self, name: str, lines: int = 20) -> str:
        return _tail(self._log_file(name), lines)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, deadline: float) -> bool:
    delay = 0.02
    while True:
        members = _group_members(pgid)
        if not members:
            _reap(pgid)  # the leader, if it is our zombie
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _terminate_group(pgid: int, timeout: float) -> None:
    """SIGTERM the group, wait up to ``timeout``, then SIGKILL whatever is left."""
    _signal_group(pgid, signal.SIGTERM)
    if _wait_group_gone(pgid, time.monotonic() + timeout):
        return
    _signal_group(pgid, signal.SIGKILL)
    # SIGKILL cannot be ignored: a short bound only covers the kernel tearing down
    _wait_group_gone(pgid, time.monotonic() + 5.0)


def stop_all_services(root: Path, timeout: float = 20.0) -> None:
    """Stop every service of the node at ``root`` (in parallel), then any stray process."""
    transport = LocalTransport(root, address="")
    names = transport.recorded_services()
    if len(names) > 1:
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(lambda n: transport.stop_service(n, timeout=timeout), names))
    elif names:
        transport.stop_service(names[0], timeout=timeout)
    # processes that left their group (setsid) still carry the node root in their env
    for pid in node_processes(transport.root):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a file, read from its end (logs can be large)."""
    if lines <= 0:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            position = handle.tell()
            data = b""
            while position > 0 and data.count(b"\n") <= lines:
                step = min(8192, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
