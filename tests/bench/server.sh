#!/usr/bin/env bash
# shellcheck disable=SC2016  # backquotes in printf formats are markdown
# Benchmark of `tidemark serve` (issue: the platform). Reproduce with:
#
#   tests/bench/server.sh          # needs PostgreSQL on 127.0.0.1:5432 (tests/run --services-only)
#
# Two parts, each printing a markdown table on stdout (progress and diagnostics on stderr;
# logs, EXPLAIN plans and pg_stat_statements under $BENCH_OUT, default a temporary folder):
#
# 1. Scheduler. A generated project of $DATASETS datasets (10,000), each scheduled
#    `* * * * *` with 2 checks (row_count, max) on its own 3-row table in one SQLite file:
#    an in-process warehouse answers in microseconds and takes no CPU or connections from
#    the Postgres store, so what is measured is the scheduler and the store. The store is a
#    fresh Postgres database. The server starts just after a minute boundary; a fresh store
#    has no claimed slot, so at start it catches up the slot just gone for every dataset
#    (reported apart). Then $MINUTES minute ticks (3) are measured from the store: runs,
#    slots missing (datasets x minutes - scheduled runs), scheduler lag = started_at - slot
#    (p50/p99/max), how long each minute's runs took to drain, runs per second, and the
#    server's resident memory (VmHWM, and VmRSS sampled every second).
#    Idle memory: the same project with its schedules removed (10,000 datasets declared,
#    none scheduled), 20 s after `listening`.
# 2. API. A fresh Postgres store, migrated by `tidemark migrate`, seeded with SQL
#    generate_series: $API_DATASETS datasets (1,000) x 10 checks x $API_RUNS runs (100) =
#    1M check results (and as many metric points), then VACUUM ANALYZE. The project
#    declares those datasets with no schedule, so the server only serves. wrk
#    (-c$CONNECTIONS -t2 -d$DURATION --latency) against GET /api/v1/datasets, GET
#    /api/v1/results?dataset=<one>&limit=100 and its second page (before=<next>); server
#    memory idle (before the load) and under it (VmRSS sampled every 0.5 s, and VmHWM).
#
# Environment: DATASETS, MINUTES, API_DATASETS, API_RUNS, DURATION, CONNECTIONS (see
# above), PARTS ("scheduler api"), TIDEMARK_BIN (a prebuilt binary instead of building
# the release one), BENCH_OUT (where logs are kept). A small trial run:
#
#   DATASETS=200 MINUTES=1 API_DATASETS=100 API_RUNS=20 DURATION=5s tests/bench/server.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tidemark-target}
DATASETS=${DATASETS:-10000}
MINUTES=${MINUTES:-3}
API_DATASETS=${API_DATASETS:-1000}
API_RUNS=${API_RUNS:-100}
API_CHECKS=10
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-50}
PARTS=${PARTS:-scheduler api}
# shellcheck source=tests/bench/serve-common.sh
source tests/bench/serve-common.sh

# --- helpers ---------------------------------------------------------------------------

# kb FIELD PID: a /proc/PID/status field (VmRSS, VmHWM) in kB.
kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# sample_rss FILE INTERVAL: appends "EPOCH VmRSS-kB RssAnon-kB RssFile-kB" lines for the
# server to FILE until stopped (anonymous memory is the process's own; file pages are the
# binary and the store's files, which the kernel may share and drop).
sample_rss() {
    local pid=$SERVER_PID
    ( while kill -0 "$pid" 2>/dev/null; do
        printf '%s %s %s %s\n' "$(date +%s)" "$(kb VmRSS "$pid" 2>/dev/null)" \
            "$(kb RssAnon "$pid" 2>/dev/null)" "$(kb RssFile "$pid" 2>/dev/null)" >>"$1" || true
        sleep "$2"
    done ) &
    SAMPLER_PID=$!
}
stop_sampling() { kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=; }
# max_of FILE: the largest kB figure of a sample_rss FILE.
max_of() { awk '$2 > m { m = $2 } END { print m + 0 }' "$1"; }

