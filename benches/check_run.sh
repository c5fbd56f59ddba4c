#!/usr/bin/env bash
# One server run: /health, single checks, batches of 1,000 and 50, then the index counters and RSS.
# Usage: benches/check_run.sh DATABASE_URL [CODES_FILE]
# PORT and LOG choose the port and the server's log file (defaults 18181, /tmp/check_run.log).
# BIN=path runs another build (default target/release/credit-lists), e.g. one kept from before a
# change, to compare two builds alternately on copies of one database.
# Needs a database filled by `credit-lists bench-data` (see docs/performance.md), wrk, jq, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=$1
export CODES=${2:-/tmp/bench/codes.txt}
export CREDIT_LISTS_JWT_SECRET=${CREDIT_LISTS_JWT_SECRET:-bench-secret-0123456789abcdef0123456789abcdef}
export CREDIT_LISTS_PII_KEY=${CREDIT_LISTS_PII_KEY:-7465737420706969206b657920303132333435363738396162636465663031ff}
export CREDIT_LISTS_RECEIPT_SIGNING_KEY=${CREDIT_LISTS_RECEIPT_SIGNING_KEY:-72656365697074207369676e696e67206b657920666f722074657374732e2e01}
export CREDIT_LISTS_LOG_LEVEL=warn CREDIT_LISTS_ACCESS_TOKEN_TTL_SECS=3600
PORT=${PORT:-18181}
# The server's log (index load time, warnings); one per concurrent run.
LOG=${LOG:-/tmp/check_run.log}
# Write out dirty pages first (a database copied just before the run): otherwise the server's first
# syncs wait for hundreds of megabytes, and the latency tail measures the copy.
sync
# A server left on the port by an earlier run would be measured instead of this one.
if curl -sf localhost:$PORT/health >/dev/null; then
  echo "port $PORT already answers: stop the server on it first (or set PORT)" >&2
  exit 1
fi
"${BIN:-target/release/credit-lists}" --database-url "$DB" serve --bind 127.0.0.1:$PORT >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 120); do curl -sf localhost:$PORT/health >/dev/null && break; sleep 0.5; done
sleep "${WARM:-5}"   # the index loads in the background (about 2 s for 1 M subjects)
TOKEN=$(curl -s -X POST localhost:$PORT/api/v1/auth/login -H 'content-type: application/json' \
  -d '{"username":"demo-approval","password":"demo-approval-pass"}' | jq -r .access_token)
export TOKEN
DUR=${DUR:-15}
uptime
echo "health:";    wrk -t2 -c64 -d${DUR}s --latency http://127.0.0.1:$PORT/health | grep Requests/sec
echo "check:";     wrk -t2 -c64 -d${DUR}s -s benches/check.lua http://127.0.0.1:$PORT | tail -4
echo "batch 1000:"; BATCH=1000 wrk -t1 -c1 -d10s -s benches/batch.lua http://127.0.0.1:$PORT | tail -4
echo "batch 50:";  BATCH=50 wrk -t1 -c1 -d10s -s benches/batch.lua http://127.0.0.1:$PORT | tail -4
curl -s localhost:$PORT/metrics | grep -E 'check_codes_total\{|receipt'
uptime
ps -o rss= -p $PID | awk '{printf "server RSS %.0f MB\n", $1/1024}'
