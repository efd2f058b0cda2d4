# Build the one-folder Windows bundle (dist\smgwct\) in its own venv and run its self-test.
$ErrorActionPreference = "Stop"
Set-Location (Split-Path $PSScriptRoot -Parent)
py -3.11 -m venv build\bundle-venv
build\bundle-venv\Scripts\python -m pip install --upgrade pip
build\bundle-venv\Scripts\python -m pip install ".[bundle]"
build\bundle-venv\Scripts\pyinstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller installer\smgwct.spec
dist\smgwct\smgwct.exe --version
dist\smgwct\smgwct.exe selftest
if ($LASTEXITCODE -ne 0) { throw "selftest failed" }
