"""Services on a remote node: the argv that starts, checks and stops them.

Where the node's PID 1 is systemd a service is a transient unit (``systemd-run``), so
systemd kills its whole control group on stop. Elsewhere ``start-stop-daemon`` starts
it in a session of its own, led by the service; the scripts below record "pid starttime"
in its pid file and kill its process group, as the local transport does in Python.

The scripts are constants: everything that varies arrives as positional parameters
(``sh -c SCRIPT sh ARG…``), so no input is ever parsed as shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

NODE_ROOT_VARIABLE = "NDOVU_NODE_ROOT"
SERVICE_VARIABLE = "NDOVU_SERVICE"
SYSTEMD_STOP_TIMEOUT_S = 20
SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNIT_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def check_service_name(name: str) -> str:
    if not SERVICE_NAME.match(name):
        raise ValueError(f"invalid service name {name!r}")
    return name


def check_env_names(env: Mapping[str, str]) -> None:
    for key in env:
        if not _ENV_NAME.match(key):
            raise ValueError(f"invalid environment variable name {key!r}")


def env_assignments(env: Mapping[str, str]) -> list[str]:
    """``K=V`` words for ``env``; a name that is no variable name is refused."""
    check_env_names(env)
    return [f"{key}={value}" for key, value in env.items()]


def check_program(argv: Sequence[str]) -> list[str]:
    argv = [str(a) for a in argv]
    # env(1) would read such a first word as an option or an assignment, not a program
    if not argv or argv[0].startswith("-") or "=" in argv[0]:
        raise ValueError(f"invalid command {argv[:1]!r}")
    return argv


def unit_name(node: str, service: str) -> str:
    return _UNIT_UNSAFE.sub("_", f"ndovu-{node}-{service}") + ".service"


def systemd_run(unit: str, root: str, name: str, argv: Sequence[str],
                env: Mapping[str, str], user: str) -> list[str]:
    log = f"{root}/logs/{name}.log"
    words = ["systemd-run", "--quiet", f"--unit={unit}", "--collect",
             "-p", f"StandardOutput=append:{log}", "-p", f"StandardError=append:{log}",
             "-p", "KillMode=control-group", "-p", f"TimeoutStopSec={SYSTEMD_STOP_TIMEOUT_S}",
             f"--working-directory={root}"]
    if user != "root":
        words.append(f"--uid={user}")  # as the login user, like start-stop-daemon's
    words += [f"--setenv={assignment}" for assignment in env_assignments(env)]
    return [*words, "--", *check_program(argv)]


# prints the pid when the pid file's process is alive and is the one recorded
# (fields after "comm)": $1 state, $3 pgrp, $18 threads, $20 start time)
_ALIVE = r"""
alive() {
  read -r pid start < "$1" 2>/dev/null || return 1
  read -r s < "/proc/$pid/stat" 2>/dev/null || return 1
  set -- ${s##*) }
  [ "${20}" = "$start" ] || return 1
  { [ "$1" != Z ] && [ "$1" != X ]; } || [ "${18}" -gt 1 ] || return 1
  echo "$pid"
}
group_alive() {
  for f in /proc/[0-9]*/stat; do
    read -r s < "$f" 2>/dev/null || continue
    set -- ${s##*) }
    [ "$3" = "$g" ] || continue
    { [ "$1" != Z ] && [ "$1" != X ]; } || [ "${18}" -gt 1 ] && return 0
  done
  return 1
}
"""

# $1 root, $2 name, $3 program; then K=V… and argv for env(1)
START = _ALIVE + r"""
set -e
cd "$1"; name=$2; prog=$3; shift 3
mkdir -p run logs
exec 9>"run/.$name.lock"; flock 9
alive "run/$name.pid" >/dev/null && exit 0
command -v "$prog" >/dev/null || { echo "command not found: $prog" >&2; exit 127; }
rm -f "run/$name.pid"
# --background forks twice, leaving the service in a group it does not lead: setsid
# makes it lead one, so its pid names the group a stop kills
start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$PWD/run/$name.pid" \
  --output "$PWD/logs/$name.log" --chdir "$PWD" --startas "$(command -v setsid)" -- \
  "$(command -v env)" "$@"
read -r pid < "run/$name.pid"
start=0
if read -r s < "/proc/$pid/stat" 2>/dev/null; then set -- ${s##*) }; start=${20}; fi
echo "$pid $start" > "run/.$name.pid.new"
mv -f "run/.$name.pid.new" "run/$name.pid"
"""

# $1 root, $2 name, $3 timeout in tenths of a second
STOP = _ALIVE + r"""
cd "$1" 2>/dev/null && [ -e "run/$2.pid" ] || exit 0
name=$2; ticks=$3
exec 9>"run/.$name.lock"; flock 9
if read -r g start < "run/$name.pid" 2>/dev/null; then
  # a live process with that pid but another start time is not ours: leave it
  if alive "run/$name.pid" >/dev/null || ! [ -e "/proc/$g" ]; then
    kill -s TERM -- "-$g" 2>/dev/null
    while group_alive && [ "$ticks" -gt 0 ]; do sleep 0.1; ticks=$((ticks - 1)); done
    if group_alive; then
      kill -s KILL -- "-$g" 2>/dev/null
      ticks=50
      while group_alive && [ "$ticks" -gt 0 ]; do sleep 0.1; ticks=$((ticks - 1)); done
    fi
  fi
fi
rm -f "run/$name.pid"
"""

# $1 root, $2 name, $3 unit; then the systemd-run argv
SYSTEMD_START = r"""
set -e
cd "$1"; name=$2; unit=$3; shift 3
mkdir -p run logs
chown --reference=. run logs  # run privileged: keep the folders the login user's
systemctl is-active --quiet "$unit" && exit 0
systemctl reset-failed "$unit" 2>/dev/null || true
echo "$unit" > "run/$name.unit"
"$@"
"""

# $1 root, $2 name: systemd kills the unit's control group (TimeoutStopSec, then KILL)
SYSTEMD_STOP = r"""
cd "$1" 2>/dev/null && read -r unit < "run/$2.unit" 2>/dev/null || exit 0
systemctl stop "$unit" 2>/dev/null
systemctl reset-failed "$unit" 2>/dev/null
rm -f "run/$2.unit"
"""

# $1 root, $2 name: exit 0 when it runs
STATUS = _ALIVE + r"""
alive "$1/run/$2.pid" >/dev/null && exit 0
read -r unit < "$1/run/$2.unit" 2>/dev/null && systemctl is-active --quiet "$unit"
"""

# $1 root: the names of the services that run now (pid files and systemd units)
RUNNING = _ALIVE + r"""
cd "$1" 2>/dev/null || exit 0
for f in run/*.pid; do
  [ -e "$f" ] || continue
  name=${f#run/}; name=${name%.pid}
  alive "$f" >/dev/null && echo "$name"
done
for f in run/*.unit; do
  [ -e "$f" ] || continue
  name=${f#run/}; name=${name%.unit}
  read -r unit < "$f" && systemctl is-active --quiet "$unit" && echo "$name"
done
true
"""

# $1 root: kill every process whose environment names the node root, then remove it
REMOVE = r"""
for e in /proc/[0-9]*/environ; do
  p=${e#/proc/}; p=${p%/environ}
  [ "$p" = "$$" ] && continue
  grep -qzxF -e "NDOVU_NODE_ROOT=$1" "$e" 2>/dev/null && kill -s KILL "$p" 2>/dev/null
done
rm -rf -- "$1"
"""


def script(text: str, *args: str) -> list[str]:
    return ["sh", "-c", text, "sh", *args]
