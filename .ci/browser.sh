#!/usr/bin/env bash
# The staff console in headless Chromium: Debian's chromium driven by playwright-core from npm
# (pinned in tests/browser/package-lock.json; no browser download). Starts the built debug binary
# in demo mode on a fresh SQLite database and runs tests/browser/console.mjs against it.
#   SCREENSHOTS=DIR  also save screenshots of the main pages (docs/screenshots/ is made this way)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; then
    # A Chinese font too, so that screenshots show the text.
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi
if ! command -v pdftotext >/dev/null 2>&1; then
    # The printed documents' PDFs are read back with poppler (page count, text).
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)

port="${BROWSER_PORT:-18790}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill -9 "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet
./target/debug/credit-lists serve --demo --bind "127.0.0.1:$port" \
    --database-url "$work/console.db" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/server.log"; exit 1; fi
    sleep 1
done

if [ -n "${SCREENSHOTS:-}" ]; then mkdir -p "$SCREENSHOTS"; SCREENSHOTS="$(cd "$SCREENSHOTS" && pwd)"; export SCREENSHOTS; fi
CONSOLE_URL="http://127.0.0.1:$port" node tests/browser/console.mjs || {
    echo "--- server log ---"; tail -50 "$work/server.log"; exit 1;
}
