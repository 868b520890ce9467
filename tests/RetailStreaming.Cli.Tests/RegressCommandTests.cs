using System.Text.Json;
using RetailStreaming.Cli.Tests.Support;
using RetailStreaming.Node;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Regress;

namespace RetailStreaming.Cli.Tests;

/// <summary>
/// <c>rsctl regress --samples --package</c>, no node: the sample workflows' kept samples
/// (samples/regress, recorded from the demo workflow and exported with <c>rsctl regress --export</c>)
/// run through the sample package of this build. This is the check CI runs (as part of this test
/// project, which scripts/test.sh runs): a change of the build that alters what the sample transform
/// makes fails it, with the differences in the test's message.
/// </summary>
public sealed class RegressOfflineTests : IAsyncLifetime
{
    private const string ChangedPackage = "RetailStreaming.Cli.Tests.ChangedRetail.1.0.0.nupkg";
    private readonly string _root = TestNode.NewTempDirectory("regress-offline");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestNode.DeleteDirectoryAsync(_root);

    private static string Samples => Path.Combine(TestNode.RepositoryRoot(), "samples", "regress");

    private Task<CliRun> Rsctl(params string[] args) => CliNode.RunRsctlAsync(args, Path.Combine(_root, "config.json"), _root);

    private static string Package(string file)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "transform-packages", file);
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: build the test project (it packs the transform packages beside its binaries).");
    }

    [Fact]
    public async Task The_sample_workflows_kept_samples_give_the_recorded_records_on_this_build()
    {
        var run = await Rsctl("regress", "--samples", Samples, "--package", Package(TestNode.SamplePackage));
        Assert.True(run.ExitCode == 0, run.ToString());
        var json = await Rsctl("regress", "--samples", Samples, "--package", Package(TestNode.SamplePackage), "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var answer = JsonDocument.Parse(json.Out).RootElement;
        Assert.True(answer.GetProperty("samples").GetInt32() > 0);

        var golden = new Golden();
        golden.Check("regress-offline", run.Out);
        golden.Check("regress-offline-json", json.Out);
        golden.AssertAll();
    }

    [Fact]
    public async Task A_package_whose_output_differs_is_caught_with_the_differences()
    {
        // The sample transform with sale prices written as strings: every ticket sample differs, nothing else.
        var run = await Rsctl("regress", "--samples", Samples, "--package", Package(ChangedPackage),
            "--type", "RetailStreaming.Cli.Tests.ChangedRetail.ChangedRetailTransform");
        Assert.True(run.ExitCode == 1, run.ToString());
        var json = JsonDocument.Parse((await Rsctl("regress", "--samples", Samples, "--package", Package(ChangedPackage),
            "--type", "RetailStreaming.Cli.Tests.ChangedRetail.ChangedRetailTransform", "--json")).Out).RootElement;
        var set = json.GetProperty("workflows")[0];
        var tickets = File.ReadLines(Path.Combine(Samples, "demo-retail", "samples.input.ndjson")).Count(l => l.Contains("\"table\":\"tickets\""));
        Assert.True(tickets > 0, "the kept samples hold no ticket");
        Assert.Equal((false, tickets, 0), (json.GetProperty("allSame").GetBoolean(), set.GetProperty("different").GetInt32(), set.GetProperty("failed").GetInt32()));
        Assert.All(set.GetProperty("differences").EnumerateArray(), d =>
        {
            Assert.Equal("tickets", d.GetProperty("table").GetString());
            Assert.Matches(@"^payload\.unitPrice: recorded [0-9.]+, now ""[0-9.]+""$", d.GetProperty("diff").GetString());
        });

        var golden = new Golden();
        golden.Check("regress-offline-changed", run.Out);
        golden.AssertAll();
    }

    [Fact]
    public async Task Offline_mode_needs_a_package_and_an_existing_folder()
    {
        var usage = await Rsctl("regress", "--samples", Samples);
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("--samples needs --package", usage.Error);
        var missing = await Rsctl("regress", "--samples", Path.Combine(_root, "none"), "--package", Package(TestNode.SamplePackage));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("does not exist", missing.Error);
    }
}

/// <summary>A node that records regression samples quickly and keeps few, so that a test sees the bound.</summary>
public sealed class RegressNode : CliNode
{
    public const int Bound = 4;

    protected override void Configure(NodeOptions options) =>
        // More per flush than the bound: a flush of 5 or more changes of one kind is cut back by the store.
        options.Regress = new RegressSettings { SampleSize = Bound, SamplesPerFlush = 10, FlushInterval = TimeSpan.FromMilliseconds(200) };
}

