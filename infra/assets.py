"""Build the Lambda layer, the function code and the media-worker build context without Docker.

The layer's dependencies are installed once per lock file: `pip install --platform
manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --python-version 3.12
--only-binary=:all:` into `.build/layer-deps/<hash>`,
where the hash is the lock file's. The shared package is copied next to them on each synth (it is
small), and the assembled directory is keyed by both hashes so CDK's asset hash follows the code.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"
LAYER_LOCK = ROOT / "locks" / "layer.txt"
MEDIA_LOCK = ROOT / "locks" / "media.txt"
SHARED_PACKAGE = ROOT / "layers" / "telehealth" / "telehealth"
FUNCTIONS = ROOT / "functions"
MEDIA_WORKERS = ROOT / "media_workers"

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")


def _digest(*paths: Path) -> str:
    """Content hash of files and directory trees (paths and bytes), stable across machines."""
    h = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def layer_dependencies() -> Path:
    """The locked dependencies for Python 3.12 on arm64, installed once per lock-file hash."""
    target = BUILD / "layer-deps" / _digest(LAYER_LOCK)
    if (target / ".complete").exists():
        return target
    staging = target.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--require-hashes", "--only-binary=:all:",
            # Lambda's Python 3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels
            # (Pillow's, since 12.2) run there as the older manylinux2014 ones do.
            "--platform", "manylinux2014_aarch64", "--platform", "manylinux_2_28_aarch64",
            "--python-version", "3.12",
            "--implementation", "cp", "--target", str(staging / "python"),
            "-r", str(LAYER_LOCK),
        ],
        check=True,
    )  # fmt: skip
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / ".complete").touch()
    return target


def layer_asset() -> Path:
    """Dependencies plus the shared package, laid out as Lambda expects (`python/`)."""
    deps = layer_dependencies()
    asset = BUILD / "layer" / f"{deps.name}-{_digest(SHARED_PACKAGE)}"
    if not asset.exists():
        staging = asset.with_suffix(".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(deps / "python", staging / "python", ignore=_IGNORED)
        shutil.copytree(SHARED_PACKAGE, staging / "python" / "telehealth", ignore=_IGNORED)
        staging.rename(asset)
    return asset


def functions_asset() -> Path:
    """The function code: the `functions` package alone, so handlers import as in the repo."""
    asset = BUILD / "functions" / _digest(FUNCTIONS)
    if not asset.exists():
        staging = asset.with_suffix(".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(FUNCTIONS, staging / "functions", ignore=_IGNORED)
        staging.rename(asset)
    return asset


def media_build_context() -> Path:
    """What `media_workers/Dockerfile` builds from: the workers, the shared package, the lock.

    CDK copies this directory into the cloud assembly at synth; Docker runs only at deploy.
    """
    asset = BUILD / "media" / _digest(MEDIA_WORKERS, SHARED_PACKAGE, MEDIA_LOCK)
    if not asset.exists():
        staging = asset.with_suffix(".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(MEDIA_WORKERS, staging / "media_workers", ignore=_IGNORED)
        shutil.copytree(SHARED_PACKAGE, staging / "telehealth", ignore=_IGNORED)
        shutil.copy2(MEDIA_LOCK, staging / "requirements.txt")
        shutil.copy2(MEDIA_WORKERS / "Dockerfile", staging / "Dockerfile")
        staging.rename(asset)
    return asset
