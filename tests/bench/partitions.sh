#!/usr/bin/env bash
# Benchmark of partitioned runs (issue: reach the data where it lives). Reproduce with:
#
#   tests/bench/partitions.sh       # needs PostgreSQL on 127.0.0.1:5432 (tests/run --services-only)
#
# A Postgres table of $ROWS rows (10M) spread evenly over the 100 days before today, with an
# index on the timestamp, so one day is 1% of the rows: what a daily pipeline adds. Nine
# checks of the core suite (all but duplicate_count, which keeps its whole-table meaning)
# run two ways: as a plain dataset (every run scans the table) and partitioned by day
# (`backfill: 1`: a run after the first measures the newest stored day again and anything
# newer, 1% of the rows). Measured: the partitioned first run (its back-fill of 100 days)
# once, then hyperfine of the steady state of both (no warm-up: every run is scored), and
# the rows each run read (pg_stat_user_tables: sequential plus index tuples).
# Environment: ROWS, RUNS (5), TIDEMARK_BIN.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tidemark-target}
PG=(psql -X -q -At -h 127.0.0.1 -U postgres)
DB=tidemark_bench
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-5}

tests/run --services-only 2>/dev/null
# shellcheck source=tests/bench/common.sh
source tests/bench/common.sh
ensure_tool hyperfine
release_binary

"${PG[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
    || "${PG[@]}" -d postgres -c "CREATE DATABASE $DB"
TABLE=bench_days_$ROWS
# Regenerated when it is not the 100 days before today (it is kept between runs of a day).
first_day=$("${PG[@]}" -d $DB -c "SELECT min(created_at)::date FROM $TABLE" 2>/dev/null || true)
if [[ $first_day != $(date -u -d '100 days ago' +%F) ]]; then
    echo "generating $TABLE ($ROWS rows over 100 days)…" >&2
    "${PG[@]}" -d $DB <<SQL
DROP TABLE IF EXISTS $TABLE;
CREATE TABLE $TABLE AS
SELECT i AS id,
       CASE WHEN i % 100 = 0 THEN NULL ELSE (i * 7919) % 100000 END AS customer_id,
       (ARRAY['placed','shipped','delivered','cancelled'])[1 + i % 4]
         || CASE WHEN i % 1000 = 0 THEN '?' ELSE '' END AS status,
       ((i * 104729) % 100000) / 100.0 AS amount,
       date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '100 days'
         + (i - 1) * (interval '100 days' / $ROWS) AS created_at
FROM generate_series(1::bigint, $ROWS) AS i;
CREATE INDEX ON $TABLE (created_at);
ANALYZE $TABLE;
SQL
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
checks=$(grep -v duplicate_count tests/bench/ten-checks.yml)
for kind in full partitioned; do
    mkdir -p "$WORK/$kind/checks"
    printf 'version: 1\nwarehouses:\n  bench: { url: "postgres://postgres@127.0.0.1:5432/%s", query_timeout: 10m }\n' $DB \
        >"$WORK/$kind/tidemark.yml"
    {
        printf 'dataset: %s\n' "$TABLE"
        [[ $kind == partitioned ]] && printf 'partition: { column: created_at, grain: day, backfill: 1, history: 100 }\n'
        printf 'checks:\n%s\n' "$checks"
    } >"$WORK/$kind/checks/$TABLE.yml"
done

# rows_read: sequential plus index tuples read from the table so far.
rows_read() {
    "${PG[@]}" -d $DB -c "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
        FROM pg_stat_user_tables WHERE relname = '$TABLE'"
}
# timed_rows KIND: one run's wall seconds and rows read (statistics are flushed lazily:
# wait for the counter to settle).
timed_rows() {
    local before after start end
    before=$(rows_read)
    start=$(date +%s.%N)
    "$BIN" run "$WORK/$1" --format json >/dev/null
    end=$(date +%s.%N)
    sleep 1
    after=$(rows_read)
    printf '%s %s\n' "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')" $((after - before))
}

read -r backfill_s backfill_rows < <(timed_rows partitioned)
read -r _ steady_rows < <(timed_rows partitioned)
read -r _ full_rows < <(timed_rows full)

hyperfine -N --runs "$RUNS" --export-json "$WORK/times.json" \
    -n full "$BIN run $WORK/full --format json" \
    -n partitioned "$BIN run $WORK/partitioned --format json" >/dev/null 2>&1

python3 - "$WORK/times.json" "$ROWS" "$backfill_s" "$backfill_rows" "$steady_rows" "$full_rows" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
rows, backfill_s, backfill_rows, steady_rows, full_rows = sys.argv[2:7]
full = results["full"]["median"]
print("| run | rows in table | median (s) | first run (s) | slowest (s) | time / full run | rows read | rows read / table |")
print("|---|---|---|---|---|---|---|---|")
print(f"| partitioned, first run (back-fills 100 days) | {rows} | {float(backfill_s):.3f} | {float(backfill_s):.3f} | {float(backfill_s):.3f} | "
      f"{float(backfill_s) / full:.3f} | {backfill_rows} | {int(backfill_rows) / int(rows):.3f} |")
for name, read in [("full", full_rows), ("partitioned", steady_rows)]:
    times = results[name]["times"]
    median = results[name]["median"]
    print(f"| {name} | {rows} | {median:.3f} | {times[0]:.3f} | {max(times):.3f} | {median / full:.3f} | {read} | {int(read) / int(rows):.3f} |")
PY
