#!/usr/bin/env bash
# Set up (or reuse) .venv with the project, then start the tool in demo mode against the embedded
# default (virtual meter, virtual SMGW and reference GWA on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/smgwct demo "$@"
