"""A real HDFS client for the tests: WebHDFS over HTTP (the NameNode names the DataNodes,
which take and give the data)."""

from __future__ import annotations

import getpass

import httpx

USER = getpass.getuser()


def _url(endpoint: str, path: str, op: str, **params: str) -> str:
    return f"{endpoint}{path}?" + "&".join(
        f"{k}={v}" for k, v in {"op": op, "user.name": USER, **params}.items())


def read(endpoint: str, path: str) -> bytes:
    """OPEN through the NameNode, which redirects to a DataNode holding the blocks."""
    r = httpx.get(_url(endpoint, path, "OPEN"), follow_redirects=True, timeout=60,
                  trust_env=False)
    assert r.status_code == 200, r.text[:500]
    return r.content


def write(endpoint: str, path: str, data: bytes) -> None:
    """CREATE in WebHDFS' two steps: the NameNode names a DataNode, which takes the data."""
    r = httpx.put(_url(endpoint, path, "CREATE", overwrite="true"), timeout=30,
                  trust_env=False)
    assert r.status_code == 307, r.text[:500]
    r = httpx.put(r.headers["location"], content=data, timeout=60, trust_env=False)
    assert r.status_code == 201, r.text[:500]


def block_hosts(endpoint: str, path: str, length: int) -> list[set[str]]:
    """For each block of the file, the DataNodes holding a replica of it."""
    r = httpx.get(_url(endpoint, path, "GET_BLOCK_LOCATIONS", offset="0",
                       length=str(length)), timeout=30, trust_env=False)
    assert r.status_code == 200, r.text[:500]
    blocks = r.json()["LocatedBlocks"]["locatedBlocks"]
    return [{loc["ipAddr"] for loc in block["locations"]} for block in blocks]
