#!/usr/bin/env bash
# The functional developer's path of docs/transforms.md, followed as written and timed step by
# step: pack the SDK, testing harness, template and rsctl into a folder feed, `dotnet new
# rs-transform`, test, change the transform (the test fails with the diff, the new output is
# accepted), `rsctl transform test`, pack, publish, run the demo, apply a workflow with the new
# package and wait until it delivers. Everything lives under one temporary folder: rsctl is
# installed with --tool-path and the template into its own hive, nothing global changes.
#
#   scripts/walkthrough.sh            prints a table of the steps' wall times and the total
#   KEEP=1 scripts/walkthrough.sh     keeps the folder for a look afterwards
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W="$(mktemp -d /tmp/rs-walkthrough.XXXXXX)"
FEED="$W/feed"; HIVE="$W/hive"; TOOLS="$W/tools"; LOG="$W/log"
mkdir -p "$FEED" "$TOOLS" "$LOG"
DEMO_PID=""
cleanup() {
  if [ -n "$DEMO_PID" ]; then kill -TERM "$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

STEPS=(); TIMES=()
START_ALL=$(date +%s.%N)
step() { # step "name" command...
  local name="$1"; shift
  local t0 t1
  t0=$(date +%s.%N)
  if ! "$@" >"$LOG/${#STEPS[@]}.log" 2>&1; then
    echo "step failed: $name (log: $LOG/${#STEPS[@]}.log)" >&2
    tail -n 30 "$LOG/${#STEPS[@]}.log" >&2
    KEEP=1
    exit 1
  fi
  t1=$(date +%s.%N)
  STEPS+=("$name"); TIMES+=("$(echo "$t1 - $t0" | bc)")
  printf '%-78s %6.1f s\n' "$name" "${TIMES[-1]}"
}

# 0. Once: the packages and rsctl (docs/transforms.md, section 0).
pack_all() {
  for p in src/RetailStreaming.Transforms src/RetailStreaming.Transforms.Testing \
           templates/RetailStreaming.Templates src/RetailStreaming.Cli; do
    dotnet pack "$ROOT/$p" -c Release -o "$FEED" -nologo
  done
  dotnet tool install --tool-path "$TOOLS" --add-source "$FEED" RetailStreaming.Cli
  dotnet new install "$FEED"/RetailStreaming.Templates.*.nupkg --debug:custom-hive "$HIVE"
}
step "0. pack the four packages, install rsctl and the template" pack_all
RSCTL="$TOOLS/rsctl"

# The demo starts now, as a developer starts it in another terminal; it builds meanwhile.
( cd "$ROOT" && exec dotnet run -c Release --project src/RetailStreaming.Node -- demo --dir "$W/demo-data" --receiver-port 0 ) >"$LOG/demo.log" 2>&1 &
DEMO_PID=$!

# 1. Create the project.
create() {
  cd "$W"
  dotnet new rs-transform -n Acme.Sales -o acme-sales --debug:custom-hive "$HIVE"
  cd acme-sales
  dotnet new nugetconfig
  dotnet nuget add source "$FEED" -n rs-feed
  dotnet test
}
step "1. dotnet new rs-transform, nuget.config, dotnet test" create

# 2. Change the transform: a new payload field; the test must fail with the diff, then the new
# output is accepted and the test passes.
change() {
  cd "$W/acme-sales"
  sed -i 's/currency = _currency,/currency = _currency,\n            store = row.GetString("store_id"),/' Acme.Sales/SalesTransform.cs
  grep -q 'store = row.GetString("store_id")' Acme.Sales/SalesTransform.cs
  if dotnet test >"$LOG/expected-failure.log" 2>&1; then echo "the changed transform passed its old fixtures" >&2; return 1; fi
  grep -q "difference" "$LOG/expected-failure.log"
  RS_UPDATE_GOLDEN=1 dotnet test
  dotnet test
}
step "2. change the transform: dotnet test fails with the diff, accept, passes" change

# 3. Check the package as a node loads it.
step "3. rsctl transform test" bash -c "cd '$W/acme-sales' && '$RSCTL' transform test Acme.Sales --fixtures Acme.Sales.Tests/fixtures"

# 5 (first half). Wait for the demo: its admin URL and operator token.
wait_demo() {
  for _ in $(seq 1 600); do
    if grep -q '^operator token:' "$LOG/demo.log"; then return 0; fi
    if ! kill -0 "$DEMO_PID" 2>/dev/null; then echo "the demo exited" >&2; cat "$LOG/demo.log" >&2; return 1; fi
    sleep 0.5
  done
  echo "the demo did not start in 5 minutes" >&2; return 1
}
step "   (the demo started in another terminal is up)" wait_demo
ADMIN=$(sed -n 's/^admin API: *\([^ ]*\).*/\1/p' "$LOG/demo.log" | head -n 1)
TOKEN=$(sed -n 's/^operator token: *\(.*\)$/\1/p' "$LOG/demo.log" | head -n 1)
ENDPOINT=$(sed -n 's/^endpoint: *\(.*\)$/\1/p' "$LOG/demo.log" | head -n 1)
DATABASE=$(sed -n 's/^database: *\(.*\)$/\1/p' "$LOG/demo.log" | head -n 1)
export RSCTL_CONFIG="$W/rsctl-contexts.json"

# 4. Publish a version.
publish() {
  cd "$W/acme-sales"
  "$RSCTL" context add demo --node "$ADMIN" --token "$TOKEN"
  dotnet pack Acme.Sales -c Release -o out
  "$RSCTL" transform publish out/Acme.Sales.1.0.0.nupkg
  "$RSCTL" transform list
}
step "4. dotnet pack, rsctl transform publish, transform list" publish

# 5. Run it in the demo cluster: apply a workflow and wait until it delivers.
run_it() {
  cd "$W/acme-sales"
  cat >acme-sales.yaml <<EOF
id: acme-sales
client: acme
source:
  kind: sqlite
  connection: "Data Source=$DATABASE"
  tables: [tickets]
transform:
  package: Acme.Sales
  version: 1.0.0
  type: Acme.Sales.SalesTransform
  settings: { currency: EUR }
delivery:
  kind: webhook
  url: $ENDPOINT
  secretRef: env:RS_DEMO_WEBHOOK_SECRET
EOF
  "$RSCTL" workflow apply -f acme-sales.yaml
  for _ in $(seq 1 240); do
    delivered=$("$RSCTL" workflow show acme-sales | sed -n 's/^Delivered: *\([0-9]*\) changes.*/\1/p')
    if [ "${delivered:-0}" -gt 0 ]; then "$RSCTL" workflow show acme-sales; return 0; fi
    sleep 0.5
  done
  "$RSCTL" workflow show acme-sales
  echo "acme-sales delivered nothing in 2 minutes" >&2; return 1
}
step "5. rsctl workflow apply, until acme-sales delivers" run_it

END_ALL=$(date +%s.%N)
TOTAL=$(echo "$END_ALL - $START_ALL" | bc)
echo
echo "| step | wall time |"
echo "|---|---:|"
for i in "${!STEPS[@]}"; do printf '| %s | %.1f s |\n' "${STEPS[$i]}" "${TIMES[$i]}"; done
printf '| total, from the first pack to deliveries | %.1f s (%d min %02d s) |\n' "$TOTAL" "$(echo "$TOTAL/60" | bc)" "$(echo "$TOTAL%60/1" | bc)"