# cpu_jiffies: busy and total jiffies of the whole machine (/proc/stat).
cpu_jiffies() { awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8; t = b + $5 + $6; print b, t }' /proc/stat; }
busy_percent() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'; }

# warehouse FILE N: N tables t00001… of 3 rows each in one SQLite file.
warehouse() {
    python3 - "$1" "$2" <<'PY'
import sqlite3, sys
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.execute("PRAGMA journal_mode = OFF")
db.execute("PRAGMA synchronous = OFF")
with db:
    for i in range(1, n + 1):
        t = "t%05d" % i
        db.execute(f"CREATE TABLE {t} (id INTEGER NOT NULL, amount REAL)")
        db.executemany(f"INSERT INTO {t} VALUES (?, ?)", [(1, 10.5), (2, 20.0), (3, None)])
db.close()
PY
}

# project DIR DB N SCHEDULE CHECKS: tidemark.yml on the Postgres store DB and the SQLite
# warehouse, and N dataset files t00001… with SCHEDULE ("" for none) and CHECKS.
project() {
    local dir=$1 db=$2 n=$3 schedule=$4 checks=$5
    mkdir -p "$dir/checks"
    ln -sf "$WORK/warehouse.db" "$dir/warehouse.db"
    cat >"$dir/tidemark.yml" <<YML
version: 1
store: $PG_URL/$db
warehouses:
  wh: { url: "sqlite://warehouse.db", max_connections: 4, query_timeout: 30s }
YML
    python3 - "$dir/checks" "$n" "$schedule" "$checks" <<'PY'
import sys
folder, n, schedule, checks = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
for i in range(1, n + 1):
    t = "t%05d" % i
    with open(f"{folder}/{t}.yml", "w") as f:
        f.write(f"dataset: {t}\n")
        if schedule:
            f.write(f'schedule: "{schedule}"\n')
        f.write(f"checks:\n{checks}\n")
PY
}

SCHED_CHECKS='  - row_count: { min: 1 }
  - max: { column: amount, max: 1000 }'

# The 10 checks of the API project (the seeded results use their names and kinds).
API_CHECKS_YML="  - row_count: { name: rows, min: 1 }
$TEN_CHECKS_AFTER_ROWS_YML"

say "warehouse: $(( DATASETS > API_DATASETS ? DATASETS : API_DATASETS )) tables in SQLite"
warehouse "$WORK/warehouse.db" $(( DATASETS > API_DATASETS ? DATASETS : API_DATASETS ))

# --- 1. scheduler ----------------------------------------------------------------------

