using System.Text.Json;
using RetailStreaming.Cli.Tests.Support;

namespace RetailStreaming.Cli.Tests;

/// <summary>
/// <c>rsctl workflow shadow</c> against a real node and the real sample transform package: start,
/// report, stop; the shadow's records are compared, never delivered.
/// </summary>
[Collection(CliNodeCollection.Name)]
public sealed class ShadowCommandTests(CliNode node)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_shadow_run_is_started_reported_and_stopped_and_delivers_nothing()
    {
        const string id = "shadow-orders";
        var file = node.WriteDefinition(id, "shadow-client", rows: 5);
        Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", file)).ExitCode);
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 5, Within, "the 5 seed products delivered");

        var none = await node.OperatorAsync("workflow", "shadow", id, "--report");
        Assert.True(none.ExitCode == 0, none.ToString());
        Assert.Contains($"workflow {id} has no shadow run", none.Out);
        var usage = await node.OperatorAsync("workflow", "shadow", id);
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("give exactly one of --version, --stop and --report", usage.Error);
        var missing = await node.OperatorAsync("workflow", "shadow", id, "--version", "9.9.9");
        Assert.True(missing.ExitCode == 1, missing.ToString());
        Assert.Contains("9.9.9 cannot be loaded", missing.Error);

        // The same version in the shadow: every change equal.
        var start = await node.OperatorAsync("workflow", "shadow", id, "--version", "1.0.0");
        Assert.True(start.ExitCode == 0, start.ToString());
        Assert.Contains("shadow run of transform 1.0.0 started", start.Out);
        RetailSource.Insert(node.DatabaseOf(id), 6, 15);
        var report = await TestNode.EventuallyAsync(
            async () => JsonDocument.Parse((await node.OperatorAsync("workflow", "shadow", id, "--report", "--json")).Out).RootElement.Clone(),
            r => r.GetProperty("equal").GetInt64() == 10, Within, "the 10 new products compared");
        Assert.Equal(("running", 0L, 0L), (report.GetProperty("state").GetString(), report.GetProperty("different").GetInt64(), report.GetProperty("failed").GetInt64()));
        var table = await node.OperatorAsync("workflow", "shadow", id, "--report");
        Assert.Contains("Equal:", table.Out);
        Assert.Matches(@"Candidate:\s+1\.0\.0", table.Out);

        var stop = await node.OperatorAsync("workflow", "shadow", id, "--stop");
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Contains("stopped by an operator", stop.Out);
        // Each product delivered once, by the live version only. (The shadow compares a batch when
        // the live transform has run it, which can be before its delivery: wait for the deliveries.)
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n >= 15, Within, "the 15 products delivered");
        await Task.Delay(300); // a record the shadow delivered by mistake would show up now
        Assert.Equal(15, node.Endpoint.ReceivedBy(id).Count);
    }
}
