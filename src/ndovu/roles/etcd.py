"""The etcd role: one cluster member per node, from Debian's `etcd-server` package.

The node's package manager installs it (the distro manifest may name other packages);
the member runs the `etcd` on the node's PATH.

Every listener binds the node's own address: the client port (2379) and the peer port
(2380); etcd opens no other listener unless asked to (no metrics URL, no pprof), so several
members run on one machine. etcd logs JSON lines (zap) to stderr, which the transport
appends to logs/etcd.log in the node.

Members are named after their nodes and form the cluster from ``ctx.members["etcd"]``
with ``--initial-cluster-state new``. Once a member's data dir holds its WAL, etcd
ignores the initial-cluster flags and rejoins with the identity stored there, so a
restarted node starts from the same argv.

A new cluster's members start in member order, each once the one before it serves its
peers (see ``_await_previous_member``): started at the same instant, they would hold each
other's bootstrap questions for up to a second per peer.

A node added to a running cluster (``ctx.joining``) is first admitted by a running member
(``member add``, through etcd's v3 HTTP gateway), then starts with
``--initial-cluster-state existing`` and the cluster's current members; a node leaving it
(``decommission``) is removed through a member that stays (``member remove``). Both
look at the member list first, so running them again changes nothing.
"""

from __future__ import annotations

import http.client
import json
import shlex
import time
from collections.abc import Mapping
from typing import Any

from ndovu.errors import NodeBootstrapError
from ndovu.roles.base import Health, Member, RoleContext, Setting
from ndovu.roles.service import ServiceRole

SERVICE = "etcd"
CLIENT_PORT = 2379
PEER_PORT = 2380
HEALTH_TIMEOUT = 2.0  # etcd 3.4 takes up to ~1 s to say it has no leader
# member add / remove wait for the change to be committed by a quorum
MEMBERSHIP_TIMEOUT = 10.0
# etcd 3.4's own wait for a peer's answer while it bootstraps: a member of a new cluster
# waits no longer than that for the one before it (etcd would wait as long on its own)
BOOTSTRAP_TIMEOUT = 1.0
# how often to look for a previous member that does not listen yet
PEER_POLL_S = 0.005
DEFAULT_ELECTION_TIMEOUT_MS = 1000

# etcd flags a cluster's configuration may set (section "etcd"); every other flag is
# ndovu's wiring
SETTINGS = {s.name: s for s in (
    Setting("heartbeat-interval", "int", "milliseconds between the leader's heartbeats",
            100, minimum=1),
    Setting("election-timeout", "int", "milliseconds a follower waits without a heartbeat "
            "before it calls an election; at least 5 times heartbeat-interval",
            DEFAULT_ELECTION_TIMEOUT_MS, minimum=1),
    Setting("snapshot-count", "int", "committed transactions between two snapshots to disk",
            minimum=1),
    Setting("quota-backend-bytes", "int", "size of the backend database in bytes at which "
            "the member raises a space alarm and refuses writes (0: etcd's 2 GiB default)",
            minimum=0),
    Setting("auto-compaction-mode", "string", "how auto-compaction-retention is read: "
            "'periodic' (a duration) or 'revision' (a number of revisions)",
            choices=("periodic", "revision")),
    Setting("auto-compaction-retention", "string", "history kept by auto-compaction, e.g. "
            "'1h' or '1000' depending on auto-compaction-mode ('0': off)"),
    Setting("max-request-bytes", "int", "the largest client request the member accepts, "
            "in bytes", minimum=1),
    Setting("max-txn-ops", "int", "the most operations one transaction may hold", minimum=1),
    Setting("pre-vote", "bool", "whether a member checks it could win before it disrupts "
            "the cluster with an election"),
)}


def _get(address: str, port: int, path: str, timeout: float) -> tuple[int, str]:
    # http.client rather than httpx: no proxy settings from the server's environment
    # may route a loopback health check elsewhere
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(4096).decode("utf-8", errors="replace")
    finally:
        connection.close()


