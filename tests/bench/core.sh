#!/usr/bin/env bash
# Benchmark of the core engine (issue: the core). Reproduce with:
#
#   tests/bench/core.sh            # needs PostgreSQL on 127.0.0.1:5432 (tests/run --services-only)
#
# It builds the release binary, creates bench tables of 10 rows, 1M and 10M rows in the
# database `tidemark_bench` (kept between runs: generating 10M rows takes a minute), and
# measures for each:
#   - wall time of `tidemark run` (10 checks) against one hand-written SELECT computing the
#     same aggregates through psql, both end to end with hyperfine;
#   - statements per dataset, counted by pg_stat_statements;
#   - peak resident memory of `tidemark run` (GNU time).
# Environment: RUNS (hyperfine runs per command, 5), TIDEMARK_BIN (a prebuilt binary instead
# of building the release one, e.g. to compare two commits on one machine).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tidemark-target}
PG=(psql -X -q -At -h 127.0.0.1 -U postgres)
DB=tidemark_bench
RUNS=${RUNS:-5}

tests/run --services-only
# shellcheck source=tests/bench/common.sh
source tests/bench/common.sh
ensure_tool hyperfine
release_binary

"${PG[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
    || "${PG[@]}" -d postgres -c "CREATE DATABASE $DB"
"${PG[@]}" -d $DB -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

# make_table NAME ROWS: ids unique but for 0.01% repeats, 1% NULL customers, 0.1% invalid
# statuses, amounts 0..1000, timestamps over the last 30 days.
make_table() {
    local name=$1 rows=$2
    local have
    have=$("${PG[@]}" -d $DB -c "SELECT count(*) FROM $name" 2>/dev/null || echo 0)
    [[ $have == "$rows" ]] && return
    echo "generating $name ($rows rows)…" >&2
    "${PG[@]}" -d $DB <<SQL
DROP TABLE IF EXISTS $name;
CREATE TABLE $name AS
SELECT CASE WHEN i % 10000 = 0 THEN i - 1 ELSE i END::bigint AS id,
       CASE WHEN i % 100 = 0 THEN NULL ELSE (i * 7919) % 100000 END AS customer_id,
       (ARRAY['placed','shipped','delivered','cancelled'])[1 + i % 4]
         || CASE WHEN i % 1000 = 0 THEN '?' ELSE '' END AS status,
       ((i * 104729) % 100000) / 100.0 AS amount,
       now() - ((i % 2592000) || ' seconds')::interval AS created_at
FROM generate_series(1::bigint, $rows) AS i;
ANALYZE $name;
SQL
}

# The 10-check suite, shared with tests/bench/duckdb.sh.
CHECKS=$(cat tests/bench/ten-checks.yml)

HAND="SELECT count(*), count(*) FILTER (WHERE customer_id IS NULL),
  100.0 * count(*) FILTER (WHERE customer_id IS NULL) / nullif(count(*), 0),
  count(id) - count(DISTINCT id),
  count(*) FILTER (WHERE status NOT IN ('placed','shipped','delivered','cancelled')),
  min(amount), max(amount), avg(amount), stddev_samp(amount),
  extract(epoch FROM now() - max(created_at))"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
printf '| table | rows | hand-written SELECT (s) | tidemark run (s) | ratio | statements per dataset | peak RSS (MB) |\n'
printf '|---|---|---|---|---|---|---|\n'
for spec in bench_10:10 bench_1m:1000000 bench_10m:10000000; do
    name=${spec%%:*} rows=${spec##*:}
    make_table "$name" "$rows"
    project=$WORK/$name
    mkdir -p "$project/checks"
    printf 'version: 1\nwarehouses:\n  bench: { url: "postgres://postgres@127.0.0.1:5432/%s", query_timeout: 10m }\n' $DB >"$project/tidemark.yml"
    printf 'dataset: %s\nchecks:\n%s\n' "$name" "$CHECKS" >"$project/checks/$name.yml"
    "$BIN" run "$project" --format json >/dev/null

    "${PG[@]}" -d $DB -c "SELECT pg_stat_statements_reset()" >/dev/null
    "$BIN" run "$project" --format json >/dev/null
    # The aggregate names the table; the schema query binds it, so it is counted by its text.
    statements=$("${PG[@]}" -d $DB -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$DB')
          AND (query ILIKE '%$name%' OR query ILIKE '%pg_attribute%')
          AND query NOT ILIKE '%pg_stat_statements%'")

    hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/$name.json" \
        -n hand "psql -X -q -h 127.0.0.1 -U postgres -d $DB -c \"$HAND FROM $name\"" \
        -n tidemark "$BIN run $project --format json" >/dev/null 2>&1
    hand=$(python3 -c "import json;r=json.load(open('$WORK/$name.json'))['results'];print('%.4f'%r[0]['median'])")
    ours=$(python3 -c "import json;r=json.load(open('$WORK/$name.json'))['results'];print('%.4f'%r[1]['median'])")
    ratio=$(python3 -c "print('%.3f' % ($ours / $hand))")
    rss=$( { /usr/bin/time -f '%M' "$BIN" run "$project" --format json >/dev/null; } 2>&1 | tail -n1)
    printf '| %s | %s | %s | %s | %s | %s | %.1f |\n' "$name" "$rows" "$hand" "$ours" "$ratio" "$statements" \
        "$(python3 -c "print($rss / 1024)")"
done
