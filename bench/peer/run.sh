#!/usr/bin/env bash
# Run the shared peer harness with rocketjob added, from a scratch copy (shared/ stays as is).
#   bench/peer/run.sh                                   # rocketjob,huey,pgqueuer  N=10000 RUNS=3
#   SYSTEMS=rocketjob,rocketjob-pg,huey,pgqueuer N=10000 RUNS=3 bench/peer/run.sh
#   SYSTEMS=rocketjob N=2000 RUNS=1 bench/peer/run.sh
# Env: SYSTEMS, N, RUNS (passed to run_all.sh), BENCH_PG_DSN (the harness's PostgreSQL
#      database, default postgresql://root@127.0.0.1:5432/bench: its public schema is
#      dropped), PEER_SRC (default ../shared/peer-bench),
#      PEER_DIR (scratch copy, default /tmp/peer-bench), BENCH_VENV (harness venv, default
#      /tmp/peer-bench-venv; created from the harness's requirements.txt plus rocketjob).
# Results: $PEER_DIR/results.md and results.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="${PEER_SRC:-$ROOT/../shared/peer-bench}"
DIR="${PEER_DIR:-/tmp/peer-bench}"
export BENCH_VENV="${BENCH_VENV:-/tmp/peer-bench-venv}"
export ROCKETJOB_VENV="$ROOT/.venv"
export SYSTEMS="${SYSTEMS:-rocketjob,huey,pgqueuer}" N="${N:-10000}" RUNS="${RUNS:-3}"

# 1. a fresh scratch copy of the harness (keeping an earlier run/ folder's scratch out)
if [ -e "$DIR" ] && [ ! -f "$DIR/run_all.sh" ]; then
  echo "run.sh: $DIR exists and is not a peer-bench copy; set PEER_DIR elsewhere" >&2; exit 2
fi
rm -rf "$DIR"
mkdir -p "$DIR"
cp -r "$SRC/." "$DIR/"
chmod -R u+w "$DIR"
rm -rf "$DIR/run" "$DIR/results.json" "$DIR/results.md"

# 2. our adapter, registered next to the peers
cp "$ROOT/bench/peer/rocketjob_sys.py" "$DIR/systems/rocketjob_sys.py"
cat >> "$DIR/systems/__init__.py" <<'PY'

# added by rocketjob's bench/peer/run.sh
SYSTEMS["rocketjob"] = ("systems.rocketjob_sys", {})
SYSTEMS["rocketjob-normal"] = ("systems.rocketjob_sys", {"synchronous": "normal"})
SYSTEMS["rocketjob-pg"] = ("systems.rocketjob_sys", {"store": "postgres"})
SYSTEMS["rocketjob-pg-stale"] = ("systems.rocketjob_sys", {"store": "postgres", "analyze": False})
DEFAULT.append("rocketjob")
PY

# 3. the harness venv (run_all.sh would create it without rocketjob): its pinned
#    requirements, plus rocketjob from this tree so the driver enqueues in-process
if [ ! -x "$BENCH_VENV/bin/python" ]; then
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q -r "$DIR/requirements.txt"
fi
"$BENCH_VENV/bin/python" -c 'import rocketjob' 2>/dev/null \
  || "$BENCH_VENV/bin/pip" install -q -e "$ROOT"

[ "${PREPARE_ONLY:-0}" = 1 ] && exit 0   # bench/peer/remote.sh: the copy and venv only

# 4. run it (the load average before and after, as the machine may be shared)
cd "$DIR"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)  ($(date -u +%H:%M:%SZ))"
./run_all.sh
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)  ($(date -u +%H:%M:%SZ))"
cat "$DIR/results.md"
echo "rocketjob adapter: $DIR/systems/rocketjob_sys.py; table: $DIR/results.md"
