#!/usr/bin/env bash
# The PostgreSQL systems of the peer harness with the database a network hop away: every
# connection goes through bench/latency_proxy.py (DELAY_MS each way). Prints one table.
#   bench/peer/remote.sh                                   # rocketjob-pg,pgqueuer N=10000 RUNS=3 DELAY_MS=0.5
#   SYSTEMS=rocketjob-pg N=2000 RUNS=1 bench/peer/remote.sh
# Env: SYSTEMS, N, RUNS, DELAY_MS, PROXY_PORT (default 16543), BENCH_PG_DSN (its database
#      name is used; default bench), and run.sh's PEER_SRC, PEER_DIR, BENCH_VENV.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PEER_DIR="${PEER_DIR:-/tmp/peer-bench}" BENCH_VENV="${BENCH_VENV:-/tmp/peer-bench-venv}"
export ROCKETJOB_VENV="$ROOT/.venv"
DSN="${BENCH_PG_DSN:-postgresql://root@127.0.0.1:5432/bench}"
PREPARE_ONLY=1 "$ROOT/bench/peer/run.sh"
cd "$PEER_DIR"
"$BENCH_VENV/bin/python" "$ROOT/bench/peer/remote.py" --root "$ROOT" \
  --proxy-python "$ROOT/.venv/bin/python" --db "${DSN##*/}" \
  --systems "${SYSTEMS:-rocketjob-pg,pgqueuer}" -n "${N:-10000}" --runs "${RUNS:-3}" \
  --delay-ms "${DELAY_MS:-0.5}" --port "${PROXY_PORT:-16543}"
