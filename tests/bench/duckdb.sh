#!/usr/bin/env bash
# Benchmark of DuckDB over files (issue: reach the data where it lives). Reproduce with:
#
#   tests/bench/duckdb.sh
#
# It builds the release binary with `warehouse-duckdb`, writes a Parquet file of $ROWS rows
# (10M; kept between runs under $BENCH_DATA) with the columns of tests/bench/core.sh, and
# measures, in the same run and with hyperfine (no warm-up: every run is scored, the first
# one reading a cold file):
#   - one hand-written DuckDB query computing the same aggregates (the floor), through the
#     DuckDB CLI of the same DuckDB version (PyPI `duckdb-cli`);
#   - `tidemark run` of the 10-check suite on a `files:` dataset over the file;
#   - `soda scan` of the same 10 checks with Soda Core (`soda-core-duckdb`, PyPI) on a
#     DuckDB view over the same file;
# and the peak resident memory of each (GNU time). Python tools go in a virtualenv,
# $BENCH_VENV (/var/tmp/tidemark-bench-venv).
# Environment: ROWS, RUNS (hyperfine runs per command, 5), TIDEMARK_BIN (a prebuilt binary
# built with the feature), BENCH_DATA (/var/tmp/tidemark-bench-duckdb).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tidemark-target}
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-5}
DATA=${BENCH_DATA:-/var/tmp/tidemark-bench-duckdb}
VENV=${BENCH_VENV:-/var/tmp/tidemark-bench-venv}

# tests/run fetches libduckdb and says where it is.
export DUCKDB_LIB_DIR=${DUCKDB_LIB_DIR:-$(tests/run --services-only 2>&1 | sed -n 's/.*export DUCKDB_LIB_DIR=//p')}
# shellcheck source=tests/bench/common.sh
source tests/bench/common.sh
ensure_tool hyperfine
if [[ ! -x $VENV/bin/soda || ! -x $VENV/bin/duckdb ]]; then
    echo "installing soda-core-duckdb and duckdb-cli into $VENV…" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q soda-core-duckdb==3.5.6 duckdb-cli==1.5.6
fi
DUCKDB=$VENV/bin/duckdb
release_binary --features warehouse-duckdb

mkdir -p "$DATA"
FILE=$DATA/orders_$ROWS.parquet
if [[ ! -f $FILE ]]; then
    echo "generating $FILE…" >&2
    "$DUCKDB" -c "COPY (SELECT CASE WHEN i % 10000 = 0 THEN i - 1 ELSE i END::BIGINT AS id,
        CASE WHEN i % 100 = 0 THEN NULL ELSE (i * 7919) % 100000 END AS customer_id,
        ['placed','shipped','delivered','cancelled'][1 + i % 4]
          || CASE WHEN i % 1000 = 0 THEN '?' ELSE '' END AS status,
        ((i * 104729) % 100000) / 100.0 AS amount,
        now()::TIMESTAMP - to_seconds(i % 2592000) AS created_at
      FROM range(1, $ROWS + 1) t(i)) TO '$FILE' (FORMAT parquet)"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Tidemark: the 10-check suite of tests/bench/core.sh on a files: dataset.
mkdir -p "$WORK/tidemark/checks"
printf 'version: 1\nwarehouses:\n  lake: { url: "duckdb://:memory:", query_timeout: 10m }\n' >"$WORK/tidemark/tidemark.yml"
printf 'dataset: orders\nfiles: %s\nchecks:\n' "$FILE" >"$WORK/tidemark/checks/orders.yml"
cat tests/bench/ten-checks.yml >>"$WORK/tidemark/checks/orders.yml"

# The floor: the same aggregates in one hand-written query.
HAND="SELECT count(*), count(*) FILTER (WHERE customer_id IS NULL),
  100.0 * count(*) FILTER (WHERE customer_id IS NULL) / nullif(count(*), 0),
  count(id) - count(DISTINCT id),
  count(*) FILTER (WHERE status NOT IN ('placed','shipped','delivered','cancelled')),
  min(amount), max(amount), avg(amount), stddev_samp(amount),
  epoch(now()) - epoch(max(created_at)) FROM read_parquet('$FILE')"

# Soda Core: the same checks in SodaCL, on a view that reads the file in place.
mkdir -p "$WORK/soda"
"$DUCKDB" "$WORK/soda/lake.duckdb" -c "CREATE VIEW orders AS SELECT * FROM read_parquet('$FILE')"
printf 'data_source lake:\n  type: duckdb\n  path: %s\n  read_only: true\n' "$WORK/soda/lake.duckdb" \
    >"$WORK/soda/config.yml"
# No usage statistics (Soda reads that from ~/.soda/config.yml, so a HOME of its own): the
# machine has no route to Soda's collector, and its retries would be timed.
mkdir -p "$WORK/home/.soda"
printf 'send_anonymous_usage_stats: false\n' >"$WORK/home/.soda/config.yml"
SODA="env HOME=$WORK/home $VENV/bin/soda scan -d lake -c $WORK/soda/config.yml $WORK/soda/checks.yml"
cat >"$WORK/soda/checks.yml" <<'YAML'
checks for orders:
  - row_count > 0
  - missing_count(customer_id) <= 100000
  - missing_percent(customer_id) <= 5
  - duplicate_count(id) <= 100000
  - invalid_count(status) <= 100000:
      valid values: [placed, shipped, delivered, cancelled]
  - min(amount) >= 0
  - max(amount) <= 1000
  - avg(amount) between 0 and 1000
  - stddev(amount) <= 1000
  - freshness(created_at) < 3650d
YAML

# Each must succeed (every check passing) before it is timed.
"$BIN" run "$WORK/tidemark" --format json >"$WORK/tidemark.json" ||
    { cat "$WORK/tidemark.json" >&2; exit 1; }
$SODA >"$WORK/soda.log" 2>&1 ||
    { cat "$WORK/soda.log" >&2; exit 1; }

hyperfine -N --runs "$RUNS" --export-json "$WORK/times.json" \
    -n hand "$DUCKDB -c \"$HAND\"" \
    -n tidemark "$BIN run $WORK/tidemark --format json" \
    -n soda "$SODA" >/dev/null 2>&1

rss() { /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>&1; tail -n1 "$WORK/rss"; }
rss_hand=$(rss "$DUCKDB" -c "$HAND")
rss_ours=$(rss "$BIN" run "$WORK/tidemark" --format json)
rss_soda=$(rss $SODA)

python3 - "$WORK/times.json" "$ROWS" "$rss_hand" "$rss_ours" "$rss_soda" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
rows, rss = sys.argv[2], dict(zip(["hand", "tidemark", "soda"], map(int, sys.argv[3:6])))
floor = results["hand"]["median"]
print("| command | rows | median (s) | first run (s) | slowest (s) | median / floor | peak RSS (MB) |")
print("|---|---|---|---|---|---|---|")
for name in ["hand", "tidemark", "soda"]:
    times = results[name]["times"]
    median = results[name]["median"]
    print(f"| {name} | {rows} | {median:.3f} | {times[0]:.3f} | {max(times):.3f} | "
          f"{median / floor:.2f} | {rss[name] / 1024:.1f} |")
PY
