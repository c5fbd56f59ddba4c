#!/usr/bin/env bash
# Times the import of a 100,000-row CSV through the HTTP API on a fresh SQLite database (or on
# $DATABASE_URL when it points at PostgreSQL), then `sqlite3 .import` of the same file into a table
# with the same identity index, and prints both times, their ratio and the server's peak RSS.
# Release build (BIN=path to use one already built); loopback only.
#   bash benches/import_100k.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-100000}
# TIMELINE=path keeps the RssAnon samples ("epoch kB" per line).
WORK=$(mktemp -d)
SERVER=
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
if [ -z "${BIN:-}" ]; then cargo build --release -q; fi
BIN=${BIN:-target/release/credit-lists}
DB=${DATABASE_URL:-$WORK/bench.db}
export CREDIT_LISTS_JWT_SECRET=bench-secret-0123456789abcdef0123456789abcdef
export CREDIT_LISTS_PII_KEY=$(python3 -c 'print("ab"*32)')
export CREDIT_LISTS_RECEIPT_SIGNING_KEY=$(python3 -c 'print("cd"*32)')
export CREDIT_LISTS_LOG_LEVEL=warn
# CHECK_INDEX=false runs without the in-memory check index, whose growth with the new subjects
# (after the import commits) would otherwise be counted with the import's own memory.
export CREDIT_LISTS_CHECK_INDEX=${CHECK_INDEX:-true}
$BIN --database-url "$DB" migrate >/dev/null
CREDIT_LISTS_NEW_USER_PASSWORD='import timing 4711' $BIN --database-url "$DB" user create --username bench --role department --department 52 >/dev/null
$BIN --database-url "$DB" serve --bind 127.0.0.1:18099 >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18099/health >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -sf -XPOST http://127.0.0.1:18099/api/v1/auth/login -H 'content-type: application/json' \
  -d '{"username":"bench","password":"import timing 4711"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
ID=$(curl -sf -XPOST http://127.0.0.1:18099/api/v1/four-list-items -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"kind":"black_scope","code":"BENCH-HEI","title":"基准测试","legal_basis":[{"document":"基准","level":"departmental_rule"}],"subject_kinds":["enterprise"],"severity":"serious"}' \
  | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
curl -sf -XPOST "http://127.0.0.1:18099/api/v1/four-list-items/$ID/publish" -H "authorization: Bearer $TOKEN" >/dev/null
python3 benches/gen_entries_csv.py "$ROWS" BENCH-HEI >"$WORK/entries.csv"
# The server's anonymous memory (heap, not the database file's mapped pages), sampled every 0.1 s
# into a timeline; each phase's peak is read from it.
( while kill -0 "$SERVER" 2>/dev/null; do
    echo "$(date +%s.%N) $(awk '/^RssAnon/{print $2}' /proc/"$SERVER"/status 2>/dev/null || echo 0)"
    sleep 0.1
  done >"$WORK/anon.log" ) &
peak_anon() { # FROM TO: the highest RssAnon (kB) sampled between two times
  awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 > m { m = $2 } END { print m + 0 }' "$WORK/anon.log"
}
echo "file: $(wc -l <"$WORK/entries.csv") lines, $(du -h "$WORK/entries.csv" | cut -f1)"
for run in dry_run=true "" ; do
  START=$(date +%s.%N)
  STATUS=$(curl -s -o "$WORK/report.json" -w '%{http_code}' -XPOST "http://127.0.0.1:18099/api/v1/list-entries/import?$run" \
    -H "authorization: Bearer $TOKEN" -H 'content-type: text/csv' -T "$WORK/entries.csv")
  END=$(date +%s.%N)
  echo "import ${run:-apply}: HTTP $STATUS in $(python3 -c "print(round($END-$START,2))") s, peak RssAnon $(peak_anon "$START" "$END") kB: $(head -c 200 "$WORK/report.json")"
  if [ -z "$run" ]; then IMPORT_SECS=$(python3 -c "print($END-$START)"); fi
done
START=$(date +%s.%N)
curl -s -o /dev/null -XPOST "http://127.0.0.1:18099/api/v1/list-entries/import" \
  -H "authorization: Bearer $TOKEN" -H 'content-type: text/csv' -T "$WORK/entries.csv"
END=$(date +%s.%N)
echo "re-import (all unchanged): $(python3 -c "print(round($END-$START,1))") s, peak RssAnon $(peak_anon "$START" "$END") kB"
if [ -n "${TIMELINE:-}" ]; then cp "$WORK/anon.log" "$TIMELINE"; fi
echo "server peak RSS over the run (VmHWM, with the database file's mapped pages): $(grep VmHWM /proc/$SERVER/status | awk '{print $2, $3}'); RssAnon at start $(head -1 "$WORK/anon.log" | cut -d' ' -f2) kB, at the end $(awk '/^RssAnon/{print $2}' /proc/$SERVER/status) kB"
# The same file with the sqlite3 shell: a table of the file's columns and the entries' identity
# index (department, document number, subject, list), in one transaction as .import does.
NCOL=$(head -1 "$WORK/entries.csv" | tr ',' '\n' | wc -l)
COLS=$(seq -s, -f 'c%g' 1 "$NCOL")
# Columns 1, 2, 8 and 10: list type, subject code, department, document number.
printf 'CREATE TABLE t (%s);\nCREATE UNIQUE INDEX t_identity ON t (c8, c10, c2, c1);\n' "$COLS" >"$WORK/plain.sql"
sqlite3 "$WORK/plain.db" <"$WORK/plain.sql"
START=$(date +%s.%N)
sqlite3 "$WORK/plain.db" -cmd '.mode csv' ".import --skip 1 $WORK/entries.csv t"
END=$(date +%s.%N)
SHELL_SECS=$(python3 -c "print($END-$START)")
echo "sqlite3 .import: $(python3 -c "print(round($SHELL_SECS,2))") s ($(sqlite3 "$WORK/plain.db" 'select count(*) from t') rows)"
echo "ratio import / sqlite3 .import: $(python3 -c "print(round($IMPORT_SECS/$SHELL_SECS,1))")"
