#!/usr/bin/env bash
# A client generated from the committed OpenAPI document works (issue 26): openapi-python-client
# (from PyPI, pinned) generates a Python package from openapi/openapi.json, which is installed into
# a venv; the built binary serves the demo data on a fresh SQLite database; and
# tests/client/check.py logs in with the generated client as the demo approval system and runs
# credit checks, asserting on the typed answers. The generator must accept the document: an error
# fails the run (warnings about binary downloads, which it cannot type, are printed).
# Environment: CLIENT_PORT (default 18781), CLIENT_VENV (a venv with openapi-python-client 0.29.1
# to reuse instead of making one).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug/credit-lists
[ -x "$BIN" ] || cargo build --quiet
WORK=$(mktemp -d /tmp/credit-lists-client.XXXXXX)
PORT=${CLIENT_PORT:-18781}

VENV=${CLIENT_VENV:-$WORK/venv}
if [ ! -x "$VENV/bin/openapi-python-client" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'openapi-python-client==0.29.1'
fi

SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill -KILL "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> generating the client from openapi/openapi.json"
# --meta setup: a package with a setup.py, installable by pip without a build backend download.
(cd "$WORK" && "$VENV/bin/openapi-python-client" generate --path "$OLDPWD/openapi/openapi.json" \
  --meta setup --output-path "$WORK/client" > "$WORK/generate.log" 2>&1) || {
  cat "$WORK/generate.log"; echo "openapi-python-client refused the document"; exit 1;
}
grep -E '^(WARNING|Cannot parse)' "$WORK/generate.log" || true
"$VENV/bin/pip" install --quiet "$WORK/client"

(cd "$WORK" && CREDIT_LISTS_LOG_LEVEL=warn exec "$OLDPWD/$BIN" --database-url "$WORK/client.db" serve --demo \
  --bind "127.0.0.1:$PORT" > "$WORK/server.log" 2>&1) &
SERVER=$!
for _ in $(seq 1 120); do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "the server did not start:"; cat "$WORK/server.log"; exit 1
  fi
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
  sleep 0.5
done

echo "==> the generated client against the demo server"
"$VENV/bin/python" tests/client/check.py "http://127.0.0.1:$PORT" || {
  echo "--- server log ---"; tail -n 40 "$WORK/server.log"; exit 1;
}
