#!/usr/bin/env bash
# Many threads enqueueing at once, rocketjob (SQLite, PostgreSQL) against Huey and PgQueuer
# from the same number of threads. Prints one table (medians of RUNS).
#   bench/peer/enqueue_threads.sh                      # THREADS=1,4,8,16 N=5000 RUNS=3
#   SYSTEMS=rocketjob,huey THREADS=1,8 bench/peer/enqueue_threads.sh
# Env: SYSTEMS, THREADS, N, RUNS, BENCH_PG_DSN, and run.sh's PEER_SRC, PEER_DIR, BENCH_VENV.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PEER_DIR="${PEER_DIR:-/tmp/peer-bench}" BENCH_VENV="${BENCH_VENV:-/tmp/peer-bench-venv}"
export ROCKETJOB_VENV="$ROOT/.venv"
PREPARE_ONLY=1 "$ROOT/bench/peer/run.sh"
cd "$PEER_DIR"
mkdir -p run
export BENCH_STAMP_FILE="$PEER_DIR/run/enqueue_threads.stamps" PYTHONPATH="$PEER_DIR"
"$BENCH_VENV/bin/python" "$ROOT/bench/peer/enqueue_threads.py" \
  --systems "${SYSTEMS:-rocketjob,huey,rocketjob-pg,pgqueuer}" --threads "${THREADS:-1,4,8,16}" \
  -n "${N:-5000}" --runs "${RUNS:-3}"
