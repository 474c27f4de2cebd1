#!/usr/bin/env bash
# Benchmark of Spark over Spark Connect (issue: reach the data where it lives). Reproduce:
#
#   tests/bench/spark.sh                  on the local Spark Connect server of tests/run
#   tests/bench/spark.sh --standalone     on a standalone cluster (a master and a worker
#                                         from pyspark's spark-class), so the checks run on
#                                         an executor that is not the driver
#
# It builds the release binary with `warehouse-spark`, writes a table of $ROWS rows (10M;
# Parquet kept between runs under $BENCH_DATA) with the columns of tests/bench/core.sh, and
# measures in the same run, every run scored (no warm-up; the first reads the files cold):
#   - one hand-written Spark SQL statement computing the same aggregates (the floor), timed
#     around the query inside a PySpark Connect client (its start-up not counted);
#   - `tidemark run` of the 10-check suite, timed as a whole process (start-up, connecting,
#     the session, DESCRIBE and the aggregate all counted);
#   - Soda Core (`soda-core-spark-df`, PyPI) on the same table through the same kind of
#     client, timed around the scan;
# and how many Spark jobs each ran (from the server's log). Python tools go in $BENCH_VENV
# (/var/tmp/tidemark-bench-spark-venv). soda-core-spark-df 3.5.6 pins pyspark < 4, which
# cannot speak to a Spark 4 server; it is installed without that pin, beside pyspark 4.2.1.
# Environment: ROWS, RUNS (per command, 3), TIDEMARK_BIN, BENCH_DATA
# (/var/tmp/tidemark-bench-spark).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tidemark-target}
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
DATA=${BENCH_DATA:-/var/tmp/tidemark-bench-spark}
VENV=${BENCH_VENV:-/var/tmp/tidemark-bench-spark-venv}
export PYTHONWARNINGS=ignore

# tests/run installs pyspark and starts the local server (and says where libduckdb is).
services=$(tests/run --services-only 2>&1)
export DUCKDB_LIB_DIR=${DUCKDB_LIB_DIR:-$(sed -n 's/.*export DUCKDB_LIB_DIR=//p' <<<"$services")}
SPARK_DIR=$(ls -d /var/tmp/tidemark-spark/*/ | tail -n1)
SPARK_HOME=$("$SPARK_DIR/venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
URL=sc://127.0.0.1:15002
LOG=$SPARK_DIR/server.log
# shellcheck source=tests/bench/common.sh
source tests/bench/common.sh
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import soda.scan, pyspark.sql.connect' 2>/dev/null; then
    echo "installing pyspark[connect] 4.2.1 and soda-core-spark-df into $VENV…" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'pyspark[connect]==4.2.1' soda-core-spark==3.5.6
    "$VENV/bin/pip" install -q --no-deps soda-core-spark-df==3.5.6
fi
release_binary --features warehouse-spark,warehouse-duckdb

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    if ((${#PIDS[@]})); then kill "${PIDS[@]}" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ${1:-} == --standalone ]]; then
    # A master, one worker with one core, and a Connect server whose executors run there.
    export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1
    "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master --host 127.0.0.1 \
        --port 7177 --webui-port 8180 >"$WORK/master.log" 2>&1 &
    PIDS+=($!)
    "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker spark://127.0.0.1:7177 \
        --cores 1 --memory 2g --webui-port 8181 --work-dir "$WORK/worker" >"$WORK/worker.log" 2>&1 &
    PIDS+=($!)
    LOG=$WORK/connect.log
    (cd "$WORK" && "$SPARK_HOME/bin/spark-submit" --master spark://127.0.0.1:7177 \
        --driver-memory 1g --executor-memory 1500m \
        --class org.apache.spark.sql.connect.service.SparkConnectServer \
        --conf spark.ui.enabled=false --conf spark.sql.catalogImplementation=in-memory \
        --conf spark.connect.grpc.binding.address=127.0.0.1 \
        --conf spark.connect.grpc.binding.port=15003 spark-internal >"$LOG" 2>&1) &
    PIDS+=($!)
    URL=sc://127.0.0.1:15003
    for _ in $(seq 240); do
        (exec 3<>/dev/tcp/127.0.0.1/15003) 2>/dev/null && break
        sleep 0.5
    done
fi

"$VENV/bin/python" tests/bench/spark_peers.py "$URL" generate "$ROWS" "$DATA"

mkdir -p "$WORK/tidemark/checks"
printf 'version: 1\nwarehouses:\n  spark: { url: "%s", query_timeout: 30m }\n' "$URL" >"$WORK/tidemark/tidemark.yml"
printf 'dataset: bench.orders_%s\nchecks:\n' "$ROWS" >"$WORK/tidemark/checks/orders.yml"
cat tests/bench/ten-checks.yml >>"$WORK/tidemark/checks/orders.yml"

# Every job the scheduler starts (a query's stages under adaptive execution included).
jobs_so_far() { grep -c 'DAGScheduler: Got job ' "$LOG" || true; }

# times NAME COMMAND…: RUNS timings of NAME into $WORK/NAME.times, and its Spark jobs.
times() {
    local name=$1 before after
    shift
    before=$(jobs_so_far)
    case $name in
        tidemark)
            for _ in $(seq "$RUNS"); do
                local started=$EPOCHREALTIME
                "$@" >"$WORK/tidemark.json" || { cat "$WORK/tidemark.json" >&2; exit 1; }
                python3 -c "print(f'{$EPOCHREALTIME - $started:.3f}')"
            done >"$WORK/$name.times"
            ;;
        *) "$@" >"$WORK/$name.times" ;;
    esac
    after=$(jobs_so_far)
    echo $(((after - before) / RUNS)) >"$WORK/$name.jobs"
}
times hand "$VENV/bin/python" tests/bench/spark_peers.py "$URL" hand "$ROWS" "$RUNS"
times tidemark "$BIN" run "$WORK/tidemark" --format json
times soda "$VENV/bin/python" tests/bench/spark_peers.py "$URL" soda "$ROWS" "$RUNS"
if [[ ${1:-} == --standalone ]]; then
    echo "executors: $(grep -c 'Granted executor ID' "$LOG") granted by the standalone master;" \
        "tasks ran on: $(grep -o 'on 127.0.0.1 (executor [0-9a-z]*)' "$LOG" | sort -u | tr '\n' ' ')"
fi

python3 - "$WORK" "$ROWS" <<'PY'
import statistics, sys
work, rows = sys.argv[1], sys.argv[2]
times = {n: [float(t) for t in open(f"{work}/{n}.times").read().split()] for n in ["hand", "tidemark", "soda"]}
jobs = {n: open(f"{work}/{n}.jobs").read().strip() for n in times}
floor = statistics.median(times["hand"])
print("| command | rows | median (s) | first run (s) | slowest (s) | median / floor | Spark jobs per run |")
print("|---|---|---|---|---|---|---|")
for name, t in times.items():
    median = statistics.median(t)
    print(f"| {name} | {rows} | {median:.3f} | {t[0]:.3f} | {max(t):.3f} | {median / floor:.2f} | {jobs[name]} |")
PY
