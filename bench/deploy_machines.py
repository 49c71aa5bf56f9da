"""ZooKeeper on three test-bed machines: ndovu versus the same work done by hand over SSH.

Each run starts three fresh test-bed hosts (Debian 12, nothing installed; the software
comes from the test bed's package repository), then:

(a) ndovu: a real `ndovu server --provider machines`, the three hosts registered; wall
    time from POST /v1/clusters (type zookeeper) to RUNNING. The server's log has a line
    per SSH connection it opened: connections per node is the second figure (target 1).
(b) by hand: on three other fresh hosts, in parallel, one `ssh` per host running what an
    operator would (apt-get update and install of the same packages, the same zoo.cfg
    and myid, the member started with start-stop-daemon); wall time until every member
    answers `srvr` as leader or follower.

The two alternate, `--runs` times. Needs root (the test bed). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helpers import Server, wait_operation  # noqa: E402
from tests.testbed import Host, TestBed  # noqa: E402
from tests.testbed.fixtures import start_hosts  # noqa: E402

TARGET_RATIO = 1.25
PACKAGES = ("libzookeeper-java", "default-jre-headless")
JARS = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:" \
       "/usr/share/java/log4j-1.2.jar"
_MODE = re.compile(r"^Mode:\s*(leader|follower)", re.MULTILINE)


def log(message: str) -> None:
    print(f"[deploy_machines] {message}", file=sys.stderr, flush=True)


def zookeeper_mode(address: str) -> str | None:
    try:
        with socket.create_connection((address, 2181), timeout=1) as sock:
            sock.sendall(b"srvr")
            answer = sock.recv(4096).decode(errors="replace")
    except OSError:
        return None
    found = _MODE.search(answer)
    return found.group(1) if found else None


def by_hand(bed: TestBed, hosts: list[Host]) -> float:
    """Install, configure and start the ensemble over SSH, one session per host."""
    servers = "\n".join(f"server.{i}={h.address}:2888:3888"
                        for i, h in enumerate(hosts, start=1))

    def script(myid: int, host: Host) -> str:
        config = (f"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/srv/zk/data\n"
                  f"clientPort=2181\nclientPortAddress={host.address}\n"
                  "quorumListenOnAllIPs=false\nadmin.enableServer=false\n"
                  "4lw.commands.whitelist=srvr\nstandaloneEnabled=false\n" + servers + "\n")
        java = ["java", "-Xmx256m", "-cp", f"/srv/zk/conf:{JARS}",
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", "/srv/zk/conf/zoo.cfg"]
        return "\n".join([
            "set -e",
            "export DEBIAN_FRONTEND=noninteractive",
            "apt-get -qq update",
            f"apt-get -qq install -y --no-install-recommends {' '.join(PACKAGES)} >/dev/null",
            "mkdir -p /srv/zk/conf /srv/zk/data",
            f"printf %s {shlex.quote(config)} > /srv/zk/conf/zoo.cfg",
            f"echo {myid} > /srv/zk/data/myid",
            "start-stop-daemon --start --background --make-pidfile --pidfile /srv/zk/pid "
            "--output /srv/zk/out.log --startas /usr/bin/env -- " + shlex.join(java),
        ])

    began = time.monotonic()
    with ThreadPoolExecutor(len(hosts)) as pool:
        results = list(pool.map(
            lambda item: subprocess.run(bed.ssh_argv(item[1], "sh", "-c", script(*item)),
                                        capture_output=True, text=True, timeout=600),
            enumerate(hosts, start=1)))
    for host, result in zip(hosts, results, strict=True):
        if result.returncode != 0:
            raise RuntimeError(f"by hand on {host.name}: {result.stderr[-500:]}")
    deadline = time.monotonic() + 300
    while not all(zookeeper_mode(h.address) for h in hosts):
        if time.monotonic() > deadline:
            raise RuntimeError("the ensemble made by hand never formed")
        time.sleep(0.1)
    return time.monotonic() - began


def with_ndovu(bed: TestBed, hosts: list[Host], state: Path) -> tuple[float, float]:
    """(seconds from POST to RUNNING, SSH connections opened per node)."""
    server = Server(state, subnet="127.67.0.0/16", args=("--provider", "machines")).start()
    try:
        with server.client() as c:
            for host in hosts:
                r = c.post("/v1/machines", json={"name": host.name, "address": host.address,
                                                 "privateKey": bed.operator_key.read_text()})
                r.raise_for_status()
            began = time.monotonic()
            r = c.post("/v1/clusters", json={"name": "bench", "type": "zookeeper"})
            r.raise_for_status()
            deadline = time.monotonic() + 600
            while c.get("/v1/clusters/bench").json()["status"] != "RUNNING":
                if time.monotonic() > deadline:
                    raise RuntimeError("ndovu's cluster never reached RUNNING")
                time.sleep(0.1)
            took = time.monotonic() - began
            opened = server.log.read_text().count("opened SSH connection")
            op = wait_operation(c, c.delete("/v1/clusters/bench").json()["id"])
            if op["status"] != "COMPLETED":
                raise RuntimeError(f"delete failed: {op['errorMessage']}")
    except httpx.HTTPError as exc:
        raise RuntimeError(f"ndovu: {exc}") from exc
    finally:
        server.stop()
    return took, opened / len(hosts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    ndovu_s: list[float] = []
    hand_s: list[float] = []
    per_node: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ndovu-bench-") as top, \
            TestBed(Path(top) / "bed") as bed:
        for run in range(args.runs):
            for turn in ("ndovu", "hand") if run % 2 == 0 else ("hand", "ndovu"):
                hosts = start_hosts(bed, 3, prefix=f"b{run}{turn[0]}")
                try:
                    if turn == "ndovu":
                        took, connections = with_ndovu(bed, hosts, Path(top) / f"s{run}")
                        ndovu_s.append(took)
                        per_node.append(connections)
                    else:
                        hand_s.append(by_hand(bed, hosts))
                    last = (ndovu_s if turn == "ndovu" else hand_s)[-1]
                    log(f"run {run + 1}: {turn} {last:.2f} s")
                finally:
                    for host in hosts:
                        bed.stop_host(host)
    ratio = statistics.median(ndovu_s) / statistics.median(hand_s)
    print(json.dumps({
        "bench": "deploy_machines", "type": "zookeeper", "machines": 3, "runs": args.runs,
        "ndovu_s": [round(t, 2) for t in ndovu_s], "by_hand_s": [round(t, 2) for t in hand_s],
        "ndovu_median_s": round(statistics.median(ndovu_s), 2),
        "by_hand_median_s": round(statistics.median(hand_s), 2),
        "ratio": round(ratio, 3), "target_ratio": TARGET_RATIO,
        "ssh_connections_per_node": max(per_node), "target_connections_per_node": 1,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
