#!/usr/bin/env bash
# Runs every nexora test: the cargo tests (unit and integration, on SQLite and, when it is
# reachable, PostgreSQL), the pusher-js tests in Node, and the real-browser test in Chromium.
# Usage: bash examples/nexora/tests/run.sh   (from anywhere)
set -uo pipefail

NEXORA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$NEXORA_DIR/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export HERALD_BIN=${HERALD_BIN:-$TARGET/debug/herald}
export NEXORA_BIN=${NEXORA_BIN:-$TARGET/debug/nexora}

step() { printf '\n== %s\n' "$*"; }
failures=()
run() { # run NAME COMMAND...: runs, records a failure, goes on
  local name=$1; shift
  step "$name"
  if ! "$@"; then failures+=("$name"); fi
}

# ---- tools ------------------------------------------------------------------------------
missing=0
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "missing: $1 — $2" >&2
    missing=1
  fi
}
need cargo "install Rust with rustup (https://rustup.rs) and put ~/.cargo/bin on PATH"
need node "install Node.js 20 or newer: apt-get install -y nodejs npm"
need npm "install npm: apt-get install -y npm"
[ "$missing" = 0 ] || exit 1
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "Node.js $node_major is too old: the tests need Node 20 or newer (fetch, Headers.getSetCookie)" >&2
  exit 1
fi

CHROMIUM=${CHROMIUM_BIN:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing Chromium: apt-get update && apt-get install -y chromium"
    (apt-get update && apt-get install -y chromium) || { echo "could not install Chromium" >&2; exit 1; }
  else
    echo "missing: Chromium at $CHROMIUM — run: apt-get update && apt-get install -y chromium" >&2
    exit 1
  fi
fi

PG_URL=${NEXORA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
if command -v psql >/dev/null 2>&1 && psql "$PG_URL" -qAtc 'select 1' >/dev/null 2>&1; then
  export NEXORA_TEST_PG_URL=$PG_URL NEXORA_REQUIRE_PG=1
  databases=(sqlite postgres)
else
  echo "PostgreSQL is not reachable at $PG_URL (or psql is missing): running the SQLite half only."
  echo "To include PostgreSQL: apt-get install -y postgresql && service postgresql start, allow trust"
  echo "auth for 127.0.0.1 in pg_hba.conf, create database test, or set NEXORA_TEST_PG_URL."
  databases=(sqlite)
fi

# ---- build ------------------------------------------------------------------------------
step "cargo build -p herald -p nexora"
(cd "$ROOT" && cargo build -p herald -p nexora) || { echo "build failed" >&2; exit 1; }

step "npm ci (page: web/, tests: tests/js/)"
for dir in "$NEXORA_DIR/web" "$NEXORA_DIR/tests/js"; do
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed in $dir" >&2; exit 1; }
done

# ---- tests ------------------------------------------------------------------------------
run "cargo test -p nexora (unit + integration; ${databases[*]})" bash -c "cd '$ROOT' && cargo test -p nexora"
for db in "${databases[@]}"; do
  run "pusher-js in Node ($db)" bash -c "cd '$NEXORA_DIR/tests/js' && NEXORA_TEST_DB=$db node --test --test-concurrency=1 realtime.test.mjs"
  run "Chromium via playwright-core ($db)" bash -c "cd '$NEXORA_DIR/tests/js' && NEXORA_TEST_DB=$db node --test --test-concurrency=1 browser.test.mjs"
done

step "summary"
if [ "${#failures[@]}" -eq 0 ]; then
  echo "all nexora test suites passed (databases: ${databases[*]})"
else
  printf 'failed: %s\n' "${failures[@]}"
  exit 1
fi
