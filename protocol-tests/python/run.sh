#!/usr/bin/env bash
# Runs herald's Python interoperability tests (pusher-http-python + Pysher) against a real
# herald binary. Usage: bash protocol-tests/python/run.sh [pytest args...]
#   HERALD_BIN  herald binary (default: target/debug/herald of this repository)
#   PYTHON      interpreter used to create .venv (default: python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -z "${HERALD_BIN:-}" ]; then
  HERALD_BIN="$here/../../target/debug/herald"
elif [ "${HERALD_BIN#/}" = "$HERALD_BIN" ]; then
  HERALD_BIN="$PWD/$HERALD_BIN"   # a relative HERALD_BIN is relative to the caller's directory
fi
if [ ! -x "$HERALD_BIN" ]; then
  echo "run.sh: no herald binary at $HERALD_BIN" >&2
  echo "run.sh: run 'cargo build' in the repository root first, or set HERALD_BIN to a built herald." >&2
  exit 2
fi
export HERALD_BIN

cd "$here"
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
# Reinstall only when requirements.txt changed since the last successful install.
stamp=.venv/.requirements.sha256
want="$(.venv/bin/python -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' requirements.txt)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi

exec .venv/bin/python -m pytest -q "$@"
