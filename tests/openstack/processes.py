"""The test cloud's processes: each service in a process group of its own (so stopping it
reaches every worker uWSGI forked), its output in a log file, and startup errors that
quote that log. Nothing here knows OpenStack; cloud.py says what to run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx


class StartupError(RuntimeError):
    """A service or command of the test cloud failed to start; the message ends with the
    tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def run(name: str, command: Sequence[str], log: Path, *, timeout: float = 300) -> None:
    """Run a command to completion, its output appended to ``log``; a failure raises
    with the log's tail."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        try:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise StartupError(f"{name}: no result after {timeout:.0f} s\n{tail(log)}") from None
    if done.returncode != 0:
        raise StartupError(f"{name} exited with {done.returncode}\n{tail(log)}")


class Service:
    """A long-running process in its own process group, its output in ``log``."""

    def __init__(self, name: str, command: Sequence[str], log: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.name, self.command, self.log, self.env = name, list(command), log, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env,
                                            start_new_session=True)
        return self

    def failure(self, why: str) -> StartupError:
        return StartupError(f"{self.name} {why}; {self.log}:\n{tail(self.log)}")

    def wait_http(self, url: str, timeout: float) -> None:
        """Wait until ``url`` answers at all (any status: APIs answer / with 300s too)."""
        def answers() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code < 500
            except httpx.HTTPError:
                return False

        wait_until(answers, f"answering at {url}", timeout, [self])

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill(self) -> None:
        """SIGKILL the process group (workers that outlive their leader included)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


def wait_until(check: Callable[[], object], what: str, timeout: float,
               watch: Sequence[Service]) -> None:
    """Poll ``check`` until it is truthy; fail as soon as one of ``watch`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in watch:
            if (code := service.exit_code()) is not None:
                raise service.failure(f"exited with {code}")
        if check():
            return
        time.sleep(0.3)
    if len(watch) == 1:
        raise watch[0].failure(f"not {what} after {timeout:.0f} s")
    raise StartupError(f"not {what} after {timeout:.0f} s; logs in {watch[0].log.parent}")


def kill_all(services: Sequence[Service]) -> None:
    """Kill every service and reap the leaders. Nothing of a test cloud needs a graceful
    stop: its databases and message queues are thrown away next."""
    for service in services:
        service.kill()
    for service in services:
        if service.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=10)


def uwsgi(name: str, venv: Path, module: str, port: int, log: Path,
          env: Mapping[str, str]) -> Service:
    """A WSGI API under uWSGI on 127.0.0.1:``port``: one process, four threads."""
    command = [
        str(venv / "bin" / "uwsgi"), "--http-socket", f"127.0.0.1:{port}",
        "--module", module, "--virtualenv", str(venv),
        "--master", "--processes", "1", "--threads", "4", "--lazy-apps", "--need-app",
        "--buffer-size", "65535", "--procname-prefix", f"{name} ",
        # openstacksdk reuses connections; uWSGI's keep-alive handling resets some POSTs
        "--add-header", "Connection: close",
    ]
    return Service(name, command, log, env={**os.environ, **env})
