#!/usr/bin/env bash
# shellcheck disable=SC2016  # backquotes in printf formats are markdown
# Benchmark of the dashboard's server-side rendering (issue: tests and benchmarks).
# Reproduce with:
#
#   tests/bench/dashboard.sh       # needs PostgreSQL on 127.0.0.1:5432 (tests/run --services-only)
#
# Three pages of `tidemark serve`, each on a Postgres store seeded directly with SQL (one
# transaction per store, as tests/bench/server.sh does), timed over HTTP by wrk with ONE
# connection (-c1 -t1): requests follow each other, so each latency is one request's
# render time on an otherwise idle server (parse, store reads, templates, network on
# loopback), not queueing behind other requests; and the server's CPU time per request
# (/proc/PID/stat), which moves less with the machine's load. Prints markdown tables.
#
# 1. Overview (GET /): $DATASETS datasets (5,000), each with 2 checks and one recent run
#    (a health mix: every 50th fails and has an open incident, every 17th warns).
# 2. Dataset page (GET /datasets/big): one more dataset, `big`, whose $CHECKS checks (10)
#    each have $HOURS hourly results (8,760: a year), so 87,600 results and as many metric
#    points, the first check with an anomaly band. The page charts the last 90 days.
#    Also the check page (GET /datasets/big/checks/rows) when the server has that route.
# 3. Lineage (GET /lineage): a second project of $NODES datasets (2,000) in 20 schemas,
#    each declaring up to two upstreams (a DAG of ~2 edges per node); the page as it opens
#    (large graphs grouped by schema), every box drawn (?collapse=none), and one dataset's
#    neighbourhood (?dataset=…&depth=3).
#
# Environment: DATASETS, HOURS, NODES, DURATION (wrk's, default 20s per page),
# PARTS ("overview dataset lineage"), TIDEMARK_BIN (a prebuilt binary instead of building
# the release one), BENCH_OUT (where logs and wrk's output are kept). A small trial:
#
#   DATASETS=200 HOURS=100 NODES=100 DURATION=3s tests/bench/dashboard.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tidemark-target}
DATASETS=${DATASETS:-5000}
CHECKS=10
HOURS=${HOURS:-8760}
NODES=${NODES:-2000}
DURATION=${DURATION:-20s}
PARTS=${PARTS:-overview dataset lineage}
# shellcheck source=tests/bench/serve-common.sh
source tests/bench/serve-common.sh

# project DIR DB: tidemark.yml on the Postgres store DB, no warehouse query ever runs
# (no dataset has a schedule).
project() {
    mkdir -p "$1/checks"
    cat >"$1/tidemark.yml" <<YML
version: 1
store: $PG_URL/$2
warehouses:
  wh: { url: "sqlite://warehouse.db" }
owners:
  team-a: {}
  team-b: {}
YML
}

# The big dataset's checks, by name and kind (the seeded results use these).
BIG_YML="dataset: big
owner: team-a
tags: [bench]
checks:
  - row_count: { name: rows, anomaly: {} }
$TEN_CHECKS_AFTER_ROWS_YML"

# render_row NAME URL: one table row from `wrk -c1 -t1 --latency` against URL, after
# checking that the page answers 200 (its size is in the row).
render_row() {
    local name=$1 url=$2 file
    file=$OUT/wrk.$(printf '%s' "$name" | tr -c 'a-z0-9' '_').txt
    local code size
    read -r code size < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' "$url")
    [[ $code == 200 ]] || { say "$url answered $code"; exit 1; }
    # The server's own CPU time per request: less sensitive than latency to what else the
    # machine is doing (Postgres' share is not in it).
    local cpu0 cpu1
    cpu0=$(proc_cpu_secs "$SERVER_PID")
    # wrk leaves requests slower than --timeout out of its percentiles: 30 s keeps them in.
    wrk -c1 -t1 -d"$DURATION" --timeout 30s --latency "$url" >"$file"
    cpu1=$(proc_cpu_secs "$SERVER_PID")
    awk -v name="$name" -v size="$size" -v loadavg="$(cut -d' ' -f1-3 /proc/loadavg)" -v cpu="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" '
        '"$WRK_MS"'
        $1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
        $1 == "Latency" && !max { max = ms($4) }
        /requests in/ { n = $1 } /Non-2xx/ { bad = $NF }
        END { printf "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %.0f | %s |\n", name, n, p50, p90, p99, max, 1000 * cpu / n, bad + 0, size / 1024, loadavg }' "$file"
}

table_head() {
    printf '\n### %s\n\n' "$1"
    printf '| page | requests | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | server CPU per request (ms) | non-2xx | body (KiB) | load average after |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|\n'
}

# --- 1 and 2: overview and dataset page --------------------------------------------------

