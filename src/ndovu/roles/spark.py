"""Spark standalone roles: masters and workers, from a Spark distribution in the depot.

The cluster's distro names a Spark distribution tarball (bin/spark-class, jars/,
python/lib) in ndovu's software depot, and a JRE package; the node fetches and unpacks
the tarball (``ndovu.roles.software``) and SPARK_HOME is that folder on the node.
``scripts/build-distros.sh`` builds one from the pyspark package, which is laid out as a
Spark distribution; Apache's own ``spark-*-bin-*.tgz`` works the same way. Each daemon
runs in the foreground through ``bin/spark-class``, so the transport's service is the JVM
itself and its console log (Spark's default log4j2 profile) lands in logs/<service>.log
in the node. Executors run PySpark workers with the node's python3 and the distribution's
python/lib/pyspark.zip.

Every listener binds the node's own address: ``--host`` for the RPC ports, SPARK_LOCAL_IP
for the web UIs and for the executors a worker launches (they inherit its environment);
the master's REST submission server (6066, bound to every address) is off, and the
PySpark worker daemons of executors use Unix sockets rather than 127.0.0.1. When the
cluster has ZooKeeper, masters run in ZOOKEEPER recovery mode: one is ALIVE, the others
STANDBY, and a standby takes over once the leader's ZooKeeper session expires.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ndovu.errors import NodeBootstrapError
from ndovu.roles.base import Health, Member, RoleContext, Setting
from ndovu.roles.service import ServiceRole
from ndovu.roles.zookeeper import CLIENT_PORT as ZOOKEEPER_PORT

MASTER_SERVICE = "spark_master"
WORKER_SERVICE = "spark_worker"
MASTER_PORT = 7077
MASTER_UI_PORT = 8080
WORKER_PORT = 7078
WORKER_UI_PORT = 8081
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
PROPERTIES = "conf/spark-defaults.conf"
UNIX_PYTHON_SOCKETS = "-Dspark.python.unix.domain.socket.enabled=true"

_DAEMON_MEMORY = Setting(
    "daemon.memory", "size", "heap of the master and worker daemons themselves "
    "(SPARK_DAEMON_MEMORY), not of executors", "512m")

MASTER_SETTINGS = {s.name: s for s in (
    _DAEMON_MEMORY,
    Setting("worker.timeout", "int", "seconds without a heartbeat after which the master "
            "considers a worker lost (spark.worker.timeout); a newly elected master also "
            "waits at most this long for workers to answer during recovery", 60, minimum=1),
    Setting("deploy.spreadOut", "bool", "spread an application's executors over as many "
            "workers as possible instead of packing them (spark.deploy.spreadOut)", True),
)}

WORKER_SETTINGS = {s.name: s for s in (
    _DAEMON_MEMORY,
    Setting("worker.cores", "int", "cores a worker offers to executors", 1, minimum=1),
    Setting("worker.memory", "size", "memory a worker offers to executors, such as 1g",
            "1g"),
)}


# no proxy: a node's UI is on a loopback address a proxy cannot reach
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with _OPENER.open(url, timeout=timeout) as response:
        return json.loads(response.read(1 << 20).decode("utf-8"))


def master_url(members: Mapping[str, tuple[Member, ...]]) -> str:
    """spark://a:7077 for one master, spark://a:7077,b:7077 for several (Spark's HA form)."""
    masters = members.get(MASTER_SERVICE, ())
    return "spark://" + ",".join(f"{m.address}:{MASTER_PORT}" for m in masters)


