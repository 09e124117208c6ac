#!/usr/bin/env bash
# SCIM 2.0 conformance with scim2-tester (an independent checker of RFC 7643/7644): starts a
# throwaway gateway (`npm start` with embedded PostgreSQL and Temporal under a temporary DATA_DIR,
# on free ports), creates a team and a SCIM token for it, runs every check of scim2-tester against
# /scim/v2 (discovery, create, read, query, replace, PATCH add/remove/replace, delete), prints each
# result, then stops the gateway and deletes its data.
#
#   pip install 'scim2-tester[httpx2]==0.5.2'   # a development tool, not a dependency of the project
#   bench/scim-conformance.sh
#
# Exit status 0 when no check found a broken MUST (ERROR or CRITICAL).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import scim2_tester, httpx2' 2>/dev/null || { echo "scim2-tester not found: pip install 'scim2-tester[httpx2]==0.5.2' (or set PYTHON=/path/to/python)" >&2; exit 2; }

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
DATA=$(mktemp -d "${TMPDIR:-/tmp}/codex-scim-XXXXXX")
PORT=${PORT:-$(free_port)}
KEY="cdx_sk_$(node -e "console.log(require('crypto').randomBytes(24).toString('hex'))")"
LOG="$DATA/gateway.log"
BASE="http://127.0.0.1:$PORT"

env -u DATABASE_URL -u TEMPORAL_ADDRESS -u REDIS_URL \
  DATA_DIR="$DATA" PORT="$PORT" PUBLIC_URL="$BASE" EMBEDDED_TEMPORAL_PORT="$(free_port)" EMBEDDED_TEMPORAL_UI_PORT=0 \
  CODEX_BOOTSTRAP_API_KEY="$KEY" RATE_LIMITS=false LOG_LEVEL=warn \
  node --import tsx src/main.ts >"$LOG" 2>&1 &   # what npm start runs; signals reach the gateway itself
GATEWAY=$!
stop() {
  kill -INT "$GATEWAY" 2>/dev/null && wait "$GATEWAY" 2>/dev/null || true
  rm -rf "$DATA"
}
trap stop EXIT

for _ in $(seq 1 300); do
  curl -fs "$BASE/v1/health" >/dev/null 2>&1 && break
  kill -0 "$GATEWAY" 2>/dev/null || { cat "$LOG" >&2; echo "the gateway did not start" >&2; exit 1; }
  sleep 1
done

json() { node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const v=JSON.parse(s)$1;if(v===undefined){console.error(s);process.exit(1)}console.log(v)})"; }
TEAM=$(curl -fsS -X POST "$BASE/v1/teams" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"name":"SCIM conformance"}' | json .id)
TOKEN=$(curl -fsS -X POST "$BASE/v1/teams/$TEAM/scim-tokens" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"name":"scim2-tester"}' | json .token)

set +e
"$PYTHON" bench/scim-conformance.py "$BASE/scim/v2" "$TOKEN"
status=$?
if grep -q '"level":50' "$LOG"; then echo "--- errors the gateway logged ---"; grep '"level":50' "$LOG" | head -20; fi
exit $status
