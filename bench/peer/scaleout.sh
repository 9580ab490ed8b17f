#!/usr/bin/env bash
# Scale-out: 1, 2, 4, 8 daemons (one process, 10 threads each) draining 20 ms I/O jobs from
# PostgreSQL through bench/latency_proxy.py, rocketjob against PgQueuer. Prints one table.
#   bench/peer/scaleout.sh                          # SIZES=1,2,4,8 N=1500 per daemon RUNS=3 DELAY_MS=0.5
#   SIZES=1,2 N=500 RUNS=1 bench/peer/scaleout.sh
# Env: SYSTEMS, SIZES, N, RUNS, DELAY_MS, PROXY_PORT (default 16545), BENCH_PG_DSN (its
#      database name is used; default bench), and run.sh's PEER_SRC, PEER_DIR, BENCH_VENV.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PEER_DIR="${PEER_DIR:-/tmp/peer-bench}" BENCH_VENV="${BENCH_VENV:-/tmp/peer-bench-venv}"
export ROCKETJOB_VENV="$ROOT/.venv"
DSN="${BENCH_PG_DSN:-postgresql://root@127.0.0.1:5432/bench}"
PREPARE_ONLY=1 "$ROOT/bench/peer/run.sh"
cp "$ROOT/bench/peer/scaleout_sys.py" "$PEER_DIR/systems/scaleout_sys.py"
cd "$PEER_DIR"
export PYTHONPATH="$PEER_DIR"
"$BENCH_VENV/bin/python" "$ROOT/bench/peer/scaleout.py" --root "$ROOT" \
  --proxy-python "$ROOT/.venv/bin/python" --rocketjob-venv "$ROOT/.venv" --db "${DSN##*/}" \
  --systems "${SYSTEMS:-rocketjob,pgqueuer}" --sizes "${SIZES:-1,2,4,8}" -n "${N:-1500}" \
  --runs "${RUNS:-3}" --delay-ms "${DELAY_MS:-0.5}" --port "${PROXY_PORT:-16545}"
