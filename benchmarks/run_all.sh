#!/usr/bin/env bash
# Rerun every performance benchmark and rewrite the table in docs/performance.md.
#
#   bash benchmarks/run_all.sh            # all (about 2-3 hours on 2 shared cores)
#   BENCH_ONLY="did synth" bash benchmarks/run_all.sh
#
# Each benchmark runs every contender in its own process under the same memory cap
# (BENCH_MEM_GIB, default 16), alternating, until three runs agree within 10 % (see
# benchmarks/harness.py); the peers' virtual environments are created from the pinned
# benchmarks/requirements-peers-*.txt on first use. On the shared machine the whole run holds
# the memory and timing locks (BENCH_LOCK_DIR, default /work/locks, when it exists). The
# outcome benchmark needs the 1 M-person registers (BENCH_DATA, default /work/bench_data/1m;
# generated here if missing: about 4 minutes, 2 GiB). A benchmark that fails (or whose
# implementations disagree) does not stop the others; the script then exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."
LOCKS=${BENCH_LOCK_DIR:-/work/locks}
if [ -z "${BENCH_LOCKED:-}" ] && [ -d "$LOCKS" ]; then
    exec env BENCH_LOCKED=1 flock "$LOCKS/bigmem" flock "$LOCKS/bench" bash "$0" "$@"
fi
PY=.venv/bin/python
DATA=${BENCH_DATA:-/work/bench_data/1m}
ONLY=${BENCH_ONLY:-outcomes did matching synth}
status=0
for b in $ONLY; do
    echo "== bench_$b ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ "$b" = outcomes ]; then
        if [ ! -f "$DATA/earnings_reports.parquet" ]; then
            .venv/bin/impact simulate --persons 1000000 --seed 1 --out "$DATA" || { status=1; continue; }
        fi
        $PY benchmarks/bench_outcomes.py --data "$DATA" || status=1
    else
        $PY "benchmarks/bench_$b.py" || status=1
    fi
done
$PY benchmarks/perf_table.py || status=1
exit $status
