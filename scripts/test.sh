#!/usr/bin/env bash
# Run the whole test suite against real services: PostgreSQL is installed (Debian packages) and
# started on loopback by scripts/start_postgres.sh when it is not already running; Chromium and
# chromedriver (Debian packages) are installed when missing, for the report's browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${KPIML_PG_URL:-}" ]; then
  KPIML_PG_URL="$(bash scripts/start_postgres.sh | tail -n 1)"
  export KPIML_PG_URL
fi
# The report acceptance test drives headless Chromium (Debian packages chromium, chromium-driver).
if ! { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=()
  [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  if command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium and chromium-driver (apt-get)" >&2
    "${SUDO[@]}" apt-get update -q >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >&2
  else
    echo "test.sh: chromium is missing and apt-get is not available; the browser test will fail under CI" >&2
  fi
fi
.venv/bin/python -m pytest "$@"
