#!/usr/bin/env bash
# Property-based fuzzing of the REST API with Schemathesis: starts a throwaway gateway (`npm start`
# with embedded PostgreSQL and Temporal under a temporary DATA_DIR, on free ports), runs every
# operation of /v1/openapi.json with the `not_a_server_error` check (no 5xx for any input), then
# stops the gateway and deletes its data.
#
#   pip install schemathesis==4.32.5     # a development tool, not a dependency of the project
#   bench/schemathesis.sh [extra schemathesis run options, e.g. --max-examples 50]
#
# Operations left out, and why (each would end the credential the run uses, and every later
# request would answer 401, testing nothing):
#   DELETE /v1/keys/{key_id}  (revokeApiKey)  the stateful phase can feed it the run's own key id
#                                             from GET /v1/keys
#   POST   /v1/auth/logout    (logout)        ends the caller's own sign-in
# and two that answer 5xx by design on this throwaway server, which has no model provider:
#   POST   /v1/generations    (createGeneration)  503 model_not_configured until an operator sets
#   POST   /v1/generations/{generation_id}/retry  MODEL_BASE_URL (retryGeneration: the same)
# Everything else runs, including creation of tasks, projects, webhooks, visualizations and teams.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS=${SCHEMATHESIS:-schemathesis}
command -v "$SCHEMATHESIS" >/dev/null || { echo "schemathesis not found: pip install schemathesis==4.32.5 (or set SCHEMATHESIS=/path/to/schemathesis)" >&2; exit 2; }

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
DATA=$(mktemp -d "${TMPDIR:-/tmp}/codex-schemathesis-XXXXXX")
PORT=${PORT:-$(free_port)}
KEY="cdx_sk_$(node -e "console.log(require('crypto').randomBytes(24).toString('hex'))")"
LOG="$DATA/gateway.log"

env -u DATABASE_URL -u TEMPORAL_ADDRESS -u REDIS_URL \
  DATA_DIR="$DATA" PORT="$PORT" EMBEDDED_TEMPORAL_PORT="$(free_port)" EMBEDDED_TEMPORAL_UI_PORT=0 \
  CODEX_BOOTSTRAP_API_KEY="$KEY" RATE_LIMITS=false LOG_LEVEL=warn \
  node --import tsx src/main.ts >"$LOG" 2>&1 &   # what npm start runs; signals reach the gateway itself
GATEWAY=$!
stop() {
  kill -INT "$GATEWAY" 2>/dev/null && wait "$GATEWAY" 2>/dev/null || true
  rm -rf "$DATA"
}
trap stop EXIT

for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$PORT/v1/health" >/dev/null 2>&1 && break
  kill -0 "$GATEWAY" 2>/dev/null || { cat "$LOG" >&2; echo "the gateway did not start" >&2; exit 1; }
  sleep 1
done

set +e
"$SCHEMATHESIS" run "http://127.0.0.1:$PORT/v1/openapi.json" \
  --header "Authorization: Bearer $KEY" \
  --checks not_a_server_error \
  --exclude-operation-id revokeApiKey \
  --exclude-operation-id logout \
  --exclude-operation-id createGeneration \
  --exclude-operation-id retryGeneration \
  --request-timeout 30 \
  "$@"
status=$?
if grep -q '"level":50' "$LOG"; then echo "--- errors the gateway logged ---"; grep '"level":50' "$LOG" | head -20; fi
exit $status
