#!/usr/bin/env bash
# Sets up everything the test suite needs (a virtualenv with the package and its test
# tools, at the versions in requirements.lock) and runs the whole suite: lint, types,
# tests. Safe to run again; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Every package comes at the version pinned in requirements.lock (./scripts/lock.sh refreshes
# it); PIP_CONSTRAINT reaches the isolated environment that builds the package too.
export PIP_CONSTRAINT="$PWD/requirements.lock"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
unset PIP_CONSTRAINT

# The official MCP servers that the MCP tests start over stdio, at the versions pinned in
# tests/mcp-servers/, installed into .mcp-servers/ (git ignores it); again only when the pins change.
servers=.mcp-servers
if command -v npm >/dev/null 2>&1; then
  if ! cmp -s tests/mcp-servers/package-lock.json "$servers/package-lock.json" \
      || [ ! -x "$servers/node_modules/.bin/mcp-server-filesystem" ] \
      || [ ! -x "$servers/node_modules/.bin/mcp-server-everything" ]; then
    mkdir -p "$servers"
    cp tests/mcp-servers/package.json tests/mcp-servers/package-lock.json "$servers/"
    npm ci --prefix "$servers" --no-audit --no-fund --loglevel=error
  fi
else
  echo "npm is missing, so the official MCP servers are not installed and their tests are skipped" >&2
fi

# The browser tests (tests/browser, marker "browser") drive Debian's Chromium through the
# playwright package; Playwright's own browser download is never used.
chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
  echo "$chromium is missing; installing Debian's chromium for the browser tests" >&2
  if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
  elif command -v sudo >/dev/null 2>&1; then
    as_root() { sudo "$@"; }
  else
    echo "error: cannot install chromium: not root and no sudo. As root, run:" >&2
    echo "  apt-get update && apt-get install -y chromium" >&2
    echo "(or run the other tests alone: .venv/bin/pytest -m 'not browser')" >&2
    exit 1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  if [ ! -x "$chromium" ]; then
    echo "error: apt-get installed chromium but $chromium is still missing" >&2
    exit 1
  fi
fi

.venv/bin/ruff check gorgon_nb tests benchmarks
.venv/bin/mypy
# the layers and the import contracts of pyproject.toml ([tool.importlinter])
.venv/bin/lint-imports --no-cache
# Two workers (the suite's tests spend much of their time waiting on kernels, servers and a
# browser); a module's tests stay on one worker, so its fixtures are made once.
.venv/bin/pytest -q -n "${GORGON_TEST_WORKERS:-2}" --dist loadfile "$@"