scheduler() {
    local db=tidemark_bench_sched dir=$WORK/sched idle=$WORK/idle
    fresh_db $db
    "${PG[@]}" -d $db -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
    project "$dir" $db "$DATASETS" "* * * * *" "$SCHED_CHECKS"
    project "$idle" $db "$DATASETS" "" "$SCHED_CHECKS"
    "$BIN" migrate "$dir" >/dev/null

    # Idle: every dataset declared, none scheduled.
    start_server "$idle" "$OUT/idle"
    sleep 20
    IDLE_RSS=$(kb VmRSS "$SERVER_PID")
    IDLE_HWM=$(kb VmHWM "$SERVER_PID")
    # Of the resident memory, how much is the program's own memory and how much the pages
    # of the executable it has touched (shared, and given back under memory pressure).
    IDLE_ANON=$(kb RssAnon "$SERVER_PID")
    IDLE_FILE=$(kb RssFile "$SERVER_PID")
    stop_server

    # Start just after a minute boundary, so the catch-up has most of a minute.
    local s
    s=$(date +%-S)
    if (( s > 2 )); then
        say "waiting $(( 61 - s )) s for a minute boundary"
        sleep $(( 61 - s ))
    fi
    local start
    start=$(date +%s.%N)
    start_server "$dir" "$OUT/scheduler"
    local listening
    listening=$(date +%s.%N)
    say "scheduler: $DATASETS datasets, listening after $(awk -v a="$start" -v b="$listening" 'BEGIN { printf "%.1f", b - a }') s; measuring $MINUTES minute ticks"
    sample_rss "$OUT/scheduler.rss" 1
    local first_tick=$(( ($(date +%s) / 60 + 1) * 60 ))
    local last_tick=$(( first_tick + (MINUTES - 1) * 60 ))
    # pg_stat_statements of this database only, from the first tick on.
    local wait_s=$(( first_tick - $(date +%s) - 1 ))
    (( wait_s > 0 )) && sleep $wait_s
    "${PG[@]}" -d $db -c "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = '$db'), 0)" >/dev/null
    local cpu0 server_cpu0 cpu1 server_cpu1 load0
    cpu0=$(cpu_jiffies)
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    server_cpu0=$(proc_cpu_secs "$SERVER_PID")
    # Stop 55 s after the last measured tick: before the next one.
    wait_s=$(( last_tick + 55 - $(date +%s) ))
    (( wait_s > 0 )) && sleep $wait_s
    cpu1=$(cpu_jiffies)
    server_cpu1=$(proc_cpu_secs "$SERVER_PID")
    local hwm
    hwm=$(kb VmHWM "$SERVER_PID")
    stop_sampling
    local stop_at
    stop_at=$(date +%s)
    stop_server
    say "stopped $(( $(date +%s) - stop_at )) s after SIGTERM"

    "${PG[@]}" -d $db >"$OUT/pg_stat_statements.sched.txt" <<SQL
\pset format aligned
SELECT calls, round(total_exec_time::numeric, 0) AS total_ms, round(mean_exec_time::numeric, 2) AS mean_ms,
       left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')
ORDER BY total_exec_time DESC LIMIT 15;
SQL

    local window="trigger = 'schedule' AND slot >= to_timestamp($first_tick) AND slot <= to_timestamp($last_tick)"
    local lag="extract(epoch FROM started_at - slot)"
    # Per minute: runs, lag, and when its last run finished after its slot.
    "${PG[@]}" -d $db -F ' ' >"$WORK/minutes" <<SQL
SELECT extract(epoch FROM slot)::bigint, to_char(slot, 'HH24:MI'), count(*), count(*) FILTER (WHERE status = 'completed'),
       round(min($lag)::numeric, 3), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY $lag)::numeric, 3),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY $lag)::numeric, 3),
       round(max($lag)::numeric, 3),
       round(extract(epoch FROM max(finished_at) - slot)::numeric, 1)
FROM runs WHERE $window GROUP BY slot ORDER BY slot
SQL
    local all
    all=$("${PG[@]}" -d $db -F ' ' <<SQL
SELECT count(*), count(*) FILTER (WHERE status = 'completed'),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY $lag)::numeric, 3),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY $lag)::numeric, 3),
       round(max($lag)::numeric, 3),
       round(count(*) FILTER (WHERE status = 'completed') / ($MINUTES * 60.0), 1)
