#!/usr/bin/env bash
# Herald from the shell, with the `herald` CLI alone: an application, an event type, an
# endpoint pointing at `herald listen` (a local receiver that verifies every request), a
# message, its attempts, a resend, and the clean-up.
#
# Needs a running Herald that may deliver to loopback, and its operator token:
#   herald serve --allow-target 127.0.0.1/32 &
#   HERALD_TOKEN=... examples/walkthrough.sh
# HERALD_URL defaults to http://127.0.0.1:8071; LISTEN_PORT (default 9000) is where
# `herald listen` receives; HERALD names the binary (default: `herald` on PATH).
set -euo pipefail

HERALD=${HERALD:-herald}
export HERALD_URL=${HERALD_URL:-http://127.0.0.1:8071}
export HERALD_TOKEN=${HERALD_TOKEN:?set HERALD_TOKEN to Herald\'s operator token}
PORT=${LISTEN_PORT:-9000}
APP="walkthrough-$(date +%s)-$$"
SECRET="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
WORK=$(mktemp -d)
trap 'kill "${LISTEN_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

step() { printf '\n== %s\n' "$*"; }

step "A local receiver: verifies each request with the endpoint's secret, exits after 2"
$HERALD listen --port "$PORT" --secret "$SECRET" --count 2 >"$WORK/listen.log" 2>&1 &
LISTEN_PID=$!
for _ in $(seq 50); do
  grep -q "listening on" "$WORK/listen.log" && break
  sleep 0.1
done

step "An application per customer, with a uid of our choosing"
$HERALD app create "Acme Inc" --uid "$APP"

step "An event type (exit code 1 if it exists already: fine)"
$HERALD event-type create invoice.paid --description "An invoice was paid" || [ $? -eq 1 ]

step "An endpoint: where Acme wants invoice.paid events, signed with our secret"
$HERALD endpoint create "$APP" "http://127.0.0.1:$PORT/webhook" \
  --uid listener --event-type invoice.paid --secret "$SECRET"
$HERALD endpoint list "$APP"

step "Publish a message (202 once it is stored)"
echo '{"invoice": 42, "amount": 1999}' | $HERALD send "$APP" invoice.paid - --event-id inv-42

step "Its attempts (waiting for the first)"
for _ in $(seq 100); do
  $HERALD attempts "$APP" inv-42 --json | grep -q '"statusText": "success"' && break
  sleep 0.1
done
$HERALD attempts "$APP" inv-42

step "Resend it to the endpoint"
$HERALD resend "$APP" inv-42 --endpoint listener

step "What the receiver printed"
wait "$LISTEN_PID" || true
cat "$WORK/listen.log"
valid=$(grep -c '^VALID' "$WORK/listen.log" || true)

step "Clean up"
$HERALD app delete "$APP"

if [ "$valid" -ne 2 ]; then
  echo "expected 2 VALID requests, saw $valid" >&2
  exit 1
fi
echo "both deliveries verified"
