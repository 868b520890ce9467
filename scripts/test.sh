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
      --blame-hang-timeout "$hang_timeout" --logger "console;verbosity=normal" \
      --results-directory "TestResults/$(basename "$project")"; then
    failed+=("$project")
  fi
done

if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test projects passed"
