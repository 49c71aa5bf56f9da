"""A small HTTP client of ndovu's /v1 REST API for the Heat plugins.

Every request has a bounded timeout. Transport errors and error answers are translated
here, once, into ``NdovuError``s whose messages name the endpoint and never carry the
password or the token. Bearer tokens are kept in this process only (one per endpoint,
user and password) and renewed once when the server answers 401.
"""

# No `from __future__ import annotations` here: Heat runs a plugin folder's modules
# before registering them in sys.modules, where dataclasses look string annotations up.
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

Json = dict[str, Any]
TERMINAL = frozenset({"COMPLETED", "FAILED", "ABANDONED"})


class NdovuError(Exception):
    """A call to ndovu failed; ``str()`` is a sentence for the stack's status reason."""

    retryable = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Unreachable(NdovuError):
    """No answer at all: refused, timed out, TLS or DNS failure."""

    retryable = True


class ApiError(NdovuError):
    """ndovu answered with an error: its own code, message, field and hint."""

    def __init__(self, status: int, message: str, *, code: str = "",
                 field: str | None = None, hint: str | None = None):
        super().__init__(message + (f" ({hint})" if hint else ""))
        self.status, self.code, self.field, self.hint = status, code, field, hint
        self.reason = message
        self.retryable = status in (502, 503, 504)


@dataclass(frozen=True)
class Connection:
    """Where the server is and who logs in; the password is kept out of ``repr``."""

    endpoint: str
    username: str
    password: str = field(repr=False)
    verify: bool | str = True
    connect_timeout: float = 5.0
    request_timeout: float = 30.0

    def token_key(self) -> tuple[str, str, str]:
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return (self.endpoint, self.username, digest)


_tokens: dict[tuple[str, str, str], str] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every kept token (tests; a changed password also makes a new key)."""
    with _tokens_lock:
        _tokens.clear()


class Client:
    def __init__(self, connection: Connection):
        self.conn = connection
        self.endpoint = connection.endpoint

    # -- clusters --------------------------------------------------------------------------

    def get_cluster(self, name: str) -> Json | None:
        """The cluster, or None when the server has no cluster of that name."""
        return self._request("GET", f"/v1/clusters/{_q(name)}", missing_ok=True)

    def create_cluster(self, body: Json) -> Json:
        return self._request("POST", "/v1/clusters", json=body)

    def delete_cluster(self, name: str) -> Json | None:
        """The delete operation, or None when the cluster does not exist."""
        return self._request("DELETE", f"/v1/clusters/{_q(name)}", missing_ok=True)

    def start_cluster(self, name: str) -> Json:
        return self._request("POST", f"/v1/clusters/{_q(name)}/start")

    def stop_cluster(self, name: str) -> Json:
        return self._request("POST", f"/v1/clusters/{_q(name)}/stop")

    def resize_group(self, name: str, group: str, count: int) -> Json:
        return self._request("PUT", f"/v1/clusters/{_q(name)}/nodegroups/{_q(group)}"
                                    "/instancenum", json={"instanceNum": count})

    def scale_group(self, name: str, group: str, cpu: int, memory_mb: int) -> Json:
        return self._request("PUT", f"/v1/clusters/{_q(name)}/nodegroups/{_q(group)}/scale",
                             json={"cpuNum": cpu, "memCapacityMB": memory_mb})

    def get_operation(self, op_id: int) -> Json:
        return self._request("GET", f"/v1/operations/{int(op_id)}")

    # -- networks --------------------------------------------------------------------------

    def get_network(self, name: str) -> Json | None:
        """The network, or None when the server has no network of that name."""
        return self._request("GET", f"/v1/networks/{_q(name)}", missing_ok=True)

    def add_dhcp_network(self, name: str) -> Json:
        """A network whose nodes take the provider's own addresses, its port group named
        as the network (what the seed plugin registered for an unknown cluster_net)."""
        return self._request("POST", "/v1/networks",
                             json={"name": name, "portGroup": name, "isDhcp": True})

    # -- catalog ---------------------------------------------------------------------------

    def catalog(self) -> Json:
        return self._request("GET", "/v1/catalog")

    def catalog_type(self, name: str) -> Json | None:
        """The cluster type, or None when the catalog has no such type."""
        return self._request("GET", f"/v1/catalog/{_q(name)}", missing_ok=True)

    # -- transport -------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, json: Json | None = None,
                 missing_ok: bool = False) -> Any:
        response = self._send(method, path, json, self._token())
        if response.status_code == 401:  # expired or revoked: log in again, once
            self._drop_token()
            response = self._send(method, path, json, self._token())
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise self._api_error(method, path, response)
        return self._json(method, path, response)

    def _send(self, method: str, path: str, json: Json | None,
              token: str | None) -> requests.Response:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return requests.request(
                method, f"{self.endpoint}{path}", json=json, headers=headers,
                timeout=(self.conn.connect_timeout, self.conn.request_timeout),
                verify=self.conn.verify, allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            raise Unreachable(f"TLS with ndovu at {self.endpoint} failed ({_short(exc)}); "
                              "check [ndovu] ca_file") from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise Unreachable(f"cannot reach ndovu at {self.endpoint}: no connection within "
                              f"{self.conn.connect_timeout:g} s") from exc
        except requests.exceptions.Timeout as exc:
            raise Unreachable(f"ndovu at {self.endpoint} did not answer {method} {path} "
                              f"within {self.conn.request_timeout:g} s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise Unreachable(f"cannot reach ndovu at {self.endpoint}: "
                              f"{_short(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise Unreachable(f"request {method} {path} to ndovu at {self.endpoint} failed: "
                              f"{_short(exc)}") from exc

    def _token(self) -> str:
        key = self.conn.token_key()
        with _tokens_lock:
            token = _tokens.get(key)
        if token:
            return token
        path = "/v1/auth/tokens"
        response = self._send("POST", path, {"username": self.conn.username,
                                             "password": self.conn.password}, None)
        if response.status_code in (401, 403):
            raise ApiError(response.status_code,
                           f"ndovu at {self.endpoint} refused the login of user "
                           f"{self.conn.username!r}", code="login_refused",
                           hint="check the username and password in [ndovu] (or the "
                                "template's username/password)")
        if response.status_code >= 400:
            raise self._api_error("POST", path, response)
        token = self._json("POST", path, response).get("token")
        if not isinstance(token, str) or not token:
            raise ApiError(response.status_code, f"ndovu at {self.endpoint} answered the "
                                                 "login without a token", code="bad_response")
        with _tokens_lock:
            _tokens[key] = token
        return token

    def _drop_token(self) -> None:
        with _tokens_lock:
            _tokens.pop(self.conn.token_key(), None)

    def _json(self, method: str, path: str, response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(response.status_code,
                           f"ndovu at {self.endpoint} answered {method} {path} with "
                           f"{response.status_code} and a body that is not JSON",
                           code="bad_response") from exc

    def _api_error(self, method: str, path: str, response: requests.Response) -> ApiError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return ApiError(status, str(error["message"]), code=str(error.get("code") or ""),
                            field=error.get("field"), hint=error.get("hint"))
        return ApiError(status, f"ndovu at {self.endpoint} answered {method} {path} with "
                                f"{status} {response.reason}", code=f"http_{status}")


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _short(exc: Exception) -> str:
    """A transport error's reason without urllib3's retry noise."""
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host"
    if "reset by peer" in lowered or "remotedisconnected" in lowered:
        return "the connection was closed without an answer"
    return type(exc).__name__
