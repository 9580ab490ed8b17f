#!/usr/bin/env bash
# PgQueuer (async, `pgq run` defaults) and Procrastinate (async worker, concurrency 100)
# against rocketjob's coroutine jobs on the same 50 ms I/O job, 2 worker processes each,
# PostgreSQL (bench/peer/async_io.py).
#   bench/peer/async_io.sh                  # N=10000 RUNS=3
#   N=2000 RUNS=1 bench/peer/async_io.sh
# Env: N, RUNS, SYSTEMS (pgqueuer,procrastinate,rocketjob), BENCH_PG_DSN (default
#      postgresql://root@127.0.0.1:5432/bench_async: its public schema is dropped),
#      ASYNC_PEER_VENV (default /tmp/async-peer-venv: made with the harness's pins).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${ASYNC_PEER_VENV:-/tmp/async-peer-venv}"
DSN="${BENCH_PG_DSN:-postgresql://root@127.0.0.1:5432/bench_async}"
if [ ! -x "$VENV/bin/pgq" ] || [ ! -x "$VENV/bin/procrastinate" ]; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q pgqueuer==1.6.0 asyncpg==0.32.0 psutil==7.2.2 \
    "psycopg[binary]==3.3.9" psycopg-pool==3.3.3 procrastinate==3.10.0
fi
psql "${DSN%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '${DSN##*/}'" \
  | grep -q 1 || psql "${DSN%/*}/postgres" -c "CREATE DATABASE ${DSN##*/}"
cd "$ROOT"
PYTHONPATH="$ROOT" "$VENV/bin/python" bench/peer/async_io.py -n "${N:-10000}" \
  --runs "${RUNS:-3}" --systems "${SYSTEMS:-pgqueuer,procrastinate,rocketjob}" --dsn "$DSN" \
  --rocketjob-python "$ROOT/.venv/bin/python"
