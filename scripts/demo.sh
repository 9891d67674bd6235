#!/usr/bin/env bash
# Set everything up, then run the real bot against the local sandbox and print what people see.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/hackbot demo "$@"
