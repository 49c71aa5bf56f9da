"""Running a real PySpark job against a cluster under test: the job script, spark-submit
with the driver bound to an address of the test's own subnet, and its result."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyspark

# Which workers ran tasks (each executor inherits its worker's SPARK_LOCAL_IP) and a sum.
# With "hold" as the second argument the job keeps its executors alive until a file "go"
# appears in its folder (bounded), so a test can look at their sockets.
JOB = """\
import json, os, sys, time
from pyspark import SparkContext

sc = SparkContext(appName=sys.argv[1])

def where(_):
    time.sleep(0.2)  # long enough that no executor takes every task alone
    return os.environ.get("SPARK_LOCAL_IP", "?")  # the worker's address, inherited

hosts = sorted(set(sc.parallelize(range(40), 20).map(where).collect()))
total = sc.parallelize(range(1, 1001), 10).sum()
print("NDOVU-RESULT " + json.dumps({"hosts": hosts, "sum": total}), flush=True)
# hold the executors alive until the test has looked at their sockets (bounded)
if len(sys.argv) > 2 and sys.argv[2] == "hold":
    open("held", "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists("go") and time.monotonic() < deadline:
        time.sleep(0.1)
sc.stop()
"""


# the driver runs from the test's own pyspark, the Spark of the same version as the
# depot's distribution the nodes run
DRIVER_SPARK_HOME = Path(pyspark.__file__).parent


def start_job(master: str, driver: str, tmp: Path, app: str, *, hold: bool = False,
              executor_python: str = sys.executable,
              driver_conf: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start JOB through spark-submit in ``tmp``, with the driver bound to ``driver``;
    executors run PySpark with ``executor_python`` (a path on the workers' nodes)."""
    home = DRIVER_SPARK_HOME
    script = tmp / "job.py"
    script.write_text(JOB)
    conf_dir = tmp / "conf"  # empty: no spark-defaults.conf of the installation applies
    conf_dir.mkdir(exist_ok=True)
    argv = [str(home / "bin" / "spark-submit"), "--master", master,
            "--driver-memory", "512m",
            "--conf", f"spark.driver.host={driver}",
            "--conf", f"spark.driver.bindAddress={driver}",
            "--conf", "spark.executor.memory=512m",
            "--conf", "spark.cores.max=2",
            "--conf", "spark.ui.enabled=false",
            # wait for both executors before scheduling, so both get tasks
            "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
            "--conf", f"spark.pyspark.python={executor_python}",
            "--conf", f"spark.pyspark.driver.python={sys.executable}",
            *(arg for key, value in (driver_conf or {}).items()
              for arg in ("--conf", f"{key}={value}")),
            str(script), app, *(["hold"] if hold else [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NDOVU_", "SPARK_"))}
    env.update(SPARK_HOME=str(home), SPARK_CONF_DIR=str(conf_dir), SPARK_LOCAL_IP=driver,
               PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    return subprocess.Popen(argv, env=env, cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish_job(process: subprocess.Popen[str], timeout: float = 240) -> dict:
    """Wait for a job started by start_job; its result."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        raise AssertionError(f"job did not finish within {timeout:.0f} s:\n"
                             f"{output[-4000:]}") from None
    results = [line for line in output.splitlines() if line.startswith("NDOVU-RESULT ")]
    assert process.returncode == 0 and results, (
        f"job failed (exit {process.returncode}):\n{output[-4000:]}")
    # stderr shares the pipe: a log line may follow the result on the same line
    return json.JSONDecoder().raw_decode(results[-1].removeprefix("NDOVU-RESULT "))[0]


def submit(master: str, driver: str, tmp: Path, app: str, timeout: float = 240) -> dict:
    """Run the job to its end; its result."""
    return finish_job(start_job(master, driver, tmp, app), timeout)
