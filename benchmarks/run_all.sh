#!/usr/bin/env bash
# Rerun every performance benchmark and rewrite the table in docs/performance.md.
#
#   bash benchmarks/run_all.sh                         # all: hours on 2 shared cores
#   BENCH_ONLY="did synth" bash benchmarks/run_all.sh  # some of them (then the table is rewritten from
#                                                      # these and the result files already there)
#
# Each benchmark runs every contender in its own process under the same memory cap
# (BENCH_MEM_GIB, default 16), alternating, until three runs agree within 10 % (see
# benchmarks/harness.py); the peers' virtual environments are created from the pinned
# benchmarks/requirements-peers-*.txt on first use. On the shared machine each benchmark holds
# the timing lock, and the outcome and DiD benchmarks (peaks over 4 GiB) the memory lock too
# (BENCH_LOCK_DIR, default /work/locks, when it exists). The outcome benchmark needs the 1 M-person
# registers (BENCH_DATA, default /work/bench_data/1m; generated here if missing: about 4 minutes,
# 2 GiB) and their prepared layout (`impact prepare`, written here if missing). A benchmark that
# fails (or whose implementations disagree) does not stop the others; the script then exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."
LOCKS=${BENCH_LOCK_DIR:-/work/locks}
PY=.venv/bin/python
DATA=${BENCH_DATA:-/work/bench_data/1m}
ONLY=${BENCH_ONLY:-outcomes did matching synth}

locked() {  # locked BIG|SMALL command...: run under the shared locks where they exist
    local big=$1; shift
    if [ ! -d "$LOCKS" ]; then "$@"; return; fi
    if [ "$big" = BIG ]; then flock "$LOCKS/bigmem" flock "$LOCKS/bench" "$@"; else flock "$LOCKS/bench" "$@"; fi
}

status=0
for b in $ONLY; do
    echo "== bench_$b ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
    case $b in
        outcomes)
            if [ ! -f "$DATA/earnings_reports.parquet" ]; then
                locked BIG .venv/bin/impact simulate --persons 1000000 --seed 1 --out "$DATA" || { status=1; continue; }
            fi
            # the package's run reads the prepared layout (once per delivery; its cost is recorded per case)
            if ! $PY -c "import sys; from pathlib import Path; from impact.registers.prepared import layout_status; sys.exit(layout_status(Path(sys.argv[1]))[0] is None)" "$DATA"; then
                locked BIG .venv/bin/impact prepare "$DATA" || { status=1; continue; }
            fi
            locked BIG $PY benchmarks/bench_outcomes.py --data "$DATA" --impls ibis,ibis_registers,polars,pandas || status=1 ;;
        did)  # 2 M rows need no memory lock; 24 M rows do (csdid peaks at 14-16 GiB). differences is not
              # run at 24 M: 90-160x ours at 2 M, its six runs there would take about two hours
            locked SMALL $PY benchmarks/bench_did.py --sizes 2M || status=1
            locked BIG $PY benchmarks/bench_did.py --sizes 24M --contenders ours diff-diff csdid --merge || status=1 ;;
        matching|synth) locked SMALL $PY "benchmarks/bench_$b.py" || status=1 ;;
        study)  # BENCH_ONLY=study: training_effect on the 1 M-person registers, per-step time and memory
            locked BIG $PY benchmarks/bench_study.py --data "$DATA" || status=1 ;;
        *) echo "unknown benchmark $b"; status=1 ;;
    esac
done
$PY benchmarks/perf_table.py || status=1
exit $status
