"""The cached Debian image and package repository (built by scripts/testbed-image.sh)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.commands import TestBedError

IMAGE_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "testbed-image.sh"


@dataclass(frozen=True)
class Image:
    """A finished cache folder: ``rootfs`` (the overlays' shared lower layer, never
    written) and ``repo`` (a flat apt repository: .debs, Packages, Release)."""

    folder: Path

    @property
    def rootfs(self) -> Path:
        return self.folder / "rootfs"

    @property
    def repo(self) -> Path:
        return self.folder / "repo"


def ensure_image(timeout: float = 1200.0) -> Image:
    """Build the image and repository if they are not cached yet (minutes, once), else
    return the cached ones (milliseconds)."""
    try:
        result = subprocess.run(
            ["bash", str(IMAGE_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TestBedError(f"{IMAGE_SCRIPT} took more than {timeout:g}s") from exc
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise TestBedError(
            f"{IMAGE_SCRIPT} failed (exit status {result.returncode}):\n"
            f"{result.stderr.strip()[-3000:]}"
        )
    image = Image(Path(lines[-1]))
    if not (image.folder / "complete").is_file() or not image.rootfs.is_dir():
        raise TestBedError(f"{IMAGE_SCRIPT} named {image.folder}, which is not a finished image")
    return image
