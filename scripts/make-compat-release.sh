#!/usr/bin/env bash
# Writes compat/<short commit>.tar.gz: exactly the sources that build the node of <commit>, so that
# the rolling-upgrade test (tests/RetailStreaming.Integration.Tests/RollingUpgradeTests.cs) can
# build the previous release without the git history (CI may run on a shallow clone or an export).
#
#   scripts/make-compat-release.sh <commit>
#
# The archive holds the node's projects and what their build reads (src/ without rsctl and the
# transform test harness, the sample transform, build/, cluster-config/, samples/demo,
# Directory.*.props, NuGet.config/global.json when the commit has them). It is byte-for-byte
# reproducible from the commit (git archive with the commit's time, gzip -n).
set -euo pipefail
cd "$(dirname "$0")/.."

commit="${1:?usage: scripts/make-compat-release.sh <commit>}"
full="$(git rev-parse --verify "$commit^{commit}")"
short="$(git rev-parse --short=7 "$full")"
out="compat/$short.tar.gz"

paths=()
for p in Directory.Build.props Directory.Packages.props NuGet.config nuget.config global.json \
         build cluster-config samples src; do
  if git cat-file -e "$full:$p" 2>/dev/null; then paths+=("$p"); fi
done
# Not part of the node: rsctl and the transforms' local test harness.
excludes=(":(exclude)src/RetailStreaming.Cli" ":(exclude)src/RetailStreaming.Transforms.Testing")

mkdir -p compat
git archive --format=tar --prefix="$short/" "$full" -- "${paths[@]}" "${excludes[@]}" | gzip -n -9 > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out: $(wc -c < "$out") bytes, commit $full"
