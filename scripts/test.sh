#!/usr/bin/env bash
# Run the whole test suite against real services: PostgreSQL is installed (Debian packages) and
# started on loopback by scripts/start_postgres.sh when it is not already running.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${KPIML_PG_URL:-}" ]; then
  KPIML_PG_URL="$(bash scripts/start_postgres.sh | tail -n 1)"
  export KPIML_PG_URL
fi
.venv/bin/python -m pytest "$@"
