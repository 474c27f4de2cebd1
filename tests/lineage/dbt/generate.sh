#!/usr/bin/env bash
# Regenerates manifest.json (the fixture the lineage tests read) from the dbt project in
# shop/ with a real dbt. `dbt parse` connects to no warehouse. dbt 2.x downloads a parser
# from outside the package registries, so dbt-core is pinned below 2.
#
#   tests/lineage/dbt/generate.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
venv=${DBT_VENV:-/tmp/tidemark-dbt}
if [[ ! -x $venv/bin/dbt ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "dbt-core>=1.9,<1.11" "dbt-postgres>=1.9,<1.10"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r shop "$work/"
(cd "$work/shop" && DBT_SEND_ANONYMOUS_USAGE_STATS=false "$venv/bin/dbt" parse \
    --profiles-dir . --no-partial-parse --quiet)
python3 -m json.tool --indent 1 "$work/shop/target/manifest.json" > manifest.json
echo "wrote $(pwd)/manifest.json"
