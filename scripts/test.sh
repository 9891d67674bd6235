#!/usr/bin/env bash
# Set everything up, then run the whole test suite (PostgreSQL too when HACKBOT_TEST_DATABASE_URL is set).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
