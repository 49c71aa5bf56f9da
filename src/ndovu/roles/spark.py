"""Spark standalone roles: masters and workers, run from the Spark that pyspark carries.

SPARK_HOME is the installed ``pyspark`` package folder (it ships bin/spark-class and the
jars); the role finds it without importing pyspark. Each daemon runs in the foreground
through ``bin/spark-class``, so the transport's service is the JVM itself and its console
log (Spark's default log4j2 profile) lands in logs/<service>.log in the node.

Every listener binds the node's own address: ``--host`` for the RPC ports, SPARK_LOCAL_IP
for the web UIs and for the executors a worker launches (they inherit its environment);
the master's REST submission server (6066, bound to every address) is off, and the
PySpark worker daemons of executors use Unix sockets rather than 127.0.0.1. When the
cluster has ZooKeeper, masters run in ZOOKEEPER recovery mode: one is ALIVE, the others
STANDBY, and a standby takes over once the leader's ZooKeeper session expires.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ndovu.errors import NodeBootstrapError
from ndovu.roles.base import (
    Health,
    Member,
    RoleContext,
    Setting,
    failure_excerpt,
    refuse_taken_ports,
    resolve_settings,
)
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
INSTALL_HINT = "install it with `pip install 'ndovu[spark]'`"

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


def spark_home() -> Path | None:
    """The installed pyspark package folder, which is a Spark distribution; None if absent."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(Path(java_home, "bin", "java"), os.X_OK):
        return str(Path(java_home, "bin", "java"))
    return shutil.which("java")


def _unsupported_reason() -> str | None:
    home = spark_home()
    if home is None:
        return f"Spark's roles run the Spark that the pyspark package carries; {INSTALL_HINT}"
    if not (home / "bin" / "spark-class").exists() or not (home / "jars").is_dir():
        return (f"the pyspark package at {home} has no bin/spark-class or jars folder; "
                f"reinstall it with `pip install --force-reinstall 'ndovu[spark]'`")
    if _java() is None:
        return ("Spark needs a Java runtime (17 or newer) and none is on PATH or in "
                "JAVA_HOME; install one, e.g. `apt-get install openjdk-17-jre-headless`")
    return None


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


class _SparkDaemon:
    """What masters and workers share: settings, environment, start, stop, exit checks."""

    name: str
    service: str
    main_class: str
    ports: tuple[int, ...]
    config_section = "spark"
    settings: Mapping[str, Setting]

    def unsupported_reason(self) -> str | None:
        return _unsupported_reason()

    def _settings(self, ctx: RoleContext) -> dict[str, Any]:
        try:
            return resolve_settings(self, ctx.configuration)
        except ValueError as exc:
            raise NodeBootstrapError(str(exc), node=ctx.node.name, role=self.name) from None

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
        home = spark_home()
        spark_class = str(home / "bin" / "spark-class") if home else "spark-class"
        return [spark_class, self.main_class, *self.daemon_args(ctx),
                "--properties-file", ctx.transport.path(PROPERTIES)]

    def environment(self, ctx: RoleContext) -> dict[str, str]:
        transport = ctx.transport
        home = spark_home()
        return {
            "SPARK_HOME": str(home) if home else "",
            # the node's conf folder, so no spark-env.sh of the installation applies
            "SPARK_CONF_DIR": transport.path("conf"),
            # binds the web UI and every executor port to the node's address
            "SPARK_LOCAL_IP": ctx.node.address,
            "SPARK_PUBLIC_DNS": ctx.node.address,
            "SPARK_LOCAL_DIRS": transport.path("local"),
            "SPARK_DAEMON_MEMORY": str(self._settings(ctx)["daemon.memory"]),
        }

    def start(self, ctx: RoleContext) -> None:
        transport = ctx.transport
        node = ctx.node.name
        reason = self.unsupported_reason()
        if reason is not None:
            raise NodeBootstrapError(reason, node=node, role=self.name)
        if transport.service_running(self.service):
            return
        if transport.read_file(PROPERTIES) is None:
            raise NodeBootstrapError(
                f"{self.name} on {node} is not configured yet (no {PROPERTIES})",
                node=node, role=self.name, retryable=True)
        refuse_taken_ports(ctx, self.name, self.ports)
        try:
            transport.start_service(self.service, self.command(ctx),
                                    env=self.environment(ctx))
        except OSError as exc:
            raise NodeBootstrapError(f"could not start {self.name} on {node}: {exc}",
                                     node=node, role=self.name) from exc

    def stop(self, ctx: RoleContext) -> None:
        # a worker stops its executors on SIGTERM; the transport kills what is left
        ctx.transport.stop_service(self.service, timeout=20.0)

    def decommission(self, ctx: RoleContext) -> None:
        # nothing to hand over: a stopping worker tells the master, which reschedules its
        # executors elsewhere; the master group's size is fixed by its spec
        return None

    def _exited(self, ctx: RoleContext) -> Health | None:
        """A failed Health when the daemon's process is gone (waiting cannot help)."""
        transport = ctx.transport
        if transport.service_running(self.service):
            return None
        detail = failure_excerpt(transport.service_log_tail(self.service, 200))
        return Health(False, f"{self.name} process is not running; its log says: {detail}",
                      failed=True)

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
    summary = "a Spark standalone master (the Spark that the pyspark package carries)"
    service = MASTER_SERVICE
    main_class = MASTER_CLASS
    ports = (MASTER_PORT, MASTER_UI_PORT)
    provides = frozenset({"spark_master"})
    requires: frozenset[str] = frozenset()
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
        exited = self._exited(ctx)
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
    summary = "a Spark standalone worker that runs executors (the Spark of pyspark)"
    service = WORKER_SERVICE
    main_class = WORKER_CLASS
    ports = (WORKER_PORT, WORKER_UI_PORT)
    provides: frozenset[str] = frozenset()
    requires = frozenset({"spark_master"})
    uses: frozenset[str] = frozenset()
    settings = WORKER_SETTINGS

    def properties(self, ctx: RoleContext) -> dict[str, str]:
        self._settings(ctx)  # refuse bad values at configure time
        return {}

    def environment(self, ctx: RoleContext) -> dict[str, str]:
        env = super().environment(ctx)
        # executors inherit the worker's environment, and the JVM reads this variable:
        # their PySpark worker daemons then talk to them over a Unix socket instead of
        # listening on 127.0.0.1 (an application may still choose otherwise)
        options = [UNIX_PYTHON_SOCKETS, os.environ.get("JAVA_TOOL_OPTIONS", "")]
        env["JAVA_TOOL_OPTIONS"] = " ".join(o for o in options if o)
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
        exited = self._exited(ctx)
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