seed_main() {
    local db=$1
    say "seeding $DATASETS datasets x 2 checks, and big: $CHECKS checks x $HOURS hourly results"
    "${PG[@]}" -1 -d "$db" <<SQL
SET LOCAL synchronous_commit = off;
-- One recent run of every dataset t00001…, 2 results each.
CREATE TEMP TABLE seed_runs AS
SELECT gen_random_uuid() AS id, d, format('t%s', lpad(d::text, 5, '0')) AS dataset,
       date_trunc('minute', now()) - interval '10 minutes' + d * interval '1 ms' AS at
FROM generate_series(1, $DATASETS) AS d;
INSERT INTO runs (id, batch_id, dataset, warehouse, trigger, status, replica, started_at,
                  finished_at, lease_until, pass_count, warn_count, fail_count)
SELECT id, gen_random_uuid(), dataset, 'wh', 'cli', 'completed', 'bench', at, at, at,
       CASE WHEN d % 50 = 0 OR d % 17 = 0 THEN 1 ELSE 2 END,
       CASE WHEN d % 17 = 0 AND d % 50 <> 0 THEN 1 ELSE 0 END, CASE WHEN d % 50 = 0 THEN 1 ELSE 0 END
FROM seed_runs ORDER BY d;
INSERT INTO check_results (run_id, dataset, warehouse, check_name, check_hash, kind, column_name,
                           outcome, value, expected, message, observed_at)
SELECT s.id, s.dataset, 'wh', (ARRAY['rows', 'max_amount'])[c], substr(md5(c::text), 1, 16),
       (ARRAY['row_count', 'max'])[c], CASE WHEN c = 2 THEN 'amount' END,
       CASE WHEN c = 1 AND s.d % 50 = 0 THEN 'fail' WHEN c = 2 AND s.d % 17 = 0 AND s.d % 50 <> 0 THEN 'warn' ELSE 'pass' END,
       (s.d * 7919 + c) % 1000, '{"min": 1}'::jsonb, 'value ' || (s.d * 7919 + c) % 1000, s.at
FROM seed_runs s, generate_series(1, 2) AS c ORDER BY s.d, c;
-- Every 50th dataset has an open incident on its failing check.
INSERT INTO incidents (dataset, check_name, kind, sla, severity, status, opened_at, last_seen_at,
                       count, value, message, version)
SELECT dataset, 'rows', 'failure', false, 'high', 'open', at - interval '1 day', at, 3,
       0, 'rows is below the minimum 1', 1
FROM seed_runs WHERE d % 50 = 0;

-- big: one run an hour for HOURS hours, CHECKS results each, in time order.
CREATE TEMP TABLE big_runs AS
SELECT gen_random_uuid() AS id, h, date_trunc('hour', now()) - ($HOURS - h) * interval '1 hour' AS at
FROM generate_series(1, $HOURS) AS h;
INSERT INTO runs (id, batch_id, dataset, warehouse, trigger, status, replica, started_at,
                  finished_at, lease_until, pass_count)
SELECT id, gen_random_uuid(), 'big', 'wh', 'cli', 'completed', 'bench', at, at + interval '2 s',
       at, $CHECKS
FROM big_runs ORDER BY h;
-- A daily and weekly pattern with noise, so the charts are not flat lines.
INSERT INTO check_results (run_id, dataset, warehouse, check_name, check_hash, kind, column_name,
                           outcome, value, expected, message, observed_at)
SELECT b.id, 'big', 'wh', (ARRAY[$TEN_CHECK_NAMES_SQL NULL])[c], substr(md5(c::text), 1, 16), (ARRAY[$TEN_CHECK_KINDS_SQL NULL])[c],
       CASE WHEN c = 1 THEN NULL WHEN c = 4 THEN 'id' ELSE 'amount' END, 'pass',
       round((500 + 200 * sin(b.h * pi() / 12) + 50 * sin(b.h * pi() / 84) + 30 * random() + c)::numeric, 2),
       '{"max": 1000}'::jsonb, 'within bounds', b.at + interval '2 s'
FROM big_runs b, generate_series(1, $CHECKS) AS c ORDER BY b.h, c;
INSERT INTO metric_points (dataset, check_name, at, value, band_lower, band_upper)
SELECT dataset, check_name, observed_at, value,
       CASE WHEN check_name = 'rows' THEN value - 60 - 10 * sin(id) END,
       CASE WHEN check_name = 'rows' THEN value + 60 + 10 * sin(id) END
FROM check_results ORDER BY id;
INSERT INTO latest_results (dataset, check_name, result_id)
SELECT dataset, check_name, max(id) FROM check_results GROUP BY dataset, check_name;
SQL
    "${PG[@]}" -d "$db" -c "VACUUM ANALYZE"
}

