#!/usr/bin/env bash
# Benchmark of the anomaly detector (issue: anomalies). Reproduce with:
#
#   tests/bench/anomaly.sh             # the reported figures (fixed seed)
#   tests/bench/anomaly.sh --seed 7    # another draw of the same generator
#
# Generates 151 labelled metric series (hourly and daily: volume, rows added, freshness,
# null rates, averages; spikes, drops, level shifts, drifts, stuck values, late loads and
# clean seasonal series with legitimate steps), judges every point of each from the points
# before it with Tidemark's detector (low, medium and high sensitivity) and with an
# Elementary-style z-score (14-day window, sensitivity 3, with and without weekly buckets),
# and prints markdown tables: point precision, recall and F1, event recall, false alarms
# per 100 normal points, detection delay, and the time to judge one point against 2,000
# points of history. Needs no services; takes a minute or two on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tidemark-target}
exec cargo run --release -q -p tidemark --example anomaly_bench -- "$@"
