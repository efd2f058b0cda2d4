#!/usr/bin/env bash
# Set up (or reuse) .venv with the project and its test extras, then run the whole test suite
# headless. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
.venv/bin/python -m ruff check app ui tests benchmarks tools
exec .venv/bin/python -m pytest "$@"