def _post_json(address: str, path: str, body: dict[str, Any],
               timeout: float = MEMBERSHIP_TIMEOUT) -> tuple[int, Any, str]:
    """POST to a member's v3 HTTP gateway: (HTTP status, parsed JSON or None, raw text)."""
    connection = http.client.HTTPConnection(address, CLIENT_PORT, timeout=timeout)
    try:
        connection.request("POST", path, json.dumps(body),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read(1 << 20).decode("utf-8", errors="replace")
    finally:
        connection.close()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    return response.status, answer, text


def _peer_url(address: str) -> str:
    return f"http://{address}:{PEER_PORT}"


def _etcd_message(answer: Any, text: str) -> str:
    if isinstance(answer, dict) and answer.get("message"):
        return str(answer["message"])
    return text.strip()[:200] or "(empty answer)"


def _readable(log: str) -> str:
    """etcd's zap JSON lines as "level: msg: error" text; other lines (a Go panic) as is."""
    lines = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or "msg" not in entry:
            lines.append(line)
            continue
        words = [str(entry.get("level", "log")), str(entry["msg"])]
        if entry.get("error"):
            words.append(str(entry["error"]))
        lines.append(": ".join(words))
    return "\n".join(lines)


def _token(cluster: str) -> str:
    # cluster names are unique on a server: members of two clusters never take each
    # other's peers for their own, even if one cluster's member list were wrong
    return f"ndovu-{cluster}"


class EtcdRole(ServiceRole):
    name = "etcd"
    # a fresh member joins anew: its old incarnation is removed, the new one added
    replaceable = True
    summary = "an etcd cluster member (Debian's etcd-server package)"
    service = SERVICE
    provides = frozenset({"etcd"})
    config_section = "etcd"
    settings = SETTINGS
    packages = ("etcd-server",)
    required_programs = ("etcd",)
    probe_ports = (CLIENT_PORT, PEER_PORT)

    # -- configuration ------------------------------------------------------------

    def command(self, ctx: RoleContext, initial_cluster: str | None = None) -> list[str]:
        """The etcd argv of this node: its settings, then ndovu's wiring.

        ``initial_cluster`` is given for a member joining a running cluster: the members
        the cluster has now ("name=peer-url,..."), and the state "existing"."""
        members = self._members(ctx)
        if ctx.node.name not in {m.name for m in members}:
            raise NodeBootstrapError(
                f"node {ctx.node.name} is not among the etcd members of cluster "
                f"{ctx.cluster}", node=ctx.node.name, role=self.name)
        argv = ["etcd"]
        for key, value in self._settings(ctx).items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            argv.append(f"--{key}={text}")
        address = ctx.node.address
        peer_url = f"http://{address}:{PEER_PORT}"
        client_url = f"http://{address}:{CLIENT_PORT}"
        argv += [
            f"--name={ctx.node.name}",
            f"--data-dir={ctx.transport.path('data')}",
            # each listener on the node's own address only: members share one machine
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            "--initial-cluster=" + (initial_cluster or ",".join(
                f"{m.name}={_peer_url(m.address)}" for m in members)),
            # ignored once data/member exists: a restarted member rejoins from its WAL
            f"--initial-cluster-state={'new' if initial_cluster is None else 'existing'}",
            f"--initial-cluster-token={_token(ctx.cluster)}",
            # zap's JSON lines on stderr, which the transport appends to logs/etcd.log
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        return argv

    def _write_args(self, ctx: RoleContext, argv: list[str]) -> None:
        # for operators: the command line the node runs, one shell-quoted word a line.
        # The data dir is left to etcd, which creates it with the 0700 it insists on.
        ctx.transport.write_file("conf/etcd.args",
                                 "".join(f"{shlex.quote(a)}\n" for a in argv))

    def configure(self, ctx: RoleContext) -> None:
        argv = self.command(ctx)  # checks membership and settings before anything runs
        if not ctx.joining:  # a joining member's argv depends on the cluster: see start
            self._write_args(ctx, argv)

    # -- membership (a node joining or leaving a running cluster) ---------------------

    def _ask_members(self, ctx: RoleContext, path: str,
                     body: dict[str, Any]) -> tuple[int, Any, str, Member]:
        """POST a cluster call to the first other member that answers."""
        others = [m for m in self._members(ctx) if m.name != ctx.node.name]
        errors = []
        for member in others:
            try:
                status, answer, text = _post_json(member.address, path, body)
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{member.name} at {member.address}:{CLIENT_PORT}: "
                              f"{exc or type(exc).__name__}")
                continue
            return status, answer, text, member
        raise NodeBootstrapError(
            f"no running etcd member of cluster {ctx.cluster} answered {path} for "
            f"{ctx.node.name}: {'; '.join(errors) or 'there is no other member'}",
            node=ctx.node.name, role=self.name, retryable=True)

    def _member_list(self, ctx: RoleContext) -> list[dict[str, Any]]:
        status, answer, text, via = self._ask_members(ctx, "/v3/cluster/member/list", {})
        if status != 200 or not isinstance(answer, dict):
            raise NodeBootstrapError(
                f"etcd member {via.name} answered the member list with HTTP {status}: "
                f"{_etcd_message(answer, text)}", node=ctx.node.name, role=self.name,
                retryable=True)
        return [m for m in answer.get("members") or [] if isinstance(m, dict)]

    def _remove_member(self, ctx: RoleContext, member: dict[str, Any]) -> None:
        # IDs are uint64: the gateway writes them as strings, and takes them back so
        status, answer, text, via = self._ask_members(
            ctx, "/v3/cluster/member/remove", {"ID": str(member.get("ID"))})
        if status == 200 or "member not found" in text:  # gone already: nothing to do
            return
        raise NodeBootstrapError(
            f"etcd member {via.name} refused to remove member {member.get('ID')} "
            f"({member.get('name') or ', '.join(member.get('peerURLs') or [])}) from cluster "
            f"{ctx.cluster}: {_etcd_message(answer, text)}", node=ctx.node.name,
            role=self.name, retryable=True)

    def _join(self, ctx: RoleContext) -> str:
        """Have the running members admit this node (once); return the initial-cluster
        value it must start with: every current member, itself included."""
        mine = _peer_url(ctx.node.address)
        members = self._member_list(ctx)
        # a node made again in the place of one whose machine is gone has no member data:
        # the old member (started once, so named) cannot be resumed and goes, even at the
        # same address (etcd's own procedure for a lost member: remove, then add)
        fresh = not ctx.transport.run(["test", "-d", ctx.transport.path("data/member")],
                                      timeout=30).ok
        stale = [m for m in members if m.get("name") == ctx.node.name
                 and (fresh or mine not in (m.get("peerURLs") or []))]
        for member in stale:  # an earlier incarnation of this node
            self._remove_member(ctx, member)
        if stale:
            members = self._member_list(ctx)
        if not any(mine in (m.get("peerURLs") or []) for m in members):
            status, answer, text, via = self._ask_members(
                ctx, "/v3/cluster/member/add", {"peerURLs": [mine]})
            if status == 200 and isinstance(answer, dict) and answer.get("members"):
                members = [m for m in answer["members"] if isinstance(m, dict)]
            elif "already exists" in text:  # added meanwhile: the list says by whom
                members = self._member_list(ctx)
            else:
                raise NodeBootstrapError(
                    f"etcd member {via.name} refused to add {ctx.node.name} ({mine}) to "
                    f"cluster {ctx.cluster}: {_etcd_message(answer, text)}",
                    node=ctx.node.name, role=self.name, retryable=True)
        # members that have not started yet have no name in the list: ndovu knows it
        names = {_peer_url(m.address): m.name for m in self._members(ctx)}
        entries = []
        for member in members:
            for url in member.get("peerURLs") or []:
                name = ctx.node.name if url == mine else (
                    member.get("name") or names.get(url) or f"member-{member.get('ID')}")
                entries.append(f"{name}={url}")
        return ",".join(entries)

    def decommission(self, ctx: RoleContext) -> None:
        """Remove this node's member through one that stays (``ctx.members``)."""
        if not [m for m in self._members(ctx) if m.name != ctx.node.name]:
            return  # the last member: there is no cluster left to tell
        mine = _peer_url(ctx.node.address)
        for member in self._member_list(ctx):
            if member.get("name") == ctx.node.name or mine in (member.get("peerURLs") or []):
                self._remove_member(ctx, member)

    # -- lifecycle ----------------------------------------------------------------

    def _await_previous_member(self, ctx: RoleContext) -> None:
        """Wait (up to BOOTSTRAP_TIMEOUT) until the member before this one in member order
        serves its peers.

        A new etcd 3.4 member first asks every peer whether it was bootstrapped already
        (GET /members, a second each). A peer that has bound its port but is still asking
        the others answers only once it is done: members started at the same instant
        hold each other's questions, a second per peer (three members: ~2.4 s to a
        quorum instead of ~0.25 s). Started once the one before it serves, a member finds
        every earlier peer answering and every later one not listening yet, and both
        answers come at once. A restarted member (its data dir has a WAL) asks nothing
        and serves at once, so its successor hardly waits.
        """
        members = self._members(ctx)
        index = [m.name for m in members].index(ctx.node.name)  # command() checked it
        if index == 0:
            return
        previous = members[index - 1].address
        deadline = time.monotonic() + BOOTSTRAP_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                # held until it serves, when it is bootstrapping itself
                _get(previous, PEER_PORT, "/members", timeout=left)
                return
            except ConnectionRefusedError:  # not listening yet: its start is on the way
                time.sleep(min(PEER_POLL_S, left))
            except (OSError, http.client.HTTPException):
                return  # no answer in time (or a broken one): start as etcd would anyway

    def admit(self, ctx: RoleContext, argv: list[str]) -> list[str]:
        """A member of a new cluster starts after the one before it (see
        ``_await_previous_member``); a node joining a running cluster is admitted by a
        member first, and starts with the cluster's current members."""
        if not ctx.joining:
            self._await_previous_member(ctx)
            return argv
        argv = self.command(ctx, initial_cluster=self._join(ctx))
        self._write_args(ctx, argv)
        return argv

    def stop_timeout(self, ctx: RoleContext) -> float:
        """Seconds a member may take to exit on SIGTERM before it is killed."""
        try:
            election_ms = self._settings(ctx).get("election-timeout",
                                                  DEFAULT_ELECTION_TIMEOUT_MS)
        except NodeBootstrapError:
            election_ms = DEFAULT_ELECTION_TIMEOUT_MS  # a stop must never fail on config
        # a leader first hands leadership over; when its peers are gone already, etcd
        # gives that up after 5 s plus two election timeouts (7 s by default)
        return 5.0 + 2 * election_ms / 1000 + 3.0

    def read_log(self, log: str) -> str:
        return _readable(log)

    def health(self, ctx: RoleContext) -> Health:
        exited = self.exited(ctx)
        if exited is not None:
            return exited
        address = ctx.node.address
        where = f"{address}:{CLIENT_PORT}"
        try:
            status, body = _get(address, CLIENT_PORT, "/health", HEALTH_TIMEOUT)
        except ConnectionRefusedError:
            return Health(False, f"connection refused on {where}")
        except TimeoutError:
            # etcd accepts connections before it serves them: it answers once it joined
            # a cluster with a quorum
            return Health(False, f"no answer from {where}/health within "
                                 f"{HEALTH_TIMEOUT:g} s (waiting for a quorum of members?)")
        except (OSError, http.client.HTTPException) as exc:
            return Health(False, f"cannot reach {where}: {exc}")
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("health") == "true":
            return Health(True, "healthy")
        # etcd 3.4 gives no reason (3.5 does): say what makes it answer "false"
        reason = (answer.get("reason") if isinstance(answer, dict) else None) or (
            "it has no leader (no quorum), an alarm such as NOSPACE is raised, or a read "
            "through raft failed")
        return Health(False, f"etcd on {where} answers unhealthy (HTTP {status} "
                             f"{body.strip()[:200]}): {reason}")

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        nodes = members.get(self.name, ())
        if not nodes:
            return {}
        return {"etcd": ",".join(f"http://{m.address}:{CLIENT_PORT}" for m in nodes)}
