"""Running host-side commands: argv lists only, always bounded in time, clear errors."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence


class TestBedError(RuntimeError):
    """The test bed could not do what was asked (the message says what and why)."""

    __test__ = False  # not a pytest test class


def run(
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell), capture its output as text, fail clearly on error or timeout."""
    try:
        result = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TestBedError(f"{' '.join(argv)} took more than {timeout:g}s") from exc
    except FileNotFoundError as exc:
        raise TestBedError(
            f"{argv[0]} is missing: run scripts/setup-testbed.sh first"
        ) from exc
    if check and result.returncode != 0:
        raise TestBedError(
            f"{' '.join(argv)} failed with exit status {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()}"
        )
    return result


def require_tools(*names: str) -> None:
    """Fail with a pointer to the set-up script when a host-side tool is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise TestBedError(
            f"missing on this machine: {', '.join(missing)}; run scripts/setup-testbed.sh"
        )