FROM runs WHERE $window
SQL
)
    local catchup
    catchup=$("${PG[@]}" -d $db -F ' ' <<SQL
SELECT count(*), coalesce(round(extract(epoch FROM max(finished_at) - to_timestamp($listening))::numeric, 1), 0)
FROM runs WHERE trigger = 'schedule' AND slot < to_timestamp($first_tick)
SQL
)
    local runs completed p50 p99 max rate
    read -r runs completed p50 p99 max rate <<<"$all"
    local expected=$(( DATASETS * MINUTES ))
    local skipped
    skipped=$(grep -c 'slot skipped' "$OUT/scheduler.err" || true)
    # Runs per second while busy: each minute's runs over the time they took to drain.
    local busy
    busy=$(awk '{ n += $4; d += ($9 < 60 ? $9 : 60) } END { if (d > 0) printf "%.1f", n / d; else print "-" }' "$WORK/minutes")

    printf '\n### Scheduler: %d datasets, `* * * * *`, %d minute ticks measured (load average at the first tick: %s)\n\n' \
        "$DATASETS" "$MINUTES" "$load0"
    printf '| datasets | expected runs | recorded (completed) | slots missing | runs/s delivered | runs/s while busy | lag p50 (s) | lag p99 (s) | lag max (s) | idle RSS (MB) | peak RSS (MB) | machine CPU busy | server CPU (s) |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
    printf '| %d | %d | %d (%d) | %d | %s | %s | %s | %s | %s | %s | %s | %s%% | %s |\n' \
        "$DATASETS" "$expected" "$runs" "$completed" $(( expected - runs )) "$rate" "$busy" \
        "$p50" "$p99" "$max" "$(mb "$IDLE_RSS")" "$(mb "$hwm")" "$(busy_percent "$cpu0" "$cpu1")" \
        "$(awk -v a="$server_cpu0" -v b="$server_cpu1" 'BEGIN { printf "%.1f", b - a }')"
    # Per minute, with the server's largest VmRSS sample of that minute: memory that keeps
    # rising from minute to minute is a leak, a flat line after the first minutes is not.
    printf '\nPer minute:\n\n| slot (UTC) | runs | completed | lag min (s) | lag p50 (s) | lag p99 (s) | lag max (s) | last run finished after slot (s) | VmRSS max in the minute (MB) | its RssAnon / RssFile (MB) |\n|---|---|---|---|---|---|---|---|---|---|\n'
    awk 'NR == FNR { m = int($1 / 60); if ($2 > rss[m]) { rss[m] = $2; anon[m] = $3; file[m] = $4 }; next }
         { m = int($1 / 60); printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f / %.1f |\n", $2, $3, $4, $5, $6, $7, $8, $9, rss[m] / 1024, anon[m] / 1024, file[m] / 1024 }' \
        "$OUT/scheduler.rss" "$WORK/minutes"
    local catchup_runs catchup_secs
    read -r catchup_runs catchup_secs <<<"$catchup"
    printf '\nAt start (fresh store): %s slots caught up, the last finished %s s after `listening`; %s "slot skipped" warnings in the log; idle VmHWM %s MB (RssAnon %s MB, RssFile %s MB); VmRSS sampled max %s MB.\n' \
        "$catchup_runs" "$catchup_secs" "$skipped" "$(mb "$IDLE_HWM")" "$(mb "$IDLE_ANON")" "$(mb "$IDLE_FILE")" "$(mb "$(max_of "$OUT/scheduler.rss")")"
}

# --- 2. API ------------------------------------------------------------------------------

