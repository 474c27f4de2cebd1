#!/usr/bin/env bash
# Alert delivery benchmark (issue: SLAs, incidents and alerts). Reproduce with:
#
#   tests/bench/alerts.sh            # N=1000 by default; needs tests/run --services-only
#
# For each store (SQLite, then Postgres in a fresh database), opens N incidents at once
# (N datasets whose runs finish together, each with one failing check, through the same
# code path as the runner) and measures the time until the outbox has delivered every
# notification (N Slack messages to a local HTTP receiver and N emails to a local aiosmtpd)
# and the rate held. See backend/examples/alerts_bench.rs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tidemark-target}
N=${N:-1000}
PG=(psql -X -q -At -h 127.0.0.1 -U postgres)
DB=tidemark_alerts_bench

tests/run --services-only
cargo build --release -q -p tidemark --example alerts_bench
BENCH=$CARGO_TARGET_DIR/release/examples/alerts_bench

# A real SMTP server on a free port; its first line says which.
# It runs until its standard input closes: a FIFO this script holds open until it exits.
WORK=$(mktemp -d)
SINK_OUT=$WORK/sink.jsonl
mkfifo "$WORK/stdin"
/usr/bin/python3 tests/integration/smtp_sink.py <"$WORK/stdin" >"$SINK_OUT" &
exec 3>"$WORK/stdin"
trap 'exec 3>&-; wait; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
    grep -q listening "$SINK_OUT" && break
    sleep 0.1
done
PORT=$(head -n1 "$SINK_OUT" | sed -E 's/[^0-9]*([0-9]+).*/\1/')
SMTP=smtp://127.0.0.1:$PORT

echo "== SQLite store"
"$BENCH" "sqlite://$WORK/store.db" "$SMTP" "$N"

echo "== Postgres store"
"${PG[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"$BENCH" "postgres://postgres@127.0.0.1:5432/$DB" "$SMTP" "$N"
"${PG[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
echo "emails the SMTP server received: $(($(wc -l <"$SINK_OUT") - 1))"