main_pages() {
    local db=tidemark_bench_dashboard dir=$WORK/main
    project "$dir" $db
    printf '%s\n' "$BIG_YML" >"$dir/checks/big.yml"
    python3 - "$dir/checks" "$DATASETS" <<'PY'
import sys
folder, n = sys.argv[1], int(sys.argv[2])
for d in range(1, n + 1):
    t = "t%05d" % d
    with open(f"{folder}/{t}.yml", "w") as f:
        f.write(f"dataset: {t}\nowner: team-{'ab'[d % 2]}\ntags: [tier-{d % 3 + 1}]\nchecks:\n"
                "  - row_count: { name: rows, min: 1 }\n"
                "  - max: { name: max_amount, column: amount, max: 1000 }\n")
PY
    fresh_db $db
    "$BIN" migrate "$dir" >/dev/null
    seed_main $db
    local results
    results=$("${PG[@]}" -d $db -c "SELECT count(*) FROM check_results WHERE dataset = 'big'")
    start_server "$dir" "$OUT/main"
    local base="http://$ADDR"
    # Sanity: the pages show what the table claims to measure.
    # (Read whole first: grep -q stopping early would fail curl's write, and pipefail.)
    local overview
    overview=$(curl -sf "$base/")
    [[ $overview == *">$((DATASETS + 1)) of $((DATASETS + 1)) datasets"* ]] ||
        { say "the overview does not count all $((DATASETS + 1)) datasets"; exit 1; }
    local last_page=$(((DATASETS + 1 + 499) / 500))
    [[ $(curl -sf "$base/datasets/big" | grep -o '<svg class="chart"' | wc -l) == "$CHECKS" ]] ||
        { say "the dataset page does not draw $CHECKS charts"; exit 1; }
    # The first request of each page reads the store cold; wrk's run then measures the
    # steady state (the latest-results cache is warm, as on a server in use).
    table_head "Overview and dataset page: $DATASETS datasets; big has $results results"
    if [[ " $PARTS " == *" overview "* ]]; then
        render_row "GET / ($((DATASETS + 1)) datasets, first page)" "$base/"
        render_row "GET /?page=$last_page (the last page)" "$base/?page=$last_page"
        render_row "GET /?health=fail (filtered)" "$base/?health=fail"
    fi
    if [[ " $PARTS " == *" dataset "* ]]; then
        render_row "GET /datasets/big ($CHECKS charts of 90 days)" "$base/datasets/big"
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/datasets/big/checks/rows") == 200 ]]; then
            render_row "GET /datasets/big/checks/rows" "$base/datasets/big/checks/rows"
        else
            say "no check page on this server: skipped"
        fi
    fi
    stop_server
}

# --- 3: lineage --------------------------------------------------------------------------

lineage_page() {
    local db=tidemark_bench_lineage dir=$WORK/lineage
    project "$dir" $db
    python3 - "$dir/checks" "$NODES" <<'PY'
import sys
folder, n = sys.argv[1], int(sys.argv[2])
name = lambda d: "s%02d.t%05d" % (d % 20, d)
for d in range(1, n + 1):
    # Up to two upstreams among the earlier datasets: a DAG with ~2 edges a node.
    ups = sorted({name(u) for u in (d // 2, d // 3) if u >= 1})
    with open(f"{folder}/{name(d)}.yml", "w") as f:
        f.write(f"dataset: {name(d)}\nowner: team-{'ab'[d % 2]}\n")
        if ups:
            f.write("upstream: [" + ", ".join(ups) + "]\n")
        f.write("checks:\n  - row_count: { name: rows, min: 1 }\n")
PY
    fresh_db $db
    "$BIN" migrate "$dir" >/dev/null
    start_server "$dir" "$OUT/lineage"
    local base="http://$ADDR"
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/lineage") != 200 ]]; then
        say "no lineage page on this server: skipped"
        stop_server
        return
    fi
    local edges
    edges=$(curl -sf "$base/api/v1/lineage" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("edges", [])))' 2>/dev/null || echo "?")
    local one
    one=$(printf 's%02d.t%05d' $(( (NODES / 2) % 20 )) $(( NODES / 2 )))
    table_head "Lineage: $NODES datasets, $edges edges"
    render_row "GET /lineage (as it opens)" "$base/lineage"
    render_row "GET /lineage?collapse=none (every box)" "$base/lineage?collapse=none"
    render_row "GET /lineage?dataset=$one&depth=3" "$base/lineage?dataset=$one&depth=3"
    stop_server
}

printf 'Measured %s UTC with %s; load average before: %s\n' "$(date -u '+%Y-%m-%d %H:%M')" \
    "$("$BIN" --version)" "$(cut -d' ' -f1-3 /proc/loadavg)"
if [[ " $PARTS " == *" overview "* || " $PARTS " == *" dataset "* ]]; then
    main_pages
fi
if [[ " $PARTS " == *" lineage "* ]]; then
    lineage_page
fi
