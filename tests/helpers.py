"""Test helpers: a real `ndovu server` subprocess, a REST client, process inspection."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
NDOVU = Path(sys.executable).parent / "ndovu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], *, timeout: float, what: str,
               interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def processes_under(root: Path, marker: str = "") -> list[int]:
    """PIDs whose command line mentions ``root`` (and ``marker``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(root) in cmdline and marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


class Server:
    """A real `ndovu server` process with its own state directory, port and subnet."""

    def __init__(self, state_dir: Path, subnet: str, port: int | None = None,
                 catalog_dirs: tuple[Path, ...] = ()):
        self.state_dir = state_dir
        self.catalog_dirs = catalog_dirs
        self.subnet = subnet
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "server.log"

    def start(self) -> Server:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
        env.update(NDOVU_LOCAL_SUBNET=self.subnet)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(NDOVU), "server", "--state-dir", str(self.state_dir),
                 "--port", str(self.port),
                 *(arg for d in self.catalog_dirs for arg in ("--catalog-dir", str(d)))],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(self._healthy, timeout=60, what=f"ndovu server on {self.url}")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"ndovu server exited with {self.proc.returncode}:\n"
                                 f"{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def wait_operation(client: httpx.Client, op_id: int, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        op = client.get(f"/v1/operations/{op_id}").json()
        return op if op["status"] in {"COMPLETED", "FAILED", "ABANDONED"} else None

    return wait_until(done, timeout=timeout, what=f"operation {op_id} to finish", interval=0.3)
