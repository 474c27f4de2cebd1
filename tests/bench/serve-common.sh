# shellcheck shell=bash
# What the benchmarks of `tidemark serve` share (tests/bench/server.sh, dashboard.sh): the
# services and tools they need, the binary, a work folder cleaned up on exit, fresh
# Postgres databases, and starting, stopping and measuring one server. Sourced, from the
# repository root, after the script has set its own variables.

PG=(psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
PG_URL=postgres://postgres@127.0.0.1:5432

say() { printf 'bench: %s\n' "$*" >&2; }

# The ten checks both benchmarks declare and seed results for: their names and kinds as
# SQL array elements, each with its comma (`ARRAY[$TEN_CHECK_NAMES_SQL NULL][c]`), and
# their YAML after the row count, which each project declares its own way.
TEN_CHECK_NAMES_SQL=$(printf "'%s'," rows nulls null_pct dup_ids neg_amounts min_amount \
    max_amount avg_amount sum_amount sd_amount)
TEN_CHECK_KINDS_SQL=$(printf "'%s'," row_count missing_count missing_percent duplicate_count \
    invalid_count min max avg sum stddev)
TEN_CHECKS_AFTER_ROWS_YML='  - missing_count: { name: nulls, column: amount, max: 10 }
  - missing_percent: { name: null_pct, column: amount, max: 50 }
  - duplicate_count: { name: dup_ids, column: id, max: 0 }
  - invalid_count: { name: neg_amounts, column: amount, valid_min: 0, max: 0 }
  - min: { name: min_amount, column: amount, min: 0 }
  - max: { name: max_amount, column: amount, max: 1000 }
  - avg: { name: avg_amount, column: amount, between: [0, 1000] }
  - sum: { name: sum_amount, column: amount, max: 100000 }
  - stddev: { name: sd_amount, column: amount, max: 1000 }'

tests/run --services-only
# shellcheck source=tests/bench/common.sh
source tests/bench/common.sh
ensure_tool wrk
release_binary

WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
SERVER_PID=
SAMPLER_PID=
cleanup() {
    [[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null
    [[ -n $SERVER_PID ]] && kill -9 "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
say "binary $BIN; logs in $OUT"

fresh_db() {
    "${PG[@]}" -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
    "${PG[@]}" -d postgres -c "CREATE DATABASE $1"
}

# start_server DIR LOG: starts `tidemark serve DIR --listen 127.0.0.1:0`, sets SERVER_PID
# and ADDR once it prints `listening on http://ADDR`.
start_server() {
    local dir=$1 log=$2
    : >"$log.out"
    "$BIN" serve "$dir" --listen 127.0.0.1:0 >"$log.out" 2>"$log.err" &
    SERVER_PID=$!
    for _ in $(seq 1 1200); do
        ADDR=$(sed -n 's#^listening on http://##p' "$log.out")
        [[ -n $ADDR ]] && return
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log.err" >&2; say "the server exited"; exit 1; }
        sleep 0.1
    done
    say "the server did not print its address in 120 s"
    exit 1
}

# stop_server: SIGTERM (graceful: runs in flight finish), SIGKILL after 10 minutes.
stop_server() {
    kill -TERM "$SERVER_PID"
    for _ in $(seq 1 6000); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null && say "the server did not stop in 10 minutes: killed"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# proc_cpu_secs PID: user + system CPU seconds the process has used.
proc_cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# An awk function for wrk's latencies, printed as 850.00us, 12.34ms or 1.02s: in ms.
WRK_MS='function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }'