def _format(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class _SparkDaemon(ServiceRole):
    """What masters and workers share: properties, environment, the web UI's JSON."""

    main_class: str
    config_section = "spark"
    # when the distro names no packages: Spark 4 needs Java 17, Debian 12's default;
    # python3 runs the PySpark workers of executors
    packages = ("default-jre-headless", "python3")
    required_files = ("bin/spark-class", "python/lib/pyspark.zip")
    required_programs = ("java", "python3")

    def properties(self, ctx: RoleContext) -> dict[str, str]:
        raise NotImplementedError

    def render_properties(self, ctx: RoleContext) -> str:
        lines = [f"{key} {_format(value)}" for key, value in self.properties(ctx).items()]
        return "# written by ndovu\n" + "".join(f"{line}\n" for line in lines)

    def configure(self, ctx: RoleContext) -> None:
        ctx.transport.write_file(PROPERTIES, self.render_properties(ctx))

    def daemon_args(self, ctx: RoleContext) -> list[str]:
        raise NotImplementedError

    def command(self, ctx: RoleContext) -> list[str]:
        return [f"{self.software_home(ctx)}/bin/spark-class", self.main_class,
                *self.daemon_args(ctx), "--properties-file", ctx.transport.path(PROPERTIES)]

    def environment(self, ctx: RoleContext) -> dict[str, str]:
        transport = ctx.transport
        return {
            "SPARK_HOME": self.software_home(ctx),
            # the node's conf folder, so no spark-env.sh of the installation applies
            "SPARK_CONF_DIR": transport.path("conf"),
            # binds the web UI and every executor port to the node's address
            "SPARK_LOCAL_IP": ctx.node.address,
            "SPARK_PUBLIC_DNS": ctx.node.address,
            "SPARK_LOCAL_DIRS": transport.path("local"),
            "SPARK_DAEMON_MEMORY": str(self._settings(ctx)["daemon.memory"]),
        }

    def ready_to_start(self, ctx: RoleContext) -> None:
        if ctx.transport.read_file(PROPERTIES) is None:
            raise NodeBootstrapError(
                f"{self.name} on {ctx.node.name} is not configured yet (no {PROPERTIES})",
                node=ctx.node.name, role=self.name, retryable=True)

    def _ui_json(self, ctx: RoleContext, port: int) -> tuple[Any, str | None]:
        """The daemon's web UI JSON, or None and why it did not answer."""
        url = f"http://{ctx.node.address}:{port}/json/"
        try:
            return _get_json(url), None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return None, f"web UI {url} not answering yet: {reason}"


class SparkMasterRole(_SparkDaemon):
    name = "spark_master"
    # a master keeps nothing a fresh one lacks (with ZooKeeper, recovery state is there)
    replaceable = True
    summary = "a Spark standalone master (a Spark distribution from the depot)"
    service = MASTER_SERVICE
    main_class = MASTER_CLASS
    probe_ports = (MASTER_PORT, MASTER_UI_PORT)
    provides = frozenset({"spark_master"})
    # with ZooKeeper in the cluster, masters start once it is healthy and use it to elect
    # the active master and to keep the state a standby recovers from
    uses = frozenset({"zookeeper"})
    settings = MASTER_SETTINGS

    def _zookeeper(self, ctx: RoleContext) -> str | None:
        nodes = ctx.members.get("zookeeper", ())
        return ",".join(f"{m.address}:{ZOOKEEPER_PORT}" for m in nodes) or None

    def properties(self, ctx: RoleContext) -> dict[str, str]:
        values = self._settings(ctx)
        props = {
            # the REST submission server would bind 0.0.0.0:6066 on every master
            "spark.master.rest.enabled": "false",
            "spark.worker.timeout": _format(values["worker.timeout"]),
            "spark.deploy.spreadOut": _format(values["deploy.spreadOut"]),
        }
        zookeeper = self._zookeeper(ctx)
        if zookeeper is not None:
            props.update({
                "spark.deploy.recoveryMode": "ZOOKEEPER",
                "spark.deploy.zookeeper.url": zookeeper,
                # one folder per cluster: clusters may share an ensemble
                "spark.deploy.zookeeper.dir": f"/ndovu/{ctx.cluster}/spark",
            })
        return props

    def daemon_args(self, ctx: RoleContext) -> list[str]:
        return ["--host", ctx.node.address, "--port", str(MASTER_PORT),
                "--webui-port", str(MASTER_UI_PORT)]

    def health(self, ctx: RoleContext) -> Health:
        exited = self.exited(ctx)
        if exited is not None:
            return exited
        state, problem = self._ui_json(ctx, MASTER_UI_PORT)
        if problem is not None:
            return Health(False, problem)
        status = state.get("status") if isinstance(state, dict) else None
        if status == "ALIVE":
            workers = state.get("aliveworkers", 0)
            return Health(True, f"master ALIVE with {workers} alive workers")
        if status == "STANDBY" and self._zookeeper(ctx) is not None:
            # a standby is ready: it takes over when the active master goes away
            return Health(True, "master STANDBY (recovery through ZooKeeper)")
        return Health(False, f"master status {status}")

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        masters = members.get(self.name, ())
        if not masters:
            return {}
        return {"spark": master_url(members),
                "spark_master_ui": ",".join(f"http://{m.address}:{MASTER_UI_PORT}"
                                            for m in masters)}


class SparkWorkerRole(_SparkDaemon):
    name = "spark_worker"
    # a worker keeps nothing
    replaceable = True
    summary = "a Spark standalone worker that runs executors"
    service = WORKER_SERVICE
    main_class = WORKER_CLASS
    probe_ports = (WORKER_PORT, WORKER_UI_PORT)
    requires = frozenset({"spark_master"})
    settings = WORKER_SETTINGS

    def properties(self, ctx: RoleContext) -> dict[str, str]:
        self._settings(ctx)  # refuse bad values at configure time
        return {}

    def environment(self, ctx: RoleContext) -> dict[str, str]:
        env = super().environment(ctx)
        # executors inherit the worker's environment, and the JVM reads this variable:
        # their PySpark worker daemons then talk to them over a Unix socket instead of
        # listening on 127.0.0.1 (an application may still choose otherwise)
        env["JAVA_TOOL_OPTIONS"] = UNIX_PYTHON_SOCKETS
        return env

    def daemon_args(self, ctx: RoleContext) -> list[str]:
        values = self._settings(ctx)
        if not ctx.members.get(MASTER_SERVICE):
            raise NodeBootstrapError(f"cluster {ctx.cluster} has no spark_master node for "
                                     f"worker {ctx.node.name}", node=ctx.node.name,
                                     role=self.name)
        return ["--host", ctx.node.address, "--port", str(WORKER_PORT),
                "--webui-port", str(WORKER_UI_PORT),
                "--cores", str(values["worker.cores"]),
                "--memory", str(values["worker.memory"]),
                "--work-dir", ctx.transport.path("work"),
                master_url(ctx.members)]

    def health(self, ctx: RoleContext) -> Health:
        exited = self.exited(ctx)
        if exited is not None:
            return exited
        state, problem = self._ui_json(ctx, WORKER_UI_PORT)
        if problem is not None:
            return Health(False, problem)
        master = state.get("masterurl") if isinstance(state, dict) else None
        if not master:
            return Health(False, "worker not registered with a master yet")
        return Health(True, f"worker registered with {master}")

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        workers = members.get(self.name, ())
        if not workers:
            return {}
        return {"spark_worker_ui": ",".join(f"http://{m.address}:{WORKER_UI_PORT}"
                                            for m in workers)}
