"""Prove a deployed ZooKeeper cluster works: write a znode through its first member and
read it back through its last, using only what the REST API publishes."""

from __future__ import annotations

import os
import sys
import time

import httpx
from kazoo.client import KazooClient

from ndovu.cli import credentials


def main(cluster: str) -> int:
    url = os.environ.get("NDOVU_URL", "http://127.0.0.1:8470")
    # the token `ndovu login` kept (or NDOVU_TOKEN)
    headers = {"Authorization": f"Bearer {credentials.token_for(url)}"}
    info = httpx.get(f"{url}/v1/clusters/{cluster}", headers=headers,
                     timeout=10).raise_for_status().json()
    if info["status"] != "RUNNING":
        print(f"cluster {cluster} is {info['status']}, not RUNNING", file=sys.stderr)
        return 1
    members = [n["ip"] for g in info["nodeGroups"] for n in g["instances"]]
    print(f"connect string: {info['endpoints']['zookeeper']}")
    path, value = f"/ndovu-proof/{int(time.time() * 1000)}", b"written via the first member"
    first = KazooClient(hosts=f"{members[0]}:2181", timeout=10)
    last = KazooClient(hosts=f"{members[-1]}:2181", timeout=10)
    try:
        first.start(timeout=15)
        first.create(path, value, makepath=True)
        last.start(timeout=15)
        last.sync(path)
        data, _ = last.get(path)
    finally:
        for client in (first, last):
            client.stop()
            client.close()
    print(f"wrote {path} via {members[0]}:2181, read it via {members[-1]}:2181: "
          f"{data.decode()!r}")
    if data != value:
        print("the value read back differs from the value written", file=sys.stderr)
        return 1
    print("the ensemble works")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "demo_zookeeper"))
