"""A small, typed HTTP client of the ndovu REST API.

httpx errors are translated here, once: no answer at all becomes ``ServerUnreachable``,
a 4xx/5xx becomes ``ApiError`` carrying the body's code, message, field and hint.
``wait_for_operation`` is the one bounded wait every command uses.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from ndovu.cli import credentials
from ndovu.cli.errors import ApiError, CliError, ServerUnreachable, WaitTimeout

DEFAULT_URL = "http://127.0.0.1:8470"
REQUEST_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.5
MAX_BACKOFF_S = 8.0
DEFAULT_WAIT_TIMEOUT_S = 30 * 60.0
TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "ABANDONED"})

Json = dict[str, Any]


class ApiClient:
    def __init__(self, base_url: str = DEFAULT_URL, *, timeout: float = REQUEST_TIMEOUT_S,
                 transport: httpx.BaseTransport | None = None, anonymous: bool = False,
                 ca_file: str | None = None):
        self.base_url = base_url.rstrip("/")
        # the token kept by `ndovu login` (or NDOVU_TOKEN); none for the login call itself
        token = None if anonymous else credentials.token_for(self.base_url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # certificates are always checked: against the server's CA when one was given
        # (`ndovu login --ca-file`, NDOVU_CA_FILE), else the system's
        self.ca_file = ca_file or credentials.ca_file_for(self.base_url)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers=headers, verify=self._verify())

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _verify(self) -> ssl.SSLContext | bool:
        if not self.ca_file:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise CliError(f"cannot use {self.ca_file} as the server's CA certificate: {exc}",
                           hint="give a readable PEM file to --ca-file or NDOVU_CA_FILE"
                           ) from exc

    # -- resources -------------------------------------------------------------------------

    def create_cluster(self, body: Json) -> Json:
        return self._request("POST", "/v1/clusters", json=body)

    def list_clusters(self) -> list[Json]:
        return self._request("GET", "/v1/clusters").get("clusters", [])

    def get_cluster(self, name: str) -> Json:
        return self._request("GET", f"/v1/clusters/{quote(name, safe='')}")

    def delete_cluster(self, name: str, *, force: bool = False) -> Json:
        return self._request("DELETE", f"/v1/clusters/{quote(name, safe='')}"
                             + ("?force=true" if force else ""))

    def stop_cluster(self, name: str) -> Json:
        return self._request("POST", f"/v1/clusters/{quote(name, safe='')}/stop")

    def start_cluster(self, name: str) -> Json:
        return self._request("POST", f"/v1/clusters/{quote(name, safe='')}/start")

    def resize_group(self, name: str, group: str, instances: int) -> Json:
        return self._request("PUT", f"/v1/clusters/{quote(name, safe='')}/nodegroups/"
                                    f"{quote(group, safe='')}/instancenum",
                             json={"instanceNum": instances})

    def scale_group(self, name: str, group: str, *, cpu: int | None,
                    memory_mb: int | None) -> Json:
        body: Json = {}
        if cpu is not None:
            body["cpuNum"] = cpu
        if memory_mb is not None:
            body["memCapacityMB"] = memory_mb
        return self._request("PUT", f"/v1/clusters/{quote(name, safe='')}/nodegroups/"
                                    f"{quote(group, safe='')}/scale", json=body)

    def get_cluster_events(self, name: str, limit: int = 500) -> list[Json]:
        return self._request("GET", f"/v1/clusters/{quote(name, safe='')}/events"
                                    f"?limit={limit}").get("events", [])

    def login(self, user: str, password: str) -> Json:
        return self._request("POST", "/v1/auth/tokens",
                             json={"username": user, "password": password})

    def logout(self) -> None:
        self._request("DELETE", "/v1/auth/tokens/current")

    def whoami(self) -> Json:
        return self._request("GET", "/v1/auth/whoami")

    def create_user(self, name: str, password: str, *, is_admin: bool) -> Json:
        return self._request("POST", "/v1/users",
                             json={"name": name, "password": password, "isAdmin": is_admin})

    def list_users(self) -> list[Json]:
        return self._request("GET", "/v1/users").get("users", [])

    def set_password(self, name: str, password: str, current: str | None = None) -> None:
        body = {"password": password}
        if current is not None:
            body["currentPassword"] = current
        self._request("PUT", f"/v1/users/{quote(name, safe='')}/password", json=body)

    def set_user_disabled(self, name: str, disabled: bool) -> Json:
        return self._request("PATCH", f"/v1/users/{quote(name, safe='')}",
                             json={"disabled": disabled})

    def delete_user(self, name: str) -> None:
        self._request("DELETE", f"/v1/users/{quote(name, safe='')}")

    def audit(self, limit: int) -> list[Json]:
        return self._request("GET", f"/v1/audit?limit={limit}").get("events", [])

    def get_operation(self, op_id: int) -> Json:
        return self._request("GET", f"/v1/operations/{op_id}")

    def get_operation_events(self, op_id: int) -> list[Json]:
        return self._request("GET", f"/v1/operations/{op_id}/events").get("events", [])

    def get_catalog(self) -> Json:
        return self._request("GET", "/v1/catalog")

    def get_catalog_type(self, name: str) -> Json:
        return self._request("GET", f"/v1/catalog/{quote(name, safe='')}")

    def list_networks(self) -> list[Json]:
        return self._request("GET", "/v1/networks").get("networks", [])

    def get_network(self, name: str) -> Json:
        return self._request("GET", f"/v1/networks/{quote(name, safe='')}")

    def create_network(self, body: Json) -> Json:
        return self._request("POST", "/v1/networks", json=body)

    def update_network(self, name: str, body: Json) -> Json:
        return self._request("PUT", f"/v1/networks/{quote(name, safe='')}", json=body)

    def delete_network(self, name: str) -> None:
        self._request("DELETE", f"/v1/networks/{quote(name, safe='')}")

    def list_resource_pools(self) -> list[Json]:
        return self._request("GET", "/v1/resourcepools").get("resourcePools", [])

    def get_resource_pool(self, name: str) -> Json:
        return self._request("GET", f"/v1/resourcepools/{quote(name, safe='')}")

    def create_resource_pool(self, body: Json) -> Json:
        return self._request("POST", "/v1/resourcepools", json=body)

    def delete_resource_pool(self, name: str) -> None:
        self._request("DELETE", f"/v1/resourcepools/{quote(name, safe='')}")

    def list_datastores(self) -> list[Json]:
        return self._request("GET", "/v1/datastores").get("datastores", [])

    def create_datastore(self, body: Json) -> Json:
        return self._request("POST", "/v1/datastores", json=body)

    def delete_datastore(self, name: str) -> None:
        self._request("DELETE", f"/v1/datastores/{quote(name, safe='')}")

    # -- waiting ---------------------------------------------------------------------------

    def wait_for_operation(self, op_id: int, on_update: Callable[[Json], None] | None = None,
                           timeout: float = DEFAULT_WAIT_TIMEOUT_S, *,
                           interval: float = POLL_INTERVAL_S,
                           max_backoff: float = MAX_BACKOFF_S) -> Json:
        """Poll an operation until it reaches a terminal status and return it.

        Polls every ``interval`` seconds; network errors and 5xx answers back off
        exponentially (capped at ``max_backoff``) and are retried until ``timeout``
        runs out; any other error (e.g. 404) is raised at once.
        """
        deadline = time.monotonic() + timeout
        failures = 0
        last_op: Json | None = None
        last_error: CliError | None = None
        while True:
            try:
                op = self.get_operation(op_id)
            except CliError as exc:
                if not exc.retryable:
                    raise
                failures += 1
                last_error = exc
                delay = min(interval * 2 ** failures, max_backoff)
            else:
                failures, last_op, last_error = 0, op, None
                if on_update is not None:
                    on_update(op)
                if op.get("status") in TERMINAL_STATUSES:
                    return op
                delay = interval
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _wait_timeout(op_id, timeout, last_op, last_error)
            time.sleep(min(delay, remaining))

    # -- transport -------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, json: Json | None = None) -> Json:
        url = f"{self.base_url}{path}"
        try:
            response = self._http.request(method, path, json=json)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise ServerUnreachable(
                    f"the ndovu server at {self.base_url} presented a certificate that is "
                    f"not trusted{f' by {self.ca_file}' if self.ca_file else ''}: "
                    f"{_reason(exc)}",
                    hint="give the server's CA certificate with `ndovu login --ca-file F` "
                         "(or NDOVU_CA_FILE); check its fingerprint in the server's log"
                ) from exc
            raise ServerUnreachable(
                f"cannot reach the ndovu server at {self.base_url}: {_reason(exc)}",
                hint="start it with `ndovu server`, or point --url / NDOVU_URL at a running "
                     "server") from exc
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                f"the ndovu server at {self.base_url} did not answer {method} {path} in time",
                hint="the server may be overloaded; try again") from exc
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"lost the connection to the ndovu server at {self.base_url} during "
                f"{method} {path}: {_reason(exc)}") from exc
        if response.status_code >= 400:
            raise _api_error(method, url, response)
        if response.status_code == 204:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiError(response.status_code,
                           f"{method} {url} answered {response.status_code} with a body that "
                           f"is not JSON", code="bad_response") from exc
        if not isinstance(body, dict):
            raise ApiError(response.status_code,
                           f"{method} {url} answered with JSON that is not an object",
                           code="bad_response")
        return body


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return text or type(exc).__name__


def _api_error(method: str, url: str, response: httpx.Response) -> ApiError:
    status = response.status_code
    fallback = f"{method} {url} failed with {status} {response.reason_phrase}"
    try:
        body = response.json()
    except ValueError:
        return ApiError(status, fallback, code=f"http_{status}")
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        hint = error.get("hint")
        if status == 401 and "/v1/auth/tokens" not in url:
            hint = "log in with `ndovu login` (or set NDOVU_TOKEN)"
        return ApiError(status, str(error["message"]), code=str(error.get("code") or
                                                                f"http_{status}"),
                        field=error.get("field"), hint=hint)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return ApiError(status, detail, code=f"http_{status}")
    if isinstance(detail, list):  # FastAPI's default request-validation shape
        parts = [f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                 for d in detail if isinstance(d, dict)]
        return ApiError(status, "; ".join(parts) or fallback, code="invalid_request")
    return ApiError(status, fallback, code=f"http_{status}")


def _wait_timeout(op_id: int, timeout: float, last_op: Json | None,
                  last_error: CliError | None) -> WaitTimeout:
    if last_op is not None:
        what = (f"operation {op_id} ({last_op.get('type')} of cluster "
                f"'{last_op.get('target')}')")
        state = (f"last seen {last_op.get('status')} at {last_op.get('progress', 0)}%"
                 + (f": {last_op['progressMessage']}" if last_op.get("progressMessage") else ""))
    else:
        what, state = f"operation {op_id}", "never got an answer"
    if last_error is not None:
        state += f"; last error: {last_error.message}"
    return WaitTimeout(
        f"timed out after {timeout:g} s waiting for {what} to finish; {state}",
        hint=f"the operation goes on on the server; follow it with `ndovu operation show "
             f"{op_id}` or wait longer with --timeout")
