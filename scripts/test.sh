#!/usr/bin/env bash
# The test command (README "Tests"): builds once in Release, then runs the test projects one after
# another, so that timing-sensitive actor tests do not compete for the two cores of CI. A hung test
# fails after the hang timeout instead of eating CI's time.
set -euo pipefail
cd "$(dirname "$0")/.."

configuration="${CONFIGURATION:-Release}"
hang_timeout="${RS_TEST_HANG_TIMEOUT:-8m}"
# Akka.TestKit timeouts are multiplied by this (tests read RS_TEST_TIMEFACTOR).
export RS_TEST_TIMEFACTOR="${RS_TEST_TIMEFACTOR:-3}"

dotnet build RetailStreaming.sln -c "$configuration" -nologo -clp:ErrorsOnly
# Test reports of earlier runs would be summarized with this run's failures: remove them.
find TestResults -name '*.trx' -delete 2>/dev/null || true

# The transform packages the build packs (the tests load them): say where they are, so that a
# build that did not make one is seen here rather than as failing tests later.
sample="samples/RetailStreaming.Samples.Retail/bin/$configuration/packages/RetailStreaming.Samples.Retail.1.0.0.nupkg"
if [[ ! -f "$sample" ]]; then
  echo "the build did not pack the sample transform ($sample is missing); packs found:" >&2
  find . -name '*.nupkg' -path '*/bin/*' >&2 || true
  echo "packing it now, with the pack's own messages:" >&2
  dotnet pack samples/RetailStreaming.Samples.Retail -c "$configuration" --no-build -nologo -v:n >&2
  [[ -f "$sample" ]] || { echo "still missing: $sample" >&2; exit 1; }
fi
find . -name '*.nupkg' -path '*/bin/*' -not -path './templates/*/content/*' | sort

# The rolling-upgrade test's previous release (compat/*.tar.gz) is built once here, where no
# per-test hang timeout runs (minutes on 2 cores); RollingUpgradeTests then reuses the build.
echo "=== previous release for the rolling-upgrade test"
dotnet test tests/RetailStreaming.Integration.Tests -c "$configuration" --no-build -nologo \
  --filter "FullyQualifiedName~RetailStreaming.Integration.Tests.PreviousReleaseTests" --logger "console;verbosity=normal" ||
  echo "the previous release did not build; the integration tests' run below says why"

projects=(
  tests/RetailStreaming.Transforms.Tests
  tests/RetailStreaming.Transforms.Testing.Tests
  tests/RetailStreaming.Definitions.Tests
  tests/RetailStreaming.Store.Tests
  tests/RetailStreaming.Connectors.Tests
  tests/RetailStreaming.TransformHost.Tests
  tests/RetailStreaming.Workflows.Tests
  tests/RetailStreaming.Node.Tests
  tests/RetailStreaming.Cli.Tests
  tests/RetailStreaming.Integration.Tests
)
failed=()
for project in "${projects[@]}"; do
  echo "=== $project"
  if ! dotnet test "$project" -c "$configuration" --no-build -nologo \
      --blame-hang-timeout "$hang_timeout" --logger "console;verbosity=normal" --logger trx \
      --results-directory "TestResults/$(basename "$project")"; then
    failed+=("$project")
  fi
done

if ((${#failed[@]})); then
  # The failures again, at the end where a truncated log still shows them.
  python3 scripts/failed-tests.py TestResults || true
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test projects passed"
