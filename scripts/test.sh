#!/usr/bin/env bash
# One command for the tests: installs what is missing, runs the linters and the
# whole suite (unit + integration on a real local control plane, Prometheus and
# git remotes). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# The end-to-end tests run real Flux controllers: build them too (cached after the first run).
export GITCANARY_WITH_FLUX="${GITCANARY_WITH_FLUX:-1}"
./scripts/bootstrap.sh
echo "== ruff" >&2
.venv/bin/ruff check controller sandbox tests bench hack
echo "== mypy --strict controller" >&2
.venv/bin/mypy
echo "== import-linter" >&2
.venv/bin/lint-imports
echo "== pytest" >&2
exec .venv/bin/pytest -p no:cacheprovider "$@"