seed_api() {
    local db=$1 dir=$2
    say "seeding $API_DATASETS datasets x $API_CHECKS checks x $API_RUNS runs"
    "${PG[@]}" -d "$db" <<SQL
SET synchronous_commit = off;
-- Runs r = 1..API_RUNS of datasets d = 1..API_DATASETS, one every 10 minutes, inserted in
-- time order (as a server writes them): seq and check_results.id grow with time.
CREATE TEMP TABLE seed_runs AS
SELECT gen_random_uuid() AS id, r, d, format('t%s', lpad(d::text, 5, '0')) AS dataset,
       date_trunc('minute', now()) - ($API_RUNS - r) * interval '10 minutes' AS slot
FROM generate_series(1, $API_RUNS) AS r, generate_series(1, $API_DATASETS) AS d;
INSERT INTO runs (id, batch_id, dataset, warehouse, trigger, slot, status, replica,
                  started_at, finished_at, lease_until, pass_count, warn_count, fail_count)
SELECT id, gen_random_uuid(), dataset, 'wh', 'schedule', slot, 'completed', 'bench:1',
       slot + interval '150 ms', slot + interval '170 ms', slot + interval '60 s',
       $API_CHECKS - (CASE WHEN (r + d) % 17 = 0 THEN 1 ELSE 0 END) - (CASE WHEN (r * d) % 29 = 0 THEN 1 ELSE 0 END),
       CASE WHEN (r + d) % 17 = 0 THEN 1 ELSE 0 END, CASE WHEN (r * d) % 29 = 0 THEN 1 ELSE 0 END
FROM seed_runs ORDER BY r, d;
INSERT INTO check_results (run_id, dataset, warehouse, check_name, check_hash, kind, column_name,
                           outcome, value, expected, message, observed_at)
SELECT s.id, s.dataset, 'wh', (ARRAY[$TEN_CHECK_NAMES_SQL NULL])[c], substr(md5(c::text), 1, 16), (ARRAY[$TEN_CHECK_KINDS_SQL NULL])[c],
       CASE WHEN c = 1 THEN NULL WHEN c = 4 THEN 'id' ELSE 'amount' END,
       CASE WHEN c = 2 AND (s.r + s.d) % 17 = 0 THEN 'warn' WHEN c = 7 AND (s.r * s.d) % 29 = 0 THEN 'fail' ELSE 'pass' END,
       ((s.r * 7919 + s.d * 104729 + c) % 100000) / 100.0,
       '{"max": 1000}'::jsonb,
       'value ' || ((s.r * 7919 + s.d * 104729 + c) % 100000) / 100.0 || ' is within max 1000',
       s.slot + interval '170 ms'
FROM seed_runs s, generate_series(1, $API_CHECKS) AS c ORDER BY s.r, s.d, c;
INSERT INTO metric_points (dataset, check_name, at, value)
SELECT dataset, check_name, observed_at, value FROM check_results ORDER BY id;
-- Stores from migration 0002 on keep a pointer to each check's newest result (finish_run
-- upserts it); the migration fills it from existing results, so do the same here.
DO \$\$ BEGIN
  IF to_regclass('latest_results') IS NOT NULL THEN
    INSERT INTO latest_results (dataset, check_name, result_id)
    SELECT dataset, check_name, max(id) FROM check_results GROUP BY dataset, check_name
    ON CONFLICT DO NOTHING;
  END IF;
END \$\$;
SQL
    "${PG[@]}" -d "$db" -c "VACUUM ANALYZE"
    "${PG[@]}" -d "$db" -c "COMMENT ON DATABASE $db IS 'seeded $API_DATASETS x $API_CHECKS x $API_RUNS'"
}

# wrk_row FILE NAME URL: one table row named NAME from `wrk --latency` against URL (its output
# kept in $OUT/wrk.FILE.txt), with the server's RSS sampled every 0.5 s during the load.
wrk_row() {
    local file=$1 name=$2 url=$3
    : >"$WORK/load.rss"
    sample_rss "$WORK/load.rss" 0.5
    local cpu0 cpu1
    cpu0=$(proc_cpu_secs "$SERVER_PID")
    # wrk leaves requests slower than --timeout out of its percentiles: 30 s keeps them in.
    wrk -c"$CONNECTIONS" -t2 -d"$DURATION" --timeout 30s --latency "$url" >"$OUT/wrk.$file.txt"
    cpu1=$(proc_cpu_secs "$SERVER_PID")
    stop_sampling
    awk -v name="$name" -v rss="$(mb "$(max_of "$WORK/load.rss")")" -v cpu="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" '
        '"$WRK_MS"'
        $1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
        /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
        /Socket errors/ { sock = $0; sub(/.*Socket errors: /, "", sock) }
        END { printf "| %s | %d | %.0f | %.1f | %.1f | %.1f | %s | %s | %.2f | %s |\n", name, n, rps, p50, p90, p99, bad + 0, (sock == "" ? "none" : sock), 1000 * cpu / n, rss }' \
        "$OUT/wrk.$file.txt"
}

