#!/usr/bin/env bash
# Sets up everything the test suite needs (a virtualenv with the package and its test
# tools) and runs the whole suite: lint, types, tests. Safe to run again; extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check gorgon_nb tests benchmarks
.venv/bin/mypy
.venv/bin/pytest -q "$@"
