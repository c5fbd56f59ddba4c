#!/usr/bin/env bash
# API fuzzing against our own OpenAPI document (issue 5): the built binary serves the demo data
# on a fresh database, and schemathesis (from PyPI, pinned) generates requests for every operation
# as each role — anonymous, approval system, department officer, city bureau, admin (last, since
# its calls may change accounts). Any 5xx, undocumented status code or content type, or response
# that does not match its schema fails the run.
#
# It also runs positive_data_acceptance and negative_data_rejection (issue 19), under one rule
# (docs/api.md, "Errors"): a request that the document says is valid never gets a 400. 400 means
# malformed per the document (wrong type, pattern, length or range, unknown field, bad JSON), and
# schema-invalid data must be refused (4xx, never 2xx). A well-formed request refused for what it
# means — a reference to nothing, a check character, a date relative to today or to another
# field, a state conflict, content that is not what it must be — is 404 / 409 / 422, correct HTTP
# that .ci/schemathesis.toml declares as expected for positive_data_acceptance (its default list
# lacks 422; POST /attachments also answers 415 for content that is no PDF, JPEG or PNG, which
# no schema can say). Mismatches these checks found and fixed, instead of being declared:
#   - GET /stats/monthly and /stats/monthly/export: an unknown `region` or `department` was 400;
#     now 422 `unknown_region` / `unknown_department` naming `query.region` / `query.department`.
#   - subject filters (`subject` of list-entries, cases, credit-checks and their exports,
#     `subject_code` of commitments and service-records) took any string and answered 400 for
#     the empty one: they now declare the pattern of a code (18 characters of a USCC's alphabet;
#     a wrong shape stays 400), and a code of the right shape that is no code (an ID number
#     whose birth date is no date) is 422.
#   - `from` after `to` (GET /cases, /cases/export, /audit-log), both well-formed: 422, was 400.
#   - a NUL in a free-text query parameter was a 500 on PostgreSQL: a control character in any
#     query parameter is now 400 (http::query_text), and the document says so with a pattern.
#   - the optional body of the repair steps was ignored, and the step taken, when it did not fit
#     the schema (unknown field, wrong type): it is now read and refused (http::OptionalJson).
# Usage: .ci/schemathesis.sh [DATABASE_URL]   (default: a fresh SQLite file)
# Environment: FUZZ_PORT (default 18777), FUZZ_EXAMPLES (4), FUZZ_VENV (a venv with schemathesis
# 4.32.5 to reuse instead of making one), FUZZ_ROLES (a subset of the roles, in order),
# FUZZ_SEED (2019), FUZZ_KEEP_LOGS (a directory to copy the server's and each role's
# schemathesis logs into).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug/credit-lists
[ -x "$BIN" ] || cargo build --quiet
WORK=$(mktemp -d /tmp/credit-lists-fuzz.XXXXXX)
DB=${1:-$WORK/fuzz.db}
PORT=${FUZZ_PORT:-18777}
EXAMPLES=${FUZZ_EXAMPLES:-4}

VENV=${FUZZ_VENV:-$WORK/venv}
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'schemathesis==4.32.5'
fi

# Demo mode on PostgreSQL needs a PII key and a receipt signing key; random ones are right for a
# throwaway database.
PII_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
SIGNING_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
(cd "$WORK" && CREDIT_LISTS_LOG_LEVEL=warn CREDIT_LISTS_PII_KEY=$PII_KEY \
  CREDIT_LISTS_RECEIPT_SIGNING_KEY=$SIGNING_KEY exec "$OLDPWD/$BIN" --database-url "$DB" serve --demo \
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
for who in ${FUZZ_ROLES:-anonymous demo-approval demo-tax demo-city-bureau demo-admin}; do
  # Anonymous callers are fuzzed with a token that is no token: schemathesis 4.32 without any
  # credentials tries to sign itself up and crashes; an invalid bearer token gets the same 401 as
  # no token on every secured operation, and public operations ignore it.
  if [ "$who" = anonymous ]; then
    auth=(-H "Authorization: Bearer anonymous")
  else
    auth=(-H "Authorization: Bearer $(token "$who")")
  fi
  echo "==> schemathesis as $who"
  # `--url` pins the base URL to the server under test, whatever the document's `servers` say
  # (its one entry is `/`, relative to where the document is read: docs/api.md, "The OpenAPI document").
  # One worker: with two, Hypothesis describing its filters from two threads at once trips a
  # CPython 3.11 bug ("AST constructor recursion depth mismatch", KeyError) on the upload
  # operations, a runtime error that makes `st run` exit non-zero with no failure found.
  run() {
    "$VENV/bin/st" --config-file .ci/schemathesis.toml run "http://127.0.0.1:$PORT/api-docs/openapi.json" \
      --url "http://127.0.0.1:$PORT" "${auth[@]}" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance,negative_data_rejection \
      --phases examples,coverage,fuzzing --max-examples "$EXAMPLES" --workers 1 \
      --exclude-path-regex 'auth/logout|me/password' --continue-on-failure \
      --seed "${FUZZ_SEED:-2019}" > "$WORK/st-$who.log" 2>&1
  }
  # The generation is seeded, so a real failure repeats; one retry absorbs a transient network
  # error of the fuzzer itself.
  if ! run; then
    echo "(first run failed; once more)"
    tail -n 40 "$WORK/st-$who.log"
    [ -z "${FUZZ_KEEP_LOGS:-}" ] || cp "$WORK/st-$who.log" "$FUZZ_KEEP_LOGS/st-$who-first.log"
    run || { status=1; tail -n 80 "$WORK/st-$who.log"; }
  fi
  grep -E "generated|failures?,|passed" "$WORK/st-$who.log" | tail -n 3 || true
  [ -z "${FUZZ_KEEP_LOGS:-}" ] || cp "$WORK/st-$who.log" "$WORK/server.log" "$FUZZ_KEEP_LOGS/"
done
exit $status