api() {
    local db=tidemark_bench_api dir=$WORK/api
    local marker="seeded $API_DATASETS x $API_CHECKS x $API_RUNS"
    project "$dir" $db "$API_DATASETS" "" "$API_CHECKS_YML"
    if [[ $("${PG[@]}" -d postgres -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$db'") != "$marker" ]]; then
        fresh_db $db
        "$BIN" migrate "$dir" >/dev/null
        seed_api $db "$dir"
    else
        say "reusing $db ($marker)"
    fi
    "${PG[@]}" -d $db -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
    local results
    results=$("${PG[@]}" -d $db -c "SELECT count(*) FROM check_results")
    local one
    one=$(printf 't%05d' $(( API_DATASETS / 2 )))

    start_server "$dir" "$OUT/api"
    local base="http://$ADDR/api/v1"
    sleep 10
    local idle
    idle=$(kb VmRSS "$SERVER_PID")
    # Sanity: the answers are what the table claims to measure.
    local listed page1 next
    listed=$(curl -sf "$base/datasets" | python3 -c 'import json,sys; d=json.load(sys.stdin)["items"]; print(len(d), sum(1 for x in d if x["health"] != "unknown"))')
    page1=$(curl -sf "$base/results?dataset=$one&limit=100")
    next=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d["items"]) == 100, len(d["items"]); print(d["next"])' "$page1")
    curl -sf "$base/results?dataset=$one&limit=100&before=$next" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["items"]) == 100'
    say "datasets listed (with health): $listed; results page 2 starts before id $next"
    [[ $listed == "$API_DATASETS $API_DATASETS" ]] || { say "expected every dataset listed with a health"; exit 1; }

    # Plans of the statements behind the endpoints, for the findings.
    "${PG[@]}" -d $db >"$OUT/explain.api.txt" <<SQL
\pset format aligned
\echo latest_results (GET /datasets), as the store has issued it:
-- (pg_stat_statements normalizes constants: the store's OFFSET 0 comes back as a parameter)
SELECT replace(query, 'OFFSET \$1', 'OFFSET 0') AS query FROM pg_stat_statements
  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')
  AND query ILIKE 'SELECT id, run_id%' AND query ILIKE '%ORDER BY dataset%' LIMIT 1 \\gset latest_
EXPLAIN (ANALYZE, BUFFERS) :latest_query;
\echo results (GET /results?dataset=&limit=100)
EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM check_results WHERE TRUE AND dataset = '$one' ORDER BY id DESC LIMIT 101;
\echo results, second page
EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM check_results WHERE TRUE AND dataset = '$one' AND id < $next ORDER BY id DESC LIMIT 101;
SQL

    printf '\n### API: %s check results (%d datasets x %d checks x %d runs), wrk -c%d -t2 -d%s (load average before: %s)\n\n' \
        "$results" "$API_DATASETS" "$API_CHECKS" "$API_RUNS" "$CONNECTIONS" "$DURATION" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf '| endpoint | requests | requests/s | p50 (ms) | p90 (ms) | p99 (ms) | non-2xx | socket errors | server CPU per request (ms) | server RSS under load (MB) |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|\n'
    "${PG[@]}" -d $db -c "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = '$db'), 0)" >/dev/null
    wrk_row datasets "GET /datasets" "$base/datasets"
    wrk_row results "GET /results?dataset=$one&limit=100" "$base/results?dataset=$one&limit=100"
    wrk_row results-page2 "GET /results?dataset=$one&limit=100&before=$next" "$base/results?dataset=$one&limit=100&before=$next"
    local hwm
    hwm=$(kb VmHWM "$SERVER_PID")
    stop_server
    "${PG[@]}" -d $db >"$OUT/pg_stat_statements.api.txt" <<SQL
\pset format aligned
SELECT calls, round(total_exec_time::numeric, 0) AS total_ms, round(mean_exec_time::numeric, 2) AS mean_ms,
       left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')
ORDER BY total_exec_time DESC LIMIT 10;
SQL
    printf '\nServer memory: idle (10 s after `listening`, %d datasets, no schedules) %s MB; peak (VmHWM) over the three loads %s MB.\n' \
        "$API_DATASETS" "$(mb "$idle")" "$(mb "$hwm")"
}

printf 'Measured %s UTC with %s\n' "$(date -u '+%Y-%m-%d %H:%M')" "$("$BIN" --version)"
for part in $PARTS; do
    case $part in
        scheduler | api) "$part" ;;
        *) say "unknown part $part (PARTS takes scheduler and api)"; exit 1 ;;
    esac
done
printf '\nLoad average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
