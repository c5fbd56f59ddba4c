#!/usr/bin/env bash
# Lints the committed OpenAPI document with Spectral's standard OpenAPI ruleset (`spectral:oas`):
# zero errors and zero warnings (issue 26), so that client generators accept it. Spectral comes
# from npm, pinned in .ci/spectral/package-lock.json; the ruleset is .ci/spectral/.spectral.yaml,
# `extends: ["spectral:oas"]` with no rule turned off. Needs no build: run it before cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
if ! command -v npm >/dev/null 2>&1; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
(cd .ci/spectral && npm ci --no-audit --no-fund --silent)
.ci/spectral/node_modules/.bin/spectral lint --ruleset .ci/spectral/.spectral.yaml \
    --fail-severity=warn openapi/openapi.json
