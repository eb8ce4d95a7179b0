#!/usr/bin/env bash
# One command for the demo: installs what is missing, then runs `gitcanary demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/gitcanary demo "$@"
