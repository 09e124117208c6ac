#!/bin/sh
# One-shot (docker-compose.yml, service temporal-namespace), once the server is healthy: registers the
# namespace the gateway and workers use, unless it exists, then waits until the frontend serves it
# (its namespace cache refreshes every few seconds), so workers that start next find it.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
addr="${TEMPORAL_ADDRESS:?}"

attempt=1
until temporal operator namespace describe --namespace "$ns" --address "$addr" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$ns" --retention 72h --address "$addr"; do
  [ "$attempt" -ge 12 ] && { echo "could not register namespace $ns at $addr" >&2; exit 1; }
  echo "namespace $ns: not registered yet (attempt $attempt), retrying in 5 s"
  attempt=$((attempt + 1))
  sleep 5
done

attempt=1
until temporal workflow list --namespace "$ns" --limit 1 --address "$addr" >/dev/null 2>&1; do
  [ "$attempt" -ge 30 ] && { echo "namespace $ns is registered but $addr does not serve it yet" >&2; exit 1; }
  attempt=$((attempt + 1))
  sleep 2
done

# The search attributes the gateway puts on every workflow (docs/operations.md). Creating one that
# exists is refused, so a rerun of this script goes on; the gateway starts workflows without them
# (memo only) if they are missing.
for sa in CodexAccountId:Keyword CodexTeamId:Keyword CodexAgentType:Keyword CodexTags:KeywordList CodexResourceId:Keyword; do
  temporal operator search-attribute create --namespace "$ns" --address "$addr" --name "${sa%%:*}" --type "${sa#*:}" >/dev/null 2>&1 \
    || echo "search attribute ${sa%%:*}: not created (it may exist already)"
done
echo "namespace $ns is ready at $addr"
