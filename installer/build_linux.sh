#!/usr/bin/env bash
# Build the one-folder Linux bundle (dist/smgwct/) in its own venv and run its self-test.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv build/bundle-venv
build/bundle-venv/bin/python -m pip install --quiet --upgrade pip
build/bundle-venv/bin/python -m pip install --quiet '.[bundle]'
build/bundle-venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller \
  installer/smgwct.spec
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
dist/smgwct/smgwct --version
dist/smgwct/smgwct selftest
echo "Bundle ready: dist/smgwct/"
