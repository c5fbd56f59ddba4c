#!/usr/bin/env bash
# Times the import of a 100,000-row CSV through the HTTP API on a fresh SQLite database (or on
# $DATABASE_URL when it points at PostgreSQL). Release build; loopback only.
#   bash benches/import_100k.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-100000}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
cargo build --release -q
BIN=target/release/credit-lists
DB=${DATABASE_URL:-$WORK/bench.db}
export CREDIT_LISTS_JWT_SECRET=bench-secret-0123456789abcdef0123456789abcdef
export CREDIT_LISTS_PII_KEY=$(python3 -c 'print("ab"*32)')
export CREDIT_LISTS_LOG_LEVEL=warn
export CREDIT_LISTS_MAX_BODY_BYTES=1048576
$BIN --database-url "$DB" migrate >/dev/null
CREDIT_LISTS_NEW_USER_PASSWORD='bench password 123' $BIN --database-url "$DB" user create --username bench --role department --department 52 >/dev/null
$BIN --database-url "$DB" serve --bind 127.0.0.1:18099 >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18099/health >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -sf -XPOST http://127.0.0.1:18099/api/v1/auth/login -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench password 123"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
ID=$(curl -sf -XPOST http://127.0.0.1:18099/api/v1/four-list-items -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"kind":"black_scope","code":"BENCH-HEI","title":"基准测试","legal_basis":[{"document":"基准","level":"departmental_rule"}],"subject_kinds":["enterprise"],"severity":"serious"}' \
  | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
curl -sf -XPOST "http://127.0.0.1:18099/api/v1/four-list-items/$ID/publish" -H "authorization: Bearer $TOKEN" >/dev/null
python3 benches/gen_entries_csv.py "$ROWS" BENCH-HEI >"$WORK/entries.csv"
echo "file: $(wc -l <"$WORK/entries.csv") lines, $(du -h "$WORK/entries.csv" | cut -f1)"
for run in dry_run=true "" ; do
  START=$(date +%s.%N)
  STATUS=$(curl -s -o "$WORK/report.json" -w '%{http_code}' -XPOST "http://127.0.0.1:18099/api/v1/list-entries/import?$run" \
    -H "authorization: Bearer $TOKEN" -H 'content-type: text/csv' --data-binary @"$WORK/entries.csv")
  END=$(date +%s.%N)
  echo "import ${run:-apply}: HTTP $STATUS in $(python3 -c "print(round($END-$START,1))") s: $(head -c 200 "$WORK/report.json")"
done
START=$(date +%s.%N)
curl -s -o /dev/null -XPOST "http://127.0.0.1:18099/api/v1/list-entries/import" \
  -H "authorization: Bearer $TOKEN" -H 'content-type: text/csv' --data-binary @"$WORK/entries.csv"
END=$(date +%s.%N)
echo "re-import (all unchanged): $(python3 -c "print(round($END-$START,1))") s"
echo "server peak RSS: $(grep VmHWM /proc/$SERVER/status | awk '{print $2, $3}')"
