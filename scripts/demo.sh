#!/usr/bin/env bash
# The main job end to end on the example project: data -> model -> report -> .krt -> served -> called.
set -euo pipefail
export KEDRO_DISABLE_TELEMETRY=true
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/.venv/bin"
PORT="${KRT_DEMO_PORT:-9000}"
WEB_PORT="${KRT_DEMO_WEB_PORT:-8080}"
cd "$ROOT/example_project"
export KEDRO_LOGGING_CONFIG="$ROOT/example_project/conf/logging.yml"
export PYTHONWARNINGS=ignore

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. synthetic data and the training pipeline (the model is the artifact)"
"$BIN/python" scripts/generate_data.py
"$BIN/kedro" run --pipelines training

step "2. kedro krt compile --pipeline inference"
"$BIN/kedro" krt compile --pipeline inference 2>/dev/null

step "3. kedro krt package --pipeline inference"
rm -rf dist
"$BIN/kedro" krt package --pipeline inference 2>/dev/null
KRT="$(ls dist/*.krt)"

step "4. kedro-krt validate $KRT"
"$BIN/kedro-krt" validate "$KRT"

# serve MODE_LABEL ARGS...: start kedro-krt serve in the background, wait for its Serving line.
serve() {
  local label="$1"; shift
  LOG="$(mktemp)"
  "$BIN/kedro-krt" serve "$KRT" --port "$PORT" --web-port "$WEB_PORT" "$@" >"$LOG" 2>&1 &
  SERVER=$!
  trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT
  for _ in $(seq 1 240); do
    grep -q "^Serving" "$LOG" && break
    kill -0 $SERVER 2>/dev/null || { cat "$LOG"; echo "the $label server stopped before serving" >&2; exit 1; }
    sleep 0.5
  done
  grep -E "^(Serving|Web port)" "$LOG" || { cat "$LOG"; echo "the $label server did not become ready" >&2; exit 1; }
}

stop() {
  kill -TERM $SERVER
  wait $SERVER && echo "server stopped cleanly"
  trap - EXIT
}

step "5. kedro-krt serve $KRT (a local KRE on 127.0.0.1:$PORT, all nodes in one process)"
serve in-process

step "6. the example request of /endpoints (made of the project's sample rows), sent as it is"
EXAMPLE="$(mktemp)"
"$BIN/python" -c 'import json, sys, urllib.request
print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1]))["endpoints"][0]["example_request"]))' \
  "http://127.0.0.1:$WEB_PORT/endpoints" >"$EXAMPLE"
"$BIN/kedro" krt call Inference --file "$EXAMPLE" --address "127.0.0.1:$PORT" 2>/dev/null
rm -f "$EXAMPLE"

step "6b. kedro krt call Inference --file requests/inference.json"
"$BIN/kedro" krt call Inference --file requests/inference.json --address "127.0.0.1:$PORT" 2>/dev/null

step "7. the same with per-request parameters (markup 0.0, USD)"
"$BIN/kedro-krt" call Inference --file requests/inference_with_parameters.json --address "127.0.0.1:$PORT"

step "8. stop the server (SIGTERM drains, exits 0)"
stop

step "9. kedro-krt serve $KRT --nats (KRE's topology: nats-server, one runner process per node)"
serve nats --nats
grep -c "Listening to" "$LOG" | xargs -I{} echo "{} node runners subscribed to their JetStream subjects"

step "10. the same two calls, now through NATS"
"$BIN/kedro-krt" call Inference --file requests/inference.json --address "127.0.0.1:$PORT"
"$BIN/kedro-krt" call Inference --file requests/inference_with_parameters.json --address "127.0.0.1:$PORT"

step "11. stop: the front drains, then the runners and nats-server stop"
stop
