using System.Diagnostics;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// The previous release's node builds from its archive in compat/ with its own version.
/// scripts/test.sh runs this class on its own first, outside the per-test hang timeout: the build
/// takes minutes, and <see cref="RollingUpgradeTests"/> then reuses it.
/// </summary>
public sealed class PreviousReleaseTests(PreviousRelease previous) : IClassFixture<PreviousRelease>
{
    [Fact]
    public void The_previous_release_s_node_is_built_from_compat_with_its_own_version()
    {
        Assert.True(File.Exists(previous.NodeDll), $"{previous.NodeDll} is missing");
        var version = FileVersionInfo.GetVersionInfo(previous.NodeDll).ProductVersion ?? "";
        Assert.True(version.StartsWith(PreviousRelease.Version, StringComparison.Ordinal),
            $"{previous.NodeDll} has version '{version}', not {PreviousRelease.Version}");
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(previous.NodeDll)!, "transform-packages", "RetailStreaming.Samples.Retail.1.0.0.nupkg")),
            "the previous release's node has no sample transform package 1.0.0 beside it");
        // The archive holds the node's sources only (scripts/make-compat-release.sh), not the repository.
        Assert.InRange(new FileInfo(PreviousRelease.Archive).Length, 10_000, 1_000_000);
    }
}
