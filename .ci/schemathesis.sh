#!/usr/bin/env bash
# API fuzzing against our own OpenAPI document (issue 5): the built binary serves the demo data
# on a fresh database, and schemathesis (from PyPI, pinned) generates requests for every operation
# as each role — anonymous, approval system, department officer, city bureau, admin (last, since
# its calls may change accounts). Any 5xx, undocumented status code or content type, or response
# that does not match its schema fails the run.
# Usage: .ci/schemathesis.sh [DATABASE_URL]   (default: a fresh SQLite file)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug/credit-lists
[ -x "$BIN" ] || cargo build --quiet
WORK=$(mktemp -d /tmp/credit-lists-fuzz.XXXXXX)
DB=${1:-$WORK/fuzz.db}
PORT=${FUZZ_PORT:-18777}
EXAMPLES=${FUZZ_EXAMPLES:-4}

if [ ! -x "$WORK/venv/bin/st" ]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet 'schemathesis==4.32.5'
fi

# Demo mode on PostgreSQL needs a PII key; a random one is right for a throwaway database.
PII_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
(cd "$WORK" && CREDIT_LISTS_LOG_LEVEL=warn CREDIT_LISTS_PII_KEY=$PII_KEY exec "$OLDPWD/$BIN" --database-url "$DB" serve --demo \
  --bind "127.0.0.1:$PORT" > "$WORK/server.log" 2>&1) &
SERVER=$!
# A throwaway server: SIGKILL, and wait, so that its port is free for the next run at once.
trap 'kill -KILL $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 120); do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "the server did not start:"; cat "$WORK/server.log"; exit 1
  fi
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
  sleep 0.5
done

token() {
  curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$1-pass\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])'
}

status=0
for who in anonymous demo-approval demo-tax demo-city-bureau demo-admin; do
  # Anonymous callers are fuzzed with a token that is no token: schemathesis 4.32 without any
  # credentials tries to sign itself up and crashes; an invalid bearer token gets the same 401 as
  # no token on every secured operation, and public operations ignore it.
  if [ "$who" = anonymous ]; then
    auth=(-H "Authorization: Bearer anonymous")
  else
    auth=(-H "Authorization: Bearer $(token "$who")")
  fi
  echo "==> schemathesis as $who"
  # One worker: with two, Hypothesis describing its filters from two threads at once trips a
  # CPython 3.11 bug ("AST constructor recursion depth mismatch", KeyError) on the upload
  # operations, a runtime error that makes `st run` exit non-zero with no failure found.
  run() {
    "$WORK/venv/bin/st" run "http://127.0.0.1:$PORT/api-docs/openapi.json" "${auth[@]}" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
      --phases examples,coverage,fuzzing --max-examples "$EXAMPLES" --workers 1 \
      --exclude-path-regex 'auth/logout|me/password' --continue-on-failure \
      --seed 2019 > "$WORK/st-$who.log" 2>&1
  }
  # The generation is seeded, so a real failure repeats; one retry absorbs a transient network
  # error of the fuzzer itself.
  if ! run; then
    echo "(first run failed; once more)"
    tail -n 40 "$WORK/st-$who.log"
    run || { status=1; tail -n 80 "$WORK/st-$who.log"; }
  fi
  grep -E "generated|failures?,|passed" "$WORK/st-$who.log" | tail -n 3 || true
done
exit $status
