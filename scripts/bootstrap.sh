#!/usr/bin/env bash
# Install everything gitcanary's demo and tests need on a fresh Debian machine:
# Debian packages, a Python virtualenv with the project, and the control-plane
# binaries built from Go modules (cached under ~/.cache/gitcanary/<version>/).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# graphite-carbon, graphite-web and influxdb: the real servers the graphite and influxdb provider
# tests query; the sandbox starts them only when a test asks (gitcanary_sandbox/optional.py).
APT_PACKAGES=(etcd-server prometheus openssh-server openssh-client gnupg openssl git ca-certificates docker-registry buildah debootstrap graphite-carbon graphite-web influxdb)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: apt-get install ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v go >/dev/null || { echo "bootstrap: Go is required (https://go.dev/dl); none found on PATH" >&2; exit 1; }

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.gitcanary-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ sandbox/pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: pip install -e .[dev] -e ./sandbox (the product and the development sandbox)" >&2
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]' -e ./sandbox
  touch "$stamp"
fi

echo "bootstrap: upstream CRDs from their Go modules (pinned, hash-checked; cached in the Go module cache)" >&2
.venv/bin/python -m gitcanary_sandbox.upstream_crds >/dev/null

echo "bootstrap: control-plane binaries (cold build: several minutes; cached afterwards)" >&2
.venv/bin/python -m gitcanary_sandbox.binaries >/dev/null

if [ "${GITCANARY_WITH_FLUX:-0}" = "1" ]; then
  echo "bootstrap: Flux controllers (cold build: many minutes; cached under ~/.cache/gitcanary/flux-*)" >&2
  .venv/bin/python -m gitcanary_sandbox.flux_binaries >/dev/null
  echo "bootstrap: Flagger v1.44.0, the parity tests' oracle (cold build: minutes; cached under ~/.cache/gitcanary/flagger-*)" >&2
  .venv/bin/python -m gitcanary_sandbox.flagger_binary >/dev/null
fi

echo "bootstrap: helm (for the chart tests; cold build: minutes; cached under ~/.cache/gitcanary/helm-*)" >&2
.venv/bin/python -m gitcanary_sandbox.helm_binary >/dev/null
