"""Depot tarballs on a node: fetched from the server, checked, unpacked once per machine.

The node downloads ``<depot_url>/<path>`` itself (python3's urllib, run with argv; no
shell; over HTTPS without checking the server's certificate, since the SHA-256 it checks
the file against reached it over its authenticated transport), checks the file's SHA-256
against the one the catalog published, and unpacks it
with tar into ``<software_dir>/<name>-<sha256[:12]>``: first into a temporary folder,
then renamed into place, so a node cut off halfway leaves nothing a later install
mistakes for done, and nodes sharing a machine unpack it once (the first rename wins).
A tarball holding one top folder (as release tarballs do) becomes that folder. The
software stays on the machine when its nodes go, as installed packages do.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import PurePosixPath

from ndovu.errors import NodeBootstrapError
from ndovu.spec.model import Tarball
from ndovu.transports.base import TIMEOUT_RETURNCODE, Transport

FETCH_TIMEOUT_S = 900.0
_ARCHIVE_SUFFIX = re.compile(r"(\.tar(\.(gz|bz2|xz|zst))?|\.tgz|\.tbz2|\.txz)$")

# argv: URL, expected sha256, home folder. Prints nothing on success; on failure, one
# line saying why (exit 1), which reaches the node's error message.
FETCH_SCRIPT = r"""
import hashlib, os, shutil, ssl, subprocess, sys, tempfile, urllib.request
url, expected, home = sys.argv[1:4]
if os.path.isdir(home):
    sys.exit(0)
parent = os.path.dirname(home)
os.makedirs(parent, exist_ok=True)
work = tempfile.mkdtemp(prefix=".fetch-", dir=parent)
try:
    archive = os.path.join(work, "archive")
    digest = hashlib.sha256()
    # the depot is the ndovu server itself: never through a proxy. Its certificate (maybe
    # self-signed) is not what makes the download trustworthy: the sha256 checked below
    # came from the server over the node's own transport
    unchecked = ssl.create_default_context()
    unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=unchecked))
    with opener.open(url, timeout=60) as response, open(archive, "wb") as out:
        for chunk in iter(lambda: response.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        sys.exit(f"the download's sha256 is {digest.hexdigest()}, the depot published "
                 f"{expected}: the file changed on the server or in transit")
    tree = os.path.join(work, "tree")
    os.mkdir(tree)
    untar = subprocess.run(["tar", "-xf", archive, "-C", tree, "--no-same-owner"],
                           capture_output=True, text=True)
    if untar.returncode != 0:
        sys.exit(f"tar could not unpack it: {untar.stderr.strip()[-500:]}")
    top = os.listdir(tree)
    if len(top) == 1 and os.path.isdir(os.path.join(tree, top[0])):
        tree = os.path.join(tree, top[0])
    try:
        os.rename(tree, home)
    except OSError:
        if not os.path.isdir(home):  # else another node of this machine was first
            raise
except Exception as exc:
    sys.exit(f"{type(exc).__name__}: {exc}")
finally:
    shutil.rmtree(work, ignore_errors=True)
"""


def home_of(transport: Transport, tarball: Tarball) -> str:
    """Where ``tarball`` is unpacked on the transport's machine."""
    name = _ARCHIVE_SUFFIX.sub("", PurePosixPath(tarball.path).name) or "software"
    return f"{transport.software_dir.rstrip('/')}/{name}-{tarball.sha256[:12]}"


def depot_url(base: str, tarball: Tarball) -> str:
    return f"{base.rstrip('/')}/{urllib.parse.quote(tarball.path)}"


def install_tarball(transport: Transport, tarball: Tarball, base_url: str, *,
                    node: str, role: str) -> str:
    """Fetch and unpack ``tarball`` on the node unless it is there; returns its home."""
    home = home_of(transport, tarball)
    if transport.run(["test", "-d", home], timeout=30).ok:
        return home
    if not base_url:
        raise NodeBootstrapError(
            f"{role} needs {tarball.path} from ndovu's software depot, and this server has "
            "no depot URL for its nodes", node=node, role=role)
    url = depot_url(base_url, tarball)
    result = transport.run(["python3", "-c", FETCH_SCRIPT, url, tarball.sha256, home],
                           timeout=FETCH_TIMEOUT_S)
    if result.ok:
        return home
    if result.returncode == 127:
        why = "the node has no python3, which fetches depot software"
    elif result.returncode == TIMEOUT_RETURNCODE:
        why = f"it took longer than {FETCH_TIMEOUT_S:g} s"
    else:
        why = result.summary()
    raise NodeBootstrapError(
        f"cannot install {role}'s software {tarball.path} on {node} from {url}: {why} "
        "(nodes need python3 and tar, and must reach the server's depot_url: set it to "
        "an address of the server the nodes can reach)", node=node, role=role)
