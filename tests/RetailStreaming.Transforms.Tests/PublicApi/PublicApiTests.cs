using Xunit.Abstractions;

namespace RetailStreaming.Transforms.Tests.PublicApi;

/// <summary>
/// The SDK's compatibility check: the public API of the built RetailStreaming.Transforms against
/// the baseline committed beside it (src/RetailStreaming.Transforms/PublicApi.txt). A change that
/// would break a compiled transform fails the test suite, and so the build in CI; additions pass
/// and are listed.
/// </summary>
public sealed class PublicApiTests(ITestOutputHelper output)
{
    private static string BaselinePath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RetailStreaming.sln")))
                return Path.Combine(dir.FullName, "src", "RetailStreaming.Transforms", "PublicApi.txt");
        throw new InvalidOperationException($"Cannot find the repository root (RetailStreaming.sln) above {AppContext.BaseDirectory}.");
    }

    private static IReadOnlyList<string> Current => PublicApiSurface.Of(typeof(ITransform).Assembly);

    [Fact]
    public void The_public_api_keeps_every_member_of_the_committed_baseline()
    {
        var path = BaselinePath();
        if (Environment.GetEnvironmentVariable("RS_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllLines(path, [
                "# The public API of RetailStreaming.Transforms that compiled transforms bind to (one line per type and member).",
                "# Checked by tests/RetailStreaming.Transforms.Tests/PublicApi; rewrite with RS_UPDATE_GOLDEN=1 and review the diff.",
                .. Current]);
        }
        Assert.True(File.Exists(path), $"The public API baseline {path} is missing: write it with RS_UPDATE_GOLDEN=1 dotnet test tests/RetailStreaming.Transforms.Tests.");

        var comparison = PublicApiComparison.Compare(File.ReadAllLines(path), Current);

        output.WriteLine(comparison.Report(path));
        Assert.False(comparison.IsBreaking, comparison.Report(path));
    }

    [Fact]
    public void The_surface_names_the_contract_a_transform_compiles_against()
    {
        var surface = Current;

        Assert.Contains("RetailStreaming.Transforms.ITransform: interface", surface);
        Assert.Contains("RetailStreaming.Transforms.ITransform: abstract method System.Collections.Generic.IEnumerable<RetailStreaming.Transforms.OutputRecord> " +
                        "Transform(RetailStreaming.Transforms.ChangeEvent, RetailStreaming.Transforms.TransformContext)", surface);
        Assert.Contains(surface, l => l.StartsWith("RetailStreaming.Transforms.OutputRecord: static method RetailStreaming.Transforms.OutputRecord Create<T>(", StringComparison.Ordinal));
        Assert.DoesNotContain(surface, l => l.Contains("internal", StringComparison.Ordinal));
    }

    [Fact]
    public void A_removed_member_breaks_with_the_member_named()
    {
        var baseline = Current;
        var removed = baseline.First(l => l.Contains("method System.String GetString(", StringComparison.Ordinal));

        var comparison = PublicApiComparison.Compare(baseline, baseline.Where(l => l != removed));

        Assert.True(comparison.IsBreaking);
        Assert.Equal([removed], comparison.Removed);
        var report = comparison.Report("PublicApi.txt");
        Assert.Contains("breaks transforms compiled against PublicApi.txt", report);
        Assert.Contains("removed or changed: " + removed, report);
    }

    [Fact]
    public void A_changed_signature_breaks_and_shows_the_old_form()
    {
        var baseline = Current;
        var old = baseline.First(l => l.Contains("method System.String GetString(", StringComparison.Ordinal));
        var changed = old.Replace("System.String GetString(", "System.ReadOnlyMemory<System.Char> GetString(", StringComparison.Ordinal);

        var comparison = PublicApiComparison.Compare(baseline, baseline.Select(l => l == old ? changed : l));

        Assert.True(comparison.IsBreaking);
        Assert.Equal([old], comparison.Removed);
        Assert.Equal([changed], comparison.Additions);
    }

    [Fact]
    public void A_new_abstract_interface_member_breaks_every_implementer()
    {
        var baseline = Current;
        var added = "RetailStreaming.Transforms.ITransform: abstract method System.Void Flush(RetailStreaming.Transforms.TransformContext)";

        var comparison = PublicApiComparison.Compare(baseline, [.. baseline, added]);

        Assert.True(comparison.IsBreaking);
        Assert.Equal([added], comparison.BreakingAdditions);
        Assert.Contains("new abstract member (every implementer lacks it): " + added, comparison.Report("PublicApi.txt"));
    }

    [Fact]
    public void An_addition_passes_and_is_listed()
    {
        var baseline = Current;
        var added = "RetailStreaming.Transforms.RowData: method System.Guid GetGuid(System.String)";

        var comparison = PublicApiComparison.Compare(baseline, [.. baseline, added]);

        Assert.False(comparison.IsBreaking);
        Assert.Equal([added], comparison.Additions);
        Assert.Contains("added: " + added, comparison.Report("PublicApi.txt"));
    }

    [Fact]
    public void The_committed_baseline_checked_against_a_build_without_one_of_its_members_fails()
    {
        // The real check (file against assembly), with a baseline that knows a member this build lacks:
        // what a transform compiled against a later SDK sees when it runs on this one.
        var baseline = File.ReadAllLines(BaselinePath()).Append("RetailStreaming.Transforms.RowData: method System.Guid GetGuid(System.String)");

        var comparison = PublicApiComparison.Compare(baseline, Current);

        Assert.True(comparison.IsBreaking);
        Assert.Equal(["RetailStreaming.Transforms.RowData: method System.Guid GetGuid(System.String)"], comparison.Removed);
    }
}