/// <summary>
/// <c>rsctl regress</c> against a real node: a workflow runs, its samples are recorded within the
/// bound, the current build gives the recorded records; a recorded output that no longer matches
/// (tampered in the store, as a build change would make it differ) is reported; after a switch to
/// another transform version, the old version's samples are not run against the new one.
/// </summary>
public sealed class RegressCommandTests(RegressNode node) : IClassFixture<RegressNode>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    private RegressSampleStore Samples => node.App.Services.GetRequiredService<PlatformStore>().RegressSamples;

    private async Task<JsonElement> ReportAsync(string id) =>
        JsonDocument.Parse((await node.OperatorAsync("regress", "--workflow", id, "--json")).Out).RootElement.GetProperty("workflows")[0].Clone();

    [Fact]
    public async Task Recorded_samples_are_bounded_run_again_and_a_changed_output_is_reported()
    {
        const string id = "regress-products";
        var file = node.WriteDefinition(id, "regress-client", rows: 6);
        Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", file)).ExitCode);
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 6, Within, "the 6 seed products delivered");
        RetailSource.Insert(node.DatabaseOf(id), 7, 20);
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 20, Within, "the 20 products delivered");

        // Bounded: at most Bound per table and operation; of the 14 inserts, the newest Bound are kept.
        const string newest = """{"sku":"sku-20"}""";
        var recorded = await TestNode.EventuallyAsync(() => Samples.ListAsync(id), s => s.Any(x => x.Key == newest), Within, "the newest product recorded");
        Assert.All(recorded.GroupBy(s => (s.Table, s.Operation)), g => Assert.InRange(g.Count(), 1, RegressNode.Bound));
        Assert.Equal(["sku-17", "sku-18", "sku-19", "sku-20"],
            recorded.Where(s => s.Operation == "insert").Select(s => JsonDocument.Parse(s.Key).RootElement.GetProperty("sku").GetString()).Order());
        Assert.All(recorded, s => Assert.Equal(("RetailStreaming.Samples.Retail", "1.0.0", "regress-client"), (s.TransformPackage, s.TransformVersion, s.ClientId)));

        var all = await node.OperatorAsync("regress");
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Matches(@"regress-products \| RetailStreaming\.Samples\.Retail \| 1\.0\.0 \| \d+ \| \d+ \| 0 \| 0 \| 0", new Golden().Normalize(all.Out));
        var same = await ReportAsync(id);
        Assert.Equal((recorded.Count, recorded.Count, 0, 0), (same.GetProperty("samples").GetInt32(), same.GetProperty("same").GetInt32(),
            same.GetProperty("different").GetInt32(), same.GetProperty("failed").GetInt32()));

        // A recorded output that the current build no longer makes: reported with its position, key and the field.
        var victim = recorded.Single(s => s.Key == newest);
        await Samples.AddAsync([victim with { OutputsJson = victim.OutputsJson.Replace("\"name\":\"Product 20\"", "\"name\":\"Product twenty\"") }], RegressNode.Bound);
        Assert.Contains("Product twenty", (await Samples.ListAsync(id)).Single(s => s.Position == victim.Position).OutputsJson);
        var differs = await node.OperatorAsync("regress", "--workflow", id);
        Assert.True(differs.ExitCode == 1, differs.ToString());
        Assert.Contains("DIFFERENCES", differs.Out);
        Assert.Contains($"{victim.Position} | products | {victim.Operation} | {victim.Key} | different | payload.name: recorded \"Product twenty\", now \"Product 20\"", new Golden().Normalize(differs.Out));
        var report = await ReportAsync(id);
        Assert.Equal((1, recorded.Count - 1), (report.GetProperty("different").GetInt32(), report.GetProperty("same").GetInt32()));

        // Unknown workflows and client tokens: not found / not allowed.
        var unknown = await node.OperatorAsync("regress", "--workflow", "no-such-workflow");
        Assert.Equal(3, unknown.ExitCode);
        var (secret, _) = await node.Tokens.IssueAsync("client", "regress-client", "regress test client");
        Assert.Equal(3, (await node.RsctlAsync(secret, "regress")).ExitCode);
    }

    [Fact]
    public async Task After_a_switch_the_old_versions_samples_are_not_run_against_the_new_one()
    {
        const string id = "regress-switch";
        var file = node.WriteDefinition(id, "regress-client", rows: 3);
        Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", file)).ExitCode);
        await TestNode.EventuallyAsync(() => Samples.ListAsync(id), s => s.Count == 3, Within, "the 3 products recorded");

        // Another package whose records differ (sale prices as strings; products are the same).
        var yaml = File.ReadAllText(Path.Combine(node.Root, file))
            .Replace("package: RetailStreaming.Samples.Retail", "package: RetailStreaming.Cli.Tests.ChangedRetail")
            .Replace("type: RetailStreaming.Samples.Retail.RetailTransform", "type: RetailStreaming.Cli.Tests.ChangedRetail.ChangedRetailTransform");
        File.WriteAllText(Path.Combine(node.Root, id + "-changed.yaml"), yaml);
        var apply = await node.OperatorAsync("workflow", "apply", "-f", id + "-changed.yaml");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        RetailSource.Insert(node.DatabaseOf(id), 4, 5);
        await TestNode.EventuallyAsync(() => Samples.ListAsync(id),
            s => s.Count(x => x.TransformPackage == "RetailStreaming.Cli.Tests.ChangedRetail") == 2, Within, "the 2 new products recorded by the new package");

        var old = (await Samples.ListAsync(id)).Count(s => s.TransformPackage == "RetailStreaming.Samples.Retail");
        Assert.True(old > 0, "the old package's samples are gone");
        var report = await ReportAsync(id);
        Assert.Equal(("RetailStreaming.Cli.Tests.ChangedRetail", 2, 2, old), (report.GetProperty("transformPackage").GetString(),
            report.GetProperty("samples").GetInt32(), report.GetProperty("same").GetInt32(), report.GetProperty("otherVersions").GetInt32()));
        var table = await node.OperatorAsync("regress", "--workflow", id);
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("OTHER VERSIONS: samples recorded by another version", table.Out);
    }
}
