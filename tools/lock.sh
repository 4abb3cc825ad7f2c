#!/usr/bin/env bash
# Re-resolve the exact versions every install uses. Run by `make lock` after editing pyproject.toml;
# commit the three files it writes.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-.venv/bin/uv}
common=(--quiet --generate-hashes --no-header)
# The developer and CI environment: CDK, tests, linters, the emulator. Python 3.11 here.
"$uv" pip compile pyproject.toml "${common[@]}" --extra cdk --extra dev --python-version 3.11 \
  -o locks/dev.txt
# The Lambda layer: Python 3.12 on arm64. The Lambda runtime brings boto3 and botocore (with
# their own dependencies), so the layer leaves them out to stay small.
"$uv" pip compile pyproject.toml "${common[@]}" --python-version 3.12 \
  --python-platform aarch64-manylinux_2_17 \
  --no-emit-package botocore --no-emit-package boto3 --no-emit-package s3transfer \
  --no-emit-package jmespath --no-emit-package urllib3 --no-emit-package python-dateutil \
  --no-emit-package six -o locks/layer.txt
# The media workers' container image: Python 3.12 on arm64 Fargate. What it shares with the
# developer environment (numpy, OpenCV, PyAV) is held to the versions the tests ran.
tested=.build/tested-versions.txt
mkdir -p .build
grep -oE '^[A-Za-z0-9_.-]+==[^ ;]+' locks/dev.txt >"$tested"
"$uv" pip compile pyproject.toml "${common[@]}" --extra media --python-version 3.12 \
  --python-platform aarch64-manylinux_2_17 --constraint "$tested" -o locks/media.txt
