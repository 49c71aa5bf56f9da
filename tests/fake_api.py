"""A fake ndovu REST API at the edge: a real HTTP server on 127.0.0.1 serving canned
answers that follow the API contract, plus factories for its resources.

Its fixtures reach the unit tests through ``tests/unit/conftest.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Json = dict[str, Any]
Answer = tuple[int, Any]


class FakeApi:
    """Routes map (METHOD, path) to a queue of answers; the last answer repeats."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def calls(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.requests if (m, p) == (method, path)]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, method: str, path: str, body: Any) -> Answer:
        with self._lock:
            self.requests.append((method, path, body))
            queue = self.routes.get((method, path))
            if not queue:
                return 404, {"error": {"code": "not_found",
                                       "message": f"no fake route for {method} {path}"}}
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, payload = api._answer(self.command, self.path, body)
                data = (payload.encode() if isinstance(payload, str)
                        else json.dumps(payload).encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json"
                                 if not isinstance(payload, str) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                if status == 202 and isinstance(payload, dict) and "id" in payload:
                    self.send_header("Location", f"/v1/operations/{payload['id']}")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        return Handler


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens (the port was free a moment ago)."""
    api = FakeApi()
    url = api.url
    api._server.server_close()
    return url


def operation(op_id: int = 7, status: str = "STARTED", progress: int = 0, *,
              op_type: str = "CREATE", target: str = "zk", message: str | None = None,
              error: str | None = None, succeed: list[str] | None = None,
              fail: list[str] | None = None) -> Json:
    return {"id": op_id, "type": op_type, "target": target, "status": status,
            "progress": progress, "progressMessage": message, "errorMessage": error,
            "succeedNodes": succeed or [], "failNodes": fail or [],
            "createdAt": "2025-01-01T00:00:00Z",
            "finishedAt": None if status in {"STARTING", "STARTED"}
            else "2025-01-01T00:00:09Z"}


def node(index: int, *, cluster: str = "zk", status: str = "SERVICE_READY",
         err: str | None = None) -> Json:
    address = f"127.1.0.{index + 1}"
    return {"name": f"{cluster}-zookeeper-{index}", "status": status, "action": None,
            "ip": address, "ipConfigs": {"MGT_NETWORK": [{"ipAddress": address}]},
            "errMessage": err, "moId": f"local:{cluster}-zookeeper-{index}"}


def cluster(name: str = "zk", status: str = "RUNNING", *, nodes: list[Json] | None = None,
            op: Json | None = None) -> Json:
    members = nodes if nodes is not None else [node(i, cluster=name) for i in range(3)]
    connect = ",".join(f"{n['ip']}:2181" for n in members)
    return {"name": name, "type": "zookeeper", "status": status, "instanceNum": len(members),
            "endpoints": {"zookeeper": connect} if status == "RUNNING" else {},
            "errorMessage": None,
            "nodeGroups": [{"name": "zookeeper", "roles": ["zookeeper_server"],
                            "instanceNum": len(members), "instanceType": "SMALL",
                            "cpuNum": 1, "memCapacityMB": 1024,
                            "storage": {"type": "LOCAL", "sizeGB": 10},
                            "instances": members}],
            "operation": op}


def error(code: str, message: str, **extra: str) -> Json:
    return {"error": {"code": code, "message": message, **extra}}
