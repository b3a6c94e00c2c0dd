#!/usr/bin/env bash
# Refreshes requirements.lock, the pinned versions that scripts/test.sh and CI install, from
# the ranges in pyproject.toml (every extra, and the build backend's own requirements).
#
#   ./scripts/lock.sh              keep today's pins where the ranges still allow them
#   ./scripts/lock.sh --upgrade    take the newest release of everything, then run the suite
#
# An upgrade is a deliberate step: it rewrites the lock, reinstalls from it and runs the whole
# suite; commit the new lock only when that passes.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
tools=.venv-tools
if [ ! -x "$tools/bin/uv" ]; then
  "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check 'uv>=0.13,<0.14'
fi

upgrade=()
if [ "${1:-}" = "--upgrade" ]; then
  upgrade=(--upgrade)
  shift
fi

# The build backend's requirements come from [build-system] so that builds are pinned too.
build_in=$(mktemp)
trap 'rm -f "$build_in"' EXIT
"$python" - "$build_in" <<'EOF'
import sys, tomllib
requires = tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]
open(sys.argv[1], "w").write("\n".join(requires) + "\n")
EOF

"$tools/bin/uv" pip compile pyproject.toml "$build_in" --all-extras --universal \
  --python-version 3.11 --no-header --no-annotate "${upgrade[@]}" \
  --output-file requirements.lock --quiet
# uv writes the project itself when an extra names it; the lock pins only dependencies.
sed -i '/^gorgon-nb\b/d' requirements.lock
{
  echo "# Pinned versions for scripts/test.sh and CI. Refresh with ./scripts/lock.sh [--upgrade]."
  cat requirements.lock
} > requirements.lock.new && mv requirements.lock.new requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) pins"

if [ ${#upgrade[@]} -gt 0 ]; then
  exec ./scripts/test.sh "$@"
fi
